"""Exponential moving average of G's weights, the generator BigGAN evaluates with."""

from __future__ import annotations

import torch
from torch import nn


def half_life_decay(batch: int, ema_kimg: float, rampup: float, seen: int) -> float:
    """StyleGAN2-ADA's EMA decay for one step of `batch` images: the average's half-life is
    ema_kimg thousand images, capped at `rampup` x the images seen so far when rampup > 0 (so that
    early, poor weights are forgotten quickly): 0.5 ** (batch / min(ema_kimg*1000, seen*rampup))."""
    half_life = ema_kimg * 1000.0
    if rampup > 0:
        half_life = min(half_life, seen * rampup)
    return 0.5 ** (batch / max(half_life, 1e-8))


class EMA:
    """ema <- decay * ema + (1 - decay) * param after each G step, from `start` on.

    Before `start` the average simply copies G (BigGAN-PyTorch's `ema_start`). BatchNorm
    running statistics are averaged too; spectral-norm singular-vector estimates (`_u`, `_v`)
    and integer buffers are copied, since an average of unit vectors is no longer a unit vector.
    `copy_buffers`: every buffer is copied, none averaged (StyleGAN2-ADA: its w_avg is already
    a running mean).
    """

    def __init__(self, source: nn.Module, target: nn.Module, decay: float, start: int,
                 copy_buffers: bool = False) -> None:
        if not 0.0 <= decay < 1.0:
            raise ValueError(f"EMA decay must lie in [0, 1), got {decay}")
        self.source, self.target = source, target
        self.decay, self.start = decay, start
        self._params = list(zip(target.parameters(), source.parameters(), strict=True))
        self._avg_buffers, self._copy_buffers = [], []
        for (name, t), s in zip(target.named_buffers(), source.buffers(), strict=True):
            copy = copy_buffers or not t.is_floating_point() or name.endswith(("._u", "._v"))
            (self._copy_buffers if copy else self._avg_buffers).append((t, s))
        target.requires_grad_(False)
        self.update(step=-1)  # start from an exact copy

    @torch.no_grad()
    def update(self, step: int, decay: float | None = None) -> None:
        """One average; `decay` overrides the constant one (e.g. `half_life_decay`)."""
        decay = (self.decay if decay is None else decay) if step >= self.start else 0.0
        targets = [t for t, _ in self._params] + [t for t, _ in self._avg_buffers]
        sources = [s for _, s in self._params] + [s for _, s in self._avg_buffers]
        if decay == 0.0:
            torch._foreach_copy_(targets, sources)
        else:
            torch._foreach_lerp_(targets, sources, 1.0 - decay)
        for t, s in self._copy_buffers:
            t.copy_(s)
