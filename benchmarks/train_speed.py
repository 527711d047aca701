"""Training throughput and peak memory of a recipe's full BigGAN iteration (D steps + G step).

Synthetic uint8 images (content does not change the cost) at the recipe's resolution, so any
recipe can be measured without its dataset. Writes JSON; results go into BENCHMARKS.md.

    python benchmarks/train_speed.py --recipe biggan-32 --batch-size 50 --iters 3 \
        --variant bf16:train.precision=bf16 --out benchmarks/results/train_speed_biggan-32.json

Each `--variant NAME:KEY=VALUE[,KEY=VALUE]` is measured in the same process after the baseline,
and its speed is reported as a ratio to the baseline (side by side, same machine state).
"""

from __future__ import annotations

import argparse
import platform
import resource
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import torch

from _report import provenance, write_result
from ganforge.api import make_config
from ganforge.data import ImageDataset
from ganforge.models import count_parameters
from ganforge.training.launch import make_loop
from ganforge.training.loop import Loop
from ganforge.training.run_dir import RunDir


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def count_flops(iteration: Callable[[], None]) -> int:
    """FLOPs of one iteration as torch.utils.flop_counter counts them (matmuls, convolutions,
    attention; forward and backward), the numerator of model FLOPs utilisation."""
    from torch.utils.flop_counter import FlopCounterMode

    counter = FlopCounterMode(display=False)
    with counter:
        iteration()
    return int(counter.get_total_flops())


@torch.no_grad()
def sampling_speed(trainer: Loop, batch: int, repeats: int = 3) -> float:
    """Images/s of G_ema in eval mode (what `ganforge sample` runs), best of `repeats`."""
    G = trainer.task.G_ema.eval()
    z = torch.randn(batch, G.dim_z, device=trainer.task.device)
    y = torch.arange(batch, device=trainer.task.device) % trainer.task.n_classes
    best = float("inf")
    for _ in range(repeats + 1):
        if trainer.task.device.type == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        with trainer.task.precision.autocast():
            G(z, y)
        if trainer.task.device.type == "cuda":
            torch.cuda.synchronize()
        best = min(best, time.perf_counter() - start)
    return batch / best


def measure(recipe: str, batch_size: int, iters: int, warmup: int, overrides: list[str],
            peak_tflops: float = 0.0, sample_batch: int = 256) -> dict:
    config = make_config(recipe, overrides, batch_size=batch_size)
    config = replace(config, train=replace(config.train, accumulate=1))
    m = config.model
    n = max(batch_size * 2, 64)
    gen = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (n, m.img_channels, m.resolution, m.resolution), dtype=torch.uint8, generator=gen)
    labels = torch.arange(n) % m.n_classes
    names = [str(i) for i in range(m.n_classes)]
    dataset = ImageDataset(images, labels, names, "synthetic")
    rss_before = peak_rss_mib()
    trainer = make_loop(config, dataset, RunDir(Path("/nonexistent")))
    device = trainer.task.device
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()

    def iteration() -> None:
        for _ in range(config.train.d_steps):
            trainer.task.d_step()
        trainer.task.g_step()

    for _ in range(warmup):
        iteration()
    flops = count_flops(iteration)
    if device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(iters):
        iteration()
    if device.type == "cuda":
        torch.cuda.synchronize()
    seconds = (time.perf_counter() - start) / iters
    result = {
        "recipe": recipe,
        "overrides": overrides,
        "device": str(device),
        "precision": config.train.precision,
        "batch_size": batch_size,
        "d_steps": config.train.d_steps,
        "generator_params": count_parameters(trainer.task.G),
        "discriminator_params": count_parameters(trainer.task.D),
        "seconds_per_iteration": seconds,
        "iterations_per_s": 1.0 / seconds,
        # real images the discriminator consumes per second (batch x D steps per iteration)
        "images_per_s": batch_size * config.train.d_steps / seconds,
        "generated_images_per_s": batch_size * (config.train.d_steps + 1) / seconds,
    }
    result["flops_per_iteration"] = flops
    result["achieved_tflops"] = flops / seconds / 1e12
    if peak_tflops:
        result["model_flops_utilisation"] = result["achieved_tflops"] / peak_tflops
    result["sampling_images_per_s"] = sampling_speed(trainer, sample_batch)
    if device.type == "cuda":
        result["peak_gpu_memory_mib"] = torch.cuda.max_memory_allocated() / 2**20
    else:
        # process-lifetime peak: measure one recipe per process for a clean figure
        result["peak_rss_mib"] = peak_rss_mib()
        result["peak_rss_before_model_mib"] = rss_before
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipe", default="biggan-32")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--iters", type=int, default=3)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--variant", action="append", default=[], metavar="NAME:K=V[,K=V]",
                        help="an extra setting measured beside the baseline (repeatable)")
    parser.add_argument("--peak-tflops", type=float, default=0.0,
                        help="the device's dense peak (e.g. 989 for H100 SXM bf16) for MFU")
    parser.add_argument("--sample-batch", type=int, default=256)
    parser.add_argument("overrides", nargs="*", help="overrides applied to every variant")
    args = parser.parse_args()
    variants = {"baseline": []}
    for item in args.variant:
        name, _, spec = item.partition(":")
        variants[name] = [kv for kv in spec.split(",") if kv]
    runs = {}
    for name, extra in variants.items():
        runs[name] = measure(args.recipe, args.batch_size, args.iters, args.warmup, args.overrides + extra,
                             args.peak_tflops, args.sample_batch)
        runs[name]["speedup_vs_baseline"] = (
            runs["baseline"]["seconds_per_iteration"] / runs[name]["seconds_per_iteration"]
        )
        print(f"{name}: {runs[name]['seconds_per_iteration']:.3f} s/iteration, "
              f"{runs[name]['images_per_s']:.1f} images/s, x{runs[name]['speedup_vs_baseline']:.2f}", flush=True)
    result = {"recipe": args.recipe, "batch_size": args.batch_size, "variants": runs}
    result.update({
        "cpu": platform.processor() or platform.machine(),
        **provenance(),
        "command": "python benchmarks/train_speed.py " + " ".join(
            [f"--recipe {args.recipe}", f"--batch-size {args.batch_size}", f"--iters {args.iters}",
             f"--warmup {args.warmup}", *[f"--variant {v}" for v in args.variant], *args.overrides]),
    })
    write_result(result, args.out)


if __name__ == "__main__":
    main()
