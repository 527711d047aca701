"""Is there anything for an 8 -> 32 px upsampler to learn on the captioned digits beyond bicubic?

A plain residual CNN on the bicubic-upsampled image (conv3 32 - lrelu - conv3 32 - lrelu - conv3 3,
last layer zero-initialised, so step 0 is bicubic), trained with L1 alone, Adam (0, 0.99) at the
gigagan-upsampler recipe's lr 1e-3, batch 16: PSNR on the same 1000 demo images as
benchmarks/gigagan_upsampler.py (seed 1), every --every steps. A yardstick for the GigaGAN
upsampler's result, not a ganforge model.

    python benchmarks/upsampler_headroom.py --steps 300 --out benchmarks/results/upsampler_headroom.json
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from _report import provenance, write_result
from ganforge.data.captioned_digits import load_captioned_digits
from ganforge.models.gigagan_upsampler import downsample


def psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    mse = ((a.float() - b.float()) / 2).pow(2).flatten(1).mean(1).clamp_min(1e-12)
    return float((10 * torch.log10(1 / mse)).mean())


def bicubic(x: torch.Tensor) -> torch.Tensor:
    return F.interpolate(downsample(x, 8), size=(32, 32), mode="bicubic", align_corners=False)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--every", type=int, default=100)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    torch.manual_seed(0)
    data = load_captioned_digits(32, 3)
    images = data.images.float() / 127.5 - 1
    real = images[torch.randperm(len(images), generator=torch.Generator().manual_seed(1))[:1000]]
    base = bicubic(real)
    net = nn.Sequential(nn.Conv2d(3, 32, 3, 1, 1), nn.LeakyReLU(0.2), nn.Conv2d(32, 32, 3, 1, 1), nn.LeakyReLU(0.2),
                        nn.Conv2d(32, 3, 3, 1, 1))
    nn.init.zeros_(net[-1].weight)
    nn.init.zeros_(net[-1].bias)
    opt = torch.optim.Adam(net.parameters(), 1e-3, betas=(0.0, 0.99))
    curve = {}
    for step in range(args.steps + 1):
        if step % args.every == 0:
            with torch.no_grad():
                curve[step] = psnr((base + net(base)).clamp(-1, 1), real)
        if step == args.steps:
            break
        x = images[torch.randint(0, len(images), (16,))]
        b = bicubic(x)
        loss = (b + net(b) - x).abs().mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    write_result({"benchmark": "upsampler_headroom", "provenance": provenance(), "steps": args.steps, "n": 1000,
                  "psnr_db": {"bicubic": psnr(base.clamp(-1, 1), real), "residual_cnn_by_step": curve}}, args.out)


if __name__ == "__main__":
    main()
