"""ganforge versus BigGAN-PyTorch (the reference implementation), side by side in one process.

The same G/D configuration (BigGAN-PyTorch's CIFAR setup, scripts/launch_cifar_ema.sh: ch 64,
32x32, no attention, N(0, 0.02) init, 4 D steps, hinge, EMA) is built twice: from the
reference's own model code and from ganforge's `biggan-32` recipe. Both train the same batch
size on the same synthetic images, iterations alternating between the implementations so that
the machine's state affects both alike. The reference's iteration follows its train_fns.py:
G_D forward with real and fake concatenated, hinge losses, Adam, requires_grad toggling, and
its per-tensor EMA over the state dict.

The reference code is not part of ganforge: fetch it yourself and pass its directory.

    git clone https://github.com/ajbrock/BigGAN-PyTorch /tmp/BigGAN-PyTorch
    python benchmarks/reference_speed.py --bgp /tmp/BigGAN-PyTorch --batch-size 50 \
        --out benchmarks/results/reference_speed.json
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from _report import provenance, write_result
from ganforge.api import make_config
from ganforge.data import ImageDataset
from ganforge.models import count_parameters
from ganforge.training.launch import make_loop
from ganforge.training.run_dir import RunDir

REFERENCE_ARGS = dict(  # BigGAN-PyTorch's parser defaults + launch_cifar_ema.sh
    G_ch=64, D_ch=64, dim_z=128, bottom_width=4, resolution=32, G_attn="0", D_attn="0",
    n_classes=10, G_shared=False, shared_dim=0, hier=False, G_init="N02", D_init="N02",
    G_lr=2e-4, D_lr=2e-4, G_B1=0.0, D_B1=0.0, G_B2=0.999, D_B2=0.999, adam_eps=1e-8,
    SN_eps=1e-8, BN_eps=1e-5, D_wide=True,
)
D_STEPS, EMA_DECAY = 4, 0.9999


def reference_iteration(bgp: Path, batch: int, images: torch.Tensor, labels: torch.Tensor
                        ) -> tuple[Callable[[], None], dict[str, int]]:
    sys.path.insert(0, str(bgp))
    import BigGAN  # noqa: PLC0415 - the reference's module, from the path given

    torch.manual_seed(0)
    G, D = BigGAN.Generator(**REFERENCE_ARGS), BigGAN.Discriminator(**REFERENCE_ARGS)
    G_ema = BigGAN.Generator(**{**REFERENCE_ARGS, "skip_init": True, "no_optim": True})
    GD = BigGAN.G_D(G, D)
    source, target = G.state_dict(), G_ema.state_dict()
    for key in source:
        target[key].data.copy_(source[key].data)
    position = [0]

    def real() -> tuple[torch.Tensor, torch.Tensor]:
        i = position[0] % (images.shape[0] - batch)
        position[0] += batch
        return images[i:i + batch].float().div(127.5).sub(1.0), labels[i:i + batch]

    def toggle(model: torch.nn.Module, on: bool) -> None:
        for p in model.parameters():
            p.requires_grad = on

    def iteration() -> None:
        G.train()
        D.train()
        toggle(D, True)
        toggle(G, False)
        for _ in range(D_STEPS):
            D.optim.zero_grad()
            x, y = real()
            z, gy = torch.randn(batch, 128), torch.randint(0, 10, (batch,))
            d_fake, d_real = GD(z, gy, x, y, train_G=False)
            loss = F.relu(1.0 - d_real).mean() + F.relu(1.0 + d_fake).mean()
            loss.backward()
            D.optim.step()
        toggle(D, False)
        toggle(G, True)
        G.optim.zero_grad()
        z, gy = torch.randn(batch, 128), torch.randint(0, 10, (batch,))
        (-GD(z, gy, train_G=True).mean()).backward()
        G.optim.step()
        with torch.no_grad():  # the reference's EMA: one tensor at a time over the state dict
            for key in source:
                target[key].data.copy_(target[key].data * EMA_DECAY + source[key].data * (1 - EMA_DECAY))

    counts = {"generator_params": count_parameters(G), "discriminator_params": count_parameters(D)}
    return iteration, counts


def ganforge_iteration(batch: int, images: torch.Tensor, labels: torch.Tensor, overrides: list[str]
                       ) -> tuple[Callable[[], None], dict[str, int]]:
    config = make_config("biggan-32", ["train.ema_start=0", *overrides], batch_size=batch)
    config = replace(config, train=replace(config.train, device="cpu"))
    dataset = ImageDataset(images, labels, [str(i) for i in range(10)], "synthetic")
    trainer = make_loop(config, dataset, RunDir(Path("/nonexistent")))

    def iteration() -> None:
        trainer.task.G.train()
        trainer.task.D.train()
        for _ in range(config.train.d_steps):
            trainer.task.d_step()
        trainer.task.g_step()

    return iteration, {"generator_params": count_parameters(trainer.task.G),
                       "discriminator_params": count_parameters(trainer.task.D)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bgp", type=Path, required=True, help="a BigGAN-PyTorch checkout")
    parser.add_argument("--batch-size", type=int, default=50)
    parser.add_argument("--iters", type=int, default=3, help="timed iterations per implementation")
    parser.add_argument("--variant", action="append", default=[], metavar="NAME:K=V[,K=V]",
                        help="extra ganforge settings measured beside its default (repeatable)")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    if not (args.bgp / "BigGAN.py").is_file():
        sys.exit(f"error: {args.bgp} has no BigGAN.py; pass a BigGAN-PyTorch checkout with --bgp")
    gen = torch.Generator().manual_seed(0)
    n = args.batch_size * 8
    images = torch.randint(0, 256, (n, 3, 32, 32), dtype=torch.uint8, generator=gen)
    labels = torch.arange(n) % 10
    runs: dict[str, tuple[Callable[[], None], dict[str, Any]]] = {
        "BigGAN-PyTorch": reference_iteration(args.bgp, args.batch_size, images, labels),
        "ganforge default": ganforge_iteration(args.batch_size, images, labels, []),
    }
    for item in args.variant:
        name, _, spec = item.partition(":")
        runs[f"ganforge {name}"] = ganforge_iteration(args.batch_size, images, labels,
                                                      [kv for kv in spec.split(",") if kv])
    for step, _ in runs.values():  # warm-up (and compilation) outside the timing
        step()
    seconds: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(args.iters):  # interleaved: drift in the machine's state hits all alike
        for name, (step, _) in runs.items():
            start = time.perf_counter()
            step()
            seconds[name].append(time.perf_counter() - start)
    ref = min(seconds["BigGAN-PyTorch"])
    results = {}
    for name, (_, counts) in runs.items():
        best = min(seconds[name])
        results[name] = {**counts, "seconds_per_iteration": best, "all_seconds": seconds[name],
                         "images_per_s": args.batch_size * D_STEPS / best,
                         "speedup_vs_reference": ref / best}
        print(f"{name}: {best:.2f} s/iteration, x{ref / best:.2f} vs BigGAN-PyTorch", flush=True)
    write_result({
        "benchmark": "reference_speed", "batch_size": args.batch_size, "d_steps": D_STEPS,
        "reference": "ajbrock/BigGAN-PyTorch BigGAN.py (CIFAR setup), fp32 eager",
        "timing": "best of the interleaved iterations", "results": results, **provenance(),
        "command": "python benchmarks/reference_speed.py --bgp BGP_CHECKOUT "
                   f"--batch-size {args.batch_size} --iters {args.iters} "
                   + " ".join(f"--variant {v}" for v in args.variant),
    }, args.out)


if __name__ == "__main__":
    main()
