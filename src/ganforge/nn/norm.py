"""Normalisation layers of the image-to-image networks (pix2pix, CycleGAN) chosen by name."""

from __future__ import annotations

from collections.abc import Callable

from torch import nn

NORMS = ("batch", "instance", "none")


def norm_layer(kind: str) -> Callable[[int], nn.Module]:
    """channels -> a norm module: BatchNorm (affine), InstanceNorm (no affine, no running
    statistics: per-image statistics in training and inference), or Identity."""
    if kind == "batch":
        return lambda c: nn.BatchNorm2d(c, affine=True)
    if kind == "instance":
        return lambda c: nn.InstanceNorm2d(c, affine=False, track_running_stats=False)
    if kind == "none":
        return lambda c: nn.Identity()
    raise ValueError(f"unknown norm '{kind}'; available: {', '.join(NORMS)}")


def conv_bias(kind: str) -> bool:
    """Whether a conv followed by this norm keeps its bias.

    Batch norm's learned shift makes a bias redundant, so it is dropped; the reference
    implementation keeps it before instance norm (affine=False), and so do we, which keeps the
    parameter counts identical to it. Without a norm the bias is kept.
    """
    return kind != "batch"
