"""Conv/linear/embedding constructors that apply the chosen init, then spectral norm.

Init must happen before spectral norm is attached: torch's parametrization estimates the
singular vectors from the weight it finds at registration time.
"""

from __future__ import annotations

from dataclasses import dataclass

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
        init_weight(module.weight, self.init)
        if self.spectral_norm if sn is None else sn:
            module = parametrizations.spectral_norm(module, eps=self.sn_eps)
        return module

    def conv(self, c_in: int, c_out: int, kernel: int = 3, bias: bool = True) -> nn.Module:
        return self._finish(nn.Conv2d(c_in, c_out, kernel, padding=kernel // 2, bias=bias))

    def linear(self, n_in: int, n_out: int, bias: bool = True) -> nn.Module:
        return self._finish(nn.Linear(n_in, n_out, bias=bias))

    def embedding(self, n: int, dim: int, sn: bool | None = None) -> nn.Module:
        return self._finish(nn.Embedding(n, dim), sn)
