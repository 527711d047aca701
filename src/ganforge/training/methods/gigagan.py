"""GigaGAN's losses (Kang et al. 2023, Sec. 3.3): the non-saturating loss on every scale of the
multi-scale D, matching-aware as GAN-CLS (D also rejects real images with the wrong text,
weight 0.5 of the fake term), and R1 on real images.

The CLIP contrastive loss (Sec. 3.3): G's image for caption c_i should be closer, in a frozen
CLIP's joint space, to c_i than to the batch's other captions,
    L_CLIP = E_i[-log softmax_n(s * <E_img(G(c_i)), E_txt(c_n)>)_i]
with CLIP's own logit scale s; G's loss adds `method.clip_weight` * L_CLIP. It needs a whole CLIP
model (text and vision towers) and uses the folder of text.encoder=clip:DIR, so that its text
side reads the same token ids G does. Without one it is off: `clip_weight` > 0 is refused before
training (never silently ignored) and the run logs clip_loss_on = 0.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F

from ganforge.config import register, setting
from ganforge.config.sections import AT_LEAST_0, UNIT
from ganforge.errors import GanforgeError
from ganforge.text.build import clip_path
from ganforge.text.clip import ClipJudge, check_full_clip
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
    clip_weight: float = setting(0.0, bounds=AT_LEAST_0)  # CLIP contrastive loss: needs a whole CLIP

    def check(self, config: Any = None) -> None:
        if self.clip_weight <= 0 or config is None:
            return
        path = clip_path(config.text)
        if path is None:
            raise GanforgeError(f"method.clip_weight={self.clip_weight} needs a CLIP image tower: train with "
                                "text.encoder=clip:DIR (a whole local CLIP model), or set method.clip_weight=0 "
                                "(the CLIP loss is then off)")
        check_full_clip(path, f"method.clip_weight={self.clip_weight} with text.encoder=clip:{path}")


def clip_contrastive_loss(image_feats: torch.Tensor, text_feats: torch.Tensor, scale: torch.Tensor | float) -> torch.Tensor:
    """GigaGAN's L_CLIP on unit vectors: cross-entropy of image i against the batch's captions,
    the right one being caption i."""
    logits = scale * image_feats.float() @ text_feats.float().T
    return F.cross_entropy(logits, torch.arange(len(logits), device=logits.device))


@method("gigagan")
class GigaGAN(GANCLS):
    """Multi-scale D calls go to D directly (per-scale logits; no augmentation)."""

    def __init__(self, ctx: Any) -> None:
        super().__init__(ctx)
        self.clip: ClipJudge | None = None
        if self.cfg.clip_weight > 0:  # check() has made sure the folder is a whole CLIP model
            path = clip_path(ctx.config.text)
            self.clip = ClipJudge(path, f"text.encoder=clip:{path}").to(ctx.device)

    def monitor(self) -> dict[str, float]:
        return {**super().monitor(), "clip_loss_on": float(self.clip is not None)}

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
        images = self.ctx.G_train(z, y, pyramid=True)
        loss = self.ctx.objective.g_loss(self.scores(images, y).flatten())
        if self.clip is None:
            return loss, {}
        clip = clip_contrastive_loss(self.clip.image_features(images[-1]), self.clip.text_features_of_ids(y),
                                     self.clip.logit_scale)
        return loss + self.cfg.clip_weight * clip, {"clip_loss": clip.detach()}
