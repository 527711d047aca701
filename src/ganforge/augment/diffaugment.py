"""DiffAugment (Zhao et al. 2020): colour, translation and cutout on every image D sees.

Unlike ADA it is always on (no probability); the policy picks the parts. Values follow the
paper's reference setting for images in [-1, 1].
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ganforge.augment.pipeline import cutout_mask
from ganforge.errors import GanforgeError

POLICIES = ("color", "translation", "cutout")
TRANSLATION_RATIO = 0.125
CUTOUT_RATIO = 0.5


def parse_policy(policy: str) -> list[str]:
    parts = [p.strip() for p in policy.split(",") if p.strip()]
    unknown = [p for p in parts if p not in POLICIES]
    if unknown or not parts:
        raise GanforgeError(
            f"augment.policy '{policy}' is not a comma list of: {', '.join(POLICIES)}"
        )
    return parts


def color(x: torch.Tensor) -> torch.Tensor:
    n = x.shape[0]
    x = x + (torch.rand(n, 1, 1, 1, device=x.device, dtype=x.dtype) - 0.5)  # brightness
    mean = x.mean(dim=1, keepdim=True)  # saturation (identity on grey)
    x = (x - mean) * (torch.rand(n, 1, 1, 1, device=x.device, dtype=x.dtype) * 2) + mean
    mean = x.mean(dim=(1, 2, 3), keepdim=True)  # contrast
    return (x - mean) * (torch.rand(n, 1, 1, 1, device=x.device, dtype=x.dtype) + 0.5) + mean


def translation(x: torch.Tensor, ratio: float = TRANSLATION_RATIO) -> torch.Tensor:
    """Shift each image by whole pixels (up to ratio of its size), filling with zeros."""
    n, _, h, w = x.shape
    sy, sx = int(h * ratio + 0.5), int(w * ratio + 0.5)
    ty = torch.randint(-sy, sy + 1, (n, 1, 1), device=x.device)
    tx = torch.randint(-sx, sx + 1, (n, 1, 1), device=x.device)
    padded = F.pad(x, [sx, sx, sy, sy])
    rows = torch.arange(h, device=x.device).view(1, -1, 1) + sy - ty  # (n, h, 1)
    cols = torch.arange(w, device=x.device).view(1, 1, -1) + sx - tx  # (n, 1, w)
    batch = torch.arange(n, device=x.device).view(-1, 1, 1)
    return padded.permute(0, 2, 3, 1)[batch, rows, cols].permute(0, 3, 1, 2)


def cutout(x: torch.Tensor, ratio: float = CUTOUT_RATIO) -> torch.Tensor:
    n, _, h, w = x.shape
    return x * cutout_mask(n, h, w, x.device, ratio).to(x.dtype)


class DiffAugment(nn.Module):
    """The DiffAugment policy as a module; `p` is 1 (always applied) for uniform logging."""

    def __init__(self, policy: str = "color,translation,cutout") -> None:
        super().__init__()
        self.parts = parse_policy(policy)
        self.p = 1.0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for part in self.parts:
            x = {"color": color, "translation": translation, "cutout": cutout}[part](x)
        return x

    def extra_repr(self) -> str:
        return f"policy={','.join(self.parts)}"
