"""SPADE / GauGAN (Park et al. 2019, "Semantic Image Synthesis with Spatially-Adaptive
Normalization"): the networks, as the authors' code (NVlabs/SPADE) builds them by default.

- `SPADENorm`: a parameter-free norm (batch: the authors' sync-batch; or instance), then a
  per-pixel scale and shift from the label map resized (nearest) to the activations: a shared
  conv (128 hidden, kernel 3) + ReLU, then one conv for gamma and one for beta;
  out = norm(x) * (1 + gamma) + beta.
- `SPADEResBlock`: [SPADE, LeakyReLU 0.2, conv3] x 2 with min(fin, fout) middle channels; a
  learned shortcut [SPADE, conv1 without bias] when fin != fout. Convs spectrally normalised.
- `SPADEGenerator`: a 3x3 conv on the label map resized to crop / 2**5 (or, with the VAE, a
  linear layer from z), then 7 SPADE ResBlocks at 16 ngf down to ngf with nearest x2 upsampling
  between them (`num_upsampling_layers`: normal 5 ups, more 6, most 7), LeakyReLU, conv3, tanh.
- `SPADEDiscriminator`: `num_d` PatchGANs (4x4 convs, n_layers_D 4, the last middle conv at
  stride 1, spectral norm + parameter-free instance norm in the middle layers) on the image and
  on 3x3/2 average-pooled copies; each returns every layer's output (for feature matching).
- `SPADEEncoder`: the VAE's image encoder (the authors' ConvEncoder): 3x3 stride-2 convs with
  spectral + instance norm down to 4x4, two linear heads for mu and log-variance (z_dim 256).
- `VGG19Features`: VGG19's conv trunk (torchvision's layer indices, so its state dict loads)
  returning relu1_1, relu2_1, relu3_1, relu4_1, relu5_1, for the perceptual loss.

Parameter names follow the authors' modules, so their checkpoints map one to one (spectral
norm is torch's parametrisation here); `benchmarks/spade_parity.py` checks counts and outputs.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from ganforge.nn.layers import spectral_norm

NHIDDEN = 128  # the authors' hard-coded width of the SPADE embedding
UPSAMPLINGS = {"normal": 5, "more": 6, "most": 7}
PARAM_FREE = ("batch", "instance")


def _sn(module: nn.Module, enabled: bool) -> nn.Module:
    """Spectral norm, except on the meta device (shapes only, for parameter counts: its power
    iterations there cost seconds per build and change no parameter)."""
    return spectral_norm(module) if enabled and not module.weight.is_meta else module


class SPADENorm(nn.Module):
    """Spatially-adaptive normalisation of `norm_nc` channels by a `label_nc`-channel map."""

    def __init__(self, norm_nc: int, label_nc: int, param_free: str = "batch", kernel: int = 3,
                 hidden: int = NHIDDEN) -> None:
        super().__init__()
        if param_free not in PARAM_FREE:
            raise ValueError(f"unknown parameter-free norm '{param_free}'; use {PARAM_FREE}")
        self.param_free_norm = (nn.BatchNorm2d(norm_nc, affine=False) if param_free == "batch"
                                else nn.InstanceNorm2d(norm_nc, affine=False))
        pad = kernel // 2
        self.mlp_shared = nn.Sequential(nn.Conv2d(label_nc, hidden, kernel, padding=pad), nn.ReLU())
        self.mlp_gamma = nn.Conv2d(hidden, norm_nc, kernel, padding=pad)
        self.mlp_beta = nn.Conv2d(hidden, norm_nc, kernel, padding=pad)

    def modulation(self, x: torch.Tensor, segmap: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(gamma, beta), each (N, norm_nc, H, W), from the map resized to x's size (nearest)."""
        segmap = F.interpolate(segmap, size=x.shape[2:], mode="nearest")
        actv = self.mlp_shared(segmap)
        return self.mlp_gamma(actv), self.mlp_beta(actv)

    def forward(self, x: torch.Tensor, segmap: torch.Tensor) -> torch.Tensor:
        gamma, beta = self.modulation(x, segmap)
        return self.param_free_norm(x) * (1 + gamma) + beta


