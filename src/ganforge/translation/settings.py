"""The settings of each translation mode (`translation.mode`): what pix2pix and CycleGAN add to
the shared `TranslationConfig`. Torch-free, so that reading a config never builds a network."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from ganforge.config import TranslationConfig, register, setting
from ganforge.config.sections import AT_LEAST_0


@register("pix2pix")
@dataclass
class Pix2PixConfig(TranslationConfig):
    """Paired translation: one G, a D conditioned on the input image."""

    mode: str = "pix2pix"
    direction: Literal["AtoB", "BtoA"] = "AtoB"  # AtoB translates A -> B, BtoA the reverse
    lambda_l1: float = setting(100.0, bounds=AT_LEAST_0)  # weight of L1(G(x), y)


@register("cyclegan")
@dataclass
class CycleGANConfig(TranslationConfig):
    """Unpaired translation: two G, two D, cycle consistency."""

    mode: str = "cyclegan"
    lambda_cycle: float = setting(10.0, bounds=AT_LEAST_0)  # weight of each cycle-consistency L1 term
    # identity L1 weight, relative to lambda_cycle
    lambda_identity: float = setting(0.5, bounds=AT_LEAST_0)
