"""Perceptual distances for projection, LPIPS-style: activations of several stages, each unit-
normalised over channels at every pixel, squared differences weighted per channel and summed,
averaged over pixels, summed over stages (LPIPS, Zhang et al. 2018).

Feature networks: VGG16/VGG19 or AlexNet when the user supplies their weights (torchvision's
state-dict layout, `features.N.weight`; read with safetensors or `torch.load(weights_only=True)`,
no torchvision), or, without weights, the shipped domain classifier of the generator's data
(`classifier:digits`, `classifier:mnist`: its three conv stages and its 128-d feature layer).
Channel weights: LPIPS's learned linear layers when given (the lpips package's `vgg.pth` /
`alex.pth`: `lin0..lin4.model.1.weight`, each (1, C, 1, 1)), else equal. Every projection
records which distance it used.
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
# AlexNet's features in torchvision's layout: (index, in, out, kernel, stride, padding); pools
# (3x3, stride 2) after indices 1, 4 and 11; LPIPS taps relu1..relu5
ALEX_CONVS = [(0, 3, 64, 11, 4, 2), (3, 64, 192, 5, 1, 2), (6, 192, 384, 3, 1, 1), (8, 384, 256, 3, 1, 1),
              (10, 256, 256, 3, 1, 1)]
ALEX_TAPS = (1, 4, 7, 9, 11)
BACKBONES = {5: "alex", 13: "vgg16", 16: "vgg19"}  # by the number of conv weights


def unit_normalize(x: torch.Tensor, eps: float = 1e-10) -> torch.Tensor:
    """Each pixel's channel vector to unit length (LPIPS's normalize_tensor)."""
    return x / (x.square().sum(dim=1, keepdim=True).sqrt() + eps)


def lpips_distance(a: list[torch.Tensor], b: list[torch.Tensor],
                   weights: list[torch.Tensor] | None = None) -> torch.Tensor:
    """(N,) sum over stages of the per-pixel mean of squared differences of unit-normalised
    activations, summed over channels with `weights` (LPIPS's learned (C,) per stage; None:
    equal)."""
    total = torch.zeros(a[0].shape[0], device=a[0].device)
    for i, (x, y) in enumerate(zip(a, b, strict=True)):
        diff = (unit_normalize(x) - unit_normalize(y)).square()
        if weights is not None:
            diff = diff * weights[i].to(diff)[None, :, None, None]
        total = total + diff.sum(dim=1).flatten(1).mean(dim=1)
    return total


def _imagenet_input(images: torch.Tensor) -> torch.Tensor:
    """[-1, 1] grey or RGB -> RGB at 64..256 px, ImageNet-normalised (= LPIPS's scaling layer)."""
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
    return (x - mean) / std


class AlexFeatures(nn.Module):
    """AlexNet's convolutional part in torchvision's layout; taps at relu1..relu5 (LPIPS's alex)."""

    def __init__(self) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        for index, c_in, c_out, k, stride, pad in ALEX_CONVS:
            while len(layers) < index:
                layers.append(nn.MaxPool2d(3, 2))
            layers += [nn.Conv2d(c_in, c_out, k, stride, pad), nn.ReLU()]
        self.features = nn.Sequential(*layers)
        self.taps = list(ALEX_TAPS)
        self.name = "alex"

    def forward(self, images: torch.Tensor) -> list[torch.Tensor]:
        x, out = _imagenet_input(images), []
        for i, layer in enumerate(self.features):
            x = layer(x)
            if i in self.taps:
                out.append(x)
        return out


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
        self.name = f"vgg{depth}"

    def forward(self, images: torch.Tensor) -> list[torch.Tensor]:
        """[-1, 1] (N, 1 or 3, H, W) -> the five stages' activations."""
        x = _imagenet_input(images)
        out = []
        for i, layer in enumerate(self.features):
            x = layer(x)
            if i in self.taps:
                out.append(x)
        return out


def _state_dict(path: Path, what: str, hint: str) -> dict[str, torch.Tensor]:
    """A state dict from .safetensors or a torch file (weights only), or a one-line error."""
    if not path.is_file():
        raise GanforgeError(f"{what} '{path}' do not exist ({hint})")
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            state = load_file(str(path))
        else:
            state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any unreadable file is the user's to fix
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise GanforgeError(f"{path}: cannot read {what} ({reason})") from None
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise GanforgeError(f"{path}: not a state dict of {what} ({hint})")
    return state


def load_vgg(path: Path | str) -> VGGFeatures | AlexFeatures:
    """VGG16, VGG19 or AlexNet from a torchvision-layout state dict (.safetensors, .pth/.pt); the
    network is read from the number of conv weights, and every conv weight must be there."""
    path = Path(path)
    state = _state_dict(path, "VGG weights", "torchvision's vgg16-397923af.pth, vgg19 or alexnet "
                        "weights, or their safetensors")
    state = {k[len("features."):] if k.startswith("features.") else k: v for k, v in state.items()}
    convs = sorted({k.split(".")[0] for k in state if k.endswith(".weight") and getattr(state[k], "ndim", 0) == 4},
                   key=lambda s: int(s) if s.isdigit() else -1)
    kind = BACKBONES.get(len(convs))
    if kind is None:
        raise GanforgeError(f"{path}: {len(convs)} convolution weights; VGG16 has 13, VGG19 16, AlexNet 5 "
                            "(torchvision layout: features.N.weight)")
    model = AlexFeatures() if kind == "alex" else VGGFeatures(int(kind[3:]))
    wanted = model.features.state_dict()
    try:
        model.features.load_state_dict({k: state[k] for k in wanted})
    except (KeyError, RuntimeError) as exc:
        first = str(exc).splitlines()[0][:120]
        raise GanforgeError(f"{path}: not {kind} weights in torchvision's layout ({first})") from None
    return model.eval().requires_grad_(False)


def tap_channels(network: VGGFeatures | AlexFeatures) -> list[int]:
    """Channels of each tapped stage."""
    out, last = [], 0
    for i, layer in enumerate(network.features):
        if isinstance(layer, nn.Conv2d):
            last = layer.out_channels
        if i in network.taps:
            out.append(last)
    return out


def load_lpips_weights(path: Path | str, network: VGGFeatures | AlexFeatures) -> list[torch.Tensor]:
    """LPIPS's learned channel weights for `network` (the lpips package's vgg.pth / alex.pth:
    `lin0..lin4.model.1.weight`, (1, C, 1, 1) each, non-negative)."""
    path = Path(path)
    hint = "the lpips package's weights/v0.1/vgg.pth or alex.pth"
    state = _state_dict(path, "LPIPS weights", hint)
    channels = tap_channels(network)
    weights = []
    for i, c in enumerate(channels):
        key = next((k for k in state if k == f"lin{i}.model.1.weight" or k.endswith(f".lin{i}.model.1.weight")), None)
        value = state.get(key) if key is not None else None
        if value is None:
            raise GanforgeError(f"{path}: no lin{i}.model.1.weight; not LPIPS linear-layer weights ({hint})")
        if value.numel() != c or value.shape[0] != 1:
            have = [int(state[k].numel()) for k in sorted(state) if k.endswith(".model.1.weight")]
            raise GanforgeError(f"{path}: LPIPS weights for channels {have} do not fit the {network.name} "
                                f"backbone's {channels}; use vgg.pth with VGG16 weights, alex.pth with AlexNet's")
        w = value.detach().float().flatten()
        if not bool(torch.isfinite(w).all()) or bool((w < 0).any()):
            raise GanforgeError(f"{path}: lin{i} has negative or non-finite weights; LPIPS's are non-negative")
        weights.append(w)
    return weights


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

    def __init__(self, network: nn.Module, name: str, weights: list[torch.Tensor] | None = None) -> None:
        super().__init__()
        self.network = network.eval().requires_grad_(False)
        self.name = name
        self.weights = weights  # LPIPS's learned channel weights per stage (None: equal)

    def features(self, images: torch.Tensor) -> list[torch.Tensor]:
        return self.network(images)

    def distance(self, a: torch.Tensor, b_features: list[torch.Tensor]) -> torch.Tensor:
        return lpips_distance(self.features(a), b_features, self.weights)


def choose_perceptual(vgg_weights: Path | str | None, data_source: str | None,
                      classifier: str | None = None, lpips_weights: Path | str | None = None,
                      ) -> Perceptual | None:
    """VGG/AlexNet when weights are given (with LPIPS's learned channel weights when those are
    given too); else the named (or the data's) shipped domain classifier; None when neither
    applies (then only the pixel loss is used, and the result says so)."""
    if lpips_weights is not None and vgg_weights is None:
        raise GanforgeError("--lpips-weights are LPIPS's linear layers over a backbone: give its weights too "
                            "(--vgg-weights vgg16.pth for vgg.pth, alexnet.pth for alex.pth)")
    if vgg_weights is not None:
        model = load_vgg(vgg_weights)
        if lpips_weights is not None:
            weights = load_lpips_weights(lpips_weights, model)
            return Perceptual(model, f"lpips-{model.name}-learned:{Path(vgg_weights).name}+{Path(lpips_weights).name}",
                              weights)
        return Perceptual(model, f"{model.name}-lpips-equal-weights:{Path(vgg_weights).name}")
    name = classifier or (default_extractor(data_source) if data_source else None)
    if name in (None, "inception"):
        return None
    return Perceptual(ClassifierStages(name), f"classifier:{name}")
