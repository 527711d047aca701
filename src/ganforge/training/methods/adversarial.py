"""The adversarial step shared by most of the family: D on real vs generated, G through D.

GAN, CGAN, DCGAN, LSGAN, WGAN, WGAN-GP, SNGAN, SAGAN and BigGAN differ only in architecture,
objective (`train.loss`), optimiser and the two critic regularisers here: weight clipping
(WGAN) and the gradient penalty (WGAN-GP). Other methods subclass this one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch

from ganforge.config import MethodConfig, register, setting
from ganforge.config.sections import AT_LEAST_0
from ganforge.objectives import gradient_penalty
from ganforge.training.context import StepContext
from ganforge.training.methods.registry import method


@register("adversarial")
@dataclass
class AdversarialMethodConfig(MethodConfig):
    """`method.name=adversarial`; every other method's settings extend these."""

    name: str = "adversarial"
    # WGAN-GP: weight of the gradient penalty on real/fake interpolates (paper 10)
    gp: float = setting(0.0, bounds=AT_LEAST_0)
    # WGAN: clip every critic weight to [-clip, clip] after its step (paper 0.01)
    clip: float = setting(0.0, bounds=AT_LEAST_0)
    separate_d_calls: bool = False  # D sees real and fake as two batches (DCGAN) or one (BigGAN)


@dataclass
class DLoss:
    loss: torch.Tensor
    real_logits: torch.Tensor | None  # for the monitors and ADA; None where D has no logit
    fake_logits: torch.Tensor | None
    extra: dict[str, torch.Tensor] = field(default_factory=dict)  # logged, averaged


@method("adversarial")
class Adversarial:
    """`method.name=adversarial`."""

    uses_heads = False  # whether D's extra heads are read (what it needs and supports is
    # declared on its settings class: required_heads, paired_arch, single_process)

    def __init__(self, ctx: StepContext) -> None:
        self.ctx = ctx
        self.cfg = ctx.config.method  # this method's settings class (checked when read)

    # ---- hooks -----------------------------------------------------------------------------
    def prepare_dataset(self, dataset: Any) -> Any:
        """The images the main stream draws from (SGAN holds some out)."""
        return dataset

    def latent(self, n: int) -> tuple[torch.Tensor, torch.Tensor]:
        """G's input for n samples: (z, class labels)."""
        return self.ctx.noise(n)

    def grid_latent(self, z: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """The progress grid's fixed input (InfoGAN appends codes)."""
        return z

    def grid_condition(self, labels: torch.Tensor, dataset: Any) -> torch.Tensor:
        """The progress grid's condition y for its row classes (text methods: captions)."""
        return labels

    def after_d_step(self) -> None:
        if self.cfg.clip > 0:  # WGAN: a crude Lipschitz bound on the critic
            with torch.no_grad():
                for p in self.ctx.D.parameters():
                    p.clamp_(-self.cfg.clip, self.cfg.clip)

    def after_g_step(self) -> None:
        pass

    # ---- lazy regularisation (StyleGAN2): each regulariser is its own optimizer step ----------
    def reg_intervals(self) -> dict[str, int]:
        """{"d": I, "g": I} for the nets whose regulariser runs every I main steps as a separate
        step (loss x I); the task corrects that net's lr and betas by c = I / (I + 1)."""
        return {}

    def d_reg_loss(self, real: torch.Tensor, y_real: torch.Tensor) -> DLoss | None:
        """D's lazy regulariser on real images (None: off); real_logits feed ADA."""
        return None

    def g_reg_loss(self, n: int) -> torch.Tensor | None:
        """G's lazy regulariser for a batch of n (None: off)."""
        return None

    def monitor(self) -> dict[str, float]:
        """Extra readings at each log (e.g. SGAN's held-out accuracy)."""
        return {}

    def state_dict(self) -> dict[str, Any]:
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        pass

    # ---- losses ----------------------------------------------------------------------------
    def d_scores(self, real: torch.Tensor, y_real: torch.Tensor, fake: torch.Tensor,
                 y_fake: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, Any, Any]:
        """(real logits, fake logits, real heads, fake heads; empty unless `uses_heads`): one concatenated D call
        (BigGAN) or two (DCGAN, so that batch norm sees real and fake batches apart)."""
        if self.cfg.separate_d_calls:
            out_real = self.ctx.discriminate(real, y_real)
            out_fake = self.ctx.discriminate(fake, y_fake)
            return out_real.logits, out_fake.logits, out_real.heads, out_fake.heads
        n = real.shape[0]
        out = self.ctx.discriminate(torch.cat([real, fake]), torch.cat([y_real, y_fake]))
        split = {k: _split(v, n) for k, v in out.heads.items()}
        l_real, l_fake = out.logits.split(n)
        return l_real, l_fake, {k: v[0] for k, v in split.items()}, {k: v[1] for k, v in split.items()}

    def d_loss(self, real: torch.Tensor, y_real: torch.Tensor) -> DLoss:
        z, y_fake = self.latent(real.shape[0])
        with torch.no_grad():  # G's output is detached: the D step does not reach G
            fake = self.ctx.generate(z, y_fake).to(real.dtype)
        l_real, l_fake, _, _ = self.d_scores(real, y_real, fake, y_fake)
        loss = self.ctx.objective.d_loss(l_real, l_fake)
        extra = {}
        if self.cfg.gp > 0:
            gp = gradient_penalty(lambda x: self.ctx.discriminate(x, y_real).logits, real, fake)
            loss = loss + self.cfg.gp * gp
            extra["gp"] = gp.detach()
        return DLoss(loss, l_real, l_fake, extra)

    def g_loss(self, n: int) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        z, y = self.latent(n)
        logits = self.ctx.discriminate(self.ctx.generate(z, y), y).logits
        return self.ctx.objective.g_loss(logits), {}


def _split(value: Any, n: int) -> tuple[Any, Any]:
    if isinstance(value, list):
        parts = [v.split(n) for v in value]
        return [p[0] for p in parts], [p[1] for p in parts]
    return tuple(value.split(n))
