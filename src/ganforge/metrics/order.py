"""Metrics that do not depend on the order of their input.

IS splits, KID subsets and even the float summation order of FID's means and covariances depend
on where each image sits. `eval` therefore puts every image set into *content order* (sorted by a
hash of each image's pixels and label) before features are extracted, and takes subsets at
random with a seed from that order: the same images in any order give the same numbers, to the
bit, and a subset of a class-sorted folder is not a few classes only.
"""

from __future__ import annotations

import hashlib

import torch

ORDER_PROTOCOL = "content order: images sorted by the BLAKE2b-64 hash of their uint8 pixels and label"


def content_order(images: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
    """The permutation that sorts uint8 images by a hash of their pixels (ties: by label)."""
    arrays = images.contiguous().numpy()
    label_list = labels.tolist() if labels is not None else [0] * len(arrays)
    keys = [(hashlib.blake2b(a.tobytes(), digest_size=8).digest(), int(y))
            for a, y in zip(arrays, label_list, strict=True)]
    return torch.tensor(sorted(range(len(keys)), key=keys.__getitem__), dtype=torch.long)


def seeded_subset(
    images: torch.Tensor, labels: torch.Tensor | None, n: int | None, seed: int
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """The images (and labels) in content order, reduced to a seeded random `n` of them."""
    order = content_order(images, labels)
    if n is not None and n < len(order):
        picked = torch.randperm(len(order), generator=torch.Generator().manual_seed(seed))[:n]
        order = order[picked.sort().values]  # stays in content order
    return images[order], (labels[order] if labels is not None else None)
