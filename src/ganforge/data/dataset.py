"""The in-memory dataset every source produces: uint8 images at the model's size, int labels."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F

from ganforge.errors import GanforgeError


@dataclass
class ImageDataset:
    """Images as uint8 (N, C, H, W) at the model resolution, labels int64 (N,), class names.

    Keeping uint8 tensors in memory makes batch assembly an index operation, so loading is
    never the bottleneck of a small-image GAN, and the whole data order is one RNG.
    """

    images: torch.Tensor
    labels: torch.Tensor
    class_names: list[str]
    source: str
    # captioned data: one or more sentences per image; `tokens` (N, K, L) int64 are their ids,
    # set by the training task from the run's tokenizer (an all-padding row: no K-th caption)
    captions: list[list[str]] | None = None
    tokens: torch.Tensor | None = None
    # layout data (LostGAN): (N, O, 5) float, per object slot (label, x0, y0, w, h) in [0, 1],
    # label -1 for an empty slot (see data/layouts.py)
    layouts: torch.Tensor | None = None

    def __post_init__(self) -> None:
        if self.images.dtype != torch.uint8 or self.images.ndim != 4:
            raise ValueError("images must be a uint8 tensor of shape (N, C, H, W)")
        if self.captions is not None and len(self.captions) != self.images.shape[0]:
            raise GanforgeError(f"{self.source}: {self.images.shape[0]} images but captions for "
                                f"{len(self.captions)}")
        if self.captions is not None and not all(self.captions):
            first = next(i for i, c in enumerate(self.captions) if not c)
            raise GanforgeError(f"{self.source}: image {first} has no caption")
        self.labels = check_labels(self.labels, int(self.images.shape[0]), self.class_names,
                                   self.source)

    def __len__(self) -> int:
        return int(self.images.shape[0])

    @property
    def n_classes(self) -> int:
        return len(self.class_names)

    def to(self, device: torch.device | str) -> ImageDataset:
        """The same images (still uint8, 4x smaller than floats) on another device."""
        tokens = self.tokens.to(device) if self.tokens is not None else None
        layouts = self.layouts.to(device) if self.layouts is not None else None
        return dataclasses.replace(self, images=self.images.to(device), labels=self.labels.to(device),
                                   tokens=tokens, layouts=layouts)

    def class_counts(self) -> list[int]:
        return torch.bincount(self.labels, minlength=self.n_classes).tolist()

    def select(self, keep: torch.Tensor, source: str) -> ImageDataset:
        """The images at `keep` (indices), in that order, with their labels and captions."""
        captions = [self.captions[i] for i in keep.tolist()] if self.captions is not None else None
        tokens = self.tokens[keep] if self.tokens is not None else None
        layouts = self.layouts[keep] if self.layouts is not None else None
        return ImageDataset(self.images[keep], self.labels[keep], self.class_names, source,
                            captions, tokens, layouts)


def check_labels(labels: torch.Tensor, n_images: int, class_names: list[str],
                 source: str) -> torch.Tensor:
    """int64 labels, one per image, each naming a class; a one-line error otherwise."""
    if labels.shape != (n_images,):
        raise GanforgeError(f"{source}: {n_images} images but {labels.shape[0]} labels")
    labels = labels.long()
    if n_images == 0:
        raise GanforgeError(f"{source}: the dataset is empty")
    if int(labels.min()) < 0 or int(labels.max()) >= len(class_names):
        raise GanforgeError(
            f"{source}: labels must lie in 0..{len(class_names) - 1} "
            f"(one per class name), found {int(labels.min())}..{int(labels.max())}"
        )
    return labels


def to_model_format(images: torch.Tensor, resolution: int, channels: int) -> torch.Tensor:
    """uint8 (N, C, H, W) of any size/channels -> uint8 at `resolution` and `channels`.

    Non-square images are centre-cropped; resizing uses antialiased bilinear (area-like when
    shrinking, smooth when enlarging). Grey becomes RGB by repetition, RGB grey by luma.
    """
    if images.shape[1] == 4:
        images = images[:, :3]
    if images.shape[1] == 1 and channels == 3:
        images = images.expand(-1, 3, -1, -1)
    elif images.shape[1] == 3 and channels == 1:
        weights = torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)
        images = (images.float() * weights).sum(1, keepdim=True).round().clamp(0, 255).byte()
    h, w = images.shape[-2:]
    side = min(h, w)
    if h != w:
        top, left = (h - side) // 2, (w - side) // 2
        images = images[:, :, top : top + side, left : left + side]
    if side != resolution:
        out = []
        for chunk in images.split(1024):
            resized = F.interpolate(
                chunk.float(), size=(resolution, resolution), mode="bilinear",
                align_corners=False, antialias=side > resolution,
            )
            out.append(resized.round().clamp(0, 255).byte())
        images = torch.cat(out)
    return images.contiguous()


def balanced_subset(dataset: Any, n: int, seed: int) -> Any:
    """`n` images drawn evenly across classes (the limited-data setting of ADA's paper), of an
    ImageDataset or a StreamedDataset (both have `select`).

    Each class contributes n // classes images (the first classes one more for the remainder),
    chosen by a seeded permutation; a class with too few images gives all it has.
    """
    if n <= 0:
        raise GanforgeError(f"data.limit must be a positive number of images, got {n}")
    if n >= len(dataset):
        return dataset
    gen = torch.Generator().manual_seed(seed)
    order = torch.randperm(len(dataset), generator=gen)
    per_class = [n // dataset.n_classes + (c < n % dataset.n_classes) for c in range(dataset.n_classes)]
    chosen: list[int] = []
    taken = [0] * dataset.n_classes
    for index in order.tolist():
        label = int(dataset.labels[index])
        if taken[label] < per_class[label]:
            chosen.append(index)
            taken[label] += 1
    keep = torch.tensor(sorted(chosen))
    return dataset.select(keep, f"{dataset.source} (subset of {len(keep)})")
