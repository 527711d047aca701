"""CIFAR-10, python version: the pickled batches, read with an unpickler that runs no code."""

from __future__ import annotations

import codecs
import pickle
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ganforge.data.dataset import ImageDataset, to_model_format
from ganforge.errors import GanforgeError

BATCH_FOLDER = "cifar-10-batches-py"
BATCH_FILES = tuple(f"data_batch_{i}" for i in range(1, 6)) + ("test_batch",)
META_FILE = "batches.meta"
DEFAULT_NAMES = [
    "airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck",
]


def _latin1_encode(text: str, encoding: str = "utf-8", errors: str = "strict") -> bytes:
    """codecs.encode as pickle uses it for bytes: latin-1 only, so no other codec is reachable."""
    if encoding.replace("-", "").replace("_", "").lower() != "latin1":
        raise pickle.UnpicklingError(f"codecs.encode with encoding {encoding!r} is not allowed")
    return codecs.encode(text, "latin-1", errors)


def _numpy_globals() -> dict[tuple[str, str], Any]:
    """The only globals a pickled numpy array needs, under numpy 1.x and 2.x module names.

    Both spellings map to the objects of the installed numpy, so a batch pickled by either
    version loads without importing the deprecated `numpy.core` shim.
    """
    try:
        from numpy._core import multiarray, numeric
    except ImportError:  # numpy < 1.26 has no numpy._core
        from numpy.core import multiarray, numeric  # type: ignore[no-redef]
    allowed: dict[tuple[str, str], Any] = {
        ("numpy", "ndarray"): np.ndarray,
        ("numpy", "dtype"): np.dtype,
        ("codecs", "encode"): _latin1_encode,  # bytes pickled by Python 3 at protocol < 3
        ("_codecs", "encode"): _latin1_encode,
    }
    for core in ("numpy.core", "numpy._core"):
        allowed[(f"{core}.multiarray", "_reconstruct")] = multiarray._reconstruct
        allowed[(f"{core}.multiarray", "scalar")] = multiarray.scalar
        allowed[(f"{core}.numeric", "_frombuffer")] = numeric._frombuffer
    return allowed


class _NumpyOnlyUnpickler(pickle.Unpickler):
    """Resolves only numpy's array-rebuilding globals: a crafted pickle can call nothing else."""

    def __init__(self, file: Any, source: Path) -> None:
        super().__init__(file, encoding="bytes")
        self._source = source
        self._allowed = _numpy_globals()

    def find_class(self, module: str, name: str) -> Any:
        try:
            return self._allowed[(module, name)]
        except KeyError:
            raise GanforgeError(
                f"{self._source}: refusing to unpickle '{module}.{name}'; a CIFAR-10 batch holds "
                "only numpy arrays, lists and bytes (the file is corrupt or malicious)"
            ) from None


def _unpickle(path: Path) -> dict[Any, Any]:
    try:
        with path.open("rb") as fh:
            obj = _NumpyOnlyUnpickler(fh, path).load()
    except GanforgeError:
        raise
    except Exception as exc:  # any failure of a corrupt pickle: EOFError, UnpicklingError, ...
        raise GanforgeError(f"{path}: not a readable CIFAR-10 pickle ({exc})") from exc
    if not isinstance(obj, dict):
        kind = type(obj).__name__
        raise GanforgeError(f"{path}: not a CIFAR-10 batch (holds a {kind}, not a dict)")
    return obj


def _get(batch: dict[Any, Any], key: str, path: Path) -> Any:
    """CIFAR keys are bytes (Python 2 pickles); accept str keys from re-saved batches too."""
    for candidate in (key.encode(), key):
        if candidate in batch:
            return batch[candidate]
    raise GanforgeError(f"{path}: not a CIFAR-10 batch (no '{key}' entry)")


def _read_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """(N, 3, 32, 32) uint8 images (rows are R plane, G plane, B plane) and (N,) labels."""
    batch = _unpickle(path)
    data = np.asarray(_get(batch, "data", path))
    labels = np.asarray(_get(batch, "labels", path), dtype=np.int64)
    if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3 * 32 * 32:
        raise GanforgeError(
            f"{path}: 'data' must be uint8 of shape (N, 3072), found {data.dtype} {data.shape}"
        )
    if labels.shape != (len(data),):
        raise GanforgeError(f"{path}: {len(data)} images but {labels.size} labels")
    return data.reshape(-1, 3, 32, 32), labels


def _class_names(directory: Path) -> list[str]:
    path = directory / META_FILE
    if not path.is_file():
        return list(DEFAULT_NAMES)
    names = _get(_unpickle(path), "label_names", path)
    return [n.decode("utf-8") if isinstance(n, bytes) else str(n) for n in names]


def _batch_directory(path: Path) -> Path:
    """`path` itself or its `cifar-10-batches-py` sub-folder, whichever holds the batches."""
    for directory in (path, path / BATCH_FOLDER):
        if any((directory / name).is_file() for name in BATCH_FILES):
            return directory
    raise GanforgeError(
        f"no CIFAR-10 batches in {path} or {path / BATCH_FOLDER}; expected "
        f"{', '.join(BATCH_FILES)} and {META_FILE} (the python version of CIFAR-10)"
    )


def load_cifar10_dataset(path: Path, resolution: int, channels: int) -> ImageDataset:
    """Every batch present (data_batch_1..5, then test_batch), resized to the model's format."""
    directory = _batch_directory(Path(path))
    batches = [_read_batch(directory / n) for n in BATCH_FILES if (directory / n).is_file()]
    images = torch.from_numpy(np.concatenate([images for images, _ in batches]))
    labels = torch.from_numpy(np.concatenate([labels for _, labels in batches]))
    images = to_model_format(images, resolution, channels)
    return ImageDataset(images, labels, _class_names(directory), f"cifar10:{directory}")
