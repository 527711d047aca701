"""MNIST / Fashion-MNIST from their standard idx files (gzipped or not), all splits present."""

from __future__ import annotations

import gzip
import zlib
from pathlib import Path

import numpy as np
import torch

from ganforge.data.dataset import ImageDataset, to_model_format
from ganforge.errors import GanforgeError

IMAGES_MAGIC = 2051  # 0x00000803: unsigned bytes, 3 dimensions (N, rows, cols)
LABELS_MAGIC = 2049  # 0x00000801: unsigned bytes, 1 dimension (N,)
SPLITS = (
    ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
)
CLASSES_FILE = "classes.txt"


def _find_file(directory: Path, stem: str) -> Path | None:
    """The file for `stem`, raw or gzipped; the dotted variant (`train-images.idx3-ubyte`) too."""
    for base in (stem, stem.replace("-idx", ".idx")):
        for name in (base, base + ".gz"):
            candidate = directory / name
            if candidate.is_file():
                return candidate
    return None


def _read_bytes(path: Path) -> bytes:
    """The whole file, decompressed if it is gzipped (small: MNIST is 55 MB raw at most)."""
    try:
        if path.suffix == ".gz":
            with gzip.open(path, "rb") as fh:
                return fh.read()
        return path.read_bytes()
    except (OSError, EOFError, zlib.error) as exc:
        raise GanforgeError(f"{path}: cannot read the idx file ({exc})") from exc


def _read_idx(path: Path, magic: int, ndim: int) -> np.ndarray:
    """Parse an idx file, checking the magic number and that the length matches the header."""
    raw = _read_bytes(path)
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise GanforgeError(f"{path}: truncated idx file ({len(raw)} bytes, shorter than a header)")
    found = int.from_bytes(raw[:4], "big")
    if found != magic:
        kind = "image" if magic == IMAGES_MAGIC else "label"
        raise GanforgeError(
            f"{path}: not an idx {kind} file (magic number {found}, expected {magic})"
        )
    dims = tuple(int(d) for d in np.frombuffer(raw, dtype=">u4", count=ndim, offset=4))
    expected = header + int(np.prod(dims))
    if len(raw) != expected:
        state = "truncated" if len(raw) < expected else "longer than its header says"
        raise GanforgeError(
            f"{path}: {state} idx file ({len(raw)} bytes, header {dims} needs {expected})"
        )
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(dims)


def _read_split(images_path: Path, labels_path: Path) -> tuple[np.ndarray, np.ndarray]:
    images = _read_idx(images_path, IMAGES_MAGIC, 3)
    labels = _read_idx(labels_path, LABELS_MAGIC, 1)
    if len(images) != len(labels):
        raise GanforgeError(
            f"{images_path} has {len(images)} images but {labels_path} has {len(labels)} labels"
        )
    return images, labels


def _split_files(directory: Path) -> list[tuple[Path, Path]]:
    """(images, labels) for every split present, train first; half a split is an error."""
    pairs = []
    for images_stem, labels_stem in SPLITS:
        images, labels = _find_file(directory, images_stem), _find_file(directory, labels_stem)
        if images and labels:
            pairs.append((images, labels))
        elif images or labels:
            present, missing = (images, labels_stem) if images else (labels, images_stem)
            raise GanforgeError(f"{present} has no partner: {directory / missing}[.gz] is missing")
    if not pairs:
        expected = ", ".join(f"{i}[.gz] + {lbl}[.gz]" for i, lbl in SPLITS)
        raise GanforgeError(f"no MNIST idx files in {directory}; expected {expected}")
    return pairs


def _class_names(directory: Path, n_labels: int) -> list[str]:
    """Digits by default; a `classes.txt` (one name a line) names e.g. Fashion-MNIST's classes."""
    path = directory / CLASSES_FILE
    if not path.is_file():
        return [str(i) for i in range(max(10, n_labels))]
    names = [line.strip() for line in path.read_text(encoding="utf-8").splitlines()]
    names = [name for name in names if name]
    if len(names) < n_labels:
        raise GanforgeError(
            f"{path} names {len(names)} classes but the labels go up to {n_labels - 1}"
        )
    return names


def load_mnist_dataset(path: Path, resolution: int, channels: int) -> ImageDataset:
    """All idx splits in `path` (train, then t10k), resized to the model's size and channels."""
    path = Path(path)
    splits = [_read_split(images, labels) for images, labels in _split_files(path)]
    images = np.concatenate([images for images, _ in splits])
    labels = np.concatenate([labels for _, labels in splits])
    tensor = to_model_format(torch.from_numpy(images).unsqueeze(1), resolution, channels)
    class_names = _class_names(path, int(labels.max()) + 1 if len(labels) else 0)
    labels_tensor = torch.from_numpy(labels.astype(np.int64))
    return ImageDataset(tensor, labels_tensor, class_names, f"mnist:{path}")
