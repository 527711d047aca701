"""Training and inference speed of pix2pix and CycleGAN at their papers' settings, and the
built-in demos' metrics after their default runs. Writes JSON; results go into BENCHMARKS.md.

    python benchmarks/translation_speed.py --recipe pix2pix --resolution 128 256 --iters 3 \
        --out benchmarks/results/translation_speed_pix2pix.json
    python benchmarks/translation_speed.py --demo pix2pix \
        --out benchmarks/results/translation_demo_pix2pix.json

Speed: the recipe's paper networks (pix2pix: U-Net-128 at 128 px, U-Net-256 at 256 px;
CycleGAN: ResNet-6 at 128 px, ResNet-9 at 256 px, as the papers) on synthetic uint8 images
(content does not change the cost), batch 1 as the papers, one full training step each
(pix2pix: D and G; CycleGAN: both Gs and both Ds). images/s counts training examples per second
(a pair for pix2pix; one A and one B image for CycleGAN). Inference: G alone, eval mode.

Demo: `ganforge train --recipe R` exactly as a user runs it (data, settings and length from the
recipe), timed, then its final evaluation and, for reference, the same metrics for the
untranslated test inputs ("identity": what doing nothing scores).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import torch

from _report import provenance, write_result
from ganforge.api import make_config, train
from ganforge.models import count_parameters
from ganforge.training.launch import make_loop
from ganforge.training.run_dir import RunDir
from ganforge.translation.data import TranslationData, load_translation_data
from ganforge.translation.metrics import paired_scores

PAPER_GENERATORS = {
    ("pix2pix", 128): "unet_128",
    ("pix2pix", 256): "unet_256",
    ("cyclegan", 128): "resnet_6blocks",
    ("cyclegan", 256): "resnet_9blocks",
}


def synthetic(config, n: int = 4) -> TranslationData:  # noqa: ANN001 - a Config
    tc = config.translation
    gen = torch.Generator().manual_seed(0)

    def images(count: int, channels: int, side: int) -> torch.Tensor:
        return torch.randint(
            0, 256, (count, channels, side, side), generator=gen, dtype=torch.uint8
        )

    return TranslationData(
        images(n, tc.channels_a, tc.load_size),
        images(n, tc.channels_b, tc.load_size),
        True,
        None,
        None,
        False,
        "synthetic",
    )


def measure_speed(recipe: str, resolution: int, iters: int, warmup: int) -> dict:
    load = round(resolution * 286 / 256)
    overrides = [
        f"translation.generator={PAPER_GENERATORS[(recipe, resolution)]}",
        f"translation.crop_size={resolution}",
        f"translation.load_size={load}",
        "translation.features=none",
        "train.device=cpu",
    ]
    config = make_config(recipe, overrides, data="paired:synthetic")
    trainer = make_loop(config, synthetic(config), RunDir(Path("/nonexistent")))
    for _ in range(warmup):
        trainer.task.train_step()
    start = time.perf_counter()
    for _ in range(iters):
        trainer.task.train_step()
    seconds = (time.perf_counter() - start) / iters
    generator = trainer.task.model.generator(trainer.task.model.directions[0]).eval()
    x = torch.zeros(1, config.translation.channels_a, resolution, resolution)
    with torch.no_grad():
        generator(x)
        start = time.perf_counter()
        for _ in range(iters):
            generator(x)
        inference = (time.perf_counter() - start) / iters
    return {
        "recipe": recipe,
        "resolution": resolution,
        "load_size": load,
        "generator": config.translation.generator,
        "batch_size": config.train.batch_size,
        "networks": {k: count_parameters(v) for k, v in trainer.task.model.networks.items()},
        "seconds_per_step": seconds,
        "images_per_s": config.train.batch_size / seconds,
        "inference_images_per_s": 1.0 / inference,
        "iters": iters,
        "warmup": warmup,
    }


def run_demo(recipe: str) -> dict:
    config = make_config(recipe)
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        run = train(config, Path(tmp) / recipe, progress=False)
        wall = time.perf_counter() - start
        evaluation = (run / "evaluation.json").read_text()
    import json

    result = json.loads(evaluation)
    data = load_translation_data(config.data.source, config.translation)
    identity = {}
    if data.test_paired and config.translation.channels_a == config.translation.channels_b:
        identity = {f"{k}_AtoB": v for k, v in paired_scores(data.test_a, data.test_b).items()}
    return {
        "recipe": recipe,
        "data": config.data.source,
        "wall_seconds": wall,
        "steps": result["metrics"]["step"],
        "batch_size": config.train.batch_size,
        "metrics": result["metrics"],
        "protocol": result["protocol"],
        "identity_baseline": identity,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipe", choices=("pix2pix", "cyclegan"), action="append", default=[])
    parser.add_argument("--resolution", type=int, nargs="+", default=[128, 256])
    parser.add_argument("--iters", type=int, default=3)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument(
        "--demo",
        choices=("pix2pix", "cyclegan"),
        help="time the recipe's default demo run and report its metrics instead",
    )
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    result = {
        **provenance(),
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "threads": torch.get_num_threads(),
        "load_average_at_start": os.getloadavg()[0],
    }
    if args.demo:
        result["demo"] = run_demo(args.demo)
    else:
        result["speed"] = [
            measure_speed(r, res, args.iters, args.warmup)
            for r in (args.recipe or ["pix2pix", "cyclegan"])
            for res in args.resolution
        ]
    result["load_average_at_end"] = os.getloadavg()[0]
    write_result(result, args.out)


if __name__ == "__main__":
    main()
