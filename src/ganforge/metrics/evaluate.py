"""`ganforge eval`: metrics of a generator (or an image set) against a reference dataset.

Every result names its protocol: sample counts, reference split and hash, extractor and its
weights' hash, resize, truncation, seed. A metric that cannot be computed is listed under
`missing` with the reason; nothing is guessed.
"""

from __future__ import annotations

import hashlib
import os
import platform
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from ganforge.data import ImageDataset, to_model_format
from ganforge.data.folder import load_folder_dataset
from ganforge.data.spec import open_dataset
from ganforge.data.streamed import StreamedDataset
from ganforge.errors import GanforgeError
from ganforge.generator import Generator
from ganforge.metrics import (
    builtin,  # noqa: F401 - registers fid, is, kid, pr, dc, acc
    registry,
    text_metrics,  # noqa: F401 - registers rprec, caption_acc, clip_score
)
from ganforge.metrics.features import (
    DOMAIN_EXTRACTORS,
    Features,
    code_version,
    default_extractor,
    extract,
    get_extractor,
    uint8_batches,
)
from ganforge.metrics.layout_pool import LayoutPool, layout_pool
from ganforge.metrics.order import ORDER_PROTOCOL, content_order, seeded_subset
from ganforge.metrics.registry import LowerIsBetter, MetricInputs, MetricKeys, parse_metrics
from ganforge.metrics.streamed_reference import read_in_order, streamed_hash, streamed_order
from ganforge.metrics.text_pool import TextPool, text_pool

BATCH_SIZE = 100
REFERENCE_SUBSET_SEED = 0
METRIC_KEYS = MetricKeys()  # metric name -> its result keys (from the registry)
LOWER_IS_BETTER = LowerIsBetter()  # result keys for which lower is better (from the registry)
__all__ = ["LOWER_IS_BETTER", "METRIC_KEYS", "build_setup", "flatten_metrics", "parse_metrics",
           "run_eval"]


def cache_dir() -> Path:
    root = os.environ.get("GANFORGE_CACHE")
    return Path(root) if root else Path.home() / ".cache" / "ganforge"


def dataset_hash(images: torch.Tensor, labels: torch.Tensor) -> str:
    """SHA-256 of the exact uint8 pixels and labels the reference statistics are computed on."""
    digest = hashlib.sha256()
    digest.update(str(tuple(images.shape)).encode())
    digest.update(images.contiguous().numpy().tobytes())
    digest.update(labels.contiguous().numpy().astype(np.int64).tobytes())
    return digest.hexdigest()


@dataclass
class Reference:
    """Reference features plus where they came from."""

    features: Features
    spec: str
    split: str
    sha256: str
    n: int
    cached: bool


def reference_features(
    spec: str, resolution: int, channels: int, extractor: nn.Module, n_ref: int | None = None,
    use_cache: bool = True,
) -> Reference:
    """Features of the reference images (in content order; a seeded random `n_ref` of them when
    given), cached by their hash + the extractor's weights and code."""
    dataset = open_dataset(spec, resolution, channels)
    batches: Callable[[], Iterable[torch.Tensor]]
    if isinstance(dataset, StreamedDataset):  # on disk: never held whole (streamed_reference)
        order = streamed_order(dataset, n_ref, REFERENCE_SUBSET_SEED)
        count, labels = len(order), dataset.labels[order]
        digest = streamed_hash(dataset, order, labels)
        batches = partial(read_in_order, dataset, order, BATCH_SIZE)
    else:
        images, labels = seeded_subset(dataset.images, dataset.labels, n_ref,
                                       REFERENCE_SUBSET_SEED)
        count, digest = len(images), dataset_hash(images, labels)
        batches = partial(uint8_batches, images, BATCH_SIZE)
    split = f"all {len(dataset)} images of '{spec}' at {resolution}px"
    if count < len(dataset):
        split = f"random {n_ref} of {len(dataset)} images of '{spec}' (seed {REFERENCE_SUBSET_SEED}) at {resolution}px"
    path = cache_dir() / "reference" / reference_cache_name(digest, extractor)
    if use_cache and path.is_file():
        with np.load(path, allow_pickle=False) as data:
            logits = data["logits"].astype(np.float64) if "logits" in data else None
            feats = Features(data["features"].astype(np.float64), logits)
        return Reference(feats, spec, split, digest, len(feats), cached=True)
    feats = extract(extractor, batches())
    if use_cache:
        path.parent.mkdir(parents=True, exist_ok=True)
        arrays = {"features": feats.features.astype(np.float32)}
        if feats.logits is not None:
            arrays["logits"] = feats.logits.astype(np.float32)
        tmp = path.with_name(path.name + ".tmp.npz")
        np.savez(tmp, **arrays)
        tmp.replace(path)
    return Reference(feats, spec, split, digest, len(feats), cached=False)


