"""GigaGAN's upsampler losses (Kang et al. 2023, Sec. 3.4): the base model's (non-saturating on
every scale of the multi-scale D, matching-aware, R1; the CLIP loss when given) plus the
reconstruction of the real high-resolution image from its downsampled copy:
    L_G += recon_l1 * |G(x_low) - x| + recon_perceptual * P(G(x_low), x)
x_low = the real image resized to model.low_resolution (antialiased bicubic). The paper's
perceptual term is LPIPS, whose weights (AlexNet/VGG + learned linear heads) are a download away;
offline, P is LPIPS's form on the shipped RGB digit-attributes classifier's six conv activations:
per layer, channel-unit-normalised features, squared difference summed over channels and averaged
over positions, then averaged over layers (uniform weights instead of LPIPS's learned ones).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from ganforge.config import register, setting
from ganforge.config.sections import AT_LEAST_0
from ganforge.metrics.classifiers import load_classifier, to_classifier_input
from ganforge.models.gigagan_upsampler import downsample, pack
from ganforge.training.methods.adversarial import DLoss
from ganforge.training.methods.gigagan import GigaGAN, GigaGANMethodConfig, clip_contrastive_loss
from ganforge.training.methods.registry import method

PERCEPTUAL_NET = "digit_attributes"


@register("gigagan-upsampler")
@dataclass
class GigaGANUpsamplerMethodConfig(GigaGANMethodConfig):
    paired_arch = "gigagan-upsampler"

    name: str = "gigagan-upsampler"
    recon_l1: float = setting(1.0, bounds=AT_LEAST_0)
    recon_perceptual: float = setting(1.0, bounds=AT_LEAST_0)


class Perceptual(nn.Module):
    """LPIPS's distance form on a frozen classifier's conv activations (see the module doc)."""

    def __init__(self, name: str = PERCEPTUAL_NET) -> None:
        super().__init__()
        extractor = load_classifier(name)
        self.in_channels = extractor.in_channels
        self.conv = extractor.model.conv.eval().requires_grad_(False)

    def train(self, mode: bool = True) -> Perceptual:
        return super().train(False)

    def features(self, x: torch.Tensor) -> list[torch.Tensor]:
        h = to_classifier_input(x, channels=self.in_channels).to(x.device)
        out = []
        for layer in self.conv:
            h = layer(h)
            if isinstance(layer, nn.ReLU):
                out.append(h * torch.rsqrt(h.pow(2).sum(1, keepdim=True) + 1e-10))
        return out

    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        pairs = zip(self.features(a.float()), self.features(b.float()), strict=True)
        return torch.stack([(fa - fb).pow(2).sum(1).mean((1, 2)) for fa, fb in pairs]).mean(0).mean()


@method("gigagan-upsampler")
class GigaGANUpsampling(GigaGAN):
    """y of G and D packs the caption's ids with the real image downsampled (`models.pack`)."""

    def __init__(self, ctx: Any) -> None:
        super().__init__(ctx)
        self.low = ctx.config.model.low_resolution
        self.perceptual = Perceptual().to(ctx.device) if self.cfg.recon_perceptual > 0 else None

    def condition(self, real: torch.Tensor, ids: torch.Tensor) -> torch.Tensor:
        return pack(ids, downsample(real.float(), self.low)).to(real.device)

    def grid_condition(self, labels: torch.Tensor, dataset: Any) -> torch.Tensor:
        """Each row: the first training image of its class, downsampled, with its first caption."""
        first: dict[int, int] = {}
        for i, label in enumerate(dataset.labels.tolist()):
            first.setdefault(label, i)
        rows = torch.tensor([first.get(int(c), 0) for c in labels])
        images = dataset.images[rows].float().div(127.5).sub(1.0)
        return pack(dataset.tokens[rows, 0].cpu(), downsample(images, self.low))

    def d_loss(self, real: torch.Tensor, y_real: torch.Tensor) -> DLoss:
        return super().d_loss(real, self.condition(real, y_real))

    def g_loss(self, n: int) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        real, ids = self.ctx.real_batch()
        real, ids = real[:n], ids[:n]
        y = self.condition(real, ids)
        z, _ = self.latent(n)
        images = self.ctx.G_train(z, y, pyramid=True)
        loss = self.ctx.objective.g_loss(self.scores(images, y).flatten())
        extra: dict[str, torch.Tensor] = {}
        if self.clip is not None:
            clip = clip_contrastive_loss(self.clip.image_features(images[-1]), self.clip.text_features_of_ids(ids),
                                         self.clip.logit_scale)
            loss = loss + self.cfg.clip_weight * clip
            extra["clip_loss"] = clip.detach()
        fake = images[-1].float()
        l1 = (fake - real.float()).abs().mean()
        loss = loss + self.cfg.recon_l1 * l1
        extra["recon_l1"] = l1.detach()
        if self.perceptual is not None:
            p = self.perceptual(fake, real)
            loss = loss + self.cfg.recon_perceptual * p
            extra["recon_perceptual"] = p.detach()
        return loss, extra
