"""GigaGAN's attention layers (Kang et al. 2023, Sec. 3.2).

Self-attention with L2-distance logits and tied query/key projections (Kim et al. 2021, "The
Lipschitz constant of self-attention"; ViTGAN): logits_ij = -||q_i - q_j||^2 / sqrt(d_head), which
keeps the layer Lipschitz where dot-product attention is not, so the GAN stays stable.
Cross-attention from image positions (queries) to the text tokens (keys, values), dot-product,
with padded tokens masked out: a caption's padding never changes the image.
"""

from __future__ import annotations

import torch
from torch import nn


def _heads(x: torch.Tensor, heads: int) -> torch.Tensor:
    b, n, d = x.shape
    return x.reshape(b, n, heads, d // heads).transpose(1, 2)


def _merge(x: torch.Tensor) -> torch.Tensor:
    b, h, n, d = x.shape
    return x.transpose(1, 2).reshape(b, n, h * d)


def l2_logits(q: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
    """-||q_i - k_j||^2 / sqrt(d) for (..., N, d) queries and (..., M, d) keys -> (..., N, M)."""
    dist = q.pow(2).sum(-1, keepdim=True) - 2 * q @ k.transpose(-2, -1) + k.pow(2).sum(-1).unsqueeze(-2)
    return -dist.clamp_min(0) / q.shape[-1] ** 0.5


class L2SelfAttention(nn.Module):
    """(B, N, dim) -> (B, N, dim); queries and keys share one projection."""

    def __init__(self, dim: int, heads: int = 4) -> None:
        super().__init__()
        if dim % heads:
            raise ValueError(f"attention width {dim} must be divisible by its {heads} heads")
        self.heads = heads
        self.to_qk = nn.Linear(dim, dim, bias=False)
        self.to_v = nn.Linear(dim, dim, bias=False)
        self.to_out = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        q = _heads(self.to_qk(x), self.heads)
        v = _heads(self.to_v(x), self.heads)
        attn = torch.softmax(l2_logits(q, q), dim=-1)
        return self.to_out(_merge(attn @ v))


class CrossAttention(nn.Module):
    """Image features (B, N, dim) attend to text tokens (B, L, context_dim) with mask (B, L)."""

    def __init__(self, dim: int, context_dim: int, heads: int = 4) -> None:
        super().__init__()
        if dim % heads:
            raise ValueError(f"attention width {dim} must be divisible by its {heads} heads")
        self.heads = heads
        self.to_q = nn.Linear(dim, dim, bias=False)
        self.to_kv = nn.Linear(context_dim, 2 * dim, bias=False)
        self.to_out = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor, context: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        q = _heads(self.to_q(x), self.heads)
        k, v = (_heads(t, self.heads) for t in self.to_kv(context).chunk(2, dim=-1))
        logits = q @ k.transpose(-2, -1) / q.shape[-1] ** 0.5
        logits = logits.masked_fill(~mask[:, None, None, :], float("-inf"))
        return self.to_out(_merge(torch.softmax(logits, dim=-1) @ v))
