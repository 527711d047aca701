"""The GAN family side by side: every image recipe trained for the same wall-clock budget on
the same data, then judged with the same evaluation (domain FID/KID with the shipped classifier,
class accuracy and coverage), one after another in one process on one machine.

    python benchmarks/family_comparison.py --data mnist:../shared/data/mnist --budget 120 \
        --out benchmarks/results/family_comparison.json

Writes JSON, a Markdown table (stdout and --table) and a sample grid per recipe (--grids).
"""

from __future__ import annotations

import argparse
import json
import shutil
import time
from dataclasses import dataclass, replace
from pathlib import Path

from _report import provenance, write_result
from ganforge import api
from ganforge.data.spec import load_training_data
from ganforge.metrics.evaluate import evaluate, flatten_metrics
from ganforge.training.run_dir import RunDir
from ganforge.training.trainer import Trainer, prepare_run_dir, save_resolved_config

RECIPES = ["gan", "cgan", "dcgan", "lsgan", "wgan", "wgan-gp", "acgan", "infogan", "sgan",
           "sngan", "sagan", "began", "lapgan", "biggan-digits"]
CONDITIONAL = {"cgan", "acgan", "sngan", "sagan", "lapgan", "biggan-digits"}


@dataclass
class Budget:
    """A stand-in for GracefulStop: asks `fit` to stop once the wall-clock budget is spent."""

    seconds: float
    start: float = 0.0

    @property
    def requested(self) -> str | None:
        return "budget" if time.perf_counter() - self.start > self.seconds else None


def run_one(recipe: str, data: str, budget: float, root: Path, eval_n: int) -> dict:
    config = api.make_config(recipe=recipe, data=data, overrides=[
        "train.steps=1000000", "train.checkpoint_every=1000000", "train.sample_every=1000000",
        "eval.every=0", "monitor.plot=false", "train.log_every=25",
    ])
    dataset = load_training_data(config.data, config.model.resolution, config.model.img_channels)
    config = replace(config, model=replace(config.model, n_classes=dataset.n_classes))
    out = root / recipe
    trainer = Trainer(config, dataset, RunDir(out))
    run = prepare_run_dir(out, overwrite=True)
    save_resolved_config(config, run)
    run.write_classes(dataset.class_names, dataset.source)
    trainer.fit(config.train.steps, progress=False, stop=Budget(budget, time.perf_counter()))
    grid = trainer.write_samples(None)
    values = flatten_metrics(evaluate(run.root, metrics="fid,kid,acc", n=eval_n, seed=0))
    conditional = recipe in CONDITIONAL
    return {
        "recipe": recipe, "steps": trainer.step, "steps_per_s": trainer.step / budget,
        "fid": values.get("fid"), "kid": values.get("kid_mean"),
        "class_accuracy": values.get("class_accuracy") if conditional else None,
        "classes_produced": values.get("class_coverage_classes_produced"),
        "kl_to_uniform": values.get("class_coverage_kl_to_uniform"),
        "conditional": conditional, "grid": str(grid),
    }


def table(rows: list[dict]) -> str:
    lines = ["| recipe | G steps | steps/s | domain FID | KID | class accuracy | classes produced | KL to uniform | samples |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        acc = f"{100 * r['class_accuracy']:.1f} %" if r["class_accuracy"] is not None else "n/a (unconditional)"
        lines.append(
            f"| `{r['recipe']}` | {r['steps']} | {r['steps_per_s']:.2f} | {r['fid']:.1f} | {r['kid']:.3f} | "
            f"{acc} | {r['classes_produced']} | {r['kl_to_uniform']:.3f} | [grid]({r['grid']}) |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="mnist:../shared/data/mnist")
    parser.add_argument("--budget", type=float, default=120.0, help="training seconds per recipe")
    parser.add_argument("--recipes", default=",".join(RECIPES))
    parser.add_argument("--eval-n", type=int, default=2000)
    parser.add_argument("--runs", type=Path, default=Path("runs/family"))
    parser.add_argument("--grids", type=Path, default=Path("benchmarks/results/family"))
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    rows = []
    for recipe in args.recipes.split(","):
        row = run_one(recipe, args.data, args.budget, args.runs, args.eval_n)
        args.grids.mkdir(parents=True, exist_ok=True)
        shutil.copy(row["grid"], args.grids / f"{recipe}.png")
        row["grid"] = str(args.grids / f"{recipe}.png")
        rows.append(row)
        print(json.dumps(row), flush=True)
    command = (f"python benchmarks/family_comparison.py --data {args.data} --budget {args.budget:g} "
               f"--recipes {args.recipes} --eval-n {args.eval_n}")
    write_result({"benchmark": "family_comparison", "command": command,
                  "budget_seconds": args.budget, "data": args.data, "eval_n": args.eval_n,
                  "rows": rows, "table": table(rows), **provenance()}, args.out, echo=False)
    print(table(rows))


if __name__ == "__main__":
    main()
