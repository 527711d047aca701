"""Building an untrained network for a stored config, before its weights are loaded."""

from __future__ import annotations

from dataclasses import fields, replace

from torch import nn

from ganforge.config import Config
from ganforge.errors import GanforgeError
from ganforge.models import build_models
from ganforge.translation.networks import build_generator


def for_loading(config: Config) -> Config:
    """`config` with N(0, 0.02) init: networks whose every value is then loaded need no
    orthogonal init, which takes over a minute for a 128 px BigGAN on a CPU. Architectures
    without an `init` setting (dcgan, mlp, gancls, ...) are returned unchanged."""
    if "init" not in {f.name for f in fields(config.model)}:
        return config
    return replace(config, model=replace(config.model, init="normal"))


def gan_generator(config: Config) -> nn.Module:
    """An untrained generator for `config`, to load a state dict into (see `for_loading`)."""
    generator, _ = build_models(for_loading(config).model, config.text)
    return generator


def translation_networks(config: Config, directions: list[str]) -> dict[str, nn.Module]:
    """The generator of each direction: AtoB maps domain A's channels to B's, BtoA the reverse."""
    tc = config.translation
    channels = {"AtoB": (tc.channels_a, tc.channels_b), "BtoA": (tc.channels_b, tc.channels_a)}
    unknown = [d for d in directions if d not in channels]
    if unknown or not directions:
        raise GanforgeError(f"unknown translation direction(s) {unknown or directions}; "
                            "expected AtoB and/or BtoA")
    return {d: build_generator(tc, *channels[d]) for d in directions}


def run_directions(config: Config) -> dict[str, str]:
    """Direction -> the network's name in a translation run's checkpoint."""
    if config.translation.mode == "pix2pix":
        return {config.translation.direction: "G"}
    return {"AtoB": "G_AB", "BtoA": "G_BA"}
