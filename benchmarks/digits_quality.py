"""Does the default `ganforge train` learn class-correct digits within 10 minutes on this CPU?

Runs the default recipe (optionally with overrides) for a wall-clock budget, then judges the EMA
generator's conditional samples with an SVM trained on the real 8x8 digits (held-out accuracy
reported) at several truncation thresholds. Writes JSON; the figures go into BENCHMARKS.md.

    python benchmarks/digits_quality.py --out benchmarks/results/digits_quality.json
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

from _report import provenance, write_result
from ganforge.api import load_generator
from ganforge.metrics.digits_accuracy import DigitsJudge, conditional_accuracy
from ganforge.training.checkpoint import list_checkpoints

TRUNCATIONS = [None, 2.0, 1.0, 0.5]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", type=Path, default=Path("runs/bench-digits"))
    parser.add_argument("--per-class", type=int, default=200, help="samples judged per class")
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--skip-train", action="store_true", help="judge an existing run")
    parser.add_argument("overrides", nargs="*", help="extra train overrides")
    args = parser.parse_args()

    command = [sys.executable, "-m", "ganforge", "train", "--out", str(args.run), "--overwrite",
               "--no-progress", *args.overrides]
    wall = None
    if not args.skip_train:
        start = time.perf_counter()
        subprocess.run(command, check=True)
        wall = time.perf_counter() - start

    judge = DigitsJudge.fit()
    rows = []
    for checkpoint in list_checkpoints(args.run / "checkpoints"):
        generator, config, _ = load_generator(args.run, checkpoint=checkpoint)
        step = int(checkpoint.stem.split("_")[1])
        acc = {str(t): conditional_accuracy(generator, judge, args.per_class, t, seed=123) for t in TRUNCATIONS}
        rows.append({"step": step, "class_accuracy": acc})
        print(json.dumps(rows[-1]), flush=True)
    result = {
        "benchmark": "digits_quality",
        "train_command": "ganforge train " + " ".join(command[4:]),
        "train_wall_seconds": wall,
        "steps": config.train.steps,
        "judge": "sklearn SVC(rbf, C=10) on real 8x8 digits (round-tripped through 32px), 75/25 split",
        "judge_held_out_accuracy": judge.held_out_accuracy,
        "samples_per_class": args.per_class,
        "generator": "G_ema, eval mode",
        "truncation_note": "threshold of the truncated normal (values beyond it re-drawn); None = plain N(0,1)",
        "per_checkpoint": rows,
        "final": rows[-1]["class_accuracy"] if rows else None,
        **provenance(),
    }
    write_result(result, args.out)


if __name__ == "__main__":
    main()
