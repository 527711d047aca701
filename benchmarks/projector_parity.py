"""ganforge's StyleGAN2 projection against NVlabs/stylegan2-ada-pytorch's `projector.project`,
run from a local checkout on the same (ganforge) generator: the same w trajectory, step by step.

    python benchmarks/projector_parity.py --official /tmp/stylegan2-ada-pytorch --steps 100 \
        --out benchmarks/results/projector_parity.json

The official function downloads a TorchScript VGG16; here `torch.jit.load` is given a fixed
stand-in feature network (a seeded random 3x3 conv of the 0..255 image, flattened) and ganforge
the same network through a `Perceptual` whose distance is the official `(f_t - f_s)^2` sum, with
the pixel term off, so that both optimise the same loss: every difference left is in the
projector itself (w statistics from RandomState(123), the lr and noise ramps, the noise maps, their
regulariser and renormalisation, Adam). Both draw their random numbers in the same order from
`torch.manual_seed(seed)`. Nothing of the official code is copied; it is imported by path.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import sys
import types
from pathlib import Path

import numpy as np
import torch

from _report import provenance, write_result
from ganforge import api
from ganforge.editing.codes import LatentCode, decode
from ganforge.editing.perceptual import Perceptual
from ganforge.editing.project import ProjectSettings, project
from ganforge.generator import Generator
from ganforge.models import build_models

TINY = ["model.conditional=false", "model.channel_base=512", "model.channel_max=64", "model.w_dim=64",
        "model.dim_z=32", "model.resolution=32"]


class StandIn(torch.nn.Module):
    """The official projector's VGG call signature over a fixed random conv of 0..255 images."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        torch.manual_seed(1234)
        self.conv = torch.nn.Conv2d(3, 8, 3, padding=1)
        self.channels = channels

    def forward(self, images: torch.Tensor, resize_images: bool = False, return_lpips: bool = False) -> torch.Tensor:
        x = images / 255.0
        x = x.expand(-1, 3, -1, -1) if x.shape[1] == 1 else x
        return torch.tanh(self.conv(x)).flatten(1) / 32.0


class StandInFeatures(torch.nn.Module):
    """The same network for ganforge, which passes [-1, 1] images; one 'stage' of features."""

    def __init__(self, net: StandIn) -> None:
        super().__init__()
        self.net = net

    def forward(self, images: torch.Tensor) -> list[torch.Tensor]:
        return [self.net((images + 1) * 127.5)]


class SumOfSquares(Perceptual):
    def distance(self, a: torch.Tensor, b_features: list[torch.Tensor]) -> torch.Tensor:
        return (self.features(a)[0] - b_features[0]).square().sum(dim=1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--official", type=Path, required=True)
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    torch.set_num_threads(1)
    sys.path.insert(0, str(args.official))
    for stub in ("imageio", "requests"):  # its video writer and its downloader; neither runs here
        sys.modules.setdefault(stub, types.ModuleType(stub))
    import dnnlib
    import projector

    config = api.make_config("stylegan2-digits", TINY)
    torch.manual_seed(0)
    net = build_models(config.model)[0]
    with torch.no_grad():
        for m in net.synthesis.modules():  # untrained noise strengths are 0: make noise matter
            if hasattr(m, "noise_strength"):
                m.noise_strength.fill_(0.3)
    g = Generator(net, [], config=config)
    net.modconv = "unfused"  # the path the official code takes when it calls G.synthesis(ws) itself
    net.z_dim, net.img_channels, net.img_resolution = net.dim_z, 1, 32  # the names the official code reads
    stand_in = StandIn(1).requires_grad_(False)
    with torch.no_grad():
        z = torch.randn(1, 32, generator=torch.Generator().manual_seed(7))
        target = decode(g, LatentCode("z", z)).clamp(-1, 1)
    target_255 = ((target[0] + 1) * 127.5).float()

    dnnlib.util.open_url = lambda url, **kw: contextlib.nullcontext(io.BytesIO())
    original_jit_load = torch.jit.load
    torch.jit.load = lambda f, *a, **k: stand_in
    try:
        torch.manual_seed(args.seed)
        official_ws = projector.project(net, target_255, num_steps=args.steps, device=torch.device("cpu"))
    finally:
        torch.jit.load = original_jit_load
    official_w = official_ws[:, 0]  # (steps, w_dim): w after each step

    trajectory: list[torch.Tensor] = []
    perceptual = SumOfSquares(StandInFeatures(stand_in), "stand-in")
    settings = ProjectSettings(space="w", steps=args.steps, mse_weight=0.0, perceptual_weight=1.0, seed=args.seed)
    original_step = torch.optim.Adam.step

    def record(self, *a, **k):  # the w after every step, as the official w_out
        out = original_step(self, *a, **k)
        trajectory.append(self.param_groups[0]["params"][0].detach().clone()[0])
        return out

    torch.optim.Adam.step = record
    try:
        result = project(g, target, settings, perceptual)
    finally:
        torch.optim.Adam.step = original_step
    ours = torch.stack(trajectory)
    diff = (ours - official_w).abs().max(dim=1).values
    scale = float(official_w.abs().max())
    final = {"max_abs_w_difference_final": float(diff[-1]), "max_abs_w_difference_any_step": float(diff.max()),
             "w_scale": scale, "steps": args.steps,
             "first_step_with_difference_over_1e-4": int(np.argmax(diff.numpy() > 1e-4)) if (diff > 1e-4).any() else None,
             "final_loss_ganforge": result.losses[-1]["loss"],
             "per_step_max_abs_w_difference": [float(f"{d:.3g}") for d in diff.tolist()]}
    write_result({"benchmark": "projector_parity", **provenance(), "official": str(args.official), **final}, args.out)


if __name__ == "__main__":
    main()
