"""`ganforge eval`: metrics of a generator (or an image set) against a reference dataset.

Every result names its protocol: sample counts, reference split and hash, extractor and its
weights' hash, resize, truncation, seed. A metric that cannot be computed is listed under
`missing` with the reason; nothing is guessed.
"""

from __future__ import annotations

import hashlib
import os
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from ganforge.data import ImageDataset, load_dataset
from ganforge.errors import GanforgeError
from ganforge.metrics.features import (
    DOMAIN_EXTRACTORS,
    Features,
    default_extractor,
    extract,
    get_extractor,
    uint8_batches,
)
from ganforge.sampling import truncated_normal

METRICS = ("fid", "is", "kid", "pr", "dc", "acc")
BATCH_SIZE = 100
REFERENCE_SUBSET_SEED = 0


def parse_metrics(text: str | list[str]) -> list[str]:
    names = [m.strip() for m in (text.split(",") if isinstance(text, str) else text) if m.strip()]
    unknown = [m for m in names if m not in METRICS]
    if unknown or not names:
        raise GanforgeError(
            f"unknown metric '{unknown[0] if unknown else text}'; choose from {', '.join(METRICS)}"
        )
    return names


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
    """Features of the reference images, cached by dataset hash + extractor weights."""
    dataset = load_dataset(spec, resolution, channels)
    images, labels = dataset.images, dataset.labels
    split = f"all {len(dataset)} images of '{spec}' at {resolution}px"
    if n_ref is not None and n_ref < len(dataset):
        idx = torch.randperm(len(dataset), generator=torch.Generator().manual_seed(REFERENCE_SUBSET_SEED))
        images, labels = images[idx[:n_ref]], labels[idx[:n_ref]]
        split = f"random {n_ref} of {len(dataset)} images of '{spec}' (seed {REFERENCE_SUBSET_SEED}) at {resolution}px"
    digest = dataset_hash(images, labels)
    path = cache_dir() / "reference" / f"{digest[:20]}-{extractor.name}-{extractor.weights_sha256[:12]}.npz"
    if use_cache and path.is_file():
        with np.load(path, allow_pickle=False) as data:
            logits = data["logits"].astype(np.float64) if "logits" in data else None
            feats = Features(data["features"].astype(np.float64), logits)
        return Reference(feats, spec, split, digest, len(feats), cached=True)
    feats = extract(extractor, uint8_batches(images, BATCH_SIZE))
    if use_cache:
        path.parent.mkdir(parents=True, exist_ok=True)
        arrays = {"features": feats.features.astype(np.float32)}
        if feats.logits is not None:
            arrays["logits"] = feats.logits.astype(np.float32)
        tmp = path.with_name(path.name + ".tmp.npz")
        np.savez(tmp, **arrays)
        tmp.replace(path)
    return Reference(feats, spec, split, digest, len(feats), cached=False)


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


