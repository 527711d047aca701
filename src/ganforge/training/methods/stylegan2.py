"""StyleGAN2-ADA's training method (Karras et al. 2020, NVlabs/stylegan2-ada-pytorch loss.py):
the non-saturating logistic loss, style mixing, and two lazy regularisers: R1 on real images
every 16 D steps and the path-length penalty every 4 G steps, each its own optimizer step.

The task runs the regularisers (`reg_intervals`, `d_reg_loss`, `g_reg_loss`) and corrects the
learning rates and betas for them; ADA is the engine's augmentation (`augment.kind=ada`), which
`ctx.discriminate` applies to every D input, R1's reals included. D sees real and generated
images as separate batches: minibatch-std groups must not mix them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch

from ganforge.config import register, setting
from ganforge.config.sections import AT_LEAST_0, AT_LEAST_1, UNIT
from ganforge.errors import GanforgeError
from ganforge.models.stylegan.mapping import mix_styles, mixing_cutoff
from ganforge.objectives import path_length_penalty, path_lengths, r1_penalty
from ganforge.training.context import StepContext
from ganforge.training.methods.adversarial import Adversarial, AdversarialMethodConfig, DLoss
from ganforge.training.methods.registry import method


@register("stylegan2")
@dataclass
class StyleGAN2MethodConfig(AdversarialMethodConfig):
    """`method.name=stylegan2` (train.loss must be ns: the logistic loss)."""

    paired_arch = "stylegan2"

    name: str = "stylegan2"
    r1_gamma: float = setting(10.0, bounds=AT_LEAST_0)  # R1 weight gamma (penalty gamma/2 E||grad||^2)
    # D steps between R1 steps; 0: R1 in every D step's own loss (StyleGAN v1's, not lazy)
    r1_interval: int = setting(16, bounds=AT_LEAST_0)
    pl_weight: float = setting(2.0, bounds=AT_LEAST_0, hint="0: off (the cifar preset)")
    # G steps between path-length steps; 0: G has no regulariser step and no lr correction
    # (StyleGAN v1; with pl_weight 0 and an interval, the official loop still corrects G's lr)
    pl_interval: int = setting(4, bounds=AT_LEAST_0)
    pl_decay: float = setting(0.01, bounds=UNIT)  # of the running mean path length
    pl_batch_shrink: int = setting(2, bounds=AT_LEAST_1)  # the penalty's batch: batch / this
    style_mixing: float = setting(0.9, bounds=UNIT, hint="0: off")  # probability per batch
    separate_d_calls: bool = True  # real and fake batches apart (minibatch std)

    def check(self, config: Any = None) -> None:
        if config is not None and config.train.loss != "ns":
            raise GanforgeError(f"method.name=stylegan2 trains with the logistic loss: set train.loss=ns "
                                f"(got {config.train.loss})")
        if config is not None and config.train.d_steps != 1:
            raise GanforgeError("method.name=stylegan2 alternates one D and one G step: set train.d_steps=1")
        if self.pl_weight > 0 and self.pl_interval == 0:
            raise GanforgeError("method.pl_weight > 0 needs method.pl_interval >= 1 (the path-length "
                                "penalty runs as a lazy regulariser only)")
        if not self.separate_d_calls:
            raise GanforgeError("method.stylegan2 needs separate_d_calls: true (minibatch std "
                                "groups must not mix real and generated images)")


@method("stylegan2")
class StyleGAN2(Adversarial):
    def __init__(self, ctx: StepContext) -> None:
        super().__init__(ctx)
        self.pl_mean = torch.zeros((), device=ctx.device)
        self.last: dict[str, torch.Tensor] = {}  # latest regulariser readings, for `monitor`

    def generate_styles(self, z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Styles for z (mapping in train mode updates w_avg), with probability `style_mixing`
        those from the crossover on taken from a second z (without updating w_avg)."""
        G = self.ctx.G
        ws = G.styles(z, y)
        if self.cfg.style_mixing > 0 and G.training:
            cutoff = mixing_cutoff(ws.shape[1], self.cfg.style_mixing, ws.device)
            if cutoff < ws.shape[1]:
                ws = mix_styles(ws, G.styles(torch.randn_like(z), y, update_w_avg=False), cutoff)
        return ws

    def run_g(self, z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return self.ctx.G.render(self.generate_styles(z, y))

    # ---- main steps -------------------------------------------------------------------------
    def d_loss(self, real: torch.Tensor, y_real: torch.Tensor) -> DLoss:
        z, y_fake = self.latent(real.shape[0])
        with torch.no_grad():
            fake = self.run_g(z, y_fake).to(real.dtype)
        eager_r1 = self.cfg.r1_interval == 0 and self.cfg.r1_gamma > 0
        if eager_r1:
            real = real.detach().requires_grad_(True)
        l_real, l_fake, _, _ = self.d_scores(real, y_real, fake, y_fake)
        loss = self.ctx.objective.d_loss(l_real, l_fake)
        if eager_r1:
            loss = loss + self._r1(l_real, real)
        return DLoss(loss, l_real.detach(), l_fake.detach())

    def g_loss(self, n: int) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        z, y = self.latent(n)
        logits = self.ctx.discriminate(self.run_g(z, y), y).logits
        return self.ctx.objective.g_loss(logits), {}

    # ---- lazy regularisers ------------------------------------------------------------------
    def reg_intervals(self) -> dict[str, int]:
        # G's correction applies even with pl_weight 0, as in the official loop (its Greg phase
        # exists and steps nothing)
        return {"d": self.cfg.r1_interval, "g": self.cfg.pl_interval}

    def _r1(self, logits: torch.Tensor, real: torch.Tensor) -> torch.Tensor:
        penalty = r1_penalty(logits, real)
        self.last["r1_penalty"] = penalty.detach().mean()
        return penalty.mean() * (self.cfg.r1_gamma / 2)

    def d_reg_loss(self, real: torch.Tensor, y_real: torch.Tensor) -> DLoss | None:
        if self.cfg.r1_gamma == 0 or self.cfg.r1_interval == 0:
            return None
        real = real.detach().requires_grad_(True)
        logits = self.ctx.discriminate(real, y_real).logits
        return DLoss(self._r1(logits, real), logits.detach(), None)

    def g_reg_loss(self, n: int) -> torch.Tensor | None:
        if self.cfg.pl_weight == 0:
            return None
        z, y = self.latent(max(n // self.cfg.pl_batch_shrink, 1))
        ws = self.generate_styles(z, y)
        images = self.ctx.G.render(ws)
        noise = torch.randn_like(images) / math.sqrt(images.shape[2] * images.shape[3])
        penalty, target = path_length_penalty(path_lengths(images, ws, noise), self.pl_mean,
                                              self.cfg.pl_decay)
        self.pl_mean.copy_(target.detach())
        self.last["pl_penalty"] = penalty.detach().mean()
        return penalty.mean() * self.cfg.pl_weight

    # ---- readings and state -----------------------------------------------------------------
    def monitor(self) -> dict[str, float]:
        out = {k: float(v) for k, v in self.last.items()}
        if self.cfg.pl_weight > 0:
            out["pl_mean"] = float(self.pl_mean)
        return out

    def state_dict(self) -> dict[str, Any]:
        return {"pl_mean": float(self.pl_mean)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if "pl_mean" in state:
            self.pl_mean.fill_(float(state["pl_mean"]))
