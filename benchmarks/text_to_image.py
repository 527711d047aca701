"""Text-to-image on the captioned digits demo: GAN-CLS variants for the same CPU budget.

Trains `gan-cls` once per variant (the paper's ablation: GAN, GAN-CLS = matching-aware D,
GAN-INT = interpolated embeddings, GAN-INT-CLS = both), one after another in one process, then
judges each run's generator on captions of training compositions and of held-out compositions
(a colour never drawn with that digit in training):
- caption accuracy: digit (shipped digits classifier on the ink), colour, size, position read
  from the pixels (`ganforge.metrics.text`), with the same measure on real images as the ceiling;
- R-precision (R = 1, 100 candidates) in the run's own joint embedding, real images' as ceiling.

    python benchmarks/text_to_image.py --steps 1500 --out benchmarks/results/text_to_image.json
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from _report import provenance, write_result
from ganforge import api
from ganforge.data.captioned_digits import held_out_captions, load_captioned_digits
from ganforge.metrics.text import caption_accuracy, r_precision
from ganforge.sampling import make_grid, save_image

VARIANTS = {
    "gan-int-cls": [],
    "gan-int": ["method.matching_aware=false"],
    "gan-cls": ["method.gan_int=false"],
    "gan": ["method.matching_aware=false", "method.gan_int=false"],
}


def judge(g: api.load, captions: list[str], seed: int, rprec: bool) -> dict:
    images = g.sample_text(captions, 1, seed=seed)
    out = caption_accuracy(images, captions)
    if rprec:
        out["r_precision"] = r_precision(g.generator.text, images, g.text_ids(captions), captions)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=1500)
    parser.add_argument("--variants", default="gan-int-cls,gan-int", help=f"comma list of {list(VARIANTS)}")
    parser.add_argument("--runs", type=Path, default=Path("runs/text-to-image"))
    parser.add_argument("--n", type=int, default=500, help="captions judged per set")
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("overrides", nargs="*", help="extra overrides applied to every variant")
    args = parser.parse_args()
    torch.manual_seed(0)
    data = load_captioned_digits(32, 3)
    pick = torch.randperm(len(data), generator=torch.Generator().manual_seed(1))[: args.n].tolist()
    seen = [data.captions[i][0] for i in pick]  # "a {size} {colour} {digit} in the {position}"
    held = held_out_captions(per_pair=max(1, args.n // 10))
    real = data.images[pick].float() / 127.5 - 1
    result = {"benchmark": "text_to_image", "provenance": provenance(), "steps": args.steps,
              "overrides": args.overrides, "captions_judged": {"seen": len(seen), "held_out": len(held)},
              "ceiling_real_images": caption_accuracy(real, seen), "variants": {}}
    for name in args.variants.split(","):
        overrides = [f"train.steps={args.steps}", "train.checkpoint_every=100000",
                     "train.sample_every=100000", "monitor.plot=false", *args.overrides, *VARIANTS[name]]
        config = api.make_config(recipe="gan-cls", overrides=overrides)
        start = time.perf_counter()
        run = api.train(config, args.runs / name, overwrite=True, progress=False)
        wall = time.perf_counter() - start
        g = api.load(run)
        if "r_precision" not in result["ceiling_real_images"]:
            ids = g.text_ids(seen)
            result["ceiling_real_images"]["r_precision"] = r_precision(g.generator.text, real, ids, seen)
        rows = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
        last = [r for r in rows if r["kind"] == "train"][-1]
        result["variants"][name] = {
            "overrides": VARIANTS[name], "wall_s": round(wall, 1),
            "seen_compositions": judge(g, seen, 0, True),
            "held_out_compositions": judge(g, held, 0, False),
            "last_losses": {k: last[k] for k in ("loss_d", "loss_g") if k in last},
        }
        grid = g.sample_text(held_out_captions(per_pair=1)[:8], 8, seed=0)
        save_image(make_grid(grid, 8), args.runs / f"{name}-held-out.png")
        write_result(result, args.out, echo=False)
    write_result(result, args.out)


if __name__ == "__main__":
    main()
