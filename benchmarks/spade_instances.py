"""SPADE with and without instance edges on the same touching-digits canvases (issue 21): the
demo recipe on `demo:digit-canvases-touching` (groups of 2-3 touching digits of one class, with
instance maps) as a user runs it (`instance_edges: auto` -> on), and the same with
`translation.instance_edges=false`, the same steps, batch and seed. Both are scored by the demo's
evaluation: mIoU of the shipped digit segmenter on the generated test images against the input
maps, and FID/KID in its features against the real test images.

    python benchmarks/spade_instances.py --steps 400 --out benchmarks/results/spade_instances.json
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path
from typing import Any

import torch

from _report import provenance, write_result
from spade_compare import run

DATA = "demo:digit-canvases-touching"
VARIANTS = {"instance_edges": [], "no_instance_edges": ["translation.instance_edges=false"]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=400, help="training steps of each run (the demo's 400)")
    parser.add_argument("--runs", type=Path, help="where the two runs go (default: a temporary folder)")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    root = args.runs or Path(tempfile.mkdtemp(prefix="spade-instances-"))
    result: dict[str, Any] = {"provenance": provenance(), "data": DATA, "steps": args.steps, "runs": {}}
    for name, overrides in VARIANTS.items():
        steps = [f"translation.steps={args.steps}"]
        result["runs"][name] = run("spade", [*overrides, *steps], root / name, data=DATA)
        print(name, result["runs"][name]["metrics"], flush=True)
    write_result(result, args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