class SPADEResBlock(nn.Module):
    """A residual block whose norms are SPADE (learned shortcut when the width changes)."""

    def __init__(self, fin: int, fout: int, label_nc: int, spectral: bool = True,
                 param_free: str = "batch", hidden: int = NHIDDEN) -> None:
        super().__init__()
        self.learned_shortcut = fin != fout
        fmiddle = min(fin, fout)
        self.conv_0 = _sn(nn.Conv2d(fin, fmiddle, 3, padding=1), spectral)
        self.conv_1 = _sn(nn.Conv2d(fmiddle, fout, 3, padding=1), spectral)
        self.norm_0 = SPADENorm(fin, label_nc, param_free, hidden=hidden)
        self.norm_1 = SPADENorm(fmiddle, label_nc, param_free, hidden=hidden)
        if self.learned_shortcut:
            self.conv_s = _sn(nn.Conv2d(fin, fout, 1, bias=False), spectral)
            self.norm_s = SPADENorm(fin, label_nc, param_free, hidden=hidden)

    def forward(self, x: torch.Tensor, seg: torch.Tensor) -> torch.Tensor:
        shortcut = self.conv_s(self.norm_s(x, seg)) if self.learned_shortcut else x
        dx = self.conv_0(F.leaky_relu(self.norm_0(x, seg), 0.2))
        dx = self.conv_1(F.leaky_relu(self.norm_1(dx, seg), 0.2))
        return shortcut + dx


def start_size(crop_size: int, num_upsampling_layers: str = "normal") -> int:
    """Side of G's first feature map: crop / 2**ups (square images)."""
    return crop_size // 2 ** UPSAMPLINGS[num_upsampling_layers]


