"""BicycleGAN's objectives (Zhu et al. 2017, eq. 1-9), as the authors' code composes them.

cVAE-GAN (the batch's first half): z = E(B) ~ N(mu, sigma^2) reparameterised,
    lambda_gan GAN(D(G(A, z)))  +  lambda_l1 |G(A, z) - B|_1  +  lambda_kl KL(N(mu, sigma^2) || N(0, I))
cLR-GAN (random codes for the same inputs): z ~ N(0, I),
    lambda_gan2 GAN(D2(G(A, z)))  +  lambda_latent |mu(E(G(A, z))) - z|_1   (the last to G only)
D scores real B (first half) against G(A, E(B)); D2 real B of the second half against G(A, z).

GAN terms are the criterion (LSGAN: mean squared error to 1/0; ns: binary cross-entropy on
logits) summed over a multi-scale D's scales; a D loss is its real and fake criteria summed.
The KL term is summed over the batch and the code's dimensions (the authors' `torch.sum`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F

from ganforge.errors import GanforgeError
from ganforge.translation.losses import l1

Criterion = Callable[[torch.Tensor, bool], torch.Tensor]


def _ls(prediction: torch.Tensor, real: bool) -> torch.Tensor:
    return ((prediction.float() - (1.0 if real else 0.0)) ** 2).mean()


def _ns(prediction: torch.Tensor, real: bool) -> torch.Tensor:
    target = torch.full_like(prediction.float(), 1.0 if real else 0.0)
    return F.binary_cross_entropy_with_logits(prediction.float(), target)


CRITERIA: dict[str, Criterion] = {"ls": _ls, "ns": _ns}


def gan_criterion(name: str) -> Criterion:
    if name not in CRITERIA:
        raise GanforgeError(f"train.loss '{name}' is not available for BicycleGAN; use ls (the "
                            "authors' LSGAN) or ns")
    return CRITERIA[name]


def multiscale(criterion: Criterion, predictions: Sequence[torch.Tensor], real: bool) -> torch.Tensor:
    """The criterion summed over a multi-scale D's logit maps."""
    return torch.stack([criterion(p, real) for p in predictions]).sum()


def kl_divergence(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(mu, exp(logvar)) || N(0, I)) = -1/2 sum(1 + logvar - mu^2 - exp(logvar))."""
    return -0.5 * torch.sum(1 + logvar.float() - mu.float() ** 2 - logvar.float().exp())


def latent_l1(predicted: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
    """mean |E(G(A, z)) - z|: the cLR-GAN's latent regression."""
    return (predicted.float() - z.float()).abs().mean()


def d_loss(criterion: Criterion, real: Sequence[torch.Tensor], fake: Sequence[torch.Tensor]) -> torch.Tensor:
    return multiscale(criterion, fake, False) + multiscale(criterion, real, True)


def bicyclegan_g_loss(criterion: Criterion, d_fake_encoded: Sequence[torch.Tensor],
                      d2_fake_random: Sequence[torch.Tensor], fake_encoded: torch.Tensor,
                      real_b: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor,
                      mu_random: torch.Tensor, z_random: torch.Tensor,
                      weights: dict[str, float]) -> dict[str, torch.Tensor]:
    """G and E's loss with each weighted part; `mu_random` = mu(E(G(A, z_random)))."""
    parts = {
        "loss_g_gan": weights["gan"] * multiscale(criterion, d_fake_encoded, True),
        "loss_g_gan2": weights["gan2"] * multiscale(criterion, d2_fake_random, True),
        "loss_g_l1": weights["l1"] * l1(fake_encoded, real_b),
        "loss_kl": weights["kl"] * kl_divergence(mu, logvar),
        "loss_z_l1": weights["latent"] * latent_l1(mu_random, z_random),
    }
    return {"loss_g": torch.stack(list(parts.values())).sum(), **parts}
