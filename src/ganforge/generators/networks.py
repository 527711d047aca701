"""Building an untrained network for a stored config, before its weights are loaded."""

from __future__ import annotations

from dataclasses import replace

from torch import nn

from ganforge.config import Config
from ganforge.errors import GanforgeError
from ganforge.models import build_models
from ganforge.translation.models import method_class


def for_loading(config: Config) -> Config:
    """`config` with N(0, 0.02) init: networks whose every value is then loaded need no
    orthogonal init, which takes over a minute for a 128 px BigGAN on a CPU. Architectures
    without an `init` setting (dcgan, mlp, stylegan2, gancls, ...) are returned unchanged."""
    if not hasattr(config.model, "init"):
        return config
    return replace(config, model=replace(config.model, init="normal"))


def gan_generator(config: Config) -> nn.Module:
    """An untrained generator for `config`, to load a state dict into (see `for_loading`)."""
    generator, _ = build_models(for_loading(config).model, config.text)
    return generator


def translation_networks(config: Config, directions: list[str]) -> dict[str, nn.Module]:
    """The inference network of each direction, as the run's mode builds it (pix2pix/CycleGAN:
    AtoB maps domain A's channels to B's, BtoA the reverse; StarGAN, BicycleGAN: AtoB only)."""
    networks = method_class(config.translation.mode).inference_networks(config.translation)
    unknown = [d for d in directions if d not in networks]
    if unknown or not directions:
        raise GanforgeError(f"unknown translation direction(s) {unknown or directions}; "
                            f"this {config.translation.mode} run has {', '.join(networks)}")
    return {d: networks[d] for d in directions}


def run_directions(config: Config) -> dict[str, str]:
    """Direction -> the network's name in a translation run's checkpoint."""
    return method_class(config.translation.mode).network_names(config.translation)
