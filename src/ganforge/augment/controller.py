"""ADA's p controller: raise augmentation when D grows sure of the real images.

r_t = E[sign(D(real))] over the D steps since the last adjustment; every `interval` D steps
p <- clamp(p + sign(r_t - target) * batch * interval / (ada_kimg * 1000), 0, 1), so p can move
from 0 to 1 within `ada_kimg` thousand real images (Karras et al. 2020, target 0.6).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch


def rt_statistic(real_logits: torch.Tensor) -> float:
    """E[sign(D(real))]: 1 when D is sure of every real image, 0 when it guesses."""
    return float(torch.sign(real_logits.detach().float()).mean())


class AdaController:
    """Steers the pipeline's p towards r_t = target; `batch_size` is real images per D step."""

    def __init__(self, target: float, ada_kimg: float, interval: int, batch_size: int,
                 p: float = 0.0) -> None:
        self.target, self.ada_kimg = float(target), float(ada_kimg)
        self.interval, self.batch_size = int(interval), int(batch_size)
        self.p = float(p)
        self.last_rt: float | None = None
        self._sign_sum: torch.Tensor | float = 0.0
        self._count = 0
        self._calls = 0
        # (sign sum, count) -> the same summed over every rank (set under torchrun)
        self.reduce: Callable[[float, int], tuple[float, int]] | None = None

    @property
    def adjustment(self) -> float:
        """How far p moves per adjustment."""
        return self.batch_size * self.interval / (self.ada_kimg * 1000)

    def observe(self, real_logits: torch.Tensor) -> None:
        """Accumulate D's decisions on (augmented) real images; no device sync."""
        logits = real_logits.detach().float()
        self._sign_sum = self._sign_sum + torch.sign(logits).sum()
        self._count += logits.numel()

    def step(self) -> float | None:
        """Call once per D step; returns r_t when this call adjusted p, else None."""
        self._calls += 1
        if self._calls < self.interval:
            return None
        if self._count == 0:  # D saw no real logits (e.g. every step skipped): nothing to go by
            self._sign_sum, self._calls = 0.0, 0
            return None
        sign_sum, count = float(self._sign_sum), self._count  # the one device sync per interval
        if self.reduce is not None:
            sign_sum, count = self.reduce(sign_sum, count)
        rt = sign_sum / count
        direction = (rt > self.target) - (rt < self.target)
        self.p = min(max(self.p + direction * self.adjustment, 0.0), 1.0)
        self.last_rt = rt
        self._sign_sum, self._count, self._calls = 0.0, 0, 0
        return rt

    def state_dict(self) -> dict[str, Any]:
        return {"p": self.p, "last_rt": self.last_rt, "sign_sum": float(self._sign_sum),
                "count": self._count, "calls": self._calls}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.p, self.last_rt = float(state["p"]), state["last_rt"]
        self._sign_sum, self._count = float(state["sign_sum"]), int(state["count"])
        self._calls = int(state["calls"])
