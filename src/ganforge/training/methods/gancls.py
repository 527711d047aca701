"""GAN-CLS / GAN-INT (Reed et al. 2016, "Generative Adversarial Text to Image Synthesis").

Matching-aware D (Algorithm 1): besides {real image, right text} (real) and {fake image, right
text} (fake), D scores {real image, wrong text} as fake, so that it must judge whether image and
text match, not only whether the image is real:
    L_D = l_real(s_r) + w * l_fake(s_w) + (1 - w) * l_fake(s_f),  w = 0.5
(the reference code's cls_weight; Algorithm 1's (log(1 - s_w) + log(1 - s_f)) / 2).
GAN-INT: G also learns from embeddings interpolated between pairs of training captions,
beta * t1 + (1 - beta) * t2 with beta = 0.5, which D scores with that same embedding; as in the
reference code, the first half of the batch's embeddings is mixed with the second half and the
mixes are appended to G's batch (1.5x).

The wrong text of an image is the right text of the next image in the batch (a caption of
another image; on small demo data it can happen to fit, as a random wrong caption can).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from ganforge.config import register, setting
from ganforge.config.sections import UNIT
from ganforge.objectives import Objective
from ganforge.training.methods.adversarial import Adversarial, AdversarialMethodConfig, DLoss
from ganforge.training.methods.registry import method


@register("gan-cls")
@dataclass
class GANCLSMethodConfig(AdversarialMethodConfig):
    paired_arch = "gancls"
    single_process = True  # the encoder pre-training and caption draws are not yet per-rank

    name: str = "gan-cls"
    matching_aware: bool = True  # GAN-CLS: D also rejects real images with the wrong text
    wrong_weight: float = setting(0.5, bounds=UNIT)  # w: the {real, wrong} share of D's fake term
    gan_int: bool = True  # GAN-INT: G also learns from interpolated text embeddings
    int_beta: float = setting(0.5, bounds=UNIT)  # beta of beta * t1 + (1 - beta) * t2


def matching_aware_d_loss(objective: Objective, s_real: torch.Tensor, s_wrong: torch.Tensor,
                          s_fake: torch.Tensor, wrong_weight: float) -> torch.Tensor:
    """l_real(s_r) + w l_fake(s_w) + (1 - w) l_fake(s_f), written with the objective's two-term
    D loss (exact for the separable losses: ns, minimax, ls, hinge)."""
    return (1.0 - wrong_weight) * objective.d_loss(s_real, s_fake) + wrong_weight * objective.d_loss(s_real, s_wrong)


def interpolate_embeddings(t: torch.Tensor, beta: float) -> torch.Tensor:
    """GAN-INT's mixes: beta * t[i] + (1 - beta) * t[h + i] for i < h = len(t) // 2."""
    h = t.shape[0] // 2
    return beta * t[:h] + (1.0 - beta) * t[h : 2 * h]


@method("gan-cls")
class GANCLS(Adversarial):
    def embed(self, tokens: torch.Tensor) -> torch.Tensor:
        """phi(t): the frozen encoder's sentence embedding (G's and D's encoders are the same)."""
        return self.ctx.G.text(tokens).sentence

    def grid_condition(self, labels: torch.Tensor, dataset: Any) -> torch.Tensor:
        """Each grid row draws the first caption of the first training image of its class."""
        first = {}
        for i, label in enumerate(dataset.labels.tolist()):
            first.setdefault(label, i)
        rows = [first.get(int(c), 0) for c in labels]
        return dataset.tokens[torch.tensor(rows), 0].cpu()

    def d_loss(self, real: torch.Tensor, y_real: torch.Tensor) -> DLoss:
        t = self.embed(y_real)
        z, _ = self.latent(real.shape[0])
        with torch.no_grad():
            fake = self.ctx.generate(z, t).to(real.dtype)
        s_real = self.ctx.discriminate(real, t).logits
        s_fake = self.ctx.discriminate(fake, t).logits
        if not self.cfg.matching_aware:
            return DLoss(self.ctx.objective.d_loss(s_real, s_fake), s_real, s_fake)
        s_wrong = self.ctx.discriminate(real, t.roll(1, 0)).logits
        loss = matching_aware_d_loss(self.ctx.objective, s_real, s_wrong, s_fake, self.cfg.wrong_weight)
        return DLoss(loss, s_real, s_fake, {"wrong_logit": s_wrong.detach().mean()})

    def g_loss(self, n: int) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        _, y = self.ctx.real_batch()
        t = self.embed(y)[:n]
        if self.cfg.gan_int:
            t = torch.cat([t, interpolate_embeddings(t, self.cfg.int_beta)])
        z, _ = self.latent(t.shape[0])
        logits = self.ctx.discriminate(self.ctx.generate(z, t), t).logits
        return self.ctx.objective.g_loss(logits), {}
