"""`hdf5:FILE`: BigGAN-PyTorch's prepared ImageNet (make_hdf5.py), read in place with h5py.

Its layout: `imgs` uint8 (N, 3, R, R) and `labels` int64 (N,), chunked by 500 images and
optionally LZF-compressed. Images are read one by one into the batch; a compressed file
decompresses a whole chunk per image, so `ganforge prepare hdf5:FILE` is the fast way.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ganforge.data.streamed import StreamedDataset, check_format
from ganforge.errors import GanforgeError


def import_h5py() -> Any:
    try:
        import h5py
    except ImportError as exc:
        raise GanforgeError("hdf5: data needs h5py: pip install h5py (or pip install "
                            "ganforge[hdf5])") from exc
    return h5py


class HDF5Reader:
    """Random access to `imgs` of one HDF5 file (h5py serialises calls; one handle, one lock)."""

    def __init__(self, path: Path) -> None:
        h5py = import_h5py()
        self.path = path
        try:
            self.file = h5py.File(path, "r")
        except OSError as exc:
            raise GanforgeError(f"{path}: not a readable HDF5 file ({exc})") from exc
        for key in ("imgs", "labels"):
            if key not in self.file:
                raise GanforgeError(f"{path}: no '{key}' dataset; expected BigGAN-PyTorch's layout "
                                    "(imgs uint8 N x C x R x R, labels int N)")
        self.images = self.file["imgs"]
        if self.images.dtype != np.uint8 or self.images.ndim != 4:
            raise GanforgeError(f"{path}: 'imgs' must be uint8 (N, C, R, R), found "
                                f"{self.images.dtype} {self.images.shape}")
        self.shape = tuple(int(d) for d in self.images.shape[1:])
        self.lock = threading.Lock()
        compressed = self.images.compression is not None
        self.slow_hint = ("convert it once: ganforge prepare hdf5:FILE OUT --resolution R, then "
                          "--data prepared:OUT" + (" (this file is compressed: every image "
                                                   "decompresses a whole chunk)" if compressed else ""))

    def __len__(self) -> int:
        return int(self.images.shape[0])

    def labels(self) -> np.ndarray:
        labels = self.file["labels"]
        if labels.ndim != 1 or labels.dtype.kind not in "iu":
            raise GanforgeError(f"{self.path}: 'labels' must be integers (N,), found "
                                f"{labels.dtype} {labels.shape}")
        return np.asarray(labels[:], dtype=np.int64)

    def read(self, indices: np.ndarray, out: np.ndarray) -> None:
        with self.lock:
            for i, index in enumerate(indices.tolist()):
                self.images.read_direct(out, np.s_[index : index + 1], np.s_[i : i + 1])

    def read_block(self, start: int, stop: int) -> np.ndarray:
        with self.lock:
            return np.asarray(self.images[start:stop])


def open_hdf5(path: Path, resolution: int, channels: int, workers: int = 2) -> StreamedDataset:
    """The file's images as they are (they must be the model's size) and its labels."""
    path = Path(path)
    if not path.is_file():
        raise GanforgeError(f"hdf5 file '{path}' does not exist")
    reader = HDF5Reader(path)
    source = f"hdf5:{path}"
    check_format(source, reader.shape, resolution, channels,
                 f"convert it with ganforge prepare {source} OUT --resolution {resolution} "
                 f"--channels {channels}")
    labels = reader.labels()
    if len(labels) != len(reader):
        raise GanforgeError(f"{path}: {len(reader)} images but {len(labels)} labels")
    names = [str(i) for i in range(int(labels.max()) + 1 if len(labels) else 1)]
    return StreamedDataset(reader, torch.from_numpy(labels), names, source, workers=workers)
