"""Training-step speed of ganforge's StyleGAN2 beside NVlabs/stylegan2-ada-pytorch, on CPU.

One iteration is what the official training loop does per batch: the Gmain, Greg, Dmain and
Dreg phases (each its own Adam step; Greg every 4 and Dreg every 16 iterations), then the EMA
of G. The official side calls its own `StyleGAN2Loss.accumulate_gradients` and follows
training_loop.py (requires_grad toggling, nan_to_num, lr and betas corrected for lazy
regularisation); ganforge's is `GenerationTask.train_step` from the same preset's recipe. Both
run the preset's networks (train.py --cfg) on the same synthetic images, without augmentation,
iterations alternating so that the machine's load affects both alike; every timed window is a
multiple of 16 iterations, so the lazy regularisers are amortised as in training. Variants
measure ganforge's fused (grouped-convolution) modulated convolution in training.

    python benchmarks/stylegan2_speed.py --official /tmp/stylegan2-ada-pytorch --preset cifar \
        --batch 8 --out benchmarks/results/stylegan2_speed.json
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from _report import provenance, write_result
from ganforge.api import make_config
from ganforge.data import ImageDataset
from ganforge.models import count_parameters
from ganforge.training.launch import make_loop
from ganforge.training.run_dir import RunDir
from stylegan2_parity import PRESETS, import_official, official_networks

LOSS = {  # train.py's loss settings per preset
    "cifar": dict(r1_gamma=0.01, pl_weight=0, style_mixing_prob=0),
    "cifar-cond": dict(r1_gamma=0.01, pl_weight=0, style_mixing_prob=0),
    "paper256": dict(r1_gamma=1.0),
    "stylegan2": dict(r1_gamma=10.0),
}
LR = {"cifar": 0.0025, "cifar-cond": 0.0025, "paper256": 0.0025, "stylegan2": 0.002}
EMA_KIMG = {"cifar": 500, "cifar-cond": 500, "paper256": 20, "stylegan2": 10}


def official_iteration(root: Path, preset: str, batch: int, images: torch.Tensor, labels: torch.Tensor
                       ) -> tuple[Callable[[], None], dict[str, int]]:
    networks = import_official(root)
    import training.loss as official_loss  # noqa: PLC0415 - the official module, from the path given

    p = PRESETS[preset]
    torch.manual_seed(0)
    G, D = official_networks(networks, p)
    G_ema = __import__("copy").deepcopy(G).eval()
    G.train().requires_grad_(False), D.train().requires_grad_(False)
    loss = official_loss.StyleGAN2Loss(device=torch.device("cpu"), G_mapping=G.mapping,
                                       G_synthesis=G.synthesis, D=D, **LOSS[preset])
    phases = []
    for name, module, interval in (("G", G, 4), ("D", D, 16)):
        c = interval / (interval + 1)
        opt = torch.optim.Adam(module.parameters(), lr=LR[preset] * c, betas=[0, 0.99**c], eps=1e-8)
        phases += [(name + "main", module, opt, 1), (name + "reg", module, opt, interval)]
    state = {"batch_idx": 0, "nimg": 0, "pos": 0}
    c_dim = p["c_dim"]

    def iteration() -> None:
        i = state["pos"] % (images.shape[0] - batch)
        state["pos"] += batch
        real = images[i:i + batch].float() / 127.5 - 1
        real_c = torch.nn.functional.one_hot(labels[i:i + batch], 10).float() if c_dim else torch.zeros(batch, 0)
        for name, module, opt, interval in phases:
            if state["batch_idx"] % interval:
                continue
            opt.zero_grad(set_to_none=True)
            module.requires_grad_(True)
            gen_z = torch.randn(batch, 512)
            gen_c = real_c[torch.randperm(batch)]
            loss.accumulate_gradients(phase=name, real_img=real, real_c=real_c, gen_z=gen_z,
                                      gen_c=gen_c, sync=True, gain=interval)
            module.requires_grad_(False)
            for param in module.parameters():
                if param.grad is not None:
                    torch.nan_to_num(param.grad, nan=0, posinf=1e5, neginf=-1e5, out=param.grad)
            opt.step()
        with torch.no_grad():
            beta = 0.5 ** (batch / max(EMA_KIMG[preset] * 1000, 1e-8))
            for p_ema, p_g in zip(G_ema.parameters(), G.parameters(), strict=True):
                p_ema.copy_(p_g.lerp(p_ema, beta))
            for b_ema, b in zip(G_ema.buffers(), G.buffers(), strict=True):
                b_ema.copy_(b)
        state["batch_idx"] += 1

    return iteration, {"G": count_parameters(G), "D": count_parameters(D)}


def ganforge_iteration(preset: str, batch: int, images: torch.Tensor, labels: torch.Tensor,
                       overrides: list[str]) -> tuple[Callable[[], None], dict[str, int]]:
    p = PRESETS[preset]
    config = make_config(p["recipe"], [f"model.conditional={'true' if p['c_dim'] else 'false'}",
                                       "augment.kind=none", "eval.every=0", "monitor.diversity=false",
                                       *overrides], batch_size=batch)
    config = replace(config, train=replace(config.train, device="cpu"))
    dataset = ImageDataset(images, labels, [str(i) for i in range(10)], "synthetic")
    trainer = make_loop(config, dataset, RunDir(Path("/nonexistent")))
    step = [0]

    def iteration() -> None:
        step[0] += 1
        trainer.task.train_step(step[0])

    return iteration, {"G": count_parameters(trainer.task.G), "D": count_parameters(trainer.task.D)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--official", type=Path, required=True)
    parser.add_argument("--preset", default="cifar", choices=list(PRESETS))
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--windows", type=int, default=1, help="timed windows of 16 iterations each")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    gen = torch.Generator().manual_seed(0)
    n = args.batch * 16
    res = PRESETS[args.preset]["res"]
    images = torch.randint(0, 256, (n, 3, res, res), dtype=torch.uint8, generator=gen)
    labels = torch.arange(n) % 10
    runs: dict[str, tuple[Callable[[], None], dict[str, Any]]] = {
        "official": official_iteration(args.official, args.preset, args.batch, images, labels),
        "ganforge": ganforge_iteration(args.preset, args.batch, images, labels, []),
        "ganforge fused modconv": ganforge_iteration(args.preset, args.batch, images, labels,
                                                     ["model.modconv=fused"]),
    }
    for step, _ in runs.values():  # warm-up: one iteration with every phase
        step()
    seconds: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(args.windows * 16):  # iterations 1..16k: k R1 and 4k path-length phases
        for name, (step, _) in runs.items():
            start = time.perf_counter()
            step()
            seconds[name].append(time.perf_counter() - start)
    per_iteration = {name: float(np.sum(s) / len(s)) for name, s in seconds.items()}
    result = {
        "benchmark": "stylegan2_speed", "preset": args.preset, "batch": args.batch,
        "iterations_timed": len(seconds["official"]), "threads": args.threads,
        "parameters": {name: counts for name, (_, counts) in runs.items()},
        "images_per_s": {name: round(args.batch / t, 3) for name, t in per_iteration.items()},
        "seconds_per_iteration": {name: round(t, 4) for name, t in per_iteration.items()},
        "ganforge_over_official": round(per_iteration["official"] / per_iteration["ganforge"], 3),
        "provenance": provenance(),
    }
    write_result(result, args.out)


if __name__ == "__main__":
    main()
