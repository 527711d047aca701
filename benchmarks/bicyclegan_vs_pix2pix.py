"""BicycleGAN versus pix2pix with noise (issue 21): BicycleGAN's point is many plausible outputs
for one input; pix2pix's only noise source is dropout in its U-Net (the paper keeps it on at test
time and reports "only minor stochasticity"). Both are trained here on `demo:edges2colourdigits`
(edges -> the digit in a random hue and stroke width) with the same data, size, U-Net, widths,
steps and batch, and scored the same way: FID/KID (digits classifier's features) of one output
per test input, and diversity = the mean pairwise distance between 8 outputs for each of the
first 50 test inputs (L1 in [-1, 1] units; L2 of unit-normalised digits features). BicycleGAN's
8 outputs come from 8 random codes z; pix2pix's from 8 dropout draws (8 seeds, the pix2pix
paper's test mode `batch_stats`: dropout on, per-image batch-norm statistics).

The runs are at 64 px (U-Net-64, not the demo's U-Net-32): U-Net-32 has no 512->512 decoder
block, so no dropout at all, and pix2pix would have no noise to draw.

    python benchmarks/bicyclegan_vs_pix2pix.py --out benchmarks/results/bicyclegan_vs_pix2pix.json
"""

from __future__ import annotations

import argparse
import json
import resource
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

from _report import provenance, write_result
from ganforge.api import load, make_config, train
from ganforge.metrics.features import extract, get_extractor
from ganforge.metrics.translation_conditional import latent_translations, mean_pairwise_distance
from ganforge.training.run_dir import read_metrics
from ganforge.translation import demos
from ganforge.translation.conditions import latent_codes
from ganforge.translation.inference import run_generator

DATA = "demo:edges2colourdigits"
INPUTS, DRAWS, SEED = 50, 8, 0


def shared(steps: int) -> list[str]:
    """Data, size, networks and schedule common to both runs (half the steps at the initial
    rate, half decaying, in 4 short epochs)."""
    per_epoch = max(1, steps // 4)
    return [
        "translation.channels_a=1", "translation.channels_b=3", "translation.load_size=64",
        "translation.crop_size=64", "translation.generator=unet_64", "translation.ngf=16",
        "translation.discriminator=n_layers", "translation.n_layers_d=2", "translation.ndf=32",
        "translation.epochs=2", "translation.epochs_decay=2", f"translation.steps_per_epoch={per_epoch}",
        "translation.eval_every=4", "data.hflip=false", "train.batch_size=8",
        f"train.log_every={min(50, per_epoch)}", f"train.sample_every={4 * per_epoch}",
        f"train.checkpoint_every={4 * per_epoch}",
    ]


BICYCLEGAN = ["translation.nef=16", "translation.encoder_blocks=3"]
PIX2PIX = ["translation.dropout=true", "translation.inference=batch_stats"]


def test_inputs() -> torch.Tensor:
    _, test_idx = demos.split()
    return demos.render("edges2colourdigits", 64, 1, 3)["A"][test_idx][:INPUTS]


def diversity(outputs: torch.Tensor, judge: Any) -> dict[str, float]:
    """outputs (INPUTS, DRAWS, C, H, W) in [-1, 1]."""
    features = torch.from_numpy(extract(judge, outputs.flatten(0, 1).split(200)).features)
    unit = features / features.norm(dim=1, keepdim=True).clamp_min(1e-12)
    return {"diversity_l1": mean_pairwise_distance(outputs, "l1"),
            "diversity_features": mean_pairwise_distance(unit.view(*outputs.shape[:2], -1), "l2")}


def run(recipe: str, overrides: list[str], out: Path, judge: Any) -> dict[str, Any]:
    start, usage = time.perf_counter(), resource.getrusage(resource.RUSAGE_SELF)
    train(make_config(recipe, overrides, data=DATA), out=out, overwrite=True, progress=False)
    after = resource.getrusage(resource.RUSAGE_SELF)
    wall = time.perf_counter() - start
    cpu = after.ru_utime + after.ru_stime - usage.ru_utime - usage.ru_stime
    evaluation = json.loads((out / "evaluation.json").read_text())
    g = load(out).network("AtoB")
    images = test_inputs()
    if recipe == "bicyclegan":
        many = latent_translations(g, images, latent_codes(DRAWS, 8, SEED + 1), "running_stats", SEED)
        how = f"{DRAWS} random codes z ~ N(0, I) per input (eval mode)"
    else:
        many = torch.stack([run_generator(g, images, "batch_stats", seed) for seed in range(DRAWS)], 1)
        how = f"{DRAWS} dropout draws per input (seeds 0-{DRAWS - 1}, batch_stats: dropout on, batch 1)"
    steps = max(r["step"] for r in read_metrics(out) if r["kind"] == "train")
    params = sum(p.numel() for p in g.parameters())
    return {"command": " ".join(["ganforge train --recipe", recipe, "--data", DATA, *overrides]),
            "steps": steps, "wall_seconds": round(wall, 1), "cpu_seconds": round(cpu, 1),
            "generator_parameters": params, "outputs_per_input": how,
            **diversity(many, judge), "evaluation": evaluation["metrics"],
            "missing": evaluation["protocol"]["missing"], "run_dir": str(out)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=400)
    parser.add_argument("--work", type=Path, default=None)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    work = args.work or Path(tempfile.mkdtemp())
    judge = get_extractor("digits")
    rows = {recipe: run(recipe, [*shared(args.steps), *extra], work / recipe, judge)
            for recipe, extra in (("bicyclegan", BICYCLEGAN), ("pix2pix", PIX2PIX))}
    _, test_idx = demos.split()
    groups = len(test_idx) // DRAWS  # distinct digits, DRAWS to a group
    real = demos.render("edges2colourdigits", 64, 1, 3)["B"][test_idx][: groups * DRAWS].float() / 127.5 - 1
    write_result({"benchmark": "bicyclegan_vs_pix2pix", "provenance": provenance(), "data": DATA,
                  "diversity_inputs": INPUTS, "draws": DRAWS, **rows,
                  "reference_diversity_of_distinct_real_test_digits":
                      diversity(real.view(groups, DRAWS, *real.shape[1:]), judge)}, args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
