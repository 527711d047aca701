"""StyleGAN2 within a CPU budget: ADA on limited MNIST, and stylegan2-digits vs biggan-digits.

Each variant trains until its process has spent `--cpu-seconds` of CPU time on training (in
chunks of `--chunk` G steps: the run is trained, then resumed exactly, until the budget is
spent; the CPU time includes each chunk's start-up), one variant after the other in one
process, with OMP_NUM_THREADS=1 (set it yourself). CPU seconds, not wall seconds, so that the
comparison holds on a machine shared with other work. Its G_ema is then evaluated against the
*whole* MNIST test split with the shipped MNIST classifier: domain FID, KID, precision/recall,
class accuracy (n generated images, balanced classes).

    OMP_NUM_THREADS=1 python benchmarks/stylegan2_budget.py --study ada --limit 100 \
        --cpu-seconds 150 --out benchmarks/results/stylegan2_ada_100.json
    OMP_NUM_THREADS=1 python benchmarks/stylegan2_budget.py --study compare --limit 0 \
        --cpu-seconds 150 --out benchmarks/results/stylegan2_vs_biggan.json
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

from _report import provenance, write_result
from ganforge import api

STUDIES: dict[str, dict[str, tuple[str, list[str]]]] = {
    # ADA where it was designed: the same StyleGAN2 with and without it (ada_kimg set per run)
    "ada": {"stylegan2-noaug": ("stylegan2-digits", ["augment.kind=none"]),
            "stylegan2-ada": ("stylegan2-digits", ["augment.kind=ada"])},
    # the two CPU-sized conditional recipes as shipped
    "compare": {"stylegan2-digits": ("stylegan2-digits", []), "biggan-digits": ("biggan-digits", [])},
}


def train_for(recipe: str, overrides: list[str], run: Path, budget: float, chunk: int) -> dict[str, Any]:
    """Train in chunks of G steps until `budget` CPU seconds are spent; returns steps and time."""
    cpu0, wall0 = time.process_time(), time.perf_counter()
    steps = chunk
    api.train(api.make_config(recipe, [*overrides, f"train.steps={steps}"]), run, overwrite=True, progress=False)
    while time.process_time() - cpu0 < budget:
        steps += chunk
        api.resume(run, steps=steps, progress=False)
    return {"steps": steps, "cpu_seconds": round(time.process_time() - cpu0, 1),
            "wall_seconds": round(time.perf_counter() - wall0, 1)}


def curves(run: Path) -> dict[str, list]:
    rows = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    train = [r for r in rows if r.get("kind") == "train"]
    return {k: [(r["step"], round(r[k], 4)) for r in train if r.get(k) is not None]
            for k in ("ada_p", "r_t", "d_acc_real", "loss_d", "loss_g")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--study", choices=list(STUDIES), required=True)
    parser.add_argument("--variants", default=None, help="comma list (default: the study's all)")
    parser.add_argument("--data", default="mnist:../shared/data/mnist")
    parser.add_argument("--limit", type=int, default=0, help="training images, class-balanced (0: all)")
    parser.add_argument("--cpu-seconds", type=float, default=150.0)
    parser.add_argument("--chunk", type=int, default=50, help="G steps per training chunk")
    parser.add_argument("--eval-n", type=int, default=1000)
    parser.add_argument("--runs", type=Path, default=Path("runs/stylegan2-budget"))
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("overrides", nargs="*", help="extra overrides for every variant")
    args = parser.parse_args()
    common = [f"data.source={args.data}", "eval.every=0", "train.log_every=10", "train.sample_every=100000",
              "train.checkpoint_every=100000", "monitor.plot=false", *args.overrides]
    if args.limit:
        common.append(f"data.limit={args.limit}")
    names = args.variants.split(",") if args.variants else list(STUDIES[args.study])
    results = {}
    for name in names:
        recipe, extra = STUDIES[args.study][name]
        run = args.runs / f"{args.study}-{args.limit or 'all'}-{name}"
        spent = train_for(recipe, [*common, *extra], run, args.cpu_seconds, args.chunk)
        start = time.process_time()
        result = api.evaluate(run, "fid,kid,pr,acc", n=args.eval_n, features="mnist", data=args.data, seed=0)
        m = result["metrics"]
        results[name] = {
            "recipe": recipe, "overrides": [*common, *extra], **spent,
            "eval_cpu_seconds": round(time.process_time() - start, 1),
            "fid": m.get("fid"), "kid": (m.get("kid") or {}).get("mean"), "precision": m.get("precision"),
            "recall": m.get("recall"), "class_accuracy": m.get("class_accuracy"),
            "missing": result.get("missing"), "curves": curves(run),
        }
        print(json.dumps({name: {k: results[name][k] for k in ("steps", "cpu_seconds", "fid",
                                                              "class_accuracy")}}), flush=True)
    write_result({"benchmark": "stylegan2_budget", "study": args.study, "training_images": args.limit or "all",
                  "cpu_seconds_budget": args.cpu_seconds, "eval": f"{args.eval_n} generated vs all of "
                  f"{args.data}, shipped MNIST classifier features", "variants": results,
                  "provenance": provenance()}, args.out)


if __name__ == "__main__":
    main()
