"""Metrics that do not depend on the order of their input.

IS splits, KID subsets and even the float summation order of FID's means and covariances depend
on where each image sits. `eval` therefore puts every image set into *content order* (sorted by a
hash of each image's pixels and label) before features are extracted, and takes subsets at
random with a seed from that order: the same images in any order give the same numbers, to the
bit, and a subset of a class-sorted folder is not a few classes only.
"""

from __future__ import annotations

import hashlib

import numpy as np
import torch

ORDER_PROTOCOL = "content order: images sorted by the BLAKE2b-64 hash of their uint8 pixels and label"


def image_keys(images: torch.Tensor) -> np.ndarray:
    """The BLAKE2b-64 hash of each uint8 image's pixels, as big-endian uint64 (their numeric
    order is the hashes' byte order)."""
    arrays = images.contiguous().numpy()
    return np.array([int.from_bytes(hashlib.blake2b(a.tobytes(), digest_size=8).digest(), "big")
                     for a in arrays], dtype=np.uint64)


def order_by_keys(keys: np.ndarray, labels: torch.Tensor | None = None) -> torch.Tensor:
    """The permutation sorting by (hash, label), ties kept in input order."""
    label_keys = labels.numpy().astype(np.int64) if labels is not None \
        else np.zeros(len(keys), dtype=np.int64)
    return torch.from_numpy(np.lexsort((label_keys, keys)).astype(np.int64))


def content_order(images: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
    """The permutation that sorts uint8 images by a hash of their pixels (ties: by label)."""
    return order_by_keys(image_keys(images), labels)


def subset_order(order: torch.Tensor, n: int | None, seed: int) -> torch.Tensor:
    """A seeded random `n` of a content order, still in content order."""
    if n is not None and n < len(order):
        picked = torch.randperm(len(order), generator=torch.Generator().manual_seed(seed))[:n]
        order = order[picked.sort().values]
    return order


def seeded_subset(
    images: torch.Tensor, labels: torch.Tensor | None, n: int | None, seed: int
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """The images (and labels) in content order, reduced to a seeded random `n` of them."""
    order = subset_order(content_order(images, labels), n, seed)
    return images[order], (labels[order] if labels is not None else None)
