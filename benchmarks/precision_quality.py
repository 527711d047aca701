"""Does a faster precision or kernel setting train as well as fp32? Same run, same seed, compared.

Trains the default recipe (BigGAN on the built-in digits) once per setting for the same number
of G steps, one after another in one process, and evaluates each G_ema at the end with the
shipped digits classifier: domain FID and class accuracy (the same measures as the default
run's figures in BENCHMARKS.md), plus wall time and the ratio to fp32.

    python benchmarks/precision_quality.py --steps 1000 --out benchmarks/results/precision_quality.json

Add a variant with another seed (`--variant seed1:train.seed=1`) for the seed-to-seed spread that
a difference must exceed to mean anything. `--winograd-everywhere` lowers the thresholds of
`train.conv_algorithm=winograd` so that every 3x3 convolution of the (narrow) digits networks on
maps divisible by 4 runs through Winograd F(4x4, 3x3): a stress test of its numerics, not of
its speed.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from _report import provenance, write_result
from ganforge import api
from ganforge.nn import fast_conv


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipe", default="biggan-digits")
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--eval-n", type=int, default=2000)
    parser.add_argument("--runs", type=Path, default=Path("runs/precision-quality"))
    parser.add_argument("--variant", action="append", default=None, metavar="NAME:K=V[,K=V]",
                        help="settings compared with fp32 (default: bf16)")
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--winograd-everywhere", action="store_true",
                        help="route every 3x3 conv on maps divisible by 4 through Winograd")
    parser.add_argument("--skip-fp32", action="store_true",
                        help="only the variants (e.g. more seeds of a setting measured before)")
    args = parser.parse_args()
    if args.winograd_everywhere:
        fast_conv.WINOGRAD_MIN_CHANNELS, fast_conv.WINOGRAD_MIN_SIZE = 1, 4
    variants = {} if args.skip_fp32 else {"fp32": []}
    for item in args.variant or ["bf16:train.precision=bf16"]:
        name, _, spec = item.partition(":")
        variants[name] = [kv for kv in spec.split(",") if kv]
    common = [f"train.steps={args.steps}", f"eval.every={args.steps}", "eval.metrics=[fid,acc]",
              f"eval.n={args.eval_n}", "train.checkpoint_every=100000"]
    results = {}
    for name, extra in variants.items():
        config = api.make_config(recipe=args.recipe, overrides=common + extra)
        start = time.perf_counter()
        run = api.train(config, args.runs / name, overwrite=True, progress=False)
        wall = time.perf_counter() - start
        rows = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
        final = [r for r in rows if r["kind"] == "eval"][-1]
        results[name] = {"overrides": extra, "wall_seconds": round(wall, 1),
                         "fid": final.get("fid"), "class_accuracy": final.get("class_accuracy"),
                         "speedup_vs_fp32": (1.0 if name == "fp32" else results["fp32"]["wall_seconds"] / wall
                                             if "fp32" in results else None)}
        print(json.dumps({name: results[name]}), flush=True)
    write_result({
        "benchmark": "precision_quality", "recipe": args.recipe, "steps": args.steps,
        "eval": f"domain FID and class accuracy of G_ema, {args.eval_n} samples, shipped classifier",
        "variants": results, **provenance(),
        "winograd_thresholds": {"min_channels": fast_conv.WINOGRAD_MIN_CHANNELS,
                                "min_size": fast_conv.WINOGRAD_MIN_SIZE},
        "command": f"python benchmarks/precision_quality.py --steps {args.steps} --eval-n {args.eval_n} "
                   + " ".join(f"--variant {v}" for v in (args.variant or []))
                   + (" --winograd-everywhere" if args.winograd_everywhere else "")
                   + (" --skip-fp32" if args.skip_fp32 else ""),
    }, args.out)


if __name__ == "__main__":
    main()
