"""Limited data: does adaptive augmentation help BigGAN trained on 500 MNIST images?

Trains the same recipe on the same class-balanced 500-image subset once per variant (no
augmentation, ADA, DiffAugment, ...) for the same number of G steps, one after another in one
process on one machine, and evaluates each G_ema during training against the *full* MNIST test
split (10,000 images) with the shipped MNIST classifier: domain FID, KID and class accuracy.
Writes JSON (including each run's p curve) and leaves each run directory with its dashboard.

    python benchmarks/limited_data.py --data mnist:../shared/data/mnist \
        --out benchmarks/results/limited_data.json
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from _report import provenance, write_result
from ganforge import api

VARIANTS = {
    "none": [],
    "ada": ["augment.kind=ada"],
    "diffaug": ["augment.kind=diffaug"],
    "fixed": ["augment.kind=fixed"],
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="mnist:../shared/data/mnist")
    parser.add_argument("--limit", type=int, default=500, help="training images (class-balanced)")
    parser.add_argument("--steps", type=int, default=1500)
    parser.add_argument("--variants", default="none,ada", help=f"comma list of {list(VARIANTS)}")
    parser.add_argument("--recipe", default="biggan-digits")
    parser.add_argument("--runs", type=Path, default=Path("runs/limited-data"))
    parser.add_argument("--eval-n", type=int, default=2000)
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("overrides", nargs="*", help="extra overrides applied to every variant")
    args = parser.parse_args()

    every = max(args.steps // 6, 1)
    common = [
        f"data.source={args.data}", f"data.limit={args.limit}", f"train.steps={args.steps}",
        f"eval.every={every}", "eval.metrics=[fid,kid,acc]", f"eval.n={args.eval_n}",
        "eval.best_metric=fid", "train.checkpoint_every=100000", *args.overrides,
    ]
    results = {}
    for name in args.variants.split(","):
        overrides = common + VARIANTS[name]
        config = api.make_config(recipe=args.recipe, overrides=overrides)
        start = time.perf_counter()
        run = api.train(config, args.runs / name, overwrite=True, progress=False)
        wall = time.perf_counter() - start
        rows = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
        evals = [r for r in rows if r["kind"] == "eval"]
        train = [r for r in rows if r["kind"] == "train"]
        results[name] = {
            "overrides": overrides,
            "wall_seconds": round(wall, 1),
            "final": {k: evals[-1].get(k) for k in ("fid", "kid_mean", "class_accuracy")},
            "best_fid": min(e["fid"] for e in evals),
            "evals": [{k: e.get(k) for k in ("step", "fid", "kid_mean", "class_accuracy")} for e in evals],
            "curves": {k: [(r["step"], r.get(k)) for r in train]
                       for k in ("ada_p", "r_t", "d_acc_real", "d_acc_fake", "loss_d", "loss_g")},
            "dashboard": str(run / "dashboard.png"),
        }
        print(json.dumps({name: results[name]["final"], "wall": wall}), flush=True)
    result = {
        "benchmark": "limited_data",
        "command": "python benchmarks/limited_data.py " + " ".join(
            [f"--data {args.data}", f"--limit {args.limit}", f"--steps {args.steps}",
             f"--variants {args.variants}", *args.overrides]),
        "recipe": args.recipe,
        "training_images": args.limit,
        "reference": f"{args.data} (all images), features: shipped MNIST classifier",
        "eval_n": args.eval_n,
        "variants": results,
        **provenance(),
    }
    write_result(result, args.out)


if __name__ == "__main__":
    main()
