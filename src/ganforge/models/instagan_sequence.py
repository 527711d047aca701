"""InstaGAN's sequential mini-batch translation (Mo et al. 2019, section 2.3): the instances
of an image are translated a few at a time, largest first, each pass taking the image the
previous pass produced, so memory is bounded by `per_pass` masks whatever their number.

Masks are packed as channels after the image in [-1, 1]; an absent instance is all -1.
"""

from __future__ import annotations

from typing import Protocol

import torch


class SinglePass(Protocol):
    in_channels: int
    out_channels: int

    def single(self, x: torch.Tensor) -> torch.Tensor: ...


def present(masks: torch.Tensor) -> torch.Tensor:
    """(N, K) bool: which mask channels hold an instance (any pixel above -1)."""
    return (masks.flatten(2) > -1).any(-1)


def largest_first(masks: torch.Tensor) -> torch.Tensor:
    """(N, K) slot order of each image's masks by decreasing area (mean value), absent ones last:
    the authors' `set_order=decreasing`."""
    return masks.flatten(2).float().mean(-1).argsort(dim=1, descending=True, stable=True)


def gather_masks(masks: torch.Tensor, order: torch.Tensor) -> torch.Tensor:
    """The masks (N, K, H, W) reordered per image by `order` (N, K)."""
    return masks.gather(1, order[:, :, None, None].expand_as(masks))


def translate_sequentially(g: SinglePass, x: torch.Tensor, per_pass: int) -> torch.Tensor:
    """(image, K masks) packed -> (translated image, translated masks) packed, masks in their
    input order. Passes run over slots of `per_pass` masks, largest first, until no image of the
    batch has an instance left (at least one pass, so an image without masks is still
    translated)."""
    img, masks = x[:, : g.in_channels], x[:, g.in_channels :]
    k = masks.shape[1]
    order = largest_first(masks)
    ordered = gather_masks(masks, order)
    out_masks = ordered.clone()
    current = img
    for start in range(0, max(k, 1), per_pass):
        chunk = ordered[:, start : start + per_pass]
        if start and not present(chunk).any():
            break
        out = g.single(torch.cat([current, chunk], 1))
        current = out[:, : g.out_channels]
        out_masks[:, start : start + per_pass] = out[:, g.out_channels :].to(out_masks.dtype)
    restored = torch.empty_like(out_masks).scatter_(1, order[:, :, None, None].expand_as(out_masks), out_masks)
    return torch.cat([current, restored], 1)
