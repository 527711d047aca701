"""Architectures selected by `model.arch`."""

from __future__ import annotations

from torch import nn

from ganforge.config import ModelConfig, TextConfig
from ganforge.errors import GanforgeError
from ganforge.models.began import BEGANDiscriminator, BEGANGenerator
from ganforge.models.biggan import Discriminator, Generator
from ganforge.models.common import latent_dim
from ganforge.models.dcgan import DCGANDiscriminator, DCGANGenerator
from ganforge.models.gancls import GANCLSDiscriminator, GANCLSGenerator
from ganforge.models.gigagan import GigaGANGenerator
from ganforge.models.gigagan_discriminator import GigaGANDiscriminator
from ganforge.models.gigagan_upsampler import GigaGANUpsampler, GigaGANUpsamplerDiscriminator
from ganforge.models.lapgan import LapGANDiscriminator, LapGANGenerator
from ganforge.models.lostgan import LostGANDiscriminator, LostGANGenerator
from ganforge.models.lostgan_v2 import LostGANV2Discriminator, LostGANV2Generator
from ganforge.models.mlp import MLPDiscriminator, MLPGenerator
from ganforge.models.stylegan2 import StyleGAN2Discriminator, StyleGAN2Generator

# biggan also covers SNGAN and SAGAN (its ResNet ancestors) through model.* options
ARCHITECTURES = {
    "biggan": (Generator, Discriminator),
    "dcgan": (DCGANGenerator, DCGANDiscriminator),
    "mlp": (MLPGenerator, MLPDiscriminator),
    "began": (BEGANGenerator, BEGANDiscriminator),
    "lapgan": (LapGANGenerator, LapGANDiscriminator),
    "stylegan2": (StyleGAN2Generator, StyleGAN2Discriminator),
    "gancls": (GANCLSGenerator, GANCLSDiscriminator),
    "gigagan": (GigaGANGenerator, GigaGANDiscriminator),
    "lostgan": (LostGANGenerator, LostGANDiscriminator),
    "lostgan-v2": (LostGANV2Generator, LostGANV2Discriminator),
    "gigagan-upsampler": (GigaGANUpsampler, GigaGANUpsamplerDiscriminator),
}
__all__ = ["ARCHITECTURES", "build_models", "count_parameters", "latent_dim"]


def build_models(cfg: ModelConfig, text: TextConfig | None = None) -> tuple[nn.Module, nn.Module]:
    """(G, D) for a model config; architecture mistakes become one-line GanforgeErrors.
    Text-conditioned architectures (`takes_text`) also get the run's `text.*` settings."""
    if cfg.arch not in ARCHITECTURES:
        raise GanforgeError(
            f"unknown model.arch '{cfg.arch}'; available: {', '.join(sorted(ARCHITECTURES))}"
        )
    g_cls, d_cls = ARCHITECTURES[cfg.arch]
    cfg.check()  # the architecture's own rules (GanforgeError), the same as validate_config's
    try:
        if getattr(g_cls, "takes_text", False):
            return g_cls(cfg, text or TextConfig()), d_cls(cfg, text or TextConfig())
        return g_cls(cfg), d_cls(cfg)
    except ValueError as exc:
        raise GanforgeError(str(exc)) from None


def count_parameters(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())