def reference_cache_name(digest: str, extractor: nn.Module) -> str:
    """Cache file name: the images' hash, the extractor's name, weights and code version."""
    return (f"{digest[:20]}-{extractor.name}-{extractor.weights_sha256[:12]}"
            f"-code{code_version(extractor)}.npz")


@dataclass
class ImageSet:
    """What is evaluated: uint8 images and, when known, the class each was meant to be."""

    images: torch.Tensor
    labels: torch.Tensor | None
    class_names: list[str]
    description: dict[str, Any] = field(default_factory=dict)


def quantise(images: torch.Tensor) -> torch.Tensor:
    """[-1, 1] floats -> uint8, as if saved to PNG: generated and real images take one path."""
    return ((images.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)


def as_generator(generator: nn.Module | Generator, class_names: list[str]) -> Generator:
    """The one generator type for a bare network (G_ema during training)."""
    return generator if isinstance(generator, Generator) else Generator(generator, list(class_names))


def generated_images(
    generator: nn.Module | Generator, n: int, n_classes: int, truncation: float | None, seed: int,
) -> tuple[torch.Tensor, torch.Tensor]:
    """n uint8 samples with balanced labels (i mod K, shuffled), seeded z in the generator's own
    truncation convention."""
    g = as_generator(generator, [])
    rng = torch.Generator().manual_seed(seed)
    labels = (torch.arange(n) % max(n_classes, 1))[torch.randperm(n, generator=rng)]
    z = g.draw_latents(n, truncation, rng)
    return g.generate(z, labels, truncation, batch_size=BATCH_SIZE, convert=quantise), labels


def images_from_path(path: Path, resolution: int | None, channels: int) -> ImageSet:
    """A folder of images (class sub-folders give labels) or an .npz with `images` [+ `labels`]."""
    if path.suffix == ".npz":
        if not path.is_file():
            raise GanforgeError(f"image archive '{path}' does not exist")
        with np.load(path, allow_pickle=False) as data:
            if "images" not in data:
                raise GanforgeError(f"'{path}' has no 'images' array (found: {', '.join(data.files)})")
            arr = data["images"]
            labels = torch.from_numpy(data["labels"]).long() if "labels" in data else None
        if arr.dtype != np.uint8 or arr.ndim != 4:
            raise GanforgeError(f"'{path}': images must be uint8 of shape (N, H, W, C) or (N, C, H, W)")
        tensor = torch.from_numpy(arr)
        if tensor.shape[-1] in (1, 3) and tensor.shape[1] not in (1, 3):
            tensor = tensor.permute(0, 3, 1, 2)
        tensor = to_model_format(tensor.contiguous(), resolution or tensor.shape[-1], channels)
        return ImageSet(tensor, labels, [], {"kind": "npz", "path": str(path)})
    if not path.is_dir():
        raise GanforgeError(f"'{path}' is neither a run directory, an image folder nor an .npz file")
    probe = resolution or _first_image_size(path)
    data: ImageDataset = load_folder_dataset(path, probe, channels)
    labels = data.labels if data.n_classes > 1 else None
    return ImageSet(data.images, labels, data.class_names, {"kind": "folder", "path": str(path)})


def _first_image_size(path: Path) -> int:
    from PIL import Image

    for file in sorted(path.rglob("*")):
        if file.is_file() and not file.name.startswith("."):
            try:
                with Image.open(file) as image:
                    return min(image.size)
            except OSError:
                continue
    raise GanforgeError(f"image folder '{path}' has no readable images")


def compute_metrics(
    metrics: list[str], gen: Features, ref: Reference, labels: torch.Tensor | None,
    classifier: nn.Module | None, class_logits: np.ndarray | None, class_count: int, seed: int,
) -> tuple[dict[str, Any], dict[str, str], list[str]]:
    """(values, missing reasons, warnings) for the requested metrics (see `registry`).

    `class_logits` are the domain classifier's logits of the generated images (for `acc`).
    """
    inputs = MetricInputs(gen, ref.features, labels, classifier, class_logits, class_count, seed)
    return registry.compute(metrics, inputs)


@dataclass
class EvalSetup:
    """Everything resolved once and reused across truncation levels (the sweep)."""

    metrics: list[str]
    extractor: nn.Module
    reference: Reference
    classifier: nn.Module | None
    generator: Generator | None
    image_set: ImageSet | None
    class_names: list[str]
    source: str
    source_kind: str
    resolution: int
    channels: int
    text: TextPool | None = None  # text-to-image generators: the captions they draw for
    layout: LayoutPool | None = None  # layout-to-image generators: the layouts they draw for


def build_setup(
    metrics: list[str] | str, source: str, kind: str, data: str, resolution: int, channels: int,
    class_names: list[str], generator: nn.Module | Generator | None = None,
    image_set: ImageSet | None = None,
    features: str | nn.Module | None = None, inception_weights: str | Path | None = None,
    n_ref: int | None = None, device: str | torch.device = "cpu", use_cache: bool = True,
    text_config: Any = None, clip: str | Path | None = None,
) -> EvalSetup:
    """The extractor, reference features and classifier for a generator (the one type, or a bare
    network such as the training's G_ema) or an image set. A text-to-image generator draws for
    captions of `data` (tokenised by `text_config`, default its run's `text.*`); `clip` is a
    local whole CLIP model folder for the CLIP score."""
    names = parse_metrics(metrics)
    name = features if features not in (None, "auto") else default_extractor(data)
    extractor = get_extractor(name, inception_weights, device)
    reference = reference_features(data, resolution, channels, extractor, n_ref, use_cache)
    classifier = None
    if any(registry.REGISTRY[m].needs_classifier for m in names):
        own = getattr(extractor, "name", "")
        domain = own if own in DOMAIN_EXTRACTORS else default_extractor(data)
        if domain in DOMAIN_EXTRACTORS:
            classifier = extractor if own == domain else get_extractor(domain, device=device)
    pool, layouts = None, None
    if generator is not None:
        generator = as_generator(generator, class_names)
        if generator.takes_text:
            config = text_config or (generator.config.text if generator.config is not None else None)
            pool = text_pool(generator.generator.text, config, data, resolution, channels, clip, device)
        if generator.takes_layout:
            slots = int(generator.generator.cfg.max_objects)
            layouts = layout_pool(data, resolution, channels, slots, class_names)
    return EvalSetup(names, extractor, reference, classifier, generator, image_set, class_names,
                     source, kind, resolution, channels, pool, layouts)


def run_eval(setup: EvalSetup, n: int = 10000, truncation: float | None = None, seed: int = 0) -> dict[str, Any]:
    """Evaluate once (one truncation level) and return the full result record."""
    if n <= 0:
        raise GanforgeError(f"--n must be a positive integer, got {n}")
    start = time.perf_counter()
    g = setup.generator
    text, layout = None, None
    if g is not None and setup.text is not None:
        images, text = setup.text.generate(g, n, truncation, seed, BATCH_SIZE, quantise)
        labels = None
        subset = f"{len(images)} generated images (seed {seed}) for {setup.text.describe}"
    elif g is not None and setup.layout is not None:
        images, layout = setup.layout.generate(g, n, truncation, seed, BATCH_SIZE, quantise)
        labels = None
        subset = f"{len(images)} generated images (seed {seed}) for {setup.layout.describe}"
    elif g is not None:
        images, labels = generated_images(g, n, len(setup.class_names), truncation, seed)
        order = content_order(images, labels)
        images, labels = images[order], labels[order]
        subset = f"{len(images)} generated images (seed {seed})"
    else:
        everything = setup.image_set
        images, labels = seeded_subset(everything.images, everything.labels, n, seed)
        subset = (f"all {len(images)} images" if len(images) == len(everything.images) else
                  f"random {len(images)} of {len(everything.images)} images (seed {seed})")
    gen = extract(setup.extractor, uint8_batches(images, BATCH_SIZE))
    class_logits = gen.logits
    if setup.classifier is not None and setup.classifier is not setup.extractor:
        class_logits = extract(setup.classifier, uint8_batches(images, BATCH_SIZE)).logits
    inputs = MetricInputs(gen, setup.reference.features, labels, setup.classifier, class_logits,
                          len(setup.class_names), seed, text=text, layout=layout)
    values, missing, warnings = registry.compute(setup.metrics, inputs)
    ex = setup.extractor
    return {
        "metrics": values,
        "missing": missing,
        "warnings": warnings,
        "protocol": {
            "source": setup.source,
            "source_kind": setup.source_kind,
            "n_generated": int(images.shape[0]),
            "n_reference": setup.reference.n,
            "reference": {"spec": setup.reference.spec, "split": setup.reference.split,
                          "sha256": setup.reference.sha256, "cached": setup.reference.cached},
            "features": {"name": ex.name, "weights_sha256": ex.weights_sha256, "resize": ex.resize,
                         "code_version": code_version(ex)},
            "images": "uint8 at the model resolution (generated images quantised as if saved to PNG)",
            "subset": subset,
            "order": ORDER_PROTOCOL,
            "resolution": setup.resolution,
            "truncation": g.check_truncation(truncation) if g is not None else None,
            "truncation_convention": g.truncation_convention if g is not None else None,
            "truncation_cutoff": g.truncation_cutoff if g is not None else None,
            "bn": _bn_name(g),
            "seed": seed,
            **registry.protocol(setup.metrics),
            **inputs.protocol,
            "device": str(ex_device(ex)),
            "versions": versions(),
            "seconds": round(time.perf_counter() - start, 3),
            "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        },
    }


def _bn_name(g: Generator | None) -> str | None:
    """The BN mode the images were generated with (batch mode: with its actual batch size)."""
    if g is None:
        return None
    mode = g.bn_mode
    return f"batch:{mode.batch_size or BATCH_SIZE}" if mode.kind == "batch" else mode.name


def ex_device(extractor: nn.Module) -> torch.device:
    return next(iter(extractor.parameters()), torch.zeros(())).device


def versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    try:
        own = version("ganforge")
    except PackageNotFoundError:  # running from a source tree
        own = "source tree"
    return {"ganforge": own, "torch": torch.__version__, "numpy": np.__version__,
            "python": platform.python_version()}


def flatten_metrics(result: dict[str, Any]) -> dict[str, float]:
    """{'fid': .., 'is': {'mean': ..}} -> {'fid': .., 'is_mean': ..}: one number per key."""
    row: dict[str, float] = {}
    for key, value in result["metrics"].items():
        if isinstance(value, dict):
            for sub, v in value.items():
                if isinstance(v, (int, float)) and not isinstance(v, bool):
                    row[f"{key}_{sub}"] = v
        else:
            row[key] = value
    return row
