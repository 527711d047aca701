"""SPADE versus pix2pix on the same label maps (issue 21): the SPADE demo as a user runs it
(`ganforge train --recipe spade`, no --data) and pix2pix on the same data, steps and batch, its
demo-sized networks, the maps colour-coded (as the pix2pix paper's label maps). Both are scored
by the same evaluation: mIoU of the shipped digit segmenter on the generated test images against
the input maps, and FID/KID in its features against the real test images.

    python benchmarks/spade_compare.py --out benchmarks/results/spade_vs_pix2pix.json
    python benchmarks/spade_compare.py --spade-run runs/spade --out ...   # reuse a finished demo run

SPEED: `python benchmarks/manipulation.py speed --recipe spade --resolution 128` (paper networks).
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

from _report import provenance, write_result
from ganforge.api import make_config, train
from ganforge.training.run_dir import read_metrics

PIX2PIX_ON_CANVASES = [
    "translation.channels_a=3", "translation.channels_b=3", "translation.load_size=64", "translation.crop_size=64",
    "translation.generator=unet_64",
    "translation.epochs=2", "translation.epochs_decay=2", "translation.steps_per_epoch=100",
    "translation.eval_every=2", "translation.eval_n=300", "data.hflip=false", "train.batch_size=4",
]


def run(recipe: str, overrides: list[str], out: Path, data: str | None = None) -> dict[str, Any]:
    start, cpu = time.perf_counter(), time.process_time()
    config = make_config(recipe, overrides, data=data)
    train(config, out=out, overwrite=True, progress=False)
    return summary(out, recipe, overrides, data, time.perf_counter() - start, time.process_time() - cpu)


def summary(out: Path, recipe: str, overrides: list[str], data: str | None, wall: float | None,
            cpu: float | None) -> dict[str, Any]:
    evaluation = json.loads((out / "evaluation.json").read_text())
    rows = read_metrics(out)
    steps = max(r["step"] for r in rows if r["kind"] == "train")
    from ganforge.api import load

    g = load(out)
    params = sum(p.numel() for p in g.network("AtoB").parameters())
    command = " ".join(["ganforge train --recipe", recipe, *(["--data", data] if data else []), *overrides])
    return {"command": command, "steps": steps, "wall_seconds": None if wall is None else round(wall, 1),
            "cpu_seconds": None if cpu is None else round(cpu, 1), "generator_parameters": params,
            "metrics": evaluation["metrics"], "missing": evaluation["protocol"]["missing"], "run_dir": str(out)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spade-run", type=Path, help="a finished `ganforge train --recipe spade` run")
    parser.add_argument("--pix2pix-run", type=Path, help="a finished pix2pix-on-canvases run")
    parser.add_argument("--work", type=Path, default=None)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    work = args.work or Path(tempfile.mkdtemp())
    if args.spade_run:
        spade = summary(args.spade_run, "spade", [], None, None, None)
    else:
        spade = run("spade", [], work / "spade")
    if args.pix2pix_run:
        pix2pix = summary(args.pix2pix_run, "pix2pix", PIX2PIX_ON_CANVASES, "demo:digit-canvases", None, None)
    else:
        pix2pix = run("pix2pix", PIX2PIX_ON_CANVASES, work / "pix2pix", data="demo:digit-canvases")
    write_result({"benchmark": "spade_vs_pix2pix", "provenance": provenance(), "spade": spade,
                  "pix2pix": pix2pix}, args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
