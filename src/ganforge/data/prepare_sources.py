"""What `ganforge prepare` can read: every `--data` source, as numbered items with known labels.

A source decodes item i exactly as the in-memory path decodes it (the same functions), so a
prepared dataset holds the same pixels in the same order and trains on the same batches. An
item that cannot be decoded raises `SkipImage`: the prepare reports it and goes on.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ganforge.data.dataset import ImageDataset, to_model_format
from ganforge.errors import GanforgeError

CROPS = ("center", "none")
PIL_RESIZE = "Pillow bilinear (antialiased when shrinking); JPEGs >= 8x the target drafted by DCT"
TORCH_RESIZE = "torch bilinear (antialiased when shrinking)"
PREPARABLE = ("digits, mnist:DIR, cifar10:DIR, folder:DIR (or a folder path), stream:DIR, "
              "hf:NAME[:split], hdf5:FILE; translation: paired:DIR, unpaired:DIR")
ODD_ASPECT = 2.0  # a side this many times the other: centre cropping drops most of the image


class SkipImage(Exception):
    """An item that cannot be used; the message says why (it goes into the report)."""


class PrepareSource:
    """N items with labels known up front; `load(i)` -> (uint8 (C, R, R), odd note or "")."""

    spec: str
    class_names: list[str]
    labels: np.ndarray
    resize: str
    parallel: bool = False  # decoding is worth worker processes

    def __len__(self) -> int:
        return len(self.labels)

    def item(self, i: int) -> str:
        return f"item {i}"

    def fingerprint(self) -> str:
        """Changes when the source's items change (a resumed prepare must see the same ones)."""
        digest = hashlib.sha256(self.labels.astype("<i8").tobytes())
        for i in range(len(self)):
            digest.update(self.item(i).encode("utf-8", "surrogateescape") + b"\n")
        return digest.hexdigest()

    def load(self, i: int) -> tuple[np.ndarray, str]:
        raise NotImplementedError


class ArraySource(PrepareSource):
    """A source that the in-memory path loads whole anyway (digits, MNIST, CIFAR-10)."""

    def __init__(self, dataset: ImageDataset, spec: str) -> None:
        self.dataset, self.spec = dataset, spec
        self.class_names = list(dataset.class_names)
        self.labels = dataset.labels.numpy().astype(np.int64)
        self.resize = TORCH_RESIZE

    def fingerprint(self) -> str:
        digest = hashlib.sha256(self.labels.astype("<i8").tobytes())
        digest.update(self.dataset.images.numpy().tobytes())
        return digest.hexdigest()

    def load(self, i: int) -> tuple[np.ndarray, str]:
        return self.dataset.images[i].numpy(), ""


class FolderSource(PrepareSource):
    """Image files in class sub-folders (or one flat folder), decoded like `folder:DIR`."""

    parallel = True

    def __init__(self, folder: Path, resolution: int, channels: int, crop: str) -> None:
        from ganforge.data.folder import list_classes

        classes = list_classes(folder)
        self.folder, self.spec = folder, f"folder:{folder}"
        self.files = [str(f.relative_to(folder)) for _, fs in classes for f in fs]
        self.labels = np.concatenate([np.full(len(fs), i, dtype=np.int64)
                                      for i, (_, fs) in enumerate(classes)])
        self.class_names = [name for name, _ in classes]
        self.resolution, self.channels, self.crop = resolution, channels, crop
        self.resize = PIL_RESIZE + ("; centre square crop" if crop == "center" else "; no crop")

    def item(self, i: int) -> str:
        return self.files[i]

    def load(self, i: int) -> tuple[np.ndarray, str]:
        from ganforge.data.folder import decode_file

        try:
            arr, (w, h) = decode_file(self.folder / self.files[i], self.resolution,
                                      self.channels, crop=self.crop == "center")
        except GanforgeError as exc:
            raise SkipImage(str(exc).split(": ", 1)[-1]) from None
        return arr, odd_note(w, h, self.resolution)


def odd_note(width: int, height: int, resolution: int) -> str:
    notes = []
    if min(width, height) < resolution:
        notes.append(f"upscaled from {width}x{height}")
    if max(width, height) >= ODD_ASPECT * min(width, height):
        notes.append(f"aspect {width}x{height}")
    return ", ".join(notes)


