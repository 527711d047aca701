"""Relativistic average GAN (Jolicoeur-Martineau, "The relativistic discriminator: a key element
missing from standard GAN", ICLR 2019; RaSGAN). D judges whether a real image is more realistic
than the average fake, and a fake less realistic than the average real; G, symmetrically, wants
the opposite, so its loss also pulls on D's logits of real images. With C the critic's logit and
-log sigmoid(t) = softplus(-t):
    D: E_r softplus(-(C(x_r) - E_f C(x_f))) + E_f softplus(C(x_f) - E_r C(x_r))
    G: E_f softplus(-(C(x_f) - E_r C(x_r))) + E_r softplus(C(x_r) - E_f C(x_f))
G's step draws a real batch from the context for its half on real images.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ganforge.config import register
from ganforge.training.methods.adversarial import Adversarial, AdversarialMethodConfig, DLoss
from ganforge.training.methods.registry import method


def relativistic_average_loss(favoured: torch.Tensor, other: torch.Tensor) -> torch.Tensor:
    """The RaSGAN loss of the side that wants `favoured` to look more real than `other`."""
    return F.softplus(-(favoured - other.mean())).mean() + F.softplus(other - favoured.mean()).mean()


@register("ragan")
@dataclass
class RelativisticMethodConfig(AdversarialMethodConfig):
    name: str = "ragan"


@method("ragan")
class RelativisticAverage(Adversarial):
    def d_loss(self, real: torch.Tensor, y_real: torch.Tensor) -> DLoss:
        z, y_fake = self.latent(real.shape[0])
        with torch.no_grad():
            fake = self.ctx.generate(z, y_fake).to(real.dtype)
        l_real, l_fake, _, _ = self.d_scores(real, y_real, fake, y_fake)
        return DLoss(relativistic_average_loss(l_real, l_fake), l_real, l_fake)

    def g_loss(self, n: int) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        real, y_real = self.ctx.real_batch()
        z, y = self.latent(n)
        l_real, l_fake, _, _ = self.d_scores(real, y_real, self.ctx.generate(z, y), y)
        return relativistic_average_loss(l_fake, l_real), {}
