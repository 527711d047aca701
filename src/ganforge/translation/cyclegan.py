"""CycleGAN (Zhu et al. 2017): G_AB: A -> B and G_BA: B -> A trained with unpaired images,
D_A and D_B (PatchGANs on single images), cycle consistency G_BA(G_AB(a)) ~ a and
G_AB(G_BA(b)) ~ b, an optional identity term G_AB(b) ~ b, and image pools of past fakes for D.

One training step, in the reference order: all four generator passes (`forward`); one step of
both generators (one Adam over both) with the discriminators frozen; then one step of both
discriminators (one Adam over both), each on real images and on fakes drawn through its pool.
The translation task (`training/tasks/translation.py`) runs the steps.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from ganforge.config import Config, TranslationConfig
from ganforge.errors import GanforgeError
from ganforge.translation.losses import CycleOutputs, adversarial_terms, cyclegan_g_loss
from ganforge.translation.method import TranslationMethod
from ganforge.translation.networks import (
    build_discriminator,
    build_generator,
    check_image_networks,
    size_multiple,
)
from ganforge.translation.pool import ImagePool


class CycleGAN(TranslationMethod):
    """The networks, image pools and losses of a CycleGAN run."""

    data_kind = "unpaired"  # even paired data is drawn unpaired
    order = ("g", "d")  # the generators step first
    generator_names = ("G_AB", "G_BA")

    def __init__(self, tc: TranslationConfig, loss: str, pool_seed: int) -> None:
        c_a, c_b = tc.channels_a, tc.channels_b
        self.G_AB = build_generator(tc, c_a, c_b)
        self.G_BA = build_generator(tc, c_b, c_a)
        self.D_A = build_discriminator(tc, c_a)
        self.D_B = build_discriminator(tc, c_b)
        self.networks: dict[str, nn.Module] = {
            "G_AB": self.G_AB, "G_BA": self.G_BA, "D_A": self.D_A, "D_B": self.D_B,
        }
        self.fwd: dict[str, Any] = dict(self.networks)  # the training forwards (maybe compiled)
        self.param_groups = {"g": ("G_AB", "G_BA"), "d": ("D_A", "D_B")}
        self.pools = {
            "fake_a": ImagePool(tc.pool_size, pool_seed),
            "fake_b": ImagePool(tc.pool_size, pool_seed + 1),
        }
        self.terms = adversarial_terms(loss)
        self.lambda_cycle, self.lambda_identity = tc.lambda_cycle, tc.lambda_identity

    @property
    def directions(self) -> tuple[str, ...]:
        return ("AtoB", "BtoA")

    def generator(self, direction: str) -> nn.Module:
        return self.G_AB if direction == "AtoB" else self.G_BA

    def forward(self, real_a: torch.Tensor, real_b: torch.Tensor) -> CycleOutputs:
        g_ab, g_ba = self.fwd["G_AB"], self.fwd["G_BA"]
        fake_b = g_ab(real_a)
        fake_a = g_ba(real_b)
        out = CycleOutputs(real_a, real_b, fake_b, fake_a, g_ba(fake_b), g_ab(fake_a))
        if self.lambda_identity > 0:
            out.idt_b, out.idt_a = g_ab(real_b), g_ba(real_a)
        return out

    def loss(self, phase: str, out: CycleOutputs) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """(the loss `phase` ('g' or 'd') minimises, its parts for the log)."""
        d_a, d_b = self.fwd["D_A"], self.fwd["D_B"]
        if phase == "g":
            parts = cyclegan_g_loss(self.terms, out, d_b(out.fake_b), d_a(out.fake_a),
                                    self.lambda_cycle, self.lambda_identity)
            return parts.pop("loss_g"), parts
        fake_b = self.pools["fake_b"].query(out.fake_b)
        fake_a = self.pools["fake_a"].query(out.fake_a)
        loss_d_b = self.terms.d(d_b(out.real_b), d_b(fake_b))
        loss_d_a = self.terms.d(d_a(out.real_a), d_a(fake_a))
        return loss_d_a + loss_d_b, {"loss_d_a": loss_d_a, "loss_d_b": loss_d_b}

    @classmethod
    def check(cls, config: Config) -> None:
        check_image_networks(config)
        adversarial_terms(config.train.loss)
        tc = config.translation
        if tc.lambda_identity > 0 and tc.channels_a != tc.channels_b:
            raise GanforgeError(
                f"translation.lambda_identity={tc.lambda_identity} compares G_AB(b) with b, which "
                "needs channels_a == channels_b; set translation.lambda_identity=0"
            )

    @classmethod
    def size_multiple(cls, tc: TranslationConfig) -> int:
        return size_multiple(tc)

    @classmethod
    def network_names(cls, tc: TranslationConfig) -> dict[str, str]:
        return {"AtoB": "G_AB", "BtoA": "G_BA"}

    @classmethod
    def inference_networks(cls, tc: TranslationConfig) -> dict[str, nn.Module]:
        return {"AtoB": build_generator(tc, tc.channels_a, tc.channels_b),
                "BtoA": build_generator(tc, tc.channels_b, tc.channels_a)}
