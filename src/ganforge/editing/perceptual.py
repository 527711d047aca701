"""Perceptual distances for projection, LPIPS-style: activations of several stages, each unit-
normalised over channels at every pixel, squared differences averaged over pixels, summed over
channels and stages (LPIPS with equal channel weights; Zhang et al. 2018).

Two feature networks: VGG16/VGG19 (`vgg`) when the user supplies their weights (torchvision's
state-dict layout, `features.N.weight`; read with safetensors or `torch.load(weights_only=True)`,
no torchvision), or, without weights, the shipped domain classifier of the generator's data
(`classifier:digits`, `classifier:mnist`: its three conv stages and its 128-d feature layer).
Every projection records which one it used.
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from ganforge.errors import GanforgeError
from ganforge.metrics.classifiers import load_classifier, to_classifier_input
from ganforge.metrics.features import default_extractor

VGG_CONFIGS = {  # channels per conv, "M" = 2x2 max pool (torchvision's `features` indices follow)
    16: [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"],
    19: [64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M",
         512, 512, 512, 512, "M"],
}
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
VGG_MIN_SIDE, VGG_MAX_SIDE = 64, 256  # VGG sees at least 64 px (5 poolings) and at most 256


def unit_normalize(x: torch.Tensor, eps: float = 1e-10) -> torch.Tensor:
    """Each pixel's channel vector to unit length (LPIPS's normalize_tensor)."""
    return x / (x.square().sum(dim=1, keepdim=True).sqrt() + eps)


def lpips_distance(a: list[torch.Tensor], b: list[torch.Tensor]) -> torch.Tensor:
    """(N,) sum over stages of the per-pixel mean of squared differences of unit-normalised
    activations, summed over channels."""
    total = torch.zeros(a[0].shape[0], device=a[0].device)
    for x, y in zip(a, b, strict=True):
        d = (unit_normalize(x) - unit_normalize(y)).square().sum(dim=1)
        total = total + d.flatten(1).mean(dim=1)
    return total


class VGGFeatures(nn.Module):
    """VGG16/19's convolutional part in torchvision's layout; taps at the last ReLU of each of
    the five stages (LPIPS's relu1_2 ... relu5_3 for VGG16)."""

    def __init__(self, depth: int = 16) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        self.taps: list[int] = []
        c_in = 3
        for item in VGG_CONFIGS[depth]:
            if item == "M":
                self.taps.append(len(layers) - 1)
                layers.append(nn.MaxPool2d(2))
            else:
                layers += [nn.Conv2d(c_in, int(item), 3, padding=1), nn.ReLU()]
                c_in = int(item)
        self.features = nn.Sequential(*layers)
        self.depth = depth

    def forward(self, images: torch.Tensor) -> list[torch.Tensor]:
        """[-1, 1] (N, 1 or 3, H, W) -> the five stages' activations."""
        x = (images.clamp(-1, 1) + 1) / 2
        if x.shape[1] == 1:
            x = x.expand(-1, 3, -1, -1)
        side = x.shape[-1]
        if side > VGG_MAX_SIDE:
            x = F.interpolate(x, size=(VGG_MAX_SIDE, VGG_MAX_SIDE), mode="area")
        elif side < VGG_MIN_SIDE:
            x = F.interpolate(x, size=(VGG_MIN_SIDE, VGG_MIN_SIDE), mode="bilinear", align_corners=False)
        mean = torch.tensor(IMAGENET_MEAN, device=x.device).view(1, 3, 1, 1)
        std = torch.tensor(IMAGENET_STD, device=x.device).view(1, 3, 1, 1)
        x = (x - mean) / std
        out = []
        for i, layer in enumerate(self.features):
            x = layer(x)
            if i in self.taps:
                out.append(x)
        return out


def load_vgg(path: Path | str) -> VGGFeatures:
    """VGG16 or VGG19 from a torchvision-layout state dict (.safetensors, .pth/.pt); the depth is
    read from the number of conv weights, and every conv weight must be there."""
    path = Path(path)
    if not path.is_file():
        raise GanforgeError(f"VGG weights '{path}' do not exist (torchvision's vgg16-397923af.pth "
                            "or vgg19 weights, or their safetensors)")
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            state = load_file(str(path))
        else:
            state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any unreadable file is the user's to fix
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise GanforgeError(f"{path}: cannot read VGG weights ({reason})") from None
    if not isinstance(state, dict):
        raise GanforgeError(f"{path}: not a state dict of VGG weights")
    state = {k[len("features."):] if k.startswith("features.") else k: v for k, v in state.items()}
    convs = sorted({k.split(".")[0] for k in state if k.endswith(".weight") and getattr(state[k], "ndim", 0) == 4},
                   key=lambda s: int(s) if s.isdigit() else -1)
    depth = {13: 16, 16: 19}.get(len(convs))
    if depth is None:
        raise GanforgeError(f"{path}: {len(convs)} convolution weights; VGG16 has 13, VGG19 16 "
                            "(torchvision layout: features.N.weight)")
    model = VGGFeatures(depth)
    wanted = model.features.state_dict()
    try:
        model.features.load_state_dict({k: state[k] for k in wanted})
    except (KeyError, RuntimeError) as exc:
        raise GanforgeError(f"{path}: not VGG{depth} weights in torchvision's layout ({exc})") from None
    return model.eval().requires_grad_(False)


class ClassifierStages(nn.Module):
    """A shipped domain classifier's conv stages (before each pooling and the last) plus its
    feature layer, as LPIPS-style taps."""

    def __init__(self, name: str) -> None:
        super().__init__()
        extractor = load_classifier(name)
        self.model = extractor.model
        self.in_channels = extractor.in_channels
        self.weights_sha256 = extractor.weights_sha256
        layers = list(self.model.conv)
        self.taps = [i - 1 for i, m in enumerate(layers) if isinstance(m, nn.MaxPool2d)] + [len(layers) - 1]

    def train(self, mode: bool = True) -> ClassifierStages:
        super().train(False)  # BatchNorm statistics and dropout stay as shipped
        return self

    def forward(self, images: torch.Tensor) -> list[torch.Tensor]:
        x = to_classifier_input(images, channels=self.in_channels)
        out = []
        for i, layer in enumerate(self.model.conv):
            x = layer(x)
            if i in self.taps:
                out.append(x)
        h = F.max_pool2d(x, 2).mean((2, 3))
        out.append(self.model.feature(h)[:, :, None, None])
        return out


class Perceptual(nn.Module):
    """distance(a, b) -> (N,) with the named feature network; `name` is what results record."""

    def __init__(self, network: nn.Module, name: str) -> None:
        super().__init__()
        self.network = network.eval().requires_grad_(False)
        self.name = name

    def features(self, images: torch.Tensor) -> list[torch.Tensor]:
        return self.network(images)

    def distance(self, a: torch.Tensor, b_features: list[torch.Tensor]) -> torch.Tensor:
        return lpips_distance(self.features(a), b_features)


def choose_perceptual(vgg_weights: Path | str | None, data_source: str | None,
                      classifier: str | None = None) -> Perceptual | None:
    """VGG when weights are given; else the named (or the data's) shipped domain classifier;
    None when neither applies (then only the pixel loss is used, and the result says so)."""
    if vgg_weights is not None:
        model = load_vgg(vgg_weights)
        return Perceptual(model, f"vgg{model.depth}-lpips-equal-weights:{Path(vgg_weights).name}")
    name = classifier or (default_extractor(data_source) if data_source else None)
    if name in (None, "inception"):
        return None
    return Perceptual(ClassifierStages(name), f"classifier:{name}")