class HFSource(PrepareSource):
    """A Hugging Face dataset, opened again in each worker process (it is memory-mapped)."""

    parallel = True

    def __init__(self, name: str, split: str, resolution: int, channels: int, crop: str) -> None:
        from ganforge.data.huggingface import hf_labels, open_hf

        datasets, dataset, self.image_column, label_column, where = open_hf(name, split)
        labels, self.class_names = hf_labels(datasets, dataset, label_column, name)
        self.labels = labels.numpy().astype(np.int64)
        self.name, self.split, self.spec, self.where = name, split, where, where
        self.resolution, self.channels, self.crop = resolution, channels, crop
        self.resize = PIL_RESIZE + ("; centre square crop" if crop == "center" else "; no crop")
        self._dataset = dataset

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_dataset": None}

    def item(self, i: int) -> str:
        return f"row {i}"

    def load(self, i: int) -> tuple[np.ndarray, str]:
        from ganforge.data.folder import pil_to_model_format
        from ganforge.data.huggingface import hf_to_pil, open_hf

        if self._dataset is None:
            self._dataset = open_hf(self.name, self.split)[1]
        where = f"{self.where} row {i}"
        try:
            img = hf_to_pil(self._dataset[i][self.image_column], where)
            width, height = img.size
            arr = pil_to_model_format(img, self.resolution, self.channels, where,
                                      crop=self.crop == "center")
        except (GanforgeError, OSError, ValueError, SyntaxError, EOFError) as exc:
            raise SkipImage(str(exc).split(": ", 1)[-1]) from None
        return arr, odd_note(width, height, self.resolution)


class HDF5Source(PrepareSource):
    """BigGAN-PyTorch's HDF5 file, read in blocks and resized with torch when sizes differ."""

    BLOCK = 500

    def __init__(self, path: Path, resolution: int, channels: int) -> None:
        from ganforge.data.hdf5 import HDF5Reader

        self.path, self.spec = path, f"hdf5:{path}"
        self.reader = HDF5Reader(path)
        self.labels = self.reader.labels()
        self.class_names = [str(i) for i in range(int(self.labels.max()) + 1)] \
            if len(self.labels) else []
        self.resolution, self.channels = resolution, channels
        self.resize = TORCH_RESIZE
        self._block: tuple[int, torch.Tensor] | None = None

    def fingerprint(self) -> str:
        stat = self.path.stat()
        return hashlib.sha256(f"{self.path.resolve()}|{stat.st_size}|{stat.st_mtime_ns}".encode()
                              + self.labels.astype("<i8").tobytes()).hexdigest()

    def load(self, i: int) -> tuple[np.ndarray, str]:
        start = i - i % self.BLOCK
        if self._block is None or self._block[0] != start:
            raw = torch.from_numpy(self.reader.read_block(start, start + self.BLOCK))
            self._block = (start, to_model_format(raw, self.resolution, self.channels))
        return self._block[1][i - start].numpy(), ""


def make_source(spec: str, resolution: int, channels: int, crop: str) -> PrepareSource:
    """The source a `--data` spec (or a plain folder path) names, ready to prepare."""
    from ganforge.data.spec import load_dataset

    if crop not in CROPS:
        raise GanforgeError(f"--crop must be one of {', '.join(CROPS)}, got '{crop}'")
    spec = spec.strip()
    kind, sep, rest = spec.partition(":")
    if not sep and Path(spec).expanduser().is_dir():
        kind, rest = "folder", spec
    if kind in ("folder", "stream"):
        folder = Path(rest).expanduser()
        if not folder.is_dir():
            raise GanforgeError(f"data path '{folder}' is not a directory (from {spec})")
        return FolderSource(folder, resolution, channels, crop)
    if kind == "hf":
        name, _, split = rest.partition(":")
        return HFSource(name, split or "train", resolution, channels, crop)
    if kind == "hdf5":
        path = Path(rest).expanduser()
        if not path.is_file():
            raise GanforgeError(f"hdf5 file '{path}' does not exist")
        return HDF5Source(path, resolution, channels)
    if kind == "prepared":
        raise GanforgeError(f"{spec} is already prepared; train on it with --data {spec}")
    if spec == "digits" or kind in ("mnist", "cifar10"):
        return ArraySource(load_dataset(spec, resolution, channels), spec)
    raise GanforgeError(f"cannot prepare '{spec}'; use one of: {PREPARABLE}")
