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

With `--iterations N` (for networks too slow for 16-iteration windows) each side times N
iterations chosen by kind instead, cycling through one with only the main phases (batch index
1 mod 4), one with every phase (Dreg and Greg: 0 mod 16) and one with Greg (4 mod 16); the cost of a training iteration is then the amortised mean over 16 iterations of
training, (1 x all-phases + 3 x Greg + 12 x main-only) / 16, of each kind's mean. Wall and
process CPU seconds are recorded per timed iteration (the machine may be shared), and the result
is written after every round, marked partial until each kind has been timed on each side.
`--warmup ganforge` skips the official side's warm-up iteration (minutes on CPU at the cifar
preset, where one-off costs are small beside an iteration; said so in the JSON).

    python benchmarks/stylegan2_speed.py --official /tmp/stylegan2-ada-pytorch --preset cifar \
        --batch 8 --out benchmarks/results/stylegan2_speed.json
    OMP_NUM_THREADS=1 python benchmarks/stylegan2_speed.py --official /tmp/stylegan2-ada-pytorch \
        --preset cifar --batch 4 --iterations 3 --threads 1 --variants official,ganforge \
        --out benchmarks/results/stylegan2_speed_cifar.json
"""

from __future__ import annotations

import argparse
import json
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
    "digits": dict(r1_gamma=0.01),
}
# --iterations: the kinds of iteration (a batch index of that kind) and how many of each make up
# 16 iterations of training with R1 every 16 and path length every 4
KINDS = {"Gmain+Dmain": (1, 12), "Gmain+Greg+Dmain+Dreg": (16, 1), "Gmain+Greg+Dmain": (4, 3)}
LR = {"cifar": 0.0025, "cifar-cond": 0.0025, "paper256": 0.0025, "stylegan2": 0.002, "digits": 0.0025}
EMA_KIMG = {"cifar": 500, "cifar-cond": 500, "paper256": 20, "stylegan2": 10, "digits": 10}


def official_iteration(root: Path, preset: str, batch: int, images: torch.Tensor, labels: torch.Tensor
                       ) -> tuple[Callable[[int | None], None], dict[str, int]]:
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
        opt = torch.optim.Adam(module.parameters(), lr=LR[preset] * c, betas=(0.0, 0.99**c), eps=1e-8)
        phases += [(name + "main", module, opt, 1), (name + "reg", module, opt, interval)]
    state = {"batch_idx": 0, "nimg": 0, "pos": 0}
    c_dim = p["c_dim"]

    def iteration(batch_idx: int | None = None) -> None:
        """One training-loop iteration; `batch_idx` sets which lazy phases are due (default: the next)."""
        if batch_idx is not None:
            state["batch_idx"] = batch_idx
        i = state["pos"] % (images.shape[0] - batch)
        state["pos"] += batch
        real = images[i:i + batch].float() / 127.5 - 1
        real_c = torch.nn.functional.one_hot(labels[i:i + batch], 10).float() if c_dim else torch.zeros(batch, 0)
        for name, module, opt, interval in phases:
            if state["batch_idx"] % interval:
                continue
            opt.zero_grad(set_to_none=True)
            module.requires_grad_(True)
            gen_z = torch.randn(batch, G.z_dim)
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
                       overrides: list[str]) -> tuple[Callable[[int | None], None], dict[str, int]]:
    p = PRESETS[preset]
    config = make_config(p["recipe"], [f"model.conditional={'true' if p['c_dim'] else 'false'}",
                                       "augment.kind=none", "eval.every=0", "monitor.diversity=false",
                                       *overrides], batch_size=batch)
    config = replace(config, train=replace(config.train, device="cpu"))
    dataset = ImageDataset(images, labels, [str(i) for i in range(10)], "synthetic")
    trainer = make_loop(config, dataset, RunDir(Path("/nonexistent")))
    step = [0]

    def iteration(batch_idx: int | None = None) -> None:
        """One train_step; `batch_idx` sets the regularisers' counters as the official batch index."""
        if batch_idx is not None:
            trainer.task.reg_counts = dict.fromkeys(trainer.task.reg_counts, batch_idx)
        step[0] += 1
        trainer.task.train_step(step[0])

    return iteration, {"G": count_parameters(trainer.task.G), "D": count_parameters(trainer.task.D)}


VARIANTS = {"official": None, "ganforge": [], "ganforge fused modconv": ["model.modconv=fused"]}


def timed(step: Callable[[int | None], None], batch_idx: int | None) -> tuple[float, float]:
    """Wall and process CPU seconds of one iteration."""
    wall, cpu = time.perf_counter(), time.process_time()
    step(batch_idx)
    return time.perf_counter() - wall, time.process_time() - cpu


