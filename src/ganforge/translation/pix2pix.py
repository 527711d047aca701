"""pix2pix (Isola et al. 2017): one generator G: x -> y and a conditional PatchGAN D that judges
the pair (x, y) concatenated along channels; G also minimises lambda_l1 |y - G(x)|_1.

One training step, in the reference order: G(x) once; a D step on real (x, y) and fake
(x, G(x)) pairs (two D calls, so batch norm sees each batch on its own); then a G step with D
frozen.
"""

from __future__ import annotations

import torch
from torch import nn

from ganforge.config import Config
from ganforge.training.trainer import make_optimizer
from ganforge.translation.losses import adversarial_terms, pix2pix_d_loss, pix2pix_g_loss
from ganforge.translation.networks import build_discriminator, build_generator
from ganforge.translation.pool import ImagePool


class Pix2Pix:
    """The networks, optimisers and step of a pix2pix run."""

    def __init__(self, config: Config, device: torch.device) -> None:
        tc, train = config.translation, config.train
        self.direction = tc.direction
        c_a, c_b = tc.channels_a, tc.channels_b
        c_in, c_out = (c_a, c_b) if tc.direction == "AtoB" else (c_b, c_a)
        self.G = build_generator(tc, c_in, c_out).to(device)
        self.D = build_discriminator(tc, c_in + c_out).to(device)
        self.networks: dict[str, nn.Module] = {"G": self.G, "D": self.D}
        self.optimizers = {
            "G": make_optimizer(train, self.G.parameters(), train.lr_g, train.betas_g),
            "D": make_optimizer(train, self.D.parameters(), train.lr_d, train.betas_d),
        }
        # the reference leaves pix2pix's pool at 0; a recipe may still set one
        self.pools = {"fake": ImagePool(tc.pool_size, train.seed + 11)}
        self.terms = adversarial_terms(train.loss)
        self.lambda_l1 = tc.lambda_l1

    @property
    def directions(self) -> tuple[str, ...]:
        return (self.direction,)

    def generator(self, direction: str) -> nn.Module:
        return self.G

    def step(self, real_a: torch.Tensor, real_b: torch.Tensor) -> dict[str, torch.Tensor]:
        x, y = (real_a, real_b) if self.direction == "AtoB" else (real_b, real_a)
        fake = self.G(x)
        opt_g, opt_d = self.optimizers["G"], self.optimizers["D"]
        self.D.requires_grad_(True)
        opt_d.zero_grad(set_to_none=True)
        fake_pair = self.pools["fake"].query(torch.cat([x, fake.detach()], 1))
        loss_d = pix2pix_d_loss(self.terms, self.D(torch.cat([x, y], 1)), self.D(fake_pair))
        loss_d.backward()
        opt_d.step()
        self.D.requires_grad_(False)
        opt_g.zero_grad(set_to_none=True)
        parts = pix2pix_g_loss(self.terms, self.D(torch.cat([x, fake], 1)), fake, y, self.lambda_l1)
        parts["loss_g"].backward()
        opt_g.step()
        self.D.requires_grad_(True)
        return {"loss_d": loss_d.detach(), **{k: v.detach() for k, v in parts.items()}}
