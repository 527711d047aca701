"""LostGAN v2 (Sun & Wu, TPAMI 2021): the layout-to-image step of v1 for `model.arch=lostgan-v2`.

The paper keeps v1's objective (hinge losses on the image and on the ROI-aligned objects,
lambda_img 0.1, lambda_obj 1) and v2's train.py the same D (CombineDiscriminator128), so this is
v1's method under its own name: a method that trains its own D pairs with one architecture.
The reference repository's train.py also adds an L1 loss between a fake and the real image of the
same layout and a VGG feature loss to G; neither is here (no VGG weights offline; see v1's method).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ganforge.config import register
from ganforge.errors import GanforgeError
from ganforge.training.methods.lostgan import LostGAN, LostGANMethodConfig
from ganforge.training.methods.registry import method


@register("lostgan-v2")
@dataclass
class LostGANV2MethodConfig(LostGANMethodConfig):
    paired_arch = "lostgan-v2"

    name: str = "lostgan-v2"

    def check(self, config: Any = None) -> None:
        try:
            super().check(config)
        except GanforgeError as exc:  # v1's rules, under this method's name
            raise GanforgeError(str(exc).replace("method.name=lostgan:", "method.name=lostgan-v2:")) from None


@method("lostgan-v2")
class LostGANV2(LostGAN):
    pass
