"""GigaGAN's text-conditioned upsampler on the captioned digits: its PSNR and FID gain over bicubic.

Trains `gigagan-upsampler` (8 -> 32 px, x4) for --steps on the demo, then super-resolves --n real
demo images downsampled to 8 px (antialiased bicubic, the training input), each with its first
caption, and compares with plain bicubic upsampling of the same 8 px images:
- PSNR (dB, images in [0, 1], per image then averaged) against the real 32 px images;
- FID against all 3,594 demo images in the shipped digits classifier's features (as `ganforge
  eval` uses for this data), the outputs quantised to uint8 first.
The demo has no test split: the images are training images (the upsampler's task, restoring
detail, is measured; memorisation of 3,594 images in a few hundred steps is unlikely but not
excluded).

    python benchmarks/gigagan_upsampler.py --steps 300 --out benchmarks/results/gigagan_upsampler.json
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from _report import provenance, write_result
from ganforge import api
from ganforge.data.captioned_digits import load_captioned_digits
from ganforge.metrics.evaluate import quantise
from ganforge.metrics.features import extract, get_extractor, uint8_batches
from ganforge.metrics.fid import fid_from_features
from ganforge.models.gigagan_upsampler import downsample
from ganforge.sampling import make_grid, save_image


def psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    mse = ((a.float() - b.float()) / 2).pow(2).flatten(1).mean(1).clamp_min(1e-12)
    return float((10 * torch.log10(1 / mse)).mean())


def trained_steps(run: Path) -> int:
    """The step of the run's last checkpoint (a run stopped by SIGTERM has fewer than train.steps)."""
    names = sorted((run / "checkpoints").glob("step_*.pt"))
    return int(names[-1].stem.split("_")[1]) if names else 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--run", type=Path, default=Path("runs/gigagan-upsampler"))
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--eval-only", action="store_true", help="judge the existing --run (e.g. one "
                        "stopped early with SIGTERM) without training")
    parser.add_argument("overrides", nargs="*")
    args = parser.parse_args()
    overrides = [f"train.steps={args.steps}", "train.checkpoint_every=100000", "train.sample_every=100000",
                 "monitor.plot=false", *args.overrides]
    start = time.perf_counter()
    run = args.run
    if not args.eval_only:
        run = api.train(api.make_config(recipe="gigagan-upsampler", overrides=overrides), args.run,
                        overwrite=True, progress=False)
    wall = time.perf_counter() - start
    up = api.load(run)
    data = load_captioned_digits(32, 3)
    pick = torch.randperm(len(data), generator=torch.Generator().manual_seed(1))[: args.n]
    real = data.images[pick].float() / 127.5 - 1
    low = downsample(real, up.generator.low_resolution)
    bicubic = F.interpolate(low, size=(32, 32), mode="bicubic", align_corners=False).clamp(-1, 1)
    start = time.perf_counter()
    sr = up.upsample(low, [data.captions[i][0] for i in pick.tolist()], seed=0).clamp(-1, 1)
    sr_s = time.perf_counter() - start
    digits = get_extractor("digits")
    ref = extract(digits, uint8_batches(data.images, 100)).features
    fid = {name: fid_from_features(ref, extract(digits, uint8_batches(quantise(x), 100)).features)["fid"]
           for name, x in (("bicubic", bicubic), ("upsampler", sr))}
    result = {"benchmark": "gigagan_upsampler", "provenance": provenance(),
              "steps": trained_steps(Path(run)),
              "overrides": up.card.get("overrides") if args.eval_only else overrides,
              "config": {k: getattr(up.config.model, k) for k in ("ch", "resolution", "low_resolution")}
              | {"batch_size": up.config.train.batch_size}, "n": args.n,
              "train_wall_s": None if args.eval_only else round(wall, 1),
              "upsample_images_per_s": round(args.n / sr_s, 1),
              "psnr_db": {"bicubic": psnr(bicubic, real), "upsampler": psnr(sr, real)},
              "fid_digits_features": fid}
    result["gain"] = {"psnr_db": result["psnr_db"]["upsampler"] - result["psnr_db"]["bicubic"],
                      "fid": fid["bicubic"] - fid["upsampler"]}
    rows = torch.cat([F.interpolate(low[:8], size=(32, 32), mode="nearest"), bicubic[:8], sr[:8], real[:8]])
    save_image(make_grid(rows, 8), args.run / "compare.png")  # rows: input, bicubic, upsampler, real
    write_result(result, args.out)


if __name__ == "__main__":
    main()
