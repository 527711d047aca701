"""LAPGAN training: every pyramid level is a conditional GAN trained on the real pyramid.

Level 0 learns coarse images; level l learns the residual h_l = I_l - up(I_{l-1}) given the
*real* up(I_{l-1}) (Denton et al. train the levels independently this way; only sampling
chains them). The levels' losses are summed: their parameters are disjoint, so this is the
same as training each level on its own.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from ganforge.config import register
from ganforge.errors import GanforgeError
from ganforge.models.lapgan import laplacian_pyramid
from ganforge.training.methods.adversarial import Adversarial, AdversarialMethodConfig, DLoss
from ganforge.training.methods.registry import method


@register("lapgan")
@dataclass
class LapGANMethodConfig(AdversarialMethodConfig):
    paired_arch = "lapgan"
    single_process = True

    name: str = "lapgan"

    def check(self, config: Any) -> None:
        if config.augment.kind != "none" or self.gp or self.clip:
            raise GanforgeError("method.name=lapgan supports no augmentation, gradient penalty or clipping")


@method("lapgan")
class LapGAN(Adversarial):
    """Each level's G and D go through `ctx.g_levels`/`ctx.d_levels`: compiled with the rest."""


    def _level_inputs(self, real: torch.Tensor, y: torch.Tensor) -> tuple[list, list]:
        """The real pyramid and one generated image or residual per level."""
        levels = self.ctx.g_levels
        pyramid = laplacian_pyramid(real, len(levels))
        z, _ = self.latent(real.shape[0])
        noise = torch.split(z, self.ctx.G.chunks, dim=1)
        fakes = [levels[0](noise[0], y)]
        fakes += [levels[lv](noise[lv], pyramid[lv][1], y) for lv in range(1, len(levels))]
        return pyramid, fakes

    def _scores(self, level: int, image: torch.Tensor, low: torch.Tensor | None,
                y: torch.Tensor) -> torch.Tensor:
        d = self.ctx.d_levels[level]
        return (d(image, y) if low is None else d(image, low, y)).float()

    def d_loss(self, real: torch.Tensor, y_real: torch.Tensor) -> DLoss:
        with torch.no_grad():
            pyramid, fakes = self._level_inputs(real, y_real)
        loss = torch.zeros((), device=real.device)
        reals, fake_scores, extra = [], [], {}
        for level, ((image, low), fake) in enumerate(zip(pyramid, fakes, strict=True)):
            l_real = self._scores(level, image, low, y_real)
            l_fake = self._scores(level, fake, low, y_real)
            level_loss = self.ctx.objective.d_loss(l_real, l_fake)
            loss = loss + level_loss
            extra[f"loss_d_level{level}"] = level_loss.detach()
            reals.append(l_real)
            fake_scores.append(l_fake)
        return DLoss(loss, torch.cat(reals), torch.cat(fake_scores), extra)

    def g_loss(self, n: int) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        real, y = self.ctx.real_batch()  # the finer levels are conditioned on real coarse images
        pyramid, fakes = self._level_inputs(real, y)
        loss = torch.zeros((), device=real.device)
        for level, ((_, low), fake) in enumerate(zip(pyramid, fakes, strict=True)):
            loss = loss + self.ctx.objective.g_loss(self._scores(level, fake, low, y))
        return loss, {}
