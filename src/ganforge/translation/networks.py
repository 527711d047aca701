"""The translation networks a config names: `unet_N`, `resnet_Kblocks`; `basic`, `n_layers`,
`pixel` (the reference implementation's names), built and initialised with N(0, init_gain)."""

from __future__ import annotations

import math
import re

from torch import nn

from ganforge.config import Config, TranslationConfig
from ganforge.errors import GanforgeError
from ganforge.models.common import init_normal
from ganforge.models.patchgan import PatchDiscriminator, PixelDiscriminator, patch_output_size
from ganforge.models.resnet_translator import ResNetTranslator
from ganforge.models.unet import UNetGenerator
from ganforge.nn.norm import NORMS

GENERATOR_FORMS = (
    "unet_N (N a power of two: unet_32, unet_128, unet_256) or resnet_Kblocks "
    "(resnet_6blocks, resnet_9blocks)"
)
DISCRIMINATORS = ("basic", "n_layers", "pixel")


MAX_RESNET_BLOCKS = 64


def generator_kind(name: str) -> tuple[str, int]:
    """("unet", downsamplings) or ("resnet", blocks) from a generator name."""
    if match := re.fullmatch(r"unet_(\d+)", name):
        side = int(match.group(1))
        downs = int(math.log2(side)) if side > 0 else 0
        if side >= 4 and 2**downs == side:
            return "unet", downs
    elif match := re.fullmatch(r"resnet_(\d+)blocks", name):
        blocks = int(match.group(1))
        if not 1 <= blocks <= MAX_RESNET_BLOCKS:  # a typo's extra digits would build for hours
            raise GanforgeError(f"translation.generator '{name}' has {blocks} blocks; use 1 to "
                                f"{MAX_RESNET_BLOCKS} (the papers use 6 or 9)")
        return "resnet", blocks
    raise GanforgeError(f"unknown translation.generator '{name}'; use {GENERATOR_FORMS}")


def size_multiple(tc: TranslationConfig) -> int:
    """Image sides the generator accepts are multiples of this."""
    kind, n = generator_kind(tc.generator)
    return 2**n if kind == "unet" else 4


def _check_norm(tc: TranslationConfig) -> None:
    if tc.norm not in NORMS:
        raise GanforgeError(f"unknown translation.norm '{tc.norm}'; available: {', '.join(NORMS)}")


def build_generator(tc: TranslationConfig, in_channels: int, out_channels: int) -> nn.Module:
    _check_norm(tc)
    kind, n = generator_kind(tc.generator)
    if kind == "unet":
        net: nn.Module = UNetGenerator(in_channels, out_channels, n, tc.ngf, tc.norm, tc.dropout)
    else:
        net = ResNetTranslator(in_channels, out_channels, n, tc.ngf, tc.norm, tc.dropout)
    init_normal(net, tc.init_gain)
    return net


def build_discriminator(tc: TranslationConfig, in_channels: int) -> nn.Module:
    _check_norm(tc)
    if tc.discriminator == "basic":
        net: nn.Module = PatchDiscriminator(in_channels, tc.ndf, 3, tc.norm)
    elif tc.discriminator == "n_layers":
        if tc.n_layers_d < 1:
            raise GanforgeError(f"translation.n_layers_d must be >= 1, got {tc.n_layers_d}")
        net = PatchDiscriminator(in_channels, tc.ndf, tc.n_layers_d, tc.norm)
    elif tc.discriminator == "pixel":
        net = PixelDiscriminator(in_channels, tc.ndf, tc.norm)
    else:
        raise GanforgeError(
            f"unknown translation.discriminator '{tc.discriminator}'; available: "
            f"{', '.join(DISCRIMINATORS)}"
        )
    init_normal(net, tc.init_gain)
    return net


def check_image_networks(config: Config) -> None:
    """The rules of a `translation.generator` (U-Net or ResNet) with a PatchGAN D: the crop fits
    the generator's downsamplings and leaves the PatchGAN a non-empty map of logits."""
    tc = config.translation
    generator_kind(tc.generator)
    multiple = size_multiple(tc)
    if tc.crop_size <= 0 or tc.crop_size % multiple:
        raise GanforgeError(
            f"translation.crop_size={tc.crop_size} does not fit translation.generator="
            f"{tc.generator}: use a positive multiple of {multiple}"
        )
    layers = {"basic": 3, "n_layers": tc.n_layers_d}.get(tc.discriminator)
    if layers is not None and patch_output_size(tc.crop_size, layers) < 1:
        raise GanforgeError(
            f"translation.crop_size={tc.crop_size} is too small for a PatchGAN with {layers} "
            "stride-2 layers (its map of logits would be empty); use larger crops or "
            "translation.discriminator=n_layers with a smaller translation.n_layers_d"
        )
