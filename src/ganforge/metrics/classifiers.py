"""Domain classifiers shipped in the package: feature extractors for a domain FID/KID/PR and judges
of conditional samples (class accuracy, class coverage).

Inception features are a poor fit for 32x32 grey digits (it never saw them and upsamples them
9x), so each digit domain has its own small CNN, trained by `ganforge.metrics.train_classifier`
on data the project can name, with weights + metadata (held-out accuracy, split, sha256) shipped
in `ganforge/metrics/weights/`. Weights load with safetensors, never pickle.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ganforge.checksums import file_sha256
from ganforge.errors import GanforgeError

WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"
NATIVE_SIZE = 32
RESIZE = "grey (luma of RGB), centre-cropped square, antialiased bilinear to 32x32"
LUMA = (0.299, 0.587, 0.114)  # the weights ganforge.data.to_model_format uses for RGB -> grey


class DomainClassifier(nn.Module):
    """A small VGG-style CNN for 32x32 grey (or RGB: `in_channels=3`) images: three conv stages,
    global pooling, a 128-d feature layer and a linear head. Global pooling keeps it at ~80k
    parameters (< 400 kB). Its logits are one class's (softmax) or, for an attribute classifier,
    one logit per binary attribute (sigmoid)."""

    def __init__(
        self, n_classes: int = 10, channels: Sequence[int] = (16, 32, 64), feature_dim: int = 128,
        dropout: float = 0.2, in_channels: int = 1,
    ) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        c_in = in_channels
        for i, c_out in enumerate(channels):
            layers += [
                nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(),
                nn.Conv2d(c_out, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(),
            ]
            if i < len(channels) - 1:
                layers.append(nn.MaxPool2d(2))
            c_in = c_out
        self.conv = nn.Sequential(*layers)
        self.feature = nn.Sequential(
            nn.Linear(c_in, feature_dim, bias=False), nn.BatchNorm1d(feature_dim), nn.ReLU()
        )
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(feature_dim, n_classes)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Normalised (N, in_channels, 32, 32) in [-1, 1] -> (features (N, feature_dim), logits)."""
        h = self.conv(x)
        h = F.max_pool2d(h, 2).mean((2, 3))  # 8x8 -> 4x4 -> global average
        features = self.feature(h)
        return features, self.head(self.dropout(features))


def to_classifier_input(images: torch.Tensor, size: int = NATIVE_SIZE, channels: int = 1) -> torch.Tensor:
    """float [-1, 1] or uint8 (N, C, H, W), C in {1, 3, 4} -> float32 (N, channels, size, size)
    in [-1, 1]: grey (luma) for `channels=1`, RGB (grey images repeated) for 3.

    The same function prepares training images, so generated images are judged in exactly the
    representation the classifier learned on.
    """
    if images.ndim != 4 or images.shape[1] not in (1, 3, 4):
        raise GanforgeError(
            f"classifier input must be (N, C, H, W) with 1 or 3 channels, got {tuple(images.shape)}"
        )
    if images.dtype == torch.uint8:
        x = images.float() / 255.0
    else:
        x = (images.float().clamp(-1.0, 1.0) + 1.0) / 2.0
    if channels == 1 and x.shape[1] > 1:
        x = LUMA[0] * x[:, 0:1] + LUMA[1] * x[:, 1:2] + LUMA[2] * x[:, 2:3]
    elif channels == 3:
        x = x[:, :3] if x.shape[1] > 1 else x.expand(-1, 3, -1, -1)
    h, w = x.shape[-2:]
    side = min(h, w)
    if h != w:
        top, left = (h - side) // 2, (w - side) // 2
        x = x[:, :, top : top + side, left : left + side]
    if side != size:
        x = F.interpolate(
            x, size=(size, size), mode="bilinear", align_corners=False, antialias=side > size
        )
    return (x * 2.0 - 1.0).contiguous()


class ClassifierExtractor(nn.Module):
    """A shipped domain classifier as a feature extractor: images -> (penultimate features, logits)."""

    def __init__(
        self, name: str, model: DomainClassifier, weights_sha256: str, class_names: list[str],
        held_out_accuracy: float, metadata: dict[str, Any] | None = None,
    ) -> None:
        super().__init__()
        self.name = name
        self.model = model.eval()
        self.weights_sha256 = weights_sha256
        self.resize = RESIZE
        self.class_names = list(class_names)
        self.held_out_accuracy = float(held_out_accuracy)
        self.metadata = dict(metadata or {})
        self.in_channels = int(self.metadata.get("architecture", {}).get("in_channels", 1))
        self.multi_label = bool(self.metadata.get("multi_label", False))  # one sigmoid per class

    def train(self, mode: bool = True) -> ClassifierExtractor:
        """Always eval: a judge must not update BatchNorm statistics or apply dropout."""
        super().train(False)
        return self

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """images float in [-1, 1] (or uint8 0..255), (N, C, H, W) of any size, 1 or 3 channels ->
        (penultimate features (N, D) float32, logits (N, n_classes) float32)."""
        x = to_classifier_input(images, channels=self.in_channels).to(next(self.model.parameters()).device)
        features, logits = self.model(x)
        return features.float(), logits.float()