@torch.no_grad()
def generated_images(
    generator: nn.Module, n: int, n_classes: int, truncation: float | None, seed: int,
) -> tuple[torch.Tensor, torch.Tensor]:
    """n uint8 samples with balanced labels (i mod K, shuffled), seeded z."""
    rng = torch.Generator().manual_seed(seed)
    labels = (torch.arange(n) % n_classes)[torch.randperm(n, generator=rng)]
    z = truncated_normal((n, generator.dim_z), truncation, rng)
    device = next(generator.parameters()).device
    out = []
    for zb, yb in zip(z.split(BATCH_SIZE), labels.split(BATCH_SIZE), strict=True):
        out.append(quantise(generator(zb.to(device), yb.to(device)).float().cpu()))
    return torch.cat(out), labels


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
        from ganforge.data import to_model_format

        tensor = to_model_format(tensor.contiguous(), resolution or tensor.shape[-1], channels)
        return ImageSet(tensor, labels, [], {"kind": "npz", "path": str(path)})
    if not path.is_dir():
        raise GanforgeError(f"'{path}' is neither a run directory, an image folder nor an .npz file")
    from ganforge.data.folder import load_folder_dataset

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
    """(values, missing reasons, warnings) for the requested metrics.

    `class_logits` are the domain classifier's logits of the generated images (for `acc`).
    """
    from ganforge.metrics.fid import fid_from_features
    from ganforge.metrics.inception_score import inception_score
    from ganforge.metrics.kid import kernel_inception_distance
    from ganforge.metrics.prdc import precision_recall_density_coverage

    values: dict[str, Any] = {}
    missing: dict[str, str] = {}
    warnings: list[str] = []
    real, fake = ref.features.features, gen
    if "fid" in metrics:
        result = fid_from_features(real, fake.features)
        values["fid"] = result["fid"]
        warnings += result["warnings"]
    if "is" in metrics:
        if fake.logits is None:
            missing["is"] = "the feature extractor has no class logits"
        else:
            splits = min(10, len(fake.logits))
            mean, std = inception_score(fake.logits, splits=splits, from_logits=True)
            values["is"] = {"mean": mean, "std": std, "splits": splits}
    if "kid" in metrics:
        result = kernel_inception_distance(real, fake.features, seed=seed)
        values["kid"] = {k: result[k] for k in ("mean", "std", "subsets", "subset_size")}
        warnings += result["warnings"]
    if "pr" in metrics or "dc" in metrics:
        result = precision_recall_density_coverage(real, fake.features)
        if "pr" in metrics:
            values["precision"], values["recall"] = result["precision"], result["recall"]
        if "dc" in metrics:
            values["density"], values["coverage"] = result["density"], result["coverage"]
        warnings += result["warnings"]
    if "acc" in metrics:
        reason = _accuracy_unavailable(labels, classifier, class_count)
        if reason:
            missing["acc"] = reason
        else:
            from ganforge.metrics.classifiers import class_accuracy, class_coverage

            logits = torch.from_numpy(class_logits)
            count = class_count or len(classifier.class_names)
            values["class_accuracy"] = class_accuracy(logits, labels)
            values["class_coverage"] = class_coverage(logits, count)
    return values, missing, sorted(set(warnings))


def _accuracy_unavailable(
    labels: torch.Tensor | None, classifier: nn.Module | None, class_count: int
) -> str | None:
    if labels is None:
        return "the images carry no intended class (not a conditional generator or labelled folder)"
    if classifier is None:
        return "no domain classifier for this data (available: " + ", ".join(DOMAIN_EXTRACTORS) + ")"
    if class_count == 0:  # labels without names (.npz): they must be the classifier's ids
        if int(labels.max()) >= len(classifier.class_names) or int(labels.min()) < 0:
            return f"labels exceed the '{classifier.name}' classifier's {len(classifier.class_names)} classes"
        return None
    if len(classifier.class_names) != class_count:
        return (
            f"the '{classifier.name}' classifier knows {len(classifier.class_names)} classes, "
            f"the source has {class_count}"
        )
    return None


@dataclass
class EvalSetup:
    """Everything resolved once and reused across truncation levels (the sweep)."""

    metrics: list[str]
    extractor: nn.Module
    reference: Reference
    classifier: nn.Module | None
    generator: nn.Module | None
    image_set: ImageSet | None
    class_names: list[str]
    source: str
    source_kind: str
    resolution: int
    channels: int


def prepare(
    source: Path | str, metrics: list[str] | str = "fid,is,kid,pr,dc,acc",
    features: str | nn.Module | None = None, data: str | None = None,
    inception_weights: str | Path | None = None, n_ref: int | None = None,
    resolution: int | None = None, device: str = "cpu", use_cache: bool = True,
) -> EvalSetup:
    """Resolve a run directory or image set, the extractor, reference features and classifier."""
    from ganforge.api import load_generator
    from ganforge.hub import is_exported_generator
    from ganforge.training.run_dir import RunDir

    path = Path(source)
    generator, image_set = None, None
    exported = is_exported_generator(path)
    if exported or RunDir(path).config.is_file():
        generator, config, class_names = load_generator(path, device=device)
        data = data or config.data.source
        resolution, channels = config.model.resolution, config.model.img_channels
        kind = "exported generator (eval mode)" if exported else "run directory (G_ema, eval mode)"
    else:
        if data is None:
            raise GanforgeError(
                f"'{source}' is not a run directory or exported generator: give the reference "
                "with --data SPEC"
            )
        channels = 3
        image_set = images_from_path(path, resolution, channels)
        resolution = int(image_set.images.shape[-1])
        class_names = image_set.class_names
        kind = image_set.description["kind"]
    return build_setup(
        metrics, str(source), kind, data, resolution, channels, class_names, generator=generator,
        image_set=image_set, features=features, inception_weights=inception_weights,
        n_ref=n_ref, device=device, use_cache=use_cache,
    )