def amortised(rows: list[dict[str, Any]], key: str) -> float:
    """Seconds per training iteration: each kind's mean, weighted by its share of 16 iterations."""
    return sum(float(np.mean([r[key] for r in rows if r["kind"] == kind])) * share
               for kind, (_, share) in KINDS.items()) / 16


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--official", type=Path, required=True)
    parser.add_argument("--preset", default="cifar", choices=list(PRESETS))
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--windows", type=int, default=1, help="timed windows of 16 iterations each")
    parser.add_argument("--iterations", type=int, default=0,
                        help="instead of windows: N timed iterations per side, by kind (see above; N >= 3)")
    parser.add_argument("--variants", default=",".join(VARIANTS), help=f"comma list of {list(VARIANTS)}")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--warmup", choices=("all", "ganforge", "none"), default="all",
                        help="which sides run a warm-up iteration first (default: all)")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    names = args.variants.split(",")
    if "official" not in names or any(n not in VARIANTS for n in names):
        parser.error(f"--variants must include official and be among {list(VARIANTS)}")
    if args.iterations and args.iterations < len(KINDS):
        parser.error(f"--iterations must be at least {len(KINDS)} (one of each kind)")
    torch.set_num_threads(args.threads)
    gen = torch.Generator().manual_seed(0)
    n = args.batch * 16
    res = PRESETS[args.preset]["res"]
    channels = PRESETS[args.preset].get("ch", 3)
    images = torch.randint(0, 256, (n, channels, res, res), dtype=torch.uint8, generator=gen)
    labels = torch.arange(n) % 10
    runs: dict[str, tuple[Callable[[int | None], None], dict[str, Any]]] = {
        name: official_iteration(args.official, args.preset, args.batch, images, labels) if over is None
        else ganforge_iteration(args.preset, args.batch, images, labels, over)
        for name, over in VARIANTS.items() if name in names}
    warmup: dict[str, dict[str, float]] = {}
    for name, (step, _) in runs.items():  # warm-up: one iteration with every phase (batch index 0)
        if args.warmup == "none" or (args.warmup == "ganforge" and name == "official"):
            continue
        wall, cpu = timed(step, 0 if args.iterations else None)
        warmup[name] = {"wall_s": round(wall, 3), "cpu_s": round(cpu, 3)}
        print(json.dumps({f"warm-up {name}": warmup[name]}), flush=True)
    schedule = ([(kind, KINDS[kind][0]) for kind in list(KINDS) * args.iterations][:args.iterations]
                if args.iterations else [(None, None)] * (args.windows * 16))
    rows: dict[str, list[dict[str, Any]]] = {name: [] for name in runs}
    for i, (kind, batch_idx) in enumerate(schedule):  # alternating: the machine's load affects all alike
        for name, (step, _) in runs.items():
            wall, cpu = timed(step, batch_idx)
            rows[name].append({"kind": kind, "wall_s": round(wall, 3), "cpu_s": round(cpu, 3)})
            print(json.dumps({name: rows[name][-1]}), flush=True)
        if args.iterations:
            write_result(summary(args, runs, rows, warmup, complete=i + 1 >= len(KINDS)), args.out, echo=False)
    write_result(summary(args, runs, rows, warmup, complete=True), args.out)


def summary(args: argparse.Namespace, runs: dict[str, Any], rows: dict[str, list[dict[str, Any]]],
            warmup: dict[str, dict[str, float]], complete: bool) -> dict[str, Any]:
    """The result so far; `complete` once every kind has been timed on every side."""
    result: dict[str, Any] = {
        "benchmark": "stylegan2_speed", "preset": args.preset, "batch": args.batch,
        "iterations_timed": len(rows["official"]), "threads": args.threads,
        "warmup_iterations": {name: int(name in warmup) for name in runs},
        "parameters": {name: counts for name, (_, counts) in runs.items()},
    }
    if args.iterations:
        kinds = [k for k in KINDS if all(any(r["kind"] == k for r in rows[n]) for n in runs)]
        result["per_kind"] = {k: {n: {key: round(float(np.mean([r[key] for r in rows[n] if r["kind"] == k])), 3)
                                      for key in ("wall_s", "cpu_s")} for n in runs} for k in kinds}
        if "ganforge" in runs:
            result["per_kind_ganforge_over_official"] = {
                k: {key: round(v["official"][key] / v["ganforge"][key], 3) for key in ("wall_s", "cpu_s")}
                for k, v in result["per_kind"].items()}
    if args.iterations and not complete:
        result.update(partial=True, note="not every kind of iteration timed yet: no amortised figure")
    else:
        if args.iterations:  # amortised over the 16-iteration cycle of lazy regularisation
            per_iteration = {name: amortised(r, "wall_s") for name, r in rows.items()}
            cpu_per_iteration = {name: amortised(r, "cpu_s") for name, r in rows.items()}
            result["method"] = (
                "per kind of iteration (phases run), the mean over its timed iterations; seconds per "
                "iteration = (12 x Gmain+Dmain + 1 x Gmain+Greg+Dmain+Dreg + 3 x Gmain+Greg+Dmain) / 16, "
                "as in 16 iterations of training with R1 every 16 and path length every 4; images/s = "
                "batch / that")
        else:  # consecutive iterations 1..16k: k R1 and 4k path-length phases
            per_iteration = {name: float(np.mean([x["wall_s"] for x in r])) for name, r in rows.items()}
            cpu_per_iteration = {name: float(np.mean([x["cpu_s"] for x in r])) for name, r in rows.items()}
            result["method"] = ("consecutive iterations after the warm-up, a multiple of 16; images/s = "
                                "batch / mean seconds")
        result.update({
            "images_per_s": {name: round(args.batch / t, 3) for name, t in per_iteration.items()},
            "images_per_cpu_s": {name: round(args.batch / t, 3) for name, t in cpu_per_iteration.items()},
            "seconds_per_iteration": {name: round(t, 4) for name, t in per_iteration.items()},
            "cpu_seconds_per_iteration": {name: round(t, 4) for name, t in cpu_per_iteration.items()},
            "ganforge_over_official": round(per_iteration["official"] / per_iteration["ganforge"], 3)
            if "ganforge" in per_iteration else None,
            "ganforge_over_official_cpu": round(cpu_per_iteration["official"] / cpu_per_iteration["ganforge"], 3)
            if "ganforge" in cpu_per_iteration else None,
        })
    result.update(warmup=warmup, timed=rows, provenance=provenance())
    return result


if __name__ == "__main__":
    main()