def available_classifiers() -> list[str]:
    """Names of the classifiers whose weights and metadata ship in the package."""
    return sorted(
        p.stem for p in WEIGHTS_DIR.glob("*.json") if p.with_suffix(".safetensors").is_file()
    )


def read_metadata(name: str, weights_dir: Path = WEIGHTS_DIR) -> dict[str, Any]:
    """The json shipped next to a classifier's weights."""
    path = weights_dir / f"{name}.json"
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise GanforgeError(f"cannot read the metadata of classifier '{name}' ({exc})") from exc


def load_classifier(
    name: str, device: str | torch.device = "cpu", weights_dir: Path | None = None
) -> ClassifierExtractor:
    """A shipped classifier by name, its file checked against the sha256 in its metadata."""
    from safetensors.torch import load_file

    directory = Path(weights_dir) if weights_dir is not None else WEIGHTS_DIR
    names = sorted(
        p.stem for p in directory.glob("*.json") if p.with_suffix(".safetensors").is_file()
    )
    if name not in names:
        raise GanforgeError(
            f"unknown classifier '{name}'; available: {', '.join(names) or '(none shipped)'}"
        )
    meta = read_metadata(name, directory)
    path = directory / f"{name}.safetensors"
    sha = file_sha256(path)
    if sha != meta.get("weights_sha256"):
        raise GanforgeError(
            f"{path}: sha256 {sha} does not match {meta.get('weights_sha256')} in {name}.json; "
            f"reinstall ganforge or retrain with `python -m ganforge.metrics.train_classifier {name}`"
        )
    arch = meta.get("architecture", {})
    model = DomainClassifier(
        n_classes=len(meta["class_names"]), channels=tuple(arch.get("channels", (16, 32, 64))),
        feature_dim=int(arch.get("feature_dim", 128)), in_channels=int(arch.get("in_channels", 1)),
    )
    model.load_state_dict(load_file(str(path), device="cpu"))
    extractor = ClassifierExtractor(
        name, model, sha, meta["class_names"], meta["held_out_accuracy"], meta
    )
    return extractor.to(device).eval().requires_grad_(False)


# --- class-conditional measures ----------------------------------------------------------------


def _predictions(logits: torch.Tensor | np.ndarray) -> np.ndarray:
    array = logits.detach().cpu().numpy() if isinstance(logits, torch.Tensor) else np.asarray(logits)
    if array.ndim != 2 or array.shape[0] == 0:
        raise GanforgeError(f"logits must be a non-empty (N, n_classes) array, got {array.shape}")
    return array.argmax(1)


def class_accuracy(
    logits: torch.Tensor | np.ndarray, labels: torch.Tensor | np.ndarray | Sequence[int]
) -> float:
    """Fraction of samples the classifier assigns to the class they were generated for."""
    predicted = _predictions(logits)
    wanted = labels.detach().cpu().numpy() if isinstance(labels, torch.Tensor) else np.asarray(labels)
    if wanted.shape != predicted.shape:
        raise GanforgeError(f"{predicted.shape[0]} logits rows but labels of shape {wanted.shape}")
    return float((predicted == wanted).mean())


def class_coverage(logits: torch.Tensor | np.ndarray, n_classes: int) -> dict[str, Any]:
    """Mode collapse at class level: how many classes the samples are classified as, and the KL
    (nats) of the predicted-class histogram from uniform (0 = balanced, log(n) = one class)."""
    predicted = _predictions(logits)
    if int(predicted.max()) >= n_classes:
        raise GanforgeError(f"logits predict class {int(predicted.max())} but n_classes={n_classes}")
    histogram = np.bincount(predicted, minlength=n_classes)
    p = histogram / histogram.sum()
    nonzero = p > 0
    kl = float((p[nonzero] * np.log(p[nonzero] * n_classes)).sum())
    return {
        "classes_produced": int(nonzero.sum()),
        "kl_to_uniform": 0.0 if math.isclose(kl, 0.0, abs_tol=1e-12) else kl,
        "histogram": [int(c) for c in histogram],
    }
