"""StyleGAN's mapping network z (+ class) -> w, with the running mean of w for truncation."""

from __future__ import annotations

import torch
from torch import nn

from ganforge.models.stylegan.layers import EqualLinear


def normalize_2nd_moment(x: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """x / sqrt(mean(x^2) + eps) per row: puts z (and the class embedding) on the unit sphere
    scaled by sqrt(dim), whatever its draw's norm."""
    return x * (x.square().mean(dim=1, keepdim=True) + eps).rsqrt()


class MappingNetwork(nn.Module):
    """An MLP of `layers` leaky-ReLU layers with learning-rate multiplier `lr_mul` (0.01: W moves
    slowly, which stabilises the styles). A class enters as a linear embedding of its one-hot
    vector, normalised like z and concatenated to it. With `num_ws`, w is repeated for every
    style input of the synthesis network; with `w_avg_beta`, its mean is tracked in training
    (the centre that truncation pulls towards).

    The discriminator's label mapping (the conditional D's cmap) is this network with no z,
    no broadcast and no tracking.
    """

    def __init__(self, z_dim: int, c_dim: int, w_dim: int, num_ws: int | None, layers: int = 8,
                 lr_mul: float = 0.01, w_avg_beta: float | None = 0.995) -> None:
        super().__init__()
        self.z_dim, self.c_dim, self.w_dim = z_dim, c_dim, w_dim
        self.num_ws, self.num_layers, self.w_avg_beta = num_ws, layers, w_avg_beta
        embed = w_dim if c_dim > 0 else 0
        if c_dim > 0:
            self.embed = EqualLinear(c_dim, embed)
        widths = [z_dim + embed] + [w_dim] * layers
        for i in range(layers):
            self.add_module(f"fc{i}", EqualLinear(widths[i], widths[i + 1], act="lrelu", lr_mul=lr_mul))
        if num_ws is not None and w_avg_beta is not None:
            self.register_buffer("w_avg", torch.zeros(w_dim))

    def forward(self, z: torch.Tensor | None, c: torch.Tensor | None, psi: float = 1.0,
                cutoff: int | None = None, update_w_avg: bool = True) -> torch.Tensor:
        """(N, num_ws, w_dim) styles (or (N, w_dim) without `num_ws`). psi < 1 pulls the first
        `cutoff` styles (all when None) towards w_avg: w_avg + psi (w - w_avg)."""
        parts = []
        if self.z_dim > 0:
            parts.append(normalize_2nd_moment(z.float()))
        if self.c_dim > 0:
            parts.append(normalize_2nd_moment(self.embed(c.float())))
        x = torch.cat(parts, dim=1) if len(parts) > 1 else parts[0]
        for i in range(self.num_layers):
            x = getattr(self, f"fc{i}")(x)
        if self.w_avg_beta is not None and self.training and update_w_avg:
            with torch.no_grad():
                self.w_avg.copy_(torch.lerp(x.detach().mean(dim=0), self.w_avg, self.w_avg_beta))
        if self.num_ws is not None:
            x = x.unsqueeze(1).repeat(1, self.num_ws, 1)
        if psi != 1:
            if self.num_ws is None or self.w_avg_beta is None:
                raise ValueError("truncation needs the tracked w_avg of a generator's mapping network")
            end = self.num_ws if cutoff is None else cutoff
            head = torch.lerp(self.w_avg.to(x.dtype), x[:, :end], psi)
            x = torch.cat([head, x[:, end:]], dim=1)
        return x


def mixing_cutoff(num_ws: int, prob: float, device: torch.device | None = None) -> int:
    """Style mixing's crossover: with probability `prob` an index uniform in 1 .. num_ws - 1
    (styles from it on come from a second latent), else num_ws (no mixing)."""
    if num_ws < 2 or float(torch.rand((), device=device)) >= prob:
        return num_ws
    return int(torch.randint(1, num_ws, (), device=device))


def mix_styles(ws: torch.Tensor, other: torch.Tensor, cutoff: int) -> torch.Tensor:
    """ws[:, :cutoff] followed by other[:, cutoff:] (N, num_ws, w_dim)."""
    return torch.cat([ws[:, :cutoff], other[:, cutoff:]], dim=1)
