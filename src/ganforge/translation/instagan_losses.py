"""InstaGAN's loss pieces (Mo et al. 2019) on packed masks in [-1, 1] (N, K, H, W), absent
instances all -1, as the authors' code:

- the union of masks: clamp(sum_k (m_k + 1) / 2, 0, 1), back in [-1, 1];
- the context-preserving loss: mean(w * |x - y'|) with w = 1 - union(source masks, translated
  masks): the image may change only where an instance was or now is;
- mask selection: the `ins_max` largest instances of each image (`decreasing`), or those in a
  random order (`random`: the present ones shuffled, absent ones last), padded with -1.
"""

from __future__ import annotations

import torch

from ganforge.models.instagan_sequence import gather_masks, largest_first, present


def union(masks: torch.Tensor) -> torch.Tensor:
    """(N, K, H, W) -> (N, 1, H, W) in [-1, 1]: the union of the masks."""
    return ((masks.float() + 1) / 2).sum(1, keepdim=True).clamp(0, 1) * 2 - 1


def context_weight(source_masks: torch.Tensor, translated_masks: torch.Tensor) -> torch.Tensor:
    """(N, 1, H, W) in [0, 1]: 1 outside both sets of masks, 0 inside either."""
    return (1 - union(torch.cat([source_masks, translated_masks], 1))) / 2


def context_loss(source: torch.Tensor, translated: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """mean(weight * |source - translated|) over every element (weight broadcast over channels)."""
    return (weight * (source.float() - translated.float()).abs()).mean()


def select_masks(masks: torch.Tensor, count: int, order: str = "decreasing") -> torch.Tensor:
    """(N, count, H, W): each image's masks in the instance order, cut or padded (-1) to `count`."""
    n, k = masks.shape[:2]
    if k < count:
        masks = torch.cat([masks, masks.new_full((n, count - k, *masks.shape[2:]), -1.0)], 1)
    ordered = gather_masks(masks, largest_first(masks))[:, :count]
    if order == "random":
        shuffled = []
        for row in ordered:
            m = int(present(row[None]).sum())
            perm = torch.cat([torch.randperm(m), torch.arange(m, count)]).to(row.device)
            shuffled.append(row[perm])
        ordered = torch.stack(shuffled)
    return ordered
