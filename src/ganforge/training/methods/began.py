"""BEGAN (Berthelot et al. 2017): D is an auto-encoder; D minimises L(x) - k_t L(G(z)), G
minimises L(G(z)), and k_t keeps the equilibrium E[L(G(z))] = gamma E[L(x)]. The convergence
measure M = L(x) + |gamma L(x) - L(G(z))| is logged as `began_M`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from ganforge.config import register, setting
from ganforge.config.sections import AT_LEAST_0
from ganforge.errors import GanforgeError
from ganforge.objectives import began_convergence, began_k_update, reconstruction_l1
from ganforge.training.context import StepContext
from ganforge.training.methods.adversarial import Adversarial, AdversarialMethodConfig, DLoss
from ganforge.training.methods.registry import method


@register("began")
@dataclass
class BEGANMethodConfig(AdversarialMethodConfig):
    paired_arch = "began"
    single_process = True

    name: str = "began"
    began_gamma: float = setting(0.5, bounds="(0, 1]")  # diversity ratio E[L(G(z))] / E[L(x)] to hold
    began_lambda_k: float = setting(0.001, bounds=AT_LEAST_0)  # learning rate of k_t

    def check(self, config: Any) -> None:
        if config.augment.kind != "none":
            raise GanforgeError("method.name=began reconstructs D's input; use augment.kind=none")


@method("began")
class BEGAN(Adversarial):

    def __init__(self, ctx: StepContext) -> None:
        super().__init__(ctx)
        self.k = 0.0
        self._losses = torch.zeros(2)

    def d_loss(self, real: torch.Tensor, y_real: torch.Tensor) -> DLoss:
        z, y = self.latent(real.shape[0])
        with torch.no_grad():
            fake = self.ctx.generate(z, y).to(real.dtype)
        both = torch.cat([real, fake])
        rec_real, rec_fake = self.ctx.discriminate(both, torch.cat([y_real, y])).logits.split(real.shape[0])
        loss_real = reconstruction_l1(real, rec_real)
        loss_fake = reconstruction_l1(fake, rec_fake)
        self._losses = torch.stack([loss_real.detach(), loss_fake.detach()])
        measure = began_convergence(self.cfg.began_gamma, loss_real.detach(), loss_fake.detach())
        extra = {"began_k": torch.tensor(self.k), "began_M": measure,
                 "recon_real": loss_real.detach(), "recon_fake": loss_fake.detach()}
        return DLoss(loss_real - self.k * loss_fake, None, None, extra)

    def after_d_step(self) -> None:
        loss_real, loss_fake = self._losses.tolist()
        self.k = began_k_update(self.k, self.cfg.began_gamma, self.cfg.began_lambda_k,
                                loss_real, loss_fake)

    def g_loss(self, n: int) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        z, y = self.latent(n)
        fake = self.ctx.generate(z, y)
        return reconstruction_l1(fake, self.ctx.discriminate(fake, y).logits), {}

    def state_dict(self) -> dict[str, Any]:
        return {"k": self.k}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.k = float(state["k"])
