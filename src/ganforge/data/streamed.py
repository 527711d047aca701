"""Datasets that stay on disk: a reader gives random access to uint8 images, labels are in memory.

The in-memory `ImageDataset` holds every image; a `StreamedDataset` holds only labels (8 bytes
an image) and reads the images a batch needs, so memory does not grow with the dataset. Both
are indexed by the same global image numbers, so one seeded order serves either.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
import torch

from ganforge.data.dataset import check_labels
from ganforge.errors import GanforgeError


class ImageReader(Protocol):
    """Random access to N uint8 images of one shape (C, R, R), safe to call from threads."""

    shape: tuple[int, int, int]
    slow_hint: str  # what to do when this reader is the bottleneck (one line)

    def __len__(self) -> int: ...

    def read(self, indices: np.ndarray, out: np.ndarray) -> None:
        """Fill `out` (len(indices), C, R, R) with the images at `indices`, in that order."""
        ...


@dataclass
class StreamedDataset:
    """Labels and class names in memory, images read on demand through `reader`.

    `index` maps this dataset's image numbers to the reader's (a subset, e.g. `data.limit`).
    """

    reader: ImageReader
    labels: torch.Tensor
    class_names: list[str]
    source: str
    index: np.ndarray | None = None
    workers: int = field(default=2)

    def __post_init__(self) -> None:
        n = len(self.reader) if self.index is None else len(self.index)
        self.labels = check_labels(self.labels, n, self.class_names, self.source)

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    @property
    def n_classes(self) -> int:
        return len(self.class_names)

    @property
    def shape(self) -> tuple[int, int, int]:
        return tuple(self.reader.shape)  # type: ignore[return-value]

    def to(self, device: torch.device | str) -> StreamedDataset:
        """Images stay on disk; batches move to the device as they are drawn."""
        return self

    def class_counts(self) -> list[int]:
        return torch.bincount(self.labels, minlength=self.n_classes).tolist()

    def select(self, keep: torch.Tensor, source: str) -> StreamedDataset:
        idx = keep.numpy().astype(np.int64)
        mapped = idx if self.index is None else self.index[idx]
        return StreamedDataset(self.reader, self.labels[keep], self.class_names, source, mapped,
                               self.workers)

    def read(self, indices: torch.Tensor, pin: bool = False) -> torch.Tensor:
        """uint8 (n, C, R, R) images at `indices` (pinned for an asynchronous copy to a GPU)."""
        idx = indices.numpy().astype(np.int64, copy=False)
        if self.index is not None:
            idx = self.index[idx]
        images = torch.empty((len(idx), *self.shape), dtype=torch.uint8, pin_memory=pin)
        self.reader.read(idx, images.numpy())
        return images


def check_format(source: str, shape: tuple[int, ...], resolution: int, channels: int,
                 fix: str) -> None:
    """A stored dataset is used as it is: its size and channels must be the model's."""
    c, h, w = shape
    if h != w:
        raise GanforgeError(f"{source}: images are {w}x{h}, not square; {fix}")
    if h != resolution:
        raise GanforgeError(
            f"{source} holds {h} px images but the recipe trains at {resolution} px "
            f"(model.resolution); {fix} or set model.resolution={h}"
        )
    if c != channels:
        raise GanforgeError(
            f"{source} holds {c}-channel images but the recipe's model.img_channels is "
            f"{channels}; {fix} or set model.img_channels={c}"
        )
