"""ACGAN (Odena et al. 2017): D also classifies every image; both networks maximise the
log-likelihood of the correct class, D on real and generated images, G on its own."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ganforge.config import register, setting
from ganforge.config.sections import AT_LEAST_0
from ganforge.training.methods.adversarial import Adversarial, AdversarialMethodConfig, DLoss
from ganforge.training.methods.registry import method


@register("acgan")
@dataclass
class ACGANMethodConfig(AdversarialMethodConfig):
    required_heads = ("classes",)

    name: str = "acgan"
    aux_weight: float = setting(1.0, bounds=AT_LEAST_0)  # weight of the class log-likelihood terms


@method("acgan")
class ACGAN(Adversarial):
    uses_heads = True

    def d_loss(self, real: torch.Tensor, y_real: torch.Tensor) -> DLoss:
        z, y_fake = self.latent(real.shape[0])
        with torch.no_grad():
            fake = self.ctx.generate(z, y_fake).to(real.dtype)
        l_real, l_fake, h_real, h_fake = self.d_scores(real, y_real, fake, y_fake)
        adv = self.ctx.objective.d_loss(l_real, l_fake)
        aux = F.cross_entropy(h_real["classes"].float(), y_real) + \
            F.cross_entropy(h_fake["classes"].float(), y_fake)
        accuracy = (h_real["classes"].argmax(1) == y_real).float().mean()
        return DLoss(adv + self.cfg.aux_weight * aux, l_real, l_fake,
                     {"aux_loss_d": aux.detach(), "aux_acc_real": accuracy})

    def g_loss(self, n: int) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        z, y = self.latent(n)
        out = self.ctx.discriminate(self.ctx.generate(z, y), y)
        aux = F.cross_entropy(out.heads["classes"].float(), y)
        return self.ctx.objective.g_loss(out.logits) + self.cfg.aux_weight * aux, {"aux_loss_g": aux.detach()}
