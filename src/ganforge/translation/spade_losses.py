"""SPADE's losses (the authors' `GANLoss(hinge)`, feature matching, `KLDLoss`, `VGGLoss`), each
on the multi-scale D's output: a list over scales of lists of layer outputs, logits last.

- D: per scale, hinge on its logits, -mean(min(x - 1, 0)) for real and -mean(min(-x - 1, 0))
  for fake, averaged over scales;
- G: -mean(logits) averaged over scales, plus feature matching: for every scale and every
  layer but the logits, |D_k(fake) - D_k(real)|_1 (real detached), summed, x lambda_feat / num_D;
- KL (the VAE): -0.5 * sum(1 + logvar - mu^2 - exp(logvar)) over batch and code, x lambda_kld;
- VGG: sum over relu1_1..relu5_1 of w_i |VGG(fake) - VGG(real)|_1, w = 1/32, 1/16, 1/8, 1/4, 1,
  x lambda_vgg (images in [-1, 1] go to VGG as they are, as the authors').
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

VGG_WEIGHTS = (1.0 / 32, 1.0 / 16, 1.0 / 8, 1.0 / 4, 1.0)
Outputs = list[list[torch.Tensor]]


def hinge_d(outputs: Outputs, real: bool) -> torch.Tensor:
    """D's hinge loss on real (or fake) inputs, averaged over the scales."""
    total = torch.zeros((), device=outputs[0][-1].device)
    for scale in outputs:
        logits = scale[-1]
        total = total - torch.clamp(logits - 1 if real else -logits - 1, max=0).mean()
    return total / len(outputs)


def hinge_g(outputs: Outputs) -> torch.Tensor:
    """G's hinge (adversarial) loss on fakes, averaged over the scales."""
    return sum(-scale[-1].mean() for scale in outputs) / len(outputs)


def feature_matching(fake: Outputs, real: Outputs, weight: float) -> torch.Tensor:
    """Sum over scales and intermediate layers of L1(fake_k, real_k.detach()) * weight / num_D."""
    total = torch.zeros((), device=fake[0][-1].device)
    for fake_scale, real_scale in zip(fake, real, strict=True):
        for f, r in zip(fake_scale[:-1], real_scale[:-1], strict=True):
            total = total + F.l1_loss(f, r.detach()) * weight / len(fake)
    return total


def kl_divergence(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(mu, exp(logvar)) || N(0, I)), summed over batch and code (the authors' KLDLoss)."""
    return -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp())


def vgg_loss(vgg: Callable[[torch.Tensor], list[torch.Tensor]], fake: torch.Tensor,
             real: torch.Tensor) -> torch.Tensor:
    """The perceptual loss: weighted L1 between VGG19 features of fake and (detached) real."""
    fake_f, real_f = vgg(fake), vgg(real)
    return sum(w * F.l1_loss(f, r.detach()) for w, f, r in zip(VGG_WEIGHTS, fake_f, real_f, strict=True))


def split_halves(outputs: Outputs) -> tuple[Outputs, Outputs]:
    """D's outputs on cat([fake, real]) -> (on fake, on real), as the authors' divide_pred."""
    fake = [[t[: t.shape[0] // 2] for t in scale] for scale in outputs]
    real = [[t[t.shape[0] // 2 :] for t in scale] for scale in outputs]
    return fake, real