class SPADEGenerator(nn.Module):
    """Label map (one-hot, N x semantic_nc x S x S) [+ z] -> image in [-1, 1]."""

    def __init__(self, semantic_nc: int, out_channels: int = 3, ngf: int = 64, crop_size: int = 256,
                 num_upsampling_layers: str = "normal", use_vae: bool = False, z_dim: int = 256,
                 spectral: bool = True, param_free: str = "batch", hidden: int = NHIDDEN) -> None:
        super().__init__()
        if num_upsampling_layers not in UPSAMPLINGS:
            raise ValueError(f"num_upsampling_layers must be one of {tuple(UPSAMPLINGS)}")
        self.ngf, self.use_vae, self.z_dim = ngf, use_vae, z_dim
        self.semantic_nc, self.ups = semantic_nc, num_upsampling_layers
        self.sw = start_size(crop_size, num_upsampling_layers)
        if self.sw < 1:
            raise ValueError(f"crop_size {crop_size} is below G's {2 ** UPSAMPLINGS[num_upsampling_layers]} px")
        nf = ngf
        if use_vae:
            self.fc: nn.Module = nn.Linear(z_dim, 16 * nf * self.sw * self.sw)
        else:
            self.fc = nn.Conv2d(semantic_nc, 16 * nf, 3, padding=1)

        def block(fin: int, fout: int) -> SPADEResBlock:
            return SPADEResBlock(fin, fout, semantic_nc, spectral, param_free, hidden)

        self.head_0 = block(16 * nf, 16 * nf)
        self.G_middle_0 = block(16 * nf, 16 * nf)
        self.G_middle_1 = block(16 * nf, 16 * nf)
        self.up_0 = block(16 * nf, 8 * nf)
        self.up_1 = block(8 * nf, 4 * nf)
        self.up_2 = block(4 * nf, 2 * nf)
        self.up_3 = block(2 * nf, nf)
        final_nc = nf
        if num_upsampling_layers == "most":
            self.up_4 = block(nf, nf // 2)
            final_nc = nf // 2
        self.conv_img = nn.Conv2d(final_nc, out_channels, 3, padding=1)

    def forward(self, seg: torch.Tensor, z: torch.Tensor | None = None) -> torch.Tensor:
        if self.use_vae:
            if z is None:
                z = torch.randn(seg.shape[0], self.z_dim, device=seg.device, dtype=seg.dtype)
            x = self.fc(z).view(-1, 16 * self.ngf, self.sw, self.sw)
        else:
            x = self.fc(F.interpolate(seg, size=(self.sw, self.sw)))

        def up(t: torch.Tensor) -> torch.Tensor:
            return F.interpolate(t, scale_factor=2.0, mode="nearest")

        x = up(self.head_0(x, seg))
        x = self.G_middle_0(x, seg)
        if self.ups in ("more", "most"):
            x = up(x)
        x = self.G_middle_1(x, seg)
        for stage in (self.up_0, self.up_1, self.up_2, self.up_3):
            x = stage(up(x), seg)
        if self.ups == "most":
            x = self.up_4(up(x), seg)
        return torch.tanh(self.conv_img(F.leaky_relu(x, 0.2)))


class NLayerFeatures(nn.Module):
    """One PatchGAN of the multi-scale D, returning every layer group's output."""

    def __init__(self, in_channels: int, ndf: int = 64, n_layers: int = 4, spectral: bool = True) -> None:
        super().__init__()
        kw, pad = 4, 2  # ceil((4 - 1) / 2)
        groups: list[list[nn.Module]] = [[nn.Conv2d(in_channels, ndf, kw, 2, pad), nn.LeakyReLU(0.2)]]
        nf = ndf
        for n in range(1, n_layers):
            prev, nf = nf, min(nf * 2, 512)
            stride = 1 if n == n_layers - 1 else 2
            conv = _sn(nn.Conv2d(prev, nf, kw, stride, pad, bias=False), spectral)
            groups.append([conv, nn.InstanceNorm2d(nf, affine=False), nn.LeakyReLU(0.2)])
        groups.append([nn.Conv2d(nf, 1, kw, 1, pad)])
        for i, group in enumerate(groups):
            self.add_module(f"model{i}", nn.Sequential(*group))

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        outputs = []
        for group in self.children():
            x = group(x)
            outputs.append(x)
        return outputs


class SPADEDiscriminator(nn.Module):
    """`num_d` PatchGANs, finest first; each scale's list of features ends with its logits."""

    def __init__(self, in_channels: int, ndf: int = 64, n_layers: int = 4, num_d: int = 2,
                 spectral: bool = True) -> None:
        super().__init__()
        for i in range(num_d):
            self.add_module(f"discriminator_{i}", NLayerFeatures(in_channels, ndf, n_layers, spectral))

    def forward(self, x: torch.Tensor) -> list[list[torch.Tensor]]:
        result = []
        for d in self.children():
            result.append(d(x))
            x = F.avg_pool2d(x, 3, 2, 1, count_include_pad=False)
        return result


def encoder_size(crop_size: int) -> int:
    """The side E reads: 256 for crops of 256 and more (the authors' resize); smaller crops are
    read at their own size (a power of two of at least 8), where the authors' code would fail."""
    if crop_size >= 256:
        return 256
    return 2 ** max(3, int(math.log2(crop_size)))


class SPADEEncoder(nn.Module):
    """Image -> (mu, logvar) of the style code z (N, z_dim)."""

    def __init__(self, in_channels: int = 3, ndf: int = 64, crop_size: int = 256, z_dim: int = 256,
                 spectral: bool = True) -> None:
        super().__init__()
        self.size = encoder_size(crop_size)
        n_layers = int(math.log2(self.size // 4))
        widths = [in_channels] + [ndf * min(2**i, 8) for i in range(n_layers)]
        for i in range(n_layers):
            conv = _sn(nn.Conv2d(widths[i], widths[i + 1], 3, 2, 1, bias=False), spectral)
            self.add_module(f"layer{i + 1}", nn.Sequential(conv, nn.InstanceNorm2d(widths[i + 1], affine=False)))
        self.n_layers = n_layers
        self.fc_mu = nn.Linear(widths[-1] * 16, z_dim)
        self.fc_var = nn.Linear(widths[-1] * 16, z_dim)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if x.shape[-2:] != (self.size, self.size):
            x = F.interpolate(x, size=(self.size, self.size), mode="bilinear")
        for i in range(self.n_layers):
            layer = getattr(self, f"layer{i + 1}")
            x = layer(x if i == 0 else F.leaky_relu(x, 0.2))
        x = F.leaky_relu(x, 0.2).flatten(1)
        return self.fc_mu(x), self.fc_var(x)


VGG19_CONFIG = (64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M", 512, 512, 512, 512)
VGG_SLICES = (2, 7, 12, 21, 30)  # relu1_1, relu2_1, relu3_1, relu4_1, relu5_1 end here


class VGG19Features(nn.Module):
    """VGG19's first 30 feature layers (torchvision's indices: `features.N.weight` loads)."""

    def __init__(self) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        c_in = 3
        for item in VGG19_CONFIG:
            if item == "M":
                layers.append(nn.MaxPool2d(2, 2))
            else:
                layers += [nn.Conv2d(c_in, int(item), 3, padding=1), nn.ReLU()]
                c_in = int(item)
        self.features = nn.Sequential(*layers[: VGG_SLICES[-1]])
        self.requires_grad_(False)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        outputs, start = [], 0
        for end in VGG_SLICES:
            for i in range(start, end):
                x = self.features[i](x)
            outputs.append(x)
            start = end
        return outputs


def init_xavier(module: nn.Module, gain: float = 0.02) -> None:
    """The authors' init (`init_type=xavier`, `init_variance=0.02`): Xavier-normal conv/linear
    weights (the raw weight under spectral norm), zero biases."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            weight = m.parametrizations.weight.original if hasattr(m, "parametrizations") else m.weight
            if weight.is_meta:  # shapes only (parameter counts): nothing to draw
                continue
            nn.init.xavier_normal_(weight, gain=gain)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
