"""HyperStyle-style refinement (Alaluf et al., CVPR 2022): a hypernetwork looks at the image and
the generator's current reconstruction of it and predicts offsets of the generator's weights,
W' = W * (1 + delta), for that one image; a few iterations (the offsets accumulate) bring the
reconstruction closer than the latent alone can, with no per-image optimisation.

Differences from the paper, for a CPU-sized toolkit: the backbone is this package's small conv
encoder (not a ResNet-34), and each layer's offset (O, I) is predicted in low-rank form
a(f) b(f)^T (rank 4) instead of by a full refinement block per layer; like the paper, the offsets
act on the 3x3 synthesis convolutions (not ToRGB), start at zero, and the latent comes from a
frozen e4e-style encoder. StyleGAN2 only: the offsets are those of its synthesis weights.
"""

from __future__ import annotations

import torch
from torch import nn

from ganforge.editing.codes import LatentCode, decode
from ganforge.editing.perceptual import Perceptual
from ganforge.errors import GanforgeError
from ganforge.generator import Generator

RANK = 4


def target_layers(g: Generator) -> dict[str, tuple[int, int]]:
    """The synthesis 3x3 convolution weights HyperStyle modulates: name -> (out, in)."""
    if not g.style_based:
        raise GanforgeError("HyperStyle refinement predicts StyleGAN2 synthesis weights; this "
                            f"{g.architecture} generator is not StyleGAN2")
    return {name: (p.shape[0], p.shape[1]) for name, p in g.generator.synthesis.named_parameters()
            if name.endswith(".weight") and p.ndim == 4 and p.shape[-1] == 3}


class HyperNetwork(nn.Module):
    """(image, reconstruction) -> per-layer offsets {name: (N, O, I)}."""

    def __init__(self, layers: dict[str, tuple[int, int]], channels: int, resolution: int,
                 width: int = 32, rank: int = RANK) -> None:
        super().__init__()
        self.layer_names, self.rank = list(layers), rank
        self.shapes = [layers[n] for n in self.layer_names]
        stages, c_in, res = [], 2 * channels, resolution
        while res > 4:
            c_out = min(width * 2 ** len(stages), 8 * width)
            stages += [nn.Conv2d(c_in, c_out, 3, stride=2, padding=1), nn.LeakyReLU(0.2)]
            c_in, res = c_out, res // 2
        self.backbone = nn.Sequential(*stages)
        self.heads = nn.ModuleList()
        for out_ch, in_ch in self.shapes:
            head = nn.Linear(c_in, (out_ch + in_ch) * rank)
            nn.init.normal_(head.weight, std=1e-3)  # offsets start (almost) at zero
            nn.init.zeros_(head.bias)
            self.heads.append(head)

    def forward(self, image: torch.Tensor, reconstruction: torch.Tensor) -> dict[str, torch.Tensor]:
        f = self.backbone(torch.cat([image, reconstruction], dim=1)).mean((2, 3))
        out = {}
        for name, (o, i), head in zip(self.layer_names, self.shapes, self.heads, strict=True):
            ab = head(f).view(-1, o + i, self.rank)
            out[name] = ab[:, :o] @ ab[:, o:].transpose(1, 2) / self.rank  # (N, O, I)
        return out


def refine(g: Generator, hyper: HyperNetwork, code: LatentCode, image: torch.Tensor,
           iterations: int = 3) -> tuple[LatentCode, list[torch.Tensor]]:
    """The code with accumulated weight offsets after `iterations`, and each iteration's
    reconstruction (the first is the code's own)."""
    if iterations < 0 or iterations > 100:
        raise GanforgeError(f"--iterations must be between 0 and 100, got {iterations}")
    current = LatentCode(code.space, code.latent, code.classes, code.noise, dict(code.offsets))
    recon = decode(g, current)
    outputs = [recon]
    for _ in range(iterations):
        delta = hyper(image, recon.clamp(-1, 1))
        offsets = {k: current.offsets.get(k, 0) + v for k, v in delta.items()}
        current = LatentCode(code.space, code.latent, code.classes, code.noise, offsets)
        recon = decode(g, current)
        outputs.append(recon)
    return current, outputs


def hyper_loss(g: Generator, hyper: HyperNetwork, code: LatentCode, image: torch.Tensor, iterations: int,
               perceptual: Perceptual | None, perceptual_weight: float = 0.5, pixel_weight: float = 1.0,
               ) -> tuple[torch.Tensor, dict[str, float]]:
    """Pixel MSE + perceptual distance of every iteration's reconstruction (as the paper trains)."""
    _, outputs = refine(g, hyper, code, image, iterations)
    target_features = perceptual.features(image) if perceptual is not None else None
    total, terms = torch.zeros(()), {}
    for t, recon in enumerate(outputs[1:], 1):
        loss = pixel_weight * (recon - image).square().mean()
        if target_features is not None:
            loss = loss + perceptual_weight * perceptual.distance(recon, target_features).mean()
        total = total + loss
        terms[f"iter{t}"] = loss.item()
    return total, terms
