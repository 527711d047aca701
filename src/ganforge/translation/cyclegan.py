"""CycleGAN (Zhu et al. 2017): G_AB: A -> B and G_BA: B -> A trained with unpaired images,
D_A and D_B (PatchGANs on single images), cycle consistency G_BA(G_AB(a)) ~ a and
G_AB(G_BA(b)) ~ b, an optional identity term G_AB(b) ~ b, and image pools of past fakes for D.

One training step, in the reference order: all four generator passes; one step of both
generators (one Adam over both) with the discriminators frozen; then one step of both
discriminators (one Adam over both), each on real images and on fakes drawn through its pool.
"""

from __future__ import annotations

import itertools

import torch
from torch import nn

from ganforge.config import Config
from ganforge.training.trainer import make_optimizer
from ganforge.translation.losses import CycleOutputs, adversarial_terms, cyclegan_g_loss
from ganforge.translation.networks import build_discriminator, build_generator
from ganforge.translation.pool import ImagePool


class CycleGAN:
    """The networks, optimisers, pools and step of a CycleGAN run."""

    def __init__(self, config: Config, device: torch.device) -> None:
        tc, train = config.translation, config.train
        c_a, c_b = tc.channels_a, tc.channels_b
        self.G_AB = build_generator(tc, c_a, c_b).to(device)
        self.G_BA = build_generator(tc, c_b, c_a).to(device)
        self.D_A = build_discriminator(tc, c_a).to(device)
        self.D_B = build_discriminator(tc, c_b).to(device)
        self.networks: dict[str, nn.Module] = {
            "G_AB": self.G_AB,
            "G_BA": self.G_BA,
            "D_A": self.D_A,
            "D_B": self.D_B,
        }
        generators = itertools.chain(self.G_AB.parameters(), self.G_BA.parameters())
        discriminators = itertools.chain(self.D_A.parameters(), self.D_B.parameters())
        self.optimizers = {
            "G": make_optimizer(train, generators, train.lr_g, train.betas_g),
            "D": make_optimizer(train, discriminators, train.lr_d, train.betas_d),
        }
        self.pools = {
            "fake_a": ImagePool(tc.pool_size, train.seed + 11),
            "fake_b": ImagePool(tc.pool_size, train.seed + 12),
        }
        self.terms = adversarial_terms(train.loss)
        self.lambda_cycle, self.lambda_identity = tc.lambda_cycle, tc.lambda_identity

    @property
    def directions(self) -> tuple[str, ...]:
        return ("AtoB", "BtoA")

    def generator(self, direction: str) -> nn.Module:
        return self.G_AB if direction == "AtoB" else self.G_BA

    def forward(self, real_a: torch.Tensor, real_b: torch.Tensor) -> CycleOutputs:
        fake_b = self.G_AB(real_a)
        fake_a = self.G_BA(real_b)
        out = CycleOutputs(real_a, real_b, fake_b, fake_a, self.G_BA(fake_b), self.G_AB(fake_a))
        if self.lambda_identity > 0:
            out.idt_b, out.idt_a = self.G_AB(real_b), self.G_BA(real_a)
        return out

    def step(self, real_a: torch.Tensor, real_b: torch.Tensor) -> dict[str, torch.Tensor]:
        out = self.forward(real_a, real_b)
        opt_g, opt_d = self.optimizers["G"], self.optimizers["D"]
        for d in (self.D_A, self.D_B):
            d.requires_grad_(False)
        opt_g.zero_grad(set_to_none=True)
        parts = cyclegan_g_loss(
            self.terms,
            out,
            self.D_B(out.fake_b),
            self.D_A(out.fake_a),
            self.lambda_cycle,
            self.lambda_identity,
        )
        parts["loss_g"].backward()
        opt_g.step()
        for d in (self.D_A, self.D_B):
            d.requires_grad_(True)
        opt_d.zero_grad(set_to_none=True)
        fake_b = self.pools["fake_b"].query(out.fake_b)
        fake_a = self.pools["fake_a"].query(out.fake_a)
        loss_d_b = self.terms.d(self.D_B(real_b), self.D_B(fake_b))
        loss_d_a = self.terms.d(self.D_A(real_a), self.D_A(fake_a))
        (loss_d_a + loss_d_b).backward()
        opt_d.step()
        return {
            "loss_d": (loss_d_a + loss_d_b).detach(),
            "loss_d_a": loss_d_a.detach(),
            "loss_d_b": loss_d_b.detach(),
            **{k: v.detach() for k, v in parts.items()},
        }
