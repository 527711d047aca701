"""Adversarial objectives on raw discriminator logits, and BigGAN's orthogonal regulariser.

Each objective is a pair (d_loss(real, fake), g_loss(fake)); tests check them on hand-made
tensors against their closed forms.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F

from ganforge.errors import GanforgeError


@dataclass(frozen=True)
class Objective:
    d_loss: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
    g_loss: Callable[[torch.Tensor], torch.Tensor]
    d_loss_bounded: bool = True  # D's loss is >= 0 (a loss near 0 means D has won); a WGAN
    # critic's is negative by design, so "D loss near its floor" says nothing there


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
    "wasserstein": Objective(wasserstein_d, wasserstein_g, d_loss_bounded=False),
}


def get_objective(name: str) -> Objective:
    if name not in OBJECTIVES:
        raise GanforgeError(f"unknown train.loss '{name}'; available: {', '.join(OBJECTIVES)}")
    return OBJECTIVES[name]


def orthogonal_penalty(weights: Iterable[torch.Tensor]) -> torch.Tensor:
    """BigGAN's orthogonal regulariser as BigGAN-PyTorch applies it (utils.ortho):

        R(W) = 1/2 sum_W ||W W^T * (1 - I)||_F^2,   dR/dW = 2 (W W^T * (1 - I)) W,

    over weights flattened to (out, -1). BigGAN-PyTorch adds beta times that gradient, so the
    same beta means the same update here. (The paper writes beta ||.||_F^2 without the 1/2,
    whose gradient is twice as large; users copy the reference's beta, so ganforge matches it.)
    Only off-diagonal terms are penalised, so filters are pushed apart without constraining
    their norms (paper section 3.1).
    """
    total = None
    for weight in weights:
        w = weight.reshape(weight.shape[0], -1)
        gram = w @ w.t()
        off = gram - torch.diag_embed(torch.diagonal(gram))
        term = 0.5 * (off**2).sum()
        total = term if total is None else total + term
    if total is None:
        return torch.zeros(())
    return total


def gradient_penalty(critic: Callable[[torch.Tensor], torch.Tensor], real: torch.Tensor,
                     fake: torch.Tensor) -> torch.Tensor:
    """WGAN-GP (Gulrajani et al. 2017): E[(||grad_x D(x_hat)||_2 - 1)^2] on random interpolates
    x_hat = e * real + (1 - e) * fake, e ~ U[0, 1] per sample; differentiable for D's step."""
    e = torch.rand(real.shape[0], *([1] * (real.ndim - 1)), device=real.device, dtype=real.dtype)
    x_hat = (e * real.detach() + (1 - e) * fake.detach()).requires_grad_(True)
    scores = critic(x_hat)
    (grad,) = torch.autograd.grad(scores.sum(), x_hat, create_graph=True)
    return ((grad.flatten(1).norm(2, dim=1) - 1.0) ** 2).mean()


def reconstruction_l1(images: torch.Tensor, reconstruction: torch.Tensor) -> torch.Tensor:
    """BEGAN's auto-encoder loss L(v) = E|v - D(v)| (pixel-wise L1, averaged)."""
    return (images - reconstruction).abs().mean()


def began_k_update(k: float, gamma: float, lambda_k: float, loss_real: float,
                   loss_fake: float) -> float:
    """k_{t+1} = clamp(k_t + lambda_k (gamma L(x) - L(G(z))), 0, 1)."""
    return min(max(k + lambda_k * (gamma * loss_real - loss_fake), 0.0), 1.0)


def began_convergence(gamma: float, loss_real: Any, loss_fake: Any) -> Any:
    """BEGAN's global convergence measure M = L(x) + |gamma L(x) - L(G(z))|."""
    return loss_real + abs(gamma * loss_real - loss_fake)


def mutual_information_loss(q_cat: list[torch.Tensor], q_cont: torch.Tensor,
                            codes_cat: list[torch.Tensor], codes_cont: torch.Tensor) -> torch.Tensor:
    """InfoGAN's variational bound, negated: cross-entropy of each categorical code under Q plus
    the Gaussian negative log-likelihood (unit variance, constant dropped) of the continuous ones.
    Minimising it maximises the lower bound on I(c; G(z, c))."""
    loss = torch.zeros((), device=q_cont.device)
    for logits, target in zip(q_cat, codes_cat, strict=True):
        loss = loss + F.cross_entropy(logits.float(), target)
    if codes_cont.shape[1]:
        loss = loss + 0.5 * ((q_cont.float() - codes_cont) ** 2).sum(1).mean()
    return loss


def r1_penalty(logits: torch.Tensor, real: torch.Tensor) -> torch.Tensor:
    """Per-sample ||grad_x D(x)||^2 on real images (Mescheder et al. 2018; R1 = gamma/2 times its
    mean). `real` requires grad and `logits` came from it; the result is differentiable."""
    (grad,) = torch.autograd.grad(logits.sum(), real, create_graph=True)
    return grad.square().sum(dim=tuple(range(1, grad.ndim)))


def path_lengths(images: torch.Tensor, ws: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
    """StyleGAN2's per-sample path length ||J_w^T y|| for a random image-space direction y
    (noise ~ N(0, I) / sqrt(H W), so the length does not grow with resolution): the squared
    gradient norms of <G(w), y> summed over w's components, averaged over the num_ws styles,
    then square-rooted. Differentiable, for the regulariser's own backward."""
    (grad,) = torch.autograd.grad((images * noise).sum(), ws, create_graph=True)
    return grad.square().sum(dim=2).mean(dim=1).sqrt()


def path_length_penalty(lengths: torch.Tensor, pl_mean: torch.Tensor,
                        decay: float) -> tuple[torch.Tensor, torch.Tensor]:
    """(per-sample (length - a)^2, a) with a = pl_mean + decay (mean length - pl_mean), the
    running target of the lengths updated first (a is detached when stored, not here)."""
    target = torch.lerp(pl_mean, lengths.mean(), decay)
    return (lengths - target).square(), target
