"""Adversarial objectives on raw discriminator logits, and BigGAN's orthogonal regulariser.

Each objective is a pair (d_loss(real, fake), g_loss(fake)); tests check them on hand-made
tensors against their closed forms.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ganforge.errors import GanforgeError


@dataclass(frozen=True)
class Objective:
    d_loss: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
    g_loss: Callable[[torch.Tensor], torch.Tensor]


def hinge_d(real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    """E[relu(1 - D(x))] + E[relu(1 + D(G(z)))] (Lim & Ye; SAGAN; BigGAN)."""
    return F.relu(1.0 - real).mean() + F.relu(1.0 + fake).mean()


def hinge_g(fake: torch.Tensor) -> torch.Tensor:
    """-E[D(G(z))]."""
    return -fake.mean()


def bce_d(real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    """-E[log sigmoid(D(x))] - E[log(1 - sigmoid(D(G(z))))], the original GAN's D objective."""
    return F.softplus(-real).mean() + F.softplus(fake).mean()


def non_saturating_g(fake: torch.Tensor) -> torch.Tensor:
    """-E[log sigmoid(D(G(z)))], Goodfellow's practical G loss."""
    return F.softplus(-fake).mean()


def minimax_g(fake: torch.Tensor) -> torch.Tensor:
    """E[log(1 - sigmoid(D(G(z))))], the literal min-max G loss (saturates early on)."""
    return -F.softplus(fake).mean()


def least_squares_d(real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    """LSGAN with a=0, b=1: 0.5 E[(D(x) - 1)^2] + 0.5 E[D(G(z))^2]."""
    return 0.5 * ((real - 1.0) ** 2).mean() + 0.5 * (fake**2).mean()


def least_squares_g(fake: torch.Tensor) -> torch.Tensor:
    """LSGAN with c=1: 0.5 E[(D(G(z)) - 1)^2]."""
    return 0.5 * ((fake - 1.0) ** 2).mean()


def wasserstein_d(real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    """E[D(G(z))] - E[D(x)]: the critic maximises the gap."""
    return fake.mean() - real.mean()


def wasserstein_g(fake: torch.Tensor) -> torch.Tensor:
    return -fake.mean()


OBJECTIVES: dict[str, Objective] = {
    "hinge": Objective(hinge_d, hinge_g),
    "ns": Objective(bce_d, non_saturating_g),
    "minimax": Objective(bce_d, minimax_g),
    "ls": Objective(least_squares_d, least_squares_g),
    "wasserstein": Objective(wasserstein_d, wasserstein_g),
}


def get_objective(name: str) -> Objective:
    if name not in OBJECTIVES:
        raise GanforgeError(f"unknown train.loss '{name}'; available: {', '.join(OBJECTIVES)}")
    return OBJECTIVES[name]


def orthogonal_penalty(weights: Iterable[torch.Tensor]) -> torch.Tensor:
    """BigGAN's R(W) = sum ||W W^T * (1 - I)||_F^2 over weights flattened to (out, -1).

    Only off-diagonal terms are penalised, so filters are pushed apart without constraining
    their norms (paper section 3.1).
    """
    total = None
    for weight in weights:
        w = weight.reshape(weight.shape[0], -1)
        gram = w @ w.t()
        off = gram - torch.diag_embed(torch.diagonal(gram))
        term = (off**2).sum()
        total = term if total is None else total + term
    if total is None:
        return torch.zeros(())
    return total
