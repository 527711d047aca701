"""Text-to-image on the captioned digits demo: GAN-CLS variants and GigaGAN for the same budget.

Trains one run per variant (GAN-CLS's ablation: GAN, GAN-CLS = matching-aware D, GAN-INT =
interpolated embeddings, GAN-INT-CLS = both; and the `gigagan` recipe, as shipped and narrower),
one after another in one process, for `--steps` G steps or, with `--cpu-seconds`, until the
process has spent that much CPU time on the run (a CPU-time timer stops the loop gracefully;
set OMP_NUM_THREADS=1), then judges each run's generator on
captions of training compositions and of held-out compositions (a colour never drawn with that
digit in training):
- caption accuracy: digit (shipped digits classifier on the ink), colour, size, position read
  from the pixels (`ganforge.metrics.text`), with the same measure on real images as the ceiling;
- R-precision (R = 1, 100 candidates) in the run's own joint embedding, real images' as ceiling.

    python benchmarks/text_to_image.py --steps 1500 --out benchmarks/results/text_to_image.json
    OMP_NUM_THREADS=1 python benchmarks/text_to_image.py --variants gan-int-cls,gigagan \
        --cpu-seconds 900 --eval-n 1000 --out benchmarks/results/text_to_image_budget.json

With `--eval-n N` each run is also evaluated as `ganforge eval RUN --n N --seed 0` does (FID/KID
in the digits classifier's features, R-precision, caption accuracy).
"""

from __future__ import annotations

import argparse
import json
import signal
import time
from pathlib import Path

import torch

from _report import provenance, write_result
from ganforge import api
from ganforge.data.captioned_digits import held_out_captions, load_captioned_digits
from ganforge.metrics.text import caption_accuracy, r_precision
from ganforge.sampling import make_grid, save_image

VARIANTS: dict[str, tuple[str, list[str]]] = {  # name: (recipe, overrides)
    "gan-int-cls": ("gan-cls", []),
    "gan-int": ("gan-cls", ["method.matching_aware=false"]),
    "gan-cls": ("gan-cls", ["method.gan_int=false"]),
    "gan": ("gan-cls", ["method.matching_aware=false", "method.gan_int=false"]),
    "gigagan": ("gigagan", []),
    "gigagan-ch32": ("gigagan", ["model.ch=32"]),
    "gigagan-lr1e-3": ("gigagan", ["train.lr_g=1e-3", "train.lr_d=1e-3"]),  # the upsampler recipe's rate
}


def train_for(config_of, run: Path, budget: float) -> dict:
    """Train until the process has spent `budget` CPU seconds on the run, start-up included:
    a CPU-time timer (ITIMER_PROF) sends SIGINT, which the loop takes as a graceful stop (it saves
    a checkpoint at the step it finished). One start-up, no resumes. The start-up's own CPU time
    (data, the built-in encoder's pre-training, building the networks) is measured by a 1-step
    run beforehand, outside the budget, so that the CPU time per step can be given."""
    cpu0 = time.process_time()
    api.train(config_of(1), run, overwrite=True, progress=False)
    startup = time.process_time() - cpu0  # includes one step: negligible beside the start-up
    previous = signal.signal(signal.SIGPROF, lambda *_: signal.raise_signal(signal.SIGINT))
    cpu0, wall0 = time.process_time(), time.perf_counter()
    signal.setitimer(signal.ITIMER_PROF, budget)
    try:
        api.train(config_of(10**7), run, overwrite=True, progress=False)
    finally:
        signal.setitimer(signal.ITIMER_PROF, 0)
        signal.signal(signal.SIGPROF, previous)
    cpu = time.process_time() - cpu0
    steps = int(api.load(run).card.get("steps", 0))
    return {"steps": steps, "cpu_seconds": round(cpu, 1), "wall_s": round(time.perf_counter() - wall0, 1),
            "cpu_seconds_startup": round(startup, 1),
            "cpu_seconds_per_step": round((cpu - startup) / steps, 4) if steps else None}


def judge(g: api.load, captions: list[str], seed: int, rprec: bool) -> dict:
    images = g.sample_text(captions, 1, seed=seed)
    out = caption_accuracy(images, captions)
    if rprec:
        out["r_precision"] = r_precision(g.generator.text, images, g.text_ids(captions), captions)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=1500)
    parser.add_argument("--cpu-seconds", type=float, default=0.0, help="train each run for this much "
                        "process CPU time (start-up included) instead of --steps")
    parser.add_argument("--eval-n", type=int, default=0, help="also `ganforge eval` each run with N images")
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
              "cpu_seconds_budget": args.cpu_seconds or None,
              "overrides": args.overrides, "captions_judged": {"seen": len(seen), "held_out": len(held)},
              "ceiling_real_images": caption_accuracy(real, seen), "variants": {}}
    for name in args.variants.split(","):
        recipe, extra = VARIANTS[name]
        overrides = ["train.checkpoint_every=100000", "train.sample_every=100000", "monitor.plot=false",
                     *args.overrides, *extra]

        def config_of(steps: int, recipe: str = recipe, overrides: list[str] = overrides) -> object:
            return api.make_config(recipe=recipe, overrides=[f"train.steps={steps}", *overrides])

        run = args.runs / name
        if args.cpu_seconds:
            spent = train_for(config_of, run, args.cpu_seconds)
        else:
            start = time.perf_counter()
            api.train(config_of(args.steps), run, overwrite=True, progress=False)
            spent = {"steps": args.steps, "wall_s": round(time.perf_counter() - start, 1)}
        g = api.load(run)
        if "r_precision" not in result["ceiling_real_images"]:
            ids = g.text_ids(seen)
            result["ceiling_real_images"]["r_precision"] = r_precision(g.generator.text, real, ids, seen)
        log = run / "metrics.jsonl"
        rows = [json.loads(x) for x in log.read_text().splitlines()] if log.is_file() else []
        last = ([r for r in rows if r["kind"] == "train"] or [{}])[-1]
        evaluation = None
        if args.eval_n:
            start = time.process_time()
            ev = api.evaluate(run, "fid,kid,rprec,caption_acc", n=args.eval_n, seed=0)
            evaluation = {"metrics": ev["metrics"], "missing": ev.get("missing"),
                          "cpu_seconds": round(time.process_time() - start, 1)}
        train_rows = [r for r in rows if r["kind"] == "train"]
        speed = [r["images_per_s"] for r in train_rows if "images_per_s" in r]
        result["variants"][name] = {
            "recipe": recipe, "overrides": extra, **spent,
            "batch_size": g.config.train.batch_size,
            "images_per_s_logged_median": round(sorted(speed)[len(speed) // 2], 2) if speed else None,
            "parameters_g": sum(p.numel() for p in g.generator.parameters()),
            "seen_compositions": judge(g, seen, 0, True),
            "held_out_compositions": judge(g, held, 0, False),
            "last_losses": {k: last[k] for k in ("loss_d", "loss_g") if k in last},
            "eval": evaluation,
        }
        grid = g.sample_text(held_out_captions(per_pair=1)[:8], 8, seed=0)
        save_image(make_grid(grid, 8), args.runs / f"{name}-held-out.png")
        write_result(result, args.out, echo=False)
    write_result(result, args.out)


if __name__ == "__main__":
    main()