def build_setup(
    metrics: list[str] | str, source: str, kind: str, data: str, resolution: int, channels: int,
    class_names: list[str], generator: nn.Module | None = None, image_set: ImageSet | None = None,
    features: str | nn.Module | None = None, inception_weights: str | Path | None = None,
    n_ref: int | None = None, device: str | torch.device = "cpu", use_cache: bool = True,
) -> EvalSetup:
    """The extractor, reference features and classifier for a generator or an image set."""
    names = parse_metrics(metrics)
    name = features if features not in (None, "auto") else default_extractor(data)
    extractor = get_extractor(name, inception_weights, device)
    reference = reference_features(data, resolution, channels, extractor, n_ref, use_cache)
    classifier = None
    if "acc" in names:
        own = getattr(extractor, "name", "")
        domain = own if own in DOMAIN_EXTRACTORS else default_extractor(data)
        if domain in DOMAIN_EXTRACTORS:
            classifier = extractor if own == domain else get_extractor(domain, device=device)
    return EvalSetup(names, extractor, reference, classifier, generator, image_set, class_names,
                     source, kind, resolution, channels)


def run_eval(setup: EvalSetup, n: int = 10000, truncation: float | None = None, seed: int = 0) -> dict[str, Any]:
    """Evaluate once (one truncation level) and return the full result record."""
    if n <= 0:
        raise GanforgeError(f"--n must be a positive integer, got {n}")
    start = time.perf_counter()
    if setup.generator is not None:
        images, labels = generated_images(setup.generator, n, len(setup.class_names), truncation, seed)
    else:
        images, labels = setup.image_set.images[:n], setup.image_set.labels
        labels = labels[:n] if labels is not None else None
    gen = extract(setup.extractor, uint8_batches(images, BATCH_SIZE))
    class_logits = gen.logits
    if setup.classifier is not None and setup.classifier is not setup.extractor:
        class_logits = extract(setup.classifier, uint8_batches(images, BATCH_SIZE)).logits
    values, missing, warnings = compute_metrics(
        setup.metrics, gen, setup.reference, labels, setup.classifier, class_logits,
        len(setup.class_names), seed,
    )
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
            "features": {"name": ex.name, "weights_sha256": ex.weights_sha256, "resize": ex.resize},
            "images": "uint8 at the model resolution (generated images quantised as if saved to PNG)",
            "resolution": setup.resolution,
            "truncation": truncation,
            "seed": seed,
            "kid_kernel": "polynomial degree 3, gamma 1/d, coef 1; unbiased MMD^2",
            "pr_k": 3, "dc_k": 5, "is_splits": 10,
            "seconds": round(time.perf_counter() - start, 3),
            "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        },
    }


LOWER_IS_BETTER = ("fid", "kid_mean")
METRIC_KEYS = {
    "fid": ["fid"], "is": ["is_mean", "is_std"], "kid": ["kid_mean", "kid_std"],
    "pr": ["precision", "recall"], "dc": ["density", "coverage"],
    "acc": ["class_accuracy", "class_coverage_classes_produced", "class_coverage_kl_to_uniform"],
}


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


def evaluate(
    source: Path | str, metrics: list[str] | str = "fid,is,kid,pr,dc,acc", n: int = 10000,
    features: str | nn.Module | None = None, data: str | None = None,
    truncation: float | None = None, seed: int = 0, inception_weights: str | Path | None = None,
    n_ref: int | None = None, device: str = "cpu", use_cache: bool = True,
) -> dict[str, Any]:
    """The Python face of `ganforge eval`."""
    if truncation is not None and not truncation > 0:
        raise GanforgeError(f"--truncation must be a positive number, got {truncation}")
    setup = prepare(source, metrics, features, data, inception_weights, n_ref, device=device,
                    use_cache=use_cache)
    return run_eval(setup, n, truncation, seed)
