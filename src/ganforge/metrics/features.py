"""Feature extractors by name, and batched extraction of (features, logits) from images.

Every extractor maps images in [-1, 1] (or uint8) to (features, logits): `inception` is the FID
InceptionV3 port, `digits` / `mnist` are the domain classifiers shipped in the package, and any
`torch.nn.Module` from Python can be wrapped.
"""

from __future__ import annotations

import hashlib
import inspect
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ganforge.data.files import read_json
from ganforge.errors import GanforgeError
from ganforge.metrics.classifiers import load_classifier
from ganforge.metrics.inception import load_inception
from ganforge.metrics.segmenter import SEGMENTERS, load_segmenter

DOMAIN_EXTRACTORS = ("digits", "mnist")
EXTRACTORS = ("inception", *DOMAIN_EXTRACTORS)
# multi-label attribute classifiers: StarGAN's demo (translation.features only)
ATTRIBUTE_EXTRACTORS = ("digit_attributes",)


class ModuleExtractor(nn.Module):
    """Wraps a user's module: its output (or the first item of a tuple) is the feature vector."""

    resize = "none (the module receives images as given, in [-1, 1])"

    def __init__(self, module: nn.Module, name: str = "custom") -> None:
        super().__init__()
        self.module = module.eval()
        self.name = name
        digest = hashlib.sha256()
        for key, value in module.state_dict().items():
            digest.update(key.encode())
            digest.update(value.detach().cpu().contiguous().numpy().tobytes())
        self.weights_sha256 = digest.hexdigest()

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        if images.dtype == torch.uint8:
            images = images.float() / 127.5 - 1.0
        out = self.module(images)
        if isinstance(out, (tuple, list)):
            return out[0].flatten(1), (out[1] if len(out) > 1 else None)
        return out.flatten(1), None


def get_extractor(
    name_or_module: str | nn.Module, inception_weights: str | Path | None = None,
    device: str | torch.device = "cpu",
) -> nn.Module:
    """An extractor by name (`inception`, `digits`, `mnist`) or a wrapped nn.Module."""
    if isinstance(name_or_module, nn.Module):
        extractor = (
            name_or_module if hasattr(name_or_module, "weights_sha256")
            else ModuleExtractor(name_or_module)
        )
    elif name_or_module == "inception":
        extractor = load_inception(inception_weights, device=device)
    elif name_or_module in (*DOMAIN_EXTRACTORS, *ATTRIBUTE_EXTRACTORS):
        extractor = load_classifier(name_or_module, device=device)
    elif name_or_module in SEGMENTERS:  # SPADE's demo: the segmenter's pooled features
        extractor = load_segmenter(name_or_module, device=device)
    else:
        raise GanforgeError(
            f"unknown feature extractor '{name_or_module}'; available: "
            f"{', '.join((*EXTRACTORS, *ATTRIBUTE_EXTRACTORS, *SEGMENTERS))}"
        )
    return extractor.to(device).eval().requires_grad_(False)


def code_version(extractor: nn.Module) -> str:
    """A hash of the code that turns images into this extractor's features: the module defining
    its class (the Inception port, the classifiers) and this file (batching, uint8 handling).

    Part of the reference-feature cache key, so a changed port never reuses stale features.
    """
    digest = hashlib.sha256()
    classes = [type(extractor)] + ([type(extractor.module)] if isinstance(extractor, ModuleExtractor) else [])
    for cls in classes:
        try:
            digest.update(Path(inspect.getsourcefile(cls) or "").read_bytes())
        except (OSError, TypeError):  # defined interactively: its name is all there is
            digest.update(f"{cls.__module__}.{cls.__qualname__}".encode())
    digest.update(Path(__file__).read_bytes())
    return digest.hexdigest()[:12]


def default_extractor(data_source: str) -> str:
    """The domain classifier for built-in/MNIST data (also once prepared), Inception otherwise."""
    if data_source in ("digits", "captioned-digits"):  # the demo's glyphs: the digits classifier's
        return "digits"  # features (Inception's weights are a download away)
    if data_source.startswith("mnist:"):
        return "mnist"
    kind, _, rest = data_source.partition(":")
    if kind == "prepared" and "://" not in rest:  # what the shards were prepared from
        manifest = read_json(Path(rest).expanduser() / "manifest.json")
        source = manifest.get("source") if isinstance(manifest, dict) else None
        if isinstance(source, str) and not source.startswith("prepared:"):
            return default_extractor(source)
    return "inception"


@dataclass
class Features:
    """Extracted features (float64) and logits (float64 or None) of one image set."""

    features: np.ndarray
    logits: np.ndarray | None

    def __len__(self) -> int:
        return int(self.features.shape[0])


@torch.no_grad()
def extract(extractor: nn.Module, batches: Iterable[torch.Tensor]) -> Features:
    """Run the extractor over batches of images and stack the results in float64."""
    device = next(iter(extractor.parameters()), torch.zeros(())).device
    feats, logits = [], []
    for batch in batches:
        f, lg = extractor(batch.to(device))
        feats.append(f.double().cpu().numpy())
        if lg is not None:
            logits.append(lg.double().cpu().numpy())
    if not feats:
        raise GanforgeError("no images to extract features from")
    return Features(np.concatenate(feats), np.concatenate(logits) if logits else None)


def uint8_batches(images: torch.Tensor, batch_size: int) -> Iterable[torch.Tensor]:
    """Slices of a uint8 (N, C, H, W) tensor."""
    for start in range(0, images.shape[0], batch_size):
        yield images[start : start + batch_size]
