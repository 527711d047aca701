"""Conv/linear/embedding constructors that apply the chosen init, then spectral norm.

Init must happen before spectral norm is attached: torch's parametrization estimates the
singular vectors from the weight it finds at registration time.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from torch.nn.utils import parametrizations

INITS = ("ortho", "normal", "xavier")


def init_weight(weight: nn.Parameter, kind: str) -> None:
    """BigGAN's orthogonal init, DCGAN's N(0, 0.02), or Xavier-uniform."""
    if kind == "ortho":
        nn.init.orthogonal_(weight)
    elif kind == "normal":
        nn.init.normal_(weight, 0.0, 0.02)
    elif kind == "xavier":
        nn.init.xavier_uniform_(weight)
    else:
        raise ValueError(f"unknown init '{kind}'; choose one of {', '.join(INITS)}")


class Fp32SpectralNorm(parametrizations._SpectralNorm):
    """torch's spectral-norm parametrization with autocast switched off inside it.

    Under CUDA autocast `mv` runs in half precision, so the power iteration and sigma would be
    estimated in fp16/bf16; BigGAN's fp16 mode diverged for exactly this kind of reason. Here
    u, v and sigma stay float32 whatever the surrounding precision; the layer then casts the
    normalised weight as autocast decides.
    """

    def forward(self, weight: torch.Tensor) -> torch.Tensor:
        with torch.autocast(weight.device.type, enabled=False):
            return super().forward(weight.float())


def spectral_norm(module: nn.Module, eps: float = 1e-12) -> nn.Module:
    """torch's spectral_norm (one power iteration per training forward), kept in float32."""
    module = parametrizations.spectral_norm(module, eps=eps)
    for param in module.parametrizations.weight:
        if type(param) is parametrizations._SpectralNorm:
            param.__class__ = Fp32SpectralNorm
    return module


@dataclass(frozen=True)
class LayerFactory:
    """Makes layers with one init scheme and (optionally) spectral norm with one epsilon.

    Spectral norm uses torch's parametrization: one power iteration per forward in train mode,
    none in eval mode, exactly BigGAN's "u updated in train mode only".
    """

    init: str = "ortho"
    spectral_norm: bool = True
    sn_eps: float = 1e-6

    def _finish(self, module: nn.Module, sn: bool | None = None) -> nn.Module:
        if module.weight.is_meta:  # shapes only (counting parameters): init and SN change no shape
            return module
        init_weight(module.weight, self.init)
        if self.spectral_norm if sn is None else sn:
            module = spectral_norm(module, eps=self.sn_eps)
        return module

    def conv(self, c_in: int, c_out: int, kernel: int = 3, bias: bool = True) -> nn.Module:
        return self._finish(nn.Conv2d(c_in, c_out, kernel, padding=kernel // 2, bias=bias))

    def linear(self, n_in: int, n_out: int, bias: bool = True) -> nn.Module:
        return self._finish(nn.Linear(n_in, n_out, bias=bias))

    def embedding(self, n: int, dim: int, sn: bool | None = None) -> nn.Module:
        return self._finish(nn.Embedding(n, dim), sn)


def embed_classes(embedding: nn.Module, y: torch.Tensor) -> torch.Tensor:
    """Look up class ids, or mix the rows for float (N, n_classes) class vectors.

    A one-hot vector gives exactly the looked-up row; a mix of two classes gives the mix of their
    embeddings, which is how BigGAN interpolates between classes.
    """
    if y.is_floating_point():
        return y.to(embedding.weight.dtype) @ embedding.weight
    return embedding(y)
