"""pix2pix (Isola et al. 2017): one generator G: x -> y and a conditional PatchGAN D that judges
the pair (x, y) concatenated along channels; G also minimises lambda_l1 |y - G(x)|_1.

One training step, in the reference order: G(x) once (`forward`); a D step on real (x, y) and
fake (x, G(x)) pairs (two D calls, so batch norm sees each batch on its own); then a G step with
D frozen. The translation task (`training/tasks/translation.py`) runs the steps.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from ganforge.config import Config, TranslationConfig
from ganforge.translation.losses import adversarial_terms, pix2pix_d_loss, pix2pix_g_loss
from ganforge.translation.method import TranslationMethod
from ganforge.translation.networks import (
    build_discriminator,
    build_generator,
    check_image_networks,
    size_multiple,
)
from ganforge.translation.pool import ImagePool


class Pix2Pix(TranslationMethod):
    """The networks, image pool and losses of a pix2pix run."""

    data_kind = "paired"
    order = ("d", "g")  # the D step comes first
    generator_names = ("G",)

    def __init__(self, tc: TranslationConfig, loss: str, pool_seed: int) -> None:
        self.direction = tc.direction
        c_a, c_b = tc.channels_a, tc.channels_b
        c_in, c_out = (c_a, c_b) if tc.direction == "AtoB" else (c_b, c_a)
        self.G = build_generator(tc, c_in, c_out)
        self.D = build_discriminator(tc, c_in + c_out)
        self.networks: dict[str, nn.Module] = {"G": self.G, "D": self.D}
        self.fwd: dict[str, Any] = dict(self.networks)  # the training forwards (maybe compiled)
        self.param_groups = {"g": ("G",), "d": ("D",)}  # the networks each optimizer steps
        # the reference leaves pix2pix's pool at 0; a recipe may still set one
        self.pools = {"fake": ImagePool(tc.pool_size, pool_seed)}
        self.terms = adversarial_terms(loss)
        self.lambda_l1 = tc.lambda_l1

    @property
    def directions(self) -> tuple[str, ...]:
        return (self.direction,)

    def generator(self, direction: str) -> nn.Module:
        return self.G

    def forward(self, real_a: torch.Tensor, real_b: torch.Tensor) -> dict[str, torch.Tensor]:
        x, y = (real_a, real_b) if self.direction == "AtoB" else (real_b, real_a)
        return {"x": x, "y": y, "fake": self.fwd["G"](x)}

    def loss(self, phase: str, out: dict[str, torch.Tensor]) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """(the loss `phase` ('d' or 'g') minimises, its parts for the log)."""
        x, y, fake, D = out["x"], out["y"], out["fake"], self.fwd["D"]
        if phase == "d":
            fake_pair = self.pools["fake"].query(torch.cat([x, fake.detach()], 1))
            return pix2pix_d_loss(self.terms, D(torch.cat([x, y], 1)), D(fake_pair)), {}
        parts = pix2pix_g_loss(self.terms, D(torch.cat([x, fake], 1)), fake, y, self.lambda_l1)
        return parts.pop("loss_g"), parts

    @classmethod
    def check(cls, config: Config) -> None:
        check_image_networks(config)
        adversarial_terms(config.train.loss)

    @classmethod
    def size_multiple(cls, tc: TranslationConfig) -> int:
        return size_multiple(tc)

    @classmethod
    def network_names(cls, tc: TranslationConfig) -> dict[str, str]:
        return {tc.direction: "G"}

    @classmethod
    def inference_networks(cls, tc: TranslationConfig) -> dict[str, nn.Module]:
        c_in, c_out = (tc.channels_a, tc.channels_b) if tc.direction == "AtoB" else (tc.channels_b, tc.channels_a)
        return {tc.direction: build_generator(tc, c_in, c_out)}
