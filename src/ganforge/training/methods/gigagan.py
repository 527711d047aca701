"""GigaGAN's losses (Kang et al. 2023, Sec. 3.3): the non-saturating loss on every scale of the
multi-scale D, matching-aware as GAN-CLS (D also rejects real images with the wrong text,
weight 0.5 of the fake term), and R1 on real images. The CLIP contrastive loss needs a CLIP image
tower: with text.encoder=builtin (or CLIP's text tower alone) it is off, and
`method.clip_weight` > 0 is refused rather than silently ignored.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from ganforge.config import register, setting
from ganforge.config.sections import AT_LEAST_0, UNIT
from ganforge.errors import GanforgeError
from ganforge.training.methods.adversarial import AdversarialMethodConfig, DLoss
from ganforge.training.methods.gancls import GANCLS, matching_aware_d_loss
from ganforge.training.methods.registry import method


@register("gigagan")
@dataclass
class GigaGANMethodConfig(AdversarialMethodConfig):
    paired_arch = "gigagan"
    single_process = True

    name: str = "gigagan"
    matching_aware: bool = True
    wrong_weight: float = setting(0.5, bounds=UNIT)
    r1: float = setting(0.2048, bounds=AT_LEAST_0)  # gamma of R1 = gamma / 2 E||grad D(x)||^2
    clip_weight: float = setting(0.0, bounds=AT_LEAST_0)  # CLIP contrastive loss: needs CLIP image weights

    def check(self, config: Any = None) -> None:
        if self.clip_weight > 0:
            raise GanforgeError("method.clip_weight > 0 needs a CLIP image tower, which ganforge does not "
                                "load yet; set method.clip_weight=0 (the CLIP loss is reported as off)")


@method("gigagan")
class GigaGAN(GANCLS):
    """Multi-scale D calls go to D directly (per-scale logits; no augmentation)."""

    def scores(self, images: Any, y: torch.Tensor) -> torch.Tensor:
        return self.ctx.D_train(images, y, per_scale=True).float()

    def d_loss(self, real: torch.Tensor, y_real: torch.Tensor) -> DLoss:
        z, _ = self.latent(real.shape[0])
        with torch.no_grad():
            fake = [x.to(real.dtype) for x in self.ctx.G_train(z, y_real, pyramid=True)]
        real = real.detach().requires_grad_(self.cfg.r1 > 0)
        s_real = self.scores(real, y_real)
        s_fake = self.scores(fake, y_real)
        extra: dict[str, torch.Tensor] = {}
        if self.cfg.matching_aware:
            s_wrong = self.scores(real.detach(), y_real.roll(1, 0))
            loss = matching_aware_d_loss(self.ctx.objective, s_real.flatten(), s_wrong.flatten(),
                                         s_fake.flatten(), self.cfg.wrong_weight)
            extra["wrong_logit"] = s_wrong.detach().mean()
        else:
            loss = self.ctx.objective.d_loss(s_real.flatten(), s_fake.flatten())
        if self.cfg.r1 > 0:
            (grad,) = torch.autograd.grad(s_real.sum(), real, create_graph=True)
            r1 = grad.pow(2).flatten(1).sum(1).mean()
            loss = loss + self.cfg.r1 / 2 * r1
            extra["r1"] = r1.detach()
        return DLoss(loss, s_real.mean(1).detach(), s_fake.mean(1).detach(), extra)

    def g_loss(self, n: int) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        _, y = self.ctx.real_batch()
        y = y[:n]
        z, _ = self.latent(n)
        logits = self.scores(self.ctx.G_train(z, y, pyramid=True), y)
        return self.ctx.objective.g_loss(logits.flatten()), {}
