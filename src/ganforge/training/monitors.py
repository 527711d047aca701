"""Training-health statistics: D's decisions on real and fake, gradient norms, singular values.

Seed 003's signal is D's accuracy and the sign of its logits on real data; BigGAN's is the
largest singular value sigma_0 of each weight, which explodes shortly before a collapse. Both
are cheap to read during training, so the trainer logs them with the losses.
"""

from __future__ import annotations

import itertools

import torch
from torch import nn


def decision_stats(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """[acc_real, acc_fake, mean logit real, mean logit fake, r_t] as one tensor (no sync).

    D "decides real" when its logit is positive; r_t = E[sign(D(real))] is ADA's overfitting
    heuristic (near 1: D is sure of every real image, i.e. it memorises them).
    """
    real, fake = real_logits.detach().float().flatten(), fake_logits.detach().float().flatten()
    return torch.stack([
        (real > 0).float().mean(), (fake < 0).float().mean(),
        real.mean(), fake.mean(), torch.sign(real).mean(),
    ])


DECISION_KEYS = ("d_acc_real", "d_acc_fake", "logit_real", "logit_fake", "r_t")


def gradient_norm(model: nn.Module) -> torch.Tensor:
    """The L2 norm of all of a model's gradients together (0 when none); a 0-d tensor."""
    grads = [p.grad for p in model.parameters() if p.grad is not None]
    if not grads:
        return torch.zeros(())
    return torch.nn.utils.get_total_norm(grads, norm_type=2.0, foreach=True)


def _spectral_parametrization(module: nn.Module) -> nn.Module | None:
    params = getattr(module, "parametrizations", None)
    if params is None or "weight" not in params:
        return None
    for p in params.weight:
        if hasattr(p, "_u") and hasattr(p, "_v"):
            return p
    return None


@torch.no_grad()
def singular_values(model: nn.Module) -> dict[str, float]:
    """sigma_0 of every conv/linear weight, keyed by module name.

    Spectrally normalised weights reuse their power iteration's vectors (u^T W v, exactly what
    BigGAN logs); plain weights are measured with an exact matrix 2-norm, equalised-lr layers'
    as they act (`effective_weight()`).
    """
    out: dict[str, float] = {}
    for name, module in model.named_modules():
        sn = _spectral_parametrization(module)
        if sn is not None:
            weight = module.parametrizations.weight.original
            matrix = sn._reshape_weight_to_matrix(weight)  # respects SN's `dim`
            out[name] = float(torch.vdot(sn._u, torch.mv(matrix, sn._v)))
        elif isinstance(module, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)) or hasattr(module, "effective_weight"):
            # equalised-lr layers (StyleGAN2) store N(0, 1) weights and scale them at run time
            weight = module.effective_weight() if hasattr(module, "effective_weight") else module.weight
            matrix = weight.detach().float().flatten(1)
            if not bool(torch.isfinite(matrix).all()):  # a diverged weight: the guard's business
                out[name] = float("nan")
                continue
            out[name] = float(torch.linalg.matrix_norm(matrix, ord=2))
    return out


@torch.no_grad()
def within_class_diversity(images: torch.Tensor, labels: torch.Tensor) -> float:
    """Mean pairwise RMS distance between samples of the same class (all samples if one class).

    Computed on a fixed batch of noise: when G collapses to a few modes per class this falls
    sharply, even while the losses look normal.
    """
    flat = images.detach().float().flatten(1)
    distances = []
    for label in labels.unique():
        group = flat[labels == label]
        if len(group) < 2:
            continue
        d = torch.cdist(group, group) / flat.shape[1] ** 0.5
        pairs = list(itertools.combinations(range(len(group)), 2))
        idx = torch.tensor(pairs)
        distances.append(d[idx[:, 0], idx[:, 1]].mean())
    if not distances:
        return float("nan")
    return float(torch.stack(distances).mean())
