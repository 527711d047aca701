"""Networks too large to build are refused before anything is allocated: the parameter count
comes from a build on the meta device (shapes only, tens of milliseconds), so `model.ch=10**12`
is one line naming the count and the widest settings, not an allocator crash mid-launch."""

from __future__ import annotations

import dataclasses
import math

import torch
from torch import nn

from ganforge.config import Config
from ganforge.errors import GanforgeError
from ganforge.models import build_models, count_parameters
from ganforge.translation.models import build_model

# 2e9 parameters are 40 GB with gradients, Adam state and EMA in float32: far beyond any recipe
# (BigGAN-512 has 0.16e9) yet within one large accelerator, so no real model is refused.
MAX_PARAMETERS = 2_000_000_000


def networks(config: Config) -> list[nn.Module]:
    """The task's networks on the meta device (no memory)."""
    with torch.device("meta"):
        if config.task == "translation":
            return list(build_model(config, "meta").networks.values())
        return list(build_models(config.model, config.text))


def parameter_count(config: Config) -> float:
    """Parameters of all networks; inf when a shape is beyond what torch can even describe."""
    try:
        return sum(count_parameters(net) for net in networks(config))
    except OverflowError:
        return math.inf
    except RuntimeError as exc:  # "Storage size calculation overflowed with sizes=[...]"
        if "overflow" not in str(exc):
            raise
        return math.inf


def widest(config: Config) -> str:
    """The integer setting of the network's section with the largest value (the likely cause)."""
    section = "translation" if config.task == "translation" else "model"
    values: list[tuple[int, str]] = []
    for f in dataclasses.fields(getattr(config, section)):
        value = getattr(getattr(config, section), f.name)
        numbers = value if isinstance(value, list) else [value]
        numbers = [v for v in numbers if isinstance(v, int) and not isinstance(v, bool)]
        if numbers:
            values.append((max(numbers), f"{section}.{f.name}={value}"))
    return ", ".join(text for _, text in sorted(values, reverse=True)[:1])


def check_size(config: Config) -> None:
    count = parameter_count(config)
    if count > MAX_PARAMETERS:
        shown = "over 2**63" if math.isinf(count) else f"{int(count):,}"
        raise GanforgeError(
            f"the networks would have {shown} parameters, above ganforge's limit of "
            f"{MAX_PARAMETERS:,}; reduce the largest setting ({widest(config)}) or other widths"
        )
