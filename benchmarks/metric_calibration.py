"""Calibration of the metrics: what values mean on known comparisons.

For digits and MNIST (domain-classifier features): half A of the real data is the reference;
half B is compared as is (real vs real), with Gaussian noise, and blurred; a trained run's
G_ema is compared too. Also times Inception feature extraction + FID (the network's cost does
not depend on its weights, so random weights with the real architecture give the true time).

    python benchmarks/metric_calibration.py --run /tmp/bench-digits --out benchmarks/results/metric_calibration.json
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from _report import provenance, write_result
from ganforge.data import load_dataset
from ganforge.metrics.evaluate import (
    Reference,
    compute_metrics,
    flatten_metrics,
    generated_images,
    quantise,
)
from ganforge.metrics.features import extract, get_extractor, uint8_batches

SHARED_MNIST = Path(__file__).resolve().parents[2] / "shared" / "data" / "mnist"
METRICS = ["fid", "is", "kid", "pr", "dc", "acc"]


def corrupt_noise(images: torch.Tensor, sigma: float, seed: int = 0) -> torch.Tensor:
    x = images.float() / 127.5 - 1
    noise = torch.randn(x.shape, generator=torch.Generator().manual_seed(seed)) * sigma
    return quantise(x + noise)


def corrupt_blur(images: torch.Tensor, sigma: float) -> torch.Tensor:
    radius = max(1, int(3 * sigma))
    xs = torch.arange(-radius, radius + 1, dtype=torch.float32)
    k = torch.exp(-(xs**2) / (2 * sigma**2))
    k = k / k.sum()
    x = images.float()
    c = x.shape[1]
    x = F.conv2d(F.pad(x, (radius, radius, 0, 0), mode="replicate"), k.view(1, 1, 1, -1).repeat(c, 1, 1, 1), groups=c)
    x = F.conv2d(F.pad(x, (0, 0, radius, radius), mode="replicate"), k.view(1, 1, -1, 1).repeat(c, 1, 1, 1), groups=c)
    return x.round().clamp(0, 255).to(torch.uint8)


def calibrate(spec: str, name: str, run: Path | None, seed: int = 0) -> dict:
    data = load_dataset(spec, 32, 1)
    perm = torch.randperm(len(data), generator=torch.Generator().manual_seed(seed))
    half = len(data) // 2
    a, b = perm[:half], perm[half : 2 * half]
    extractor = get_extractor(name)
    ref_feats = extract(extractor, uint8_batches(data.images[a], 200))
    reference = Reference(ref_feats, spec, f"half A ({half} images, seed {seed})", "", half, False)
    cases = {
        "real half B": (data.images[b], data.labels[b]),
        "noise sigma 0.1": (corrupt_noise(data.images[b], 0.1), data.labels[b]),
        "noise sigma 0.3": (corrupt_noise(data.images[b], 0.3), data.labels[b]),
        "blur sigma 1px": (corrupt_blur(data.images[b], 1.0), data.labels[b]),
        "blur sigma 2px": (corrupt_blur(data.images[b], 2.0), data.labels[b]),
    }
    if run is not None:
        import ganforge

        generator = ganforge.load(run)
        names = generator.class_names
        images, labels = generated_images(generator, half, len(names), None, seed)
        cases[f"trained run {run.name} (G_ema, no truncation)"] = (images, labels)
        images, labels = generated_images(generator, half, len(names), 1.0, seed)
        cases[f"trained run {run.name} (G_ema, truncation 1.0)"] = (images, labels)
    rows = {}
    for case, (images, labels) in cases.items():
        feats = extract(extractor, uint8_batches(images, 200))
        values, missing, warnings = compute_metrics(
            METRICS, feats, reference, labels, extractor, feats.logits, data.n_classes, seed
        )
        rows[case] = {**flatten_metrics({"metrics": values}), "warnings": warnings}
        print(spec, case, {k: round(v, 4) for k, v in rows[case].items() if isinstance(v, float)}, flush=True)
    return {"data": spec, "features": name, "weights_sha256": extractor.weights_sha256,
            "held_out_accuracy": extractor.held_out_accuracy, "n_per_side": half, "cases": rows}


def time_inception_fid(n: int) -> dict:
    """Seconds to extract Inception features of n 32x32 images and compute FID against them."""
    from ganforge.metrics.fid import fid_from_features
    from ganforge.metrics.inception import InceptionExtractor

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "pt_inception-2015-12-05-6726825d.pth"
        torch.save(InceptionExtractor().state_dict(), path)
        extractor = get_extractor("inception", path)
    images = torch.randint(0, 256, (n, 3, 32, 32), dtype=torch.uint8)
    start = time.perf_counter()
    feats = extract(extractor, uint8_batches(images, 50))
    extract_s = time.perf_counter() - start
    start = time.perf_counter()
    fid_from_features(feats.features, feats.features[::-1].copy())
    fid_s = time.perf_counter() - start
    return {"n_measured": n, "extract_seconds": extract_s, "fid_math_seconds": fid_s,
            "extract_images_per_s": n / extract_s,
            "extrapolated_10k_seconds": 10000 * extract_s / n * 2 + fid_s,
            "note": "random weights, real architecture; 10k estimate counts generated + reference "
                    "extraction (reference is cached after the first run, halving later runs)"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", type=Path, help="a trained biggan-digits run to include")
    parser.add_argument("--inception-n", type=int, default=500, help="images for the timing")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    result = {"digits": calibrate("digits", "digits", args.run)}
    if SHARED_MNIST.is_dir():
        result["mnist"] = calibrate(f"mnist:{SHARED_MNIST}", "mnist", None)
    else:
        result["mnist"] = {"missing": f"{SHARED_MNIST} not present"}
    result["inception_timing"] = time_inception_fid(args.inception_n)
    result.update({
        **provenance(),
        "command": f"python benchmarks/metric_calibration.py --run {args.run} --inception-n {args.inception_n}",
    })
    write_result(result, args.out, echo=False)
    print(json.dumps(result["inception_timing"], indent=1))


if __name__ == "__main__":
    main()
