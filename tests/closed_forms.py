"""Closed forms the loss tests compare against, written out by hand (no torch)."""

from __future__ import annotations

import math


def bce(logit: float, target: float) -> float:
    """Binary cross-entropy of one logit against a 0/1 target."""
    p = 1 / (1 + math.exp(-logit))
    return -(target * math.log(p) + (1 - target) * math.log(1 - p))
