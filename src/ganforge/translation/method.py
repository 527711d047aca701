"""What every translation mode (pix2pix, CycleGAN, StarGAN, BicycleGAN) tells the task.

A mode is one class: its networks (`networks`, and `fwd`, the training forwards the task may
compile), which optimiser steps which networks (`param_groups`), the phases of a step in order
(`phases`), the forward passes shared by the phases (`forward`) and the loss of each phase
(`loss`). Class-level facts let the task, the data readers, the checks, `ganforge translate` and
the exports handle every mode alike:

- `data_kind`: "paired" (A[i] belongs to B[i]), "unpaired" (two domains) or "attributes"
  (one domain of images with binary attribute labels);
- `condition`: what the inference network takes besides the image: "none", "attributes"
  (StarGAN's target labels (N, K)) or "latent" (BicycleGAN's codes (N, nz));
- `inference_networks(tc)`: the network of each direction, as `ganforge.load` rebuilds it,
  and `network_names(tc)`: their names in a checkpoint.
"""

from __future__ import annotations

from typing import Any, ClassVar

import torch
from torch import nn

from ganforge.config import Config, TranslationConfig
from ganforge.translation.inference import run_generator
from ganforge.translation.pool import ImagePool


class TranslationMethod:
    """The base of the modes; subclasses set the class facts and implement the step."""

    data_kind: ClassVar[str] = "paired"
    condition: ClassVar[str] = "none"
    order: ClassVar[tuple[str, ...]] = ("d", "g")
    generator_names: ClassVar[tuple[str, ...]] = ("G",)
    distributed: ClassVar[bool] = True  # whether torchrun's data parallelism is supported

    networks: dict[str, nn.Module]
    fwd: dict[str, Any]
    param_groups: dict[str, tuple[str, ...]]
    pools: dict[str, ImagePool]

    def phases(self, step: int) -> tuple[str, ...]:
        """The optimiser phases of (1-based) `step`, in order: every phase every step, unless a
        mode (StarGAN's n_critic) says otherwise."""
        return self.order

    @property
    def directions(self) -> tuple[str, ...]:
        raise NotImplementedError

    def generator(self, direction: str) -> nn.Module:
        raise NotImplementedError

    def forward(self, real_a: torch.Tensor, real_b: torch.Tensor) -> Any:
        raise NotImplementedError

    def loss(self, phase: str, out: Any) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        raise NotImplementedError

    # ---- class facts for checks, loading and translate ----------------------------------------
    @classmethod
    def check(cls, config: Config) -> None:
        """The mode's own config rules (GanforgeError); the shared ones are in `checks`."""

    @classmethod
    def size_multiple(cls, tc: TranslationConfig) -> int:
        """Image sides the networks accept are multiples of this."""
        raise NotImplementedError

    @classmethod
    def network_names(cls, tc: TranslationConfig) -> dict[str, str]:
        """Direction -> the inference network's name in a checkpoint."""
        raise NotImplementedError

    @classmethod
    def inference_networks(cls, tc: TranslationConfig) -> dict[str, nn.Module]:
        """Untrained inference networks by direction, for loading a checkpoint or export."""
        raise NotImplementedError

    @classmethod
    def grid_rows(cls, tc: TranslationConfig, generator_of: Any, samples: dict[str, torch.Tensor],
                  mode: str, seed: int) -> list[torch.Tensor]:
        """Rows of the progress grid ([-1, 1] images) from fixed samples {"a", "b", ...}, with
        `generator_of(direction)` the networks to show. One direction: input, output, target;
        two: A, G_AB(A), G_BA(G_AB(A)), B, G_BA(B), G_AB(G_BA(B))."""
        a, b = samples["a"], samples["b"]
        directions = cls.network_names(tc)
        if len(directions) == 1:
            direction = next(iter(directions))
            x, y = (a, b) if direction == "AtoB" else (b, a)
            return [_unit(x), run_generator(generator_of(direction), x, mode, seed), _unit(y)]
        g_ab, g_ba = generator_of("AtoB"), generator_of("BtoA")
        fake_b, fake_a = run_generator(g_ab, a, mode, seed), run_generator(g_ba, b, mode, seed)
        return [_unit(a), fake_b, run_generator(g_ba, fake_b, mode, seed),
                _unit(b), fake_a, run_generator(g_ab, fake_a, mode, seed)]


def _unit(images: torch.Tensor) -> torch.Tensor:
    """uint8 -> float [-1, 1]."""
    return images.float().div(127.5).sub(1.0)
