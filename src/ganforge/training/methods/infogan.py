"""InfoGAN (Chen et al. 2016): G's input carries codes c (categorical one-hot, continuous
uniform in [-1, 1]); a Q head sharing D's body predicts c from G(z, c), and both G and Q
minimise `mutual_information_loss`, maximising a lower bound on I(c; G(z, c)).

The codes travel in z's last slots (`models.common.split_latent`), so sampling and evaluation
need nothing InfoGAN-specific.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ganforge.config import register, setting
from ganforge.config.sections import AT_LEAST_0
from ganforge.models.common import set_codes, split_latent
from ganforge.objectives import mutual_information_loss
from ganforge.training.methods.adversarial import Adversarial, AdversarialMethodConfig, DLoss
from ganforge.training.methods.registry import method


@register("infogan")
@dataclass
class InfoGANMethodConfig(AdversarialMethodConfig):
    required_heads = ("codes",)

    name: str = "infogan"
    info_weight: float = setting(1.0, bounds=AT_LEAST_0)  # lambda of the mutual-information term


@method("infogan")
class InfoGAN(Adversarial):
    uses_heads = True

    def grid_latent(self, z: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """Progress-grid rows show the first categorical code's values, continuous codes at 0."""
        mc = self.ctx.config.model
        cats = {0: labels % mc.codes_cat[0]} if mc.codes_cat else {}
        cont = {j: torch.zeros(len(z)) for j in range(mc.codes_cont)}
        return set_codes(z, mc, cats, cont)

    def _mi(self, z: torch.Tensor, heads: dict) -> torch.Tensor:
        _, cats, cont = split_latent(z, self.ctx.config.model)
        return mutual_information_loss(heads["codes_cat"], heads["codes_cont"], cats, cont)

    def d_loss(self, real: torch.Tensor, y_real: torch.Tensor) -> DLoss:
        z, y_fake = self.latent(real.shape[0])
        with torch.no_grad():
            fake = self.ctx.generate(z, y_fake).to(real.dtype)
        l_real, l_fake, _, h_fake = self.d_scores(real, y_real, fake, y_fake)
        mi = self._mi(z, h_fake)
        loss = self.ctx.objective.d_loss(l_real, l_fake) + self.cfg.info_weight * mi
        extra = {"mi_loss": mi.detach()}
        if h_fake["codes_cat"]:
            _, cats, _ = split_latent(z, self.ctx.config.model)
            extra["q_cat_acc"] = (h_fake["codes_cat"][0].argmax(1) == cats[0]).float().mean()
        return DLoss(loss, l_real, l_fake, extra)

    def g_loss(self, n: int) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        z, y = self.latent(n)
        out = self.ctx.discriminate(self.ctx.generate(z, y), y)
        mi = self._mi(z, out.heads)
        return self.ctx.objective.g_loss(out.logits) + self.cfg.info_weight * mi, {"mi_loss_g": mi.detach()}
