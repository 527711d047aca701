"""Encoder inversion (pSp/e4e for StyleGAN2, Richardson et al. 2021 / Tov et al. 2021; a z + class
encoder for BigGAN): one forward pass from an image to a latent code of a fixed generator.

The network is small and plain: stride-2 conv stages down to 4x4 and three pooled feature
levels (fine, medium, coarse), as pSp's feature pyramid. StyleGAN2: w_i = w_avg + base(coarse)
+ offset_i(level of style i), coarse styles read the deepest level, fine styles the shallowest
(pSp's map2style split); e4e's delta regulariser keeps the offsets small so codes stay near W.
BigGAN: z and class logits from the deepest level.

Loss on the generator's own samples (whose latents are known): latent MSE (styles in units of
w_std; z; class cross-entropy) + pixel MSE + the LPIPS-style perceptual distance of the
reconstruction; real images (no latent known) add pixel + perceptual terms only.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ganforge.editing.codes import LatentCode, class_vectors, decode, to_styles
from ganforge.editing.perceptual import Perceptual
from ganforge.generator import Generator


@dataclass
class EncoderSettings:
    width: int = 32
    lr: float = 1e-3
    batch_size: int = 16
    latent_weight: float = 1.0
    pixel_weight: float = 1.0
    perceptual_weight: float = 0.5
    delta_weight: float = 1e-3  # e4e's offset regulariser
    class_weight: float = 1.0


class Encoder(nn.Module):
    """image (N, C, R, R) in [-1, 1] -> latent code (W+ for StyleGAN2; z + class logits otherwise)."""

    def __init__(self, channels: int, resolution: int, *, style: bool, dim: int, num_ws: int = 0,
                 n_classes: int = 0, width: int = 32) -> None:
        super().__init__()
        self.style, self.dim, self.num_ws, self.n_classes = style, dim, num_ws, n_classes
        stages, c_in, res = [], channels, resolution
        widths = []
        while res > 4:
            c_out = min(width * 2 ** len(stages), 8 * width)
            stages.append(nn.Sequential(nn.Conv2d(c_in, c_out, 3, stride=2, padding=1), nn.LeakyReLU(0.2),
                                        nn.Conv2d(c_out, c_out, 3, padding=1), nn.LeakyReLU(0.2)))
            widths.append(c_out)
            c_in, res = c_out, res // 2
        if not stages:
            raise ValueError("the encoder needs images of at least 8 px")
        self.stages = nn.ModuleList(stages)
        levels = [widths[max(0, len(widths) - 3 + i)] for i in range(3)]  # fine, medium, coarse
        self.levels = levels
        if style:
            self.register_buffer("w_avg", torch.zeros(dim))
            self.base = nn.Linear(levels[2], dim)
            self.level_of = [min(2, 2 - (3 * i) // num_ws) for i in range(num_ws)]  # coarse first
            self.heads = nn.ModuleList(nn.Linear(levels[lv], dim) for lv in self.level_of)
            for head in self.heads:
                nn.init.zeros_(head.weight)
                nn.init.zeros_(head.bias)
        else:
            self.z_head = nn.Linear(levels[2], dim)
            self.class_head = nn.Linear(levels[2], n_classes) if n_classes else None

    def features(self, images: torch.Tensor) -> list[torch.Tensor]:
        x, feats = images, []
        for stage in self.stages:
            x = stage(x)
            feats.append(x.mean((2, 3)))
        return [feats[max(0, len(feats) - 3 + i)] for i in range(3)]

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """StyleGAN2: (ws (N, num_ws, w_dim), offsets (N, num_ws, w_dim)); else (z, class logits)."""
        levels = self.features(images)
        if self.style:
            base = self.w_avg + self.base(levels[2])
            offsets = torch.stack([head(levels[lv]) for head, lv in zip(self.heads, self.level_of, strict=True)], 1)
            return base.unsqueeze(1) + offsets, offsets
        logits = self.class_head(levels[2]) if self.class_head is not None else None
        return self.z_head(levels[2]), logits

    def encode(self, images: torch.Tensor) -> LatentCode:
        """The code of images, ready for `decode`, `edit` and `save_code`."""
        out, extra = self(images)
        if self.style:
            return LatentCode("w+", out)
        return LatentCode("z", out, None if extra is None else torch.softmax(extra, dim=1))


def build_encoder(g: Generator, channels: int, width: int = 32) -> Encoder:
    if g.style_based:
        w_dim = int(g.generator.mapping.w_dim)
        return Encoder(channels, g.resolution, style=True, dim=w_dim, num_ws=int(g.generator.num_ws), width=width)
    return Encoder(channels, g.resolution, style=False, dim=g.dim_z, n_classes=g.n_classes, width=width)


def generator_batch(g: Generator, n: int, rng: torch.Generator, part: slice | None = None,
                    ) -> tuple[LatentCode, torch.Tensor]:
    """A batch of the generator's own samples with their codes (W+ styles for StyleGAN2);
    `part`: only these of the n drawn (a torchrun rank's share of the global batch)."""
    z = torch.randn(n, g.dim_z, generator=rng)
    ids = torch.randint(0, max(g.n_classes, 1), (n,), generator=rng)
    if part is not None:
        z, ids = z[part], ids[part]
    c = class_vectors(g, ids)
    code = LatentCode("z", z.to(g.device), None if c is None else c.to(g.device))
    with torch.no_grad():
        if g.style_based:
            code = LatentCode("w+", to_styles(g, code))
        images = decode(g, code).clamp(-1, 1)
    return code, images


def encoder_loss(g: Generator, encoder: Encoder, images: torch.Tensor, code: LatentCode | None,
                 settings: EncoderSettings, perceptual: Perceptual | None, w_std: float = 1.0,
                 ) -> tuple[torch.Tensor, dict[str, float]]:
    """The loss of one batch (`code` None for real images: no latent term)."""
    out, extra = encoder(images)
    terms: dict[str, torch.Tensor] = {}
    if encoder.style:
        predicted = LatentCode("w+", out)
        terms["delta"] = settings.delta_weight * extra.square().mean()
        if code is not None:
            terms["latent"] = settings.latent_weight * ((out - code.latent) / w_std).square().mean()
    else:
        classes = None if extra is None else torch.softmax(extra, dim=1)
        predicted = LatentCode("z", out, classes)
        if code is not None:
            terms["latent"] = settings.latent_weight * (out - code.latent).square().mean()
            if extra is not None:
                terms["class"] = settings.class_weight * F.cross_entropy(extra, code.classes.argmax(1))
    recon = decode(g, predicted)
    terms["pixel"] = settings.pixel_weight * (recon - images).square().mean()
    if perceptual is not None:
        terms["perceptual"] = settings.perceptual_weight * perceptual.distance(recon, perceptual.features(images)).mean()
    total = sum(terms.values())
    return total, {k: v.item() for k, v in terms.items()}


def describe(encoder: Encoder, settings: EncoderSettings) -> dict:
    return {"style": encoder.style, "dim": encoder.dim, "num_ws": encoder.num_ws, "n_classes": encoder.n_classes,
            "settings": asdict(settings), "parameters": sum(p.numel() for p in encoder.parameters()),
            "levels": encoder.levels}
