"""The GAN family side by side: every image recipe trained for the same CPU budget on the same
data, then judged with the same evaluation (domain FID/KID with the shipped classifier, class
accuracy and coverage), one after another in one process on one machine.

    python benchmarks/family_comparison.py --data mnist:../shared/data/mnist --budget 600 \
        --width compact --out benchmarks/results/family_comparison_compact.json

Writes JSON, a Markdown table (stdout) and a sample grid per recipe (--grids)."""

from __future__ import annotations

import argparse
import json
import shutil
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

from _report import provenance, write_result
from ganforge import api
from ganforge.config import save_config
from ganforge.data.spec import load_training_data
from ganforge.metrics.evaluate import flatten_metrics
from ganforge.training.launch import make_loop, prepare_run_dir
from ganforge.training.run_dir import RunDir

RECIPES = ["gan", "cgan", "dcgan", "lsgan", "wgan", "wgan-gp", "acgan", "infogan", "sgan",
           "sngan", "sagan", "began", "lapgan", "biggan-digits"]
CONDITIONAL = {"cgan", "acgan", "sngan", "sagan", "lapgan", "biggan-digits"}

# `--width compact`: the same recipes (losses, optimisers, D steps, norms, attention, pyramid)
# with narrower convolutions, so that a CPU budget of minutes reaches the digit stage for every
# recipe; conv FLOPs fall with the square of the width. The MLP recipes and the already small
# biggan-digits run as they are. Paper widths (`--width paper`) need a GPU for a ranking.
COMPACT: dict[str, list[str]] = {
    **{name: ["model.ch=32"] for name in
       ("dcgan", "lsgan", "wgan", "wgan-gp", "acgan", "infogan", "sgan", "lapgan")},
    "began": ["model.ch=16"],
    "sngan": ["model.ch=8"],
    "sagan": ["model.ch=16"],
}


@dataclass
class Budget:
    """A stand-in for GracefulStop: asks `fit` to stop once the budget of this process's CPU
    seconds (all threads) is spent. Run it on an otherwise idle machine: when another process
    shares the cores, OpenMP threads spin while waiting and burn CPU-seconds without progress
    (a recipe measured that way made a sixth of its steps)."""

    cpu_seconds: float
    start: float = field(default_factory=time.process_time)

    @property
    def requested(self) -> str | None:
        return "budget" if time.process_time() - self.start > self.cpu_seconds else None


def run_one(recipe: str, data: str, budget: float, root: Path, eval_n: int,
            width: str = "paper") -> dict:
    shrink = COMPACT.get(recipe, []) if width == "compact" else []
    config = api.make_config(recipe=recipe, data=data, overrides=[
        "train.steps=1000000", "train.checkpoint_every=1000000", "train.sample_every=1000000",
        "eval.every=0", "monitor.plot=false", "train.log_every=25", *shrink,
    ])
    dataset = load_training_data(config.data, config.model.resolution, config.model.img_channels)
    config = replace(config, model=replace(config.model, n_classes=dataset.n_classes))
    out = root / recipe
    trainer = make_loop(config, dataset, RunDir(out))
    run = prepare_run_dir(out, overwrite=True)
    save_config(config, run.config)
    run.write_classes(dataset.class_names, dataset.source)
    wall = time.perf_counter()
    trainer.fit(config.train.steps, progress=False, stop=Budget(budget))
    wall = time.perf_counter() - wall
    grid = trainer.write_samples(None)
    values = flatten_metrics(api.evaluate(run.root, metrics="fid,kid,acc", n=eval_n, seed=0))
    conditional = recipe in CONDITIONAL
    heldout = getattr(trainer.task.method, "heldout_accuracy", None)  # SGAN: D as a classifier
    return {
        "recipe": recipe, "overrides": shrink, "steps": trainer.step,
        "cpu_seconds": budget, "wall_seconds": wall, "steps_per_s": trainer.step / wall,
        "fid": values.get("fid"), "kid": values.get("kid_mean"),
        "class_accuracy": values.get("class_accuracy") if conditional else None,
        "classes_produced": values.get("class_coverage_classes_produced"),
        "kl_to_uniform": values.get("class_coverage_kl_to_uniform"),
        "d_heldout_accuracy": heldout() if heldout else None,
        "conditional": conditional, "grid": str(grid),
    }


def table(rows: list[dict]) -> str:
    lines = ["| recipe | width | G steps | steps/s | domain FID | KID | class accuracy | classes produced | KL to uniform | samples |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        acc = f"{100 * r['class_accuracy']:.1f} %" if r["class_accuracy"] is not None else "n/a (unconditional)"
        if r.get("d_heldout_accuracy") is not None:
            acc = f"D classifies {100 * r['d_heldout_accuracy']:.1f} % of held-out digits"
        width = ", ".join(f"`{o}`" for o in r.get("overrides", [])) or "as published"
        lines.append(
            f"| `{r['recipe']}` | {width} | {r['steps']} | {r['steps_per_s']:.2f} | {r['fid']:.1f} | {r['kid']:.3f} | "
            f"{acc} | {r['classes_produced']} | {r['kl_to_uniform']:.3f} | [grid]({r['grid']}) |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="mnist:../shared/data/mnist")
    parser.add_argument("--budget", type=float, default=240.0,
                        help="training CPU seconds per recipe, summed over threads (2 busy threads "
                             "spend 2 per wall-clock second)")
    parser.add_argument("--recipes", default=",".join(RECIPES))
    parser.add_argument("--eval-n", type=int, default=2000)
    parser.add_argument("--width", choices=["paper", "compact"], default="paper",
                        help="paper: the recipes as published; compact: narrower convolutions "
                             "(COMPACT above) so that a CPU budget reaches the digit stage")
    parser.add_argument("--runs", type=Path, default=Path("runs/family"))
    parser.add_argument("--grids", type=Path, default=Path("benchmarks/results/family"))
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    rows = []
    for recipe in args.recipes.split(","):
        row = run_one(recipe, args.data, args.budget, args.runs, args.eval_n, args.width)
        args.grids.mkdir(parents=True, exist_ok=True)
        shutil.copy(row["grid"], args.grids / f"{recipe}.png")
        row["grid"] = str(args.grids / f"{recipe}.png")
        rows.append(row)
        print(json.dumps(row), flush=True)
    command = (f"python benchmarks/family_comparison.py --data {args.data} --budget {args.budget:g} "
               f"--recipes {args.recipes} --eval-n {args.eval_n} --width {args.width}")
    write_result({"benchmark": "family_comparison", "command": command,
                  "budget_cpu_seconds": args.budget, "width": args.width, "data": args.data, "eval_n": args.eval_n,
                  "rows": rows, "table": table(rows), **provenance()}, args.out, echo=False)
    print(table(rows))


if __name__ == "__main__":
    main()
