"""Spectral-norm vectors for weights that come from another implementation.

torch's parametrization keeps u and v and, in eval mode, uses sigma = u . W v as stored.
BigGAN-PyTorch (and the TF-Hub BigGAN port that follows it) keeps only u and runs one power
iteration inside every forward, eval mode included: v = n(uW), u' = n(vW^T), sigma = u' . W v.
Storing v and u' as torch's vectors makes torch's first eval-mode forward compute that sigma.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def vectors_after_one_iteration(
    weight: torch.Tensor, u: torch.Tensor, eps: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """(u', v) for torch's `_u`, `_v` buffers, from a reference's left vector `u` (out features).

    `weight` is (out, ...) and is flattened to (out, -1) as both implementations do."""
    matrix = weight.detach().reshape(weight.shape[0], -1).double()
    u = u.detach().reshape(-1).double()
    if u.numel() != matrix.shape[0]:
        raise ValueError(f"u has {u.numel()} entries for a weight with {matrix.shape[0]} rows")
    v = F.normalize(matrix.t() @ u, dim=0, eps=eps)
    u_next = F.normalize(matrix @ v, dim=0, eps=eps)
    return u_next.to(weight.dtype), v.to(weight.dtype)


def spectral_keys(prefix: str) -> tuple[str, str, str]:
    """The state-dict keys of torch's parametrized weight: (original, u, v)."""
    base = f"{prefix}.parametrizations.weight"
    return f"{base}.original", f"{base}.0._u", f"{base}.0._v"
