"""How BigGAN training throughput and memory grow: processes, batch, resolution, channel width.

Part 1 (processes): the same global batch trained by 1 process and by 2 processes under
torchrun (gloo on CPU, NCCL on GPUs), each configuration in fresh processes; images/s of the
whole job. On a CPU the processes share the cores (threads per process = cores / processes).
Part 2 (growth): seconds per iteration and peak memory at several batch sizes, resolutions
and widths, each point in a fresh process (peak RSS is per process), then a fitted power law
t = c * batch^a * resolution^b * width^w (least squares in log space), likewise for the memory
training adds on top of the built model (peak RSS minus RSS after building; CPU runs).

    python benchmarks/scaling.py --out benchmarks/results/scaling.json
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from _report import provenance, write_result

HERE = Path(__file__).resolve()


def worker(args: argparse.Namespace) -> None:
    """One measurement (run in its own process, or as each rank under torchrun)."""
    from ganforge.api import make_config
    from ganforge.data import ImageDataset
    from ganforge.training import distributed
    from ganforge.training.launch import make_loop
    from ganforge.training.run_dir import RunDir

    config = make_config(args.recipe, args.overrides, batch_size=args.batch_size)
    ctx, _ = distributed.setup(config.train.device)
    m = config.model
    n = max(4 * args.batch_size, 64)
    gen = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (n, m.img_channels, m.resolution, m.resolution), dtype=torch.uint8,
                           generator=gen)
    data = ImageDataset(images, torch.arange(n) % m.n_classes, [str(i) for i in range(m.n_classes)], "synthetic")
    config = replace(config, train=replace(config.train, accumulate=1))
    trainer = make_loop(config, data, RunDir(Path("/nonexistent")))
    rss_model = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    def iteration() -> None:
        for _ in range(config.train.d_steps):
            trainer.task.d_step()
        trainer.task.g_step()

    iteration()  # warm-up
    distributed.barrier()
    start = time.perf_counter()
    for _ in range(args.iters):
        iteration()
    distributed.barrier()
    seconds = (time.perf_counter() - start) / args.iters
    if ctx.is_main:
        Path(args.result).write_text(json.dumps({
            "seconds_per_iteration": seconds, "processes": ctx.world,
            "images_per_s": args.batch_size * config.train.d_steps / seconds,
            "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "rss_after_build_mib": rss_model, "threads": torch.get_num_threads(),
        }))
    distributed.teardown()


def run_point(recipe: str, batch: int, overrides: list[str], iters: int, processes: int = 1) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        result = Path(tmp) / "r.json"
        cmd = [str(HERE), "--worker", "--recipe", recipe, "--batch-size", str(batch),
               "--iters", str(iters), "--result", str(result), *overrides]
        if processes > 1:
            cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone",
                   "--nproc_per_node", str(processes), *cmd]
        else:
            cmd = [sys.executable, *cmd]
        threads = max(1, (os.cpu_count() or 1) // processes)
        env = {**os.environ, "OMP_NUM_THREADS": str(threads), "PYTHONWARNINGS": "ignore"}
        subprocess.run(cmd, check=True, env=env, capture_output=True, text=True)
        out = json.loads(result.read_text())
    # what training adds on top of the built model: activations, gradients, optimizer state
    out["training_mib"] = max(out["peak_rss_mib"] - out["rss_after_build_mib"], 1.0)
    out.update(recipe=recipe, batch_size=batch, overrides=overrides)
    return out


def fit_power_law(points: list[dict], key: str) -> dict[str, float]:
    """Exponents of key ~ batch^a resolution^b width^w from the measured points."""
    x = np.array([[1.0, math.log(p["batch_size"]), math.log(p["resolution"]), math.log(p["width"])]
                  for p in points])
    y = np.log([p[key] for p in points])
    coef, *_ = np.linalg.lstsq(x, y, rcond=None)
    return {"constant": float(math.exp(coef[0])), "batch": float(coef[1]),
            "resolution": float(coef[2]), "width": float(coef[3])}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--result", default="", help=argparse.SUPPRESS)
    parser.add_argument("--recipe", default="biggan-32")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--iters", type=int, default=3)
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("overrides", nargs="*")
    args = parser.parse_args()
    if args.worker:
        worker(args)
        return
    base = ["model.ch=16", "train.d_steps=2", *args.overrides]
    processes = {}
    for k in (1, 2):
        processes[str(k)] = run_point(args.recipe, args.batch_size, base, args.iters, processes=k)
        print(f"{k} process(es): {processes[str(k)]['images_per_s']:.1f} images/s", flush=True)
    grid = [("biggan-32", 8, 16), ("biggan-32", 16, 16), ("biggan-32", 32, 16),
            ("biggan-64", 8, 16), ("biggan-32", 8, 32)]
    points = []
    for recipe, batch, width in grid:
        point = run_point(recipe, batch, [f"model.ch={width}", "train.d_steps=2", *args.overrides], args.iters)
        point.update(resolution=int(recipe.split("-")[1]), width=width)
        points.append(point)
        print(f"{recipe} batch {batch} ch {width}: {point['seconds_per_iteration']:.2f} s/iteration, "
              f"peak RSS {point['peak_rss_mib']:.0f} MiB", flush=True)
    write_result({
        "benchmark": "scaling", "processes": processes,
        "speedup_2_vs_1_process": processes["2"]["images_per_s"] / processes["1"]["images_per_s"],
        "growth_points": points,
        "time_law": fit_power_law(points, "seconds_per_iteration"),
        "memory_law": fit_power_law(points, "training_mib"),
        **provenance(),
        "command": f"python benchmarks/scaling.py --recipe {args.recipe} --batch-size {args.batch_size} "
                   f"--iters {args.iters} " + " ".join(args.overrides),
    }, args.out)


if __name__ == "__main__":
    main()
