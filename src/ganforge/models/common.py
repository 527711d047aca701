"""Pieces shared by the GAN-family architectures: latent size, one-hot labels, D heads."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from ganforge.config import ModelConfig
from ganforge.errors import GanforgeError
from ganforge.nn.layers import spectral_norm

HEADS = ("classes", "codes")


def latent_dim(cfg: ModelConfig) -> int:
    """Size of G's input: noise plus InfoGAN's codes (one-hot categorical, continuous)."""
    return cfg.dim_z + sum(cfg.codes_cat) + cfg.codes_cont


def split_latent(z: torch.Tensor, cfg: ModelConfig) -> tuple[torch.Tensor, list[torch.Tensor], torch.Tensor]:
    """(noise, categorical codes, continuous codes) carried by z ~ N(0, I) of `latent_dim`.

    InfoGAN's codes live in z's last slots, so that every sampler (seeds, truncation, eval)
    draws them with plain normal z: the argmax of k normal values is uniform over k classes,
    and erf(v / sqrt 2) of a normal v is uniform on [-1, 1], exactly InfoGAN's priors.
    """
    noise = z[:, : cfg.dim_z]
    cats, offset = [], cfg.dim_z
    for k in cfg.codes_cat:
        cats.append(z[:, offset : offset + k].argmax(1))
        offset += k
    cont = torch.erf(z[:, offset : offset + cfg.codes_cont] / math.sqrt(2))
    return noise, cats, cont


def coded_input(z: torch.Tensor, cfg: ModelConfig) -> torch.Tensor:
    """G's input with the code slots of z replaced by one-hot and uniform codes."""
    if not (cfg.codes_cat or cfg.codes_cont):
        return z
    noise, cats, cont = split_latent(z, cfg)
    one_hots = [F.one_hot(c, k).to(z.dtype) for c, k in zip(cats, cfg.codes_cat, strict=True)]
    return torch.cat([noise, *one_hots, cont.to(z.dtype)], dim=1)


def set_codes(z: torch.Tensor, cfg: ModelConfig, categorical: dict[int, torch.Tensor] | None = None,
              continuous: dict[int, torch.Tensor] | None = None) -> torch.Tensor:
    """z with chosen code values written into its slots (for `ganforge sample --code`)."""
    z = z.clone()
    offset = cfg.dim_z
    for i, k in enumerate(cfg.codes_cat):
        if categorical and i in categorical:
            z[:, offset : offset + k] = F.one_hot(categorical[i].long(), k).to(z.dtype) * 3.0
        offset += k
    for j in range(cfg.codes_cont):
        if continuous and j in continuous:
            value = continuous[j].to(z.dtype).clamp(-0.999999, 0.999999)
            z[:, offset + j] = torch.erfinv(value) * math.sqrt(2)
    return z


def one_hot(y: torch.Tensor, n_classes: int, like: torch.Tensor) -> torch.Tensor:
    """Class ids -> one-hot rows; float (N, n_classes) class vectors (a soft mix of classes, for
    class interpolation) pass through unchanged."""
    if y.is_floating_point():
        return y.to(like.dtype)
    return F.one_hot(y, n_classes).to(like.dtype)


def maybe_sn(module: nn.Module, enabled: bool) -> nn.Module:
    return spectral_norm(module) if enabled else module


def check_heads(cfg: ModelConfig) -> None:
    """For architectures whose D carries heads (dcgan, mlp)."""
    unknown = [h for h in cfg.d_heads if h not in HEADS]
    if unknown:
        raise GanforgeError(f"unknown model.d_heads {unknown}; available: {', '.join(HEADS)}")
    if "codes" in cfg.d_heads and not (cfg.codes_cat or cfg.codes_cont):
        raise GanforgeError("model.d_heads has 'codes' but model.codes_cat/codes_cont define none")


class Heads(nn.Module):
    """Extra outputs on D's features: class logits (ACGAN, SGAN) and InfoGAN's Q."""

    def __init__(self, cfg: ModelConfig, features: int) -> None:
        super().__init__()
        self.codes_cat, self.codes_cont = list(cfg.codes_cat), cfg.codes_cont
        self.classes = nn.Linear(features, cfg.n_classes) if "classes" in cfg.d_heads else None
        if "codes" in cfg.d_heads:  # Q: a hidden layer, then categorical logits + Gaussian means
            width = sum(self.codes_cat) + self.codes_cont
            self.codes = nn.Sequential(nn.Linear(features, 128), nn.LeakyReLU(0.2),
                                       nn.Linear(128, width))
        else:
            self.codes = None

    def forward(self, h: torch.Tensor) -> dict[str, torch.Tensor]:
        out = {}
        if self.classes is not None:
            out["classes"] = self.classes(h)
        if self.codes is not None:
            q = self.codes(h)
            out["codes_cat"] = list(torch.split(q[:, : sum(self.codes_cat)], self.codes_cat, 1))
            out["codes_cont"] = q[:, sum(self.codes_cat):]
        return out


def init_normal(module: nn.Module, std: float = 0.02) -> None:
    """N(0, std) weights, zero biases, BN weight N(1, std) (DCGAN's recipe)."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            weight = m.parametrizations.weight.original if hasattr(m, "parametrizations") else m.weight
            nn.init.normal_(weight, 0.0, std)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)) and m.affine:
            nn.init.normal_(m.weight, 1.0, std)
            nn.init.zeros_(m.bias)


def init_xavier(module: nn.Module, gain: float = 0.02) -> None:
    """Xavier-normal weights with `gain`, zero biases, BN weight N(1, gain): the init of the
    BicycleGAN authors' code (`init_type=xavier`, `init_gain=0.02`)."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            nn.init.xavier_normal_(m.weight, gain=gain)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d) and m.affine:
            nn.init.normal_(m.weight, 1.0, gain)
            nn.init.zeros_(m.bias)


def check_power_of_two(resolution: int, minimum: int = 8) -> int:
    """Number of x2 stages from 4x4 to `resolution`."""
    stages = int(math.log2(resolution / 4)) if resolution >= minimum else -1
    if stages < 1 or 4 * 2**stages != resolution:
        raise GanforgeError(f"model.resolution={resolution} must be a power of two, at least {minimum}")
    return stages
