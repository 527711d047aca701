"""`augment.*` settings -> the module applied in every D call and, for ADA, its controller."""

from __future__ import annotations

from torch import nn

from ganforge.augment.controller import AdaController
from ganforge.augment.diffaugment import DiffAugment
from ganforge.augment.pipeline import AugmentPipe
from ganforge.config import AugmentConfig
from ganforge.errors import GanforgeError

KINDS = ("none", "ada", "fixed", "diffaug")


def build_augment(cfg: AugmentConfig, batch_size: int) -> tuple[nn.Module | None, AdaController | None]:
    if cfg.kind not in KINDS:
        raise GanforgeError(f"unknown augment.kind '{cfg.kind}'; available: {', '.join(KINDS)}")
    if not 0.0 <= cfg.p <= 1.0:
        raise GanforgeError(f"augment.p must lie in [0, 1], got {cfg.p}")
    if not -1.0 < cfg.target < 1.0:
        raise GanforgeError(f"augment.target must lie in (-1, 1), got {cfg.target}")
    if cfg.ada_kimg <= 0:
        raise GanforgeError(f"augment.ada_kimg must be positive, got {cfg.ada_kimg}")
    if cfg.interval < 1:
        raise GanforgeError(f"augment.interval must be a positive integer, got {cfg.interval}")
    if cfg.kind == "none":
        return None, None
    if cfg.kind == "diffaug":
        return DiffAugment(cfg.policy), None
    pipe = AugmentPipe(cfg.ops, cfg.p)
    if cfg.kind == "fixed":
        return pipe, None
    return pipe, AdaController(cfg.target, cfg.ada_kimg, cfg.interval, batch_size, cfg.p)
