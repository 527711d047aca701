"""A shipped semantic segmenter: SPADE's measure (the paper segments generated images with a
network trained on real ones and reports mIoU against the input maps), and its pooled features
for FID/KID on the same data.

`digit_segmenter` is a small fully convolutional network for the `demo:digit-canvases` task
(11 classes: background + the ten digits), trained by `ganforge.metrics.train_segmenter` on the
demo's real training canvases; weights + metadata (held-out mIoU, sha256) ship in
`ganforge/metrics/weights/segmenters/`. Weights load with safetensors, never pickle.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ganforge.checksums import file_sha256
from ganforge.errors import GanforgeError

SEGMENTER_DIR = Path(__file__).resolve().parent / "weights" / "segmenters"
NATIVE_SIZE = 32
SEGMENTERS = ("digit_segmenter",)


class DigitSegmenter(nn.Module):
    """RGB 32 px in [-1, 1] -> (pooled features (N, width), per-pixel logits (N, classes, H, W)):
    two conv stages with 2x pooling, two dilated convs (a receptive field wider than a digit),
    a 1x1 head, bilinear upsampling back to the input size."""

    def __init__(self, classes: int = 11, width: int = 64) -> None:
        super().__init__()

        def conv(c_in: int, c_out: int, dilation: int = 1) -> list[nn.Module]:
            return [nn.Conv2d(c_in, c_out, 3, padding=dilation, dilation=dilation, bias=False),
                    nn.BatchNorm2d(c_out), nn.ReLU()]

        half = width // 2
        self.body = nn.Sequential(*conv(3, half), *conv(half, half), nn.MaxPool2d(2),
                                  *conv(half, width), *conv(width, width), nn.MaxPool2d(2),
                                  *conv(width, width, 2), *conv(width, width, 4))
        self.head = nn.Conv2d(width, classes, 1)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.body(x)
        logits = F.interpolate(self.head(h), size=x.shape[-2:], mode="bilinear", align_corners=False)
        return h.mean((2, 3)), logits


def to_segmenter_input(images: torch.Tensor, size: int = NATIVE_SIZE) -> torch.Tensor:
    """uint8 or [-1, 1] (N, C, H, W) -> float RGB (N, 3, size, size) in [-1, 1]."""
    x = images.float() / 127.5 - 1.0 if images.dtype == torch.uint8 else images.float().clamp(-1, 1)
    if x.shape[1] == 1:
        x = x.expand(-1, 3, -1, -1)
    if x.shape[-1] != size or x.shape[-2] != size:
        x = F.interpolate(x[:, :3], size=(size, size), mode="bilinear", align_corners=False,
                          antialias=x.shape[-1] > size)
    return x[:, :3].contiguous()


class SegmenterExtractor(nn.Module):
    """A shipped segmenter as a feature extractor (pooled features, no logits) and a judge
    (`predict`: per-pixel classes at the input's size)."""

    def __init__(self, name: str, model: DigitSegmenter, weights_sha256: str, metadata: dict[str, Any]) -> None:
        super().__init__()
        self.name, self.model, self.weights_sha256 = name, model.eval(), weights_sha256
        self.metadata = dict(metadata)
        self.class_names = list(metadata.get("class_names", []))
        self.resize = f"RGB, bilinear to {NATIVE_SIZE}x{NATIVE_SIZE}"

    def train(self, mode: bool = True) -> SegmenterExtractor:
        """Always eval: a judge must not update BatchNorm statistics."""
        super().train(False)
        return self

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, None]:
        features, _ = self.model(to_segmenter_input(images).to(next(self.model.parameters()).device))
        return features.float(), None

    @torch.no_grad()
    def predict(self, images: torch.Tensor, batch: int = 100) -> torch.Tensor:
        """(N, H, W) long class of every pixel, at the images' own size."""
        out = []
        device = next(self.model.parameters()).device
        for chunk in images.split(batch):
            _, logits = self.model(to_segmenter_input(chunk).to(device))
            if logits.shape[-2:] != chunk.shape[-2:]:
                logits = F.interpolate(logits, size=chunk.shape[-2:], mode="bilinear", align_corners=False)
            out.append(logits.argmax(1).cpu())
        return torch.cat(out)


def load_segmenter(name: str = "digit_segmenter", device: str | torch.device = "cpu",
                   weights_dir: Path | None = None) -> SegmenterExtractor:
    """A shipped segmenter by name, its file checked against the sha256 in its metadata."""
    from safetensors.torch import load_file

    directory = Path(weights_dir) if weights_dir is not None else SEGMENTER_DIR
    meta_path, path = directory / f"{name}.json", directory / f"{name}.safetensors"
    if not meta_path.is_file() or not path.is_file():
        raise GanforgeError(f"unknown segmenter '{name}'; available: {', '.join(SEGMENTERS)}")
    meta = json.loads(meta_path.read_text(encoding="utf-8"))
    sha = file_sha256(path)
    if sha != meta.get("weights_sha256"):
        raise GanforgeError(f"{path}: sha256 {sha} does not match {name}.json; reinstall ganforge or "
                            "retrain with `python -m ganforge.metrics.train_segmenter`")
    arch = meta.get("architecture", {})
    model = DigitSegmenter(len(meta["class_names"]), int(arch.get("width", 64)))
    model.load_state_dict(load_file(str(path), device="cpu"))
    return SegmenterExtractor(name, model, sha, meta).to(device).eval().requires_grad_(False)


def confusion(predicted: torch.Tensor, target: torch.Tensor, classes: int) -> torch.Tensor:
    """(classes, classes) pixel counts: row = true class, column = predicted class."""
    index = target.reshape(-1).long() * classes + predicted.reshape(-1).long()
    return torch.bincount(index, minlength=classes * classes).view(classes, classes)


def mean_iou(predicted: torch.Tensor, target: torch.Tensor, classes: int) -> dict[str, Any]:
    """mIoU over the whole set: per class, intersection / union of its pixels over all images;
    the mean over classes that occur (in the truth or the prediction). Also pixel accuracy."""
    counts = confusion(predicted, target, classes).double()
    intersection = counts.diag()
    union = counts.sum(0) + counts.sum(1) - intersection
    present = union > 0
    iou = torch.where(present, intersection / union.clamp_min(1), torch.zeros_like(union))
    return {"miou": float(iou[present].mean()) if present.any() else float("nan"),
            "pixel_accuracy": float(intersection.sum() / counts.sum().clamp_min(1)),
            "per_class_iou": [float(v) if p else None for v, p in zip(iou, present, strict=True)]}
