"""`ganforge info` for a translation recipe: parameter counts of its networks, built on the
meta device (shapes only, no memory)."""

from __future__ import annotations

import time
from typing import Any

import torch

from ganforge.config import Config, apply_overrides
from ganforge.models import count_parameters
from ganforge.translation.checks import check_translation_config
from ganforge.translation.models import build_model


def parameter_counts(config: Config) -> dict[str, int]:
    """Parameters of each network ("G", "D" or "G_AB", "G_BA", "D_A", "D_B"), as pix2pix and
    CycleGAN compose them: pix2pix's D judges the (input, output) pair, CycleGAN's one domain."""
    check_translation_config(config)
    with torch.device("meta"):
        networks = build_model(config, "meta").networks
    return {name: count_parameters(net) for name, net in networks.items()}


def translation_info(config: Config) -> dict[str, Any]:
    """The recipe's networks as stated (the papers' sizes), and those of its built-in demo."""
    tc = config.translation
    start = time.perf_counter()
    counts = parameter_counts(config)
    demo = {}
    if config.demo_overrides:
        demo = parameter_counts(apply_overrides(config, config.demo_overrides))
    generators = [n for n in counts if n.startswith("G")]
    discriminators = [n for n in counts if n.startswith("D")]
    return {
        "recipe": config.name,
        "description": config.description,
        "task": "translation",
        "mode": tc.mode,
        "networks": counts,
        "demo_networks": demo,
        "generator_params": sum(counts[n] for n in generators),
        "discriminator_params": sum(counts[n] for n in discriminators),
        "resolution": tc.crop_size,
        "n_classes": 0,
        "build_seconds": round(time.perf_counter() - start, 3),
        "config": config.to_dict(),
    }
