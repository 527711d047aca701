"""Same command, two versions of ganforge: are the trained weights bit-identical?

Runs the default recipe (30 G steps) and the pix2pix demo (6 steps) with this checkout's code
and with another checkout's (e.g. the release before the one-engine redesign:
`git worktree add --detach ../old 5cae8d2`), each in a fresh process, and compares every tensor
of the final checkpoints. Writes JSON.

    python benchmarks/engine_equivalence.py --other-src ../old/src \
        --out benchmarks/results/engine_equivalence.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
from datetime import datetime, timezone
from pathlib import Path

import torch

HERE = Path(__file__).resolve().parents[1] / "src"
RUNS = {
    "biggan-digits": (["--steps", "30", "--", "train.log_every=10", "train.checkpoint_every=30"],
                      "step_00000030.pt", ("G", "D", "G_ema")),
    "pix2pix": (["--recipe", "pix2pix", "--", "translation.ngf=8", "translation.ndf=8",
                 "translation.epochs=1", "translation.epochs_decay=2", "translation.steps_per_epoch=2",
                 "translation.eval_n=20", "train.log_every=1"], "step_00000006.pt", ("networks",)),
}


def train(src: Path, out: Path, args: list[str]) -> None:
    env = {**os.environ, "PYTHONPATH": str(src), "OMP_NUM_THREADS": "1"}
    flags, overrides = args[:args.index("--")], args[args.index("--") + 1:]
    cmd = [sys.executable, "-m", "ganforge", "train", "--out", str(out), "--no-progress", *flags,
           "monitor.plot=false", *overrides]
    subprocess.run(cmd, env=env, check=True, capture_output=True)


def tensors(state: dict, keys: tuple[str, ...]) -> dict[str, torch.Tensor]:
    flat = {}
    for key in keys:
        for name, value in state[key].items():
            if isinstance(value, dict):
                flat.update({f"{key}.{name}.{k}": v for k, v in value.items()})
            else:
                flat[f"{key}.{name}"] = value
    return flat


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--other-src", type=Path, required=True, help="the other checkout's src/")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/engine_equivalence.json"))
    args = parser.parse_args()
    rows = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, (extra, checkpoint, keys) in RUNS.items():
            found = {}
            for side, src in (("this", HERE), ("other", args.other_src.resolve())):
                run = Path(tmp) / side / name
                train(src, run, extra)
                state = torch.load(run / "checkpoints" / checkpoint, map_location="cpu", weights_only=False)
                found[side] = tensors(state, keys)
            different = [k for k, v in found["this"].items() if not torch.equal(v, found["other"][k])]
            rows[name] = {"tensors": len(found["this"]), "different": different,
                          "bit_identical": not different and found["this"].keys() == found["other"].keys()}
            print(name, rows[name])
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor()) if Path("/proc/cpuinfo").exists() else ""
    result = {"runs": rows, "other_src": str(args.other_src), "cpu_model": cpu,
              "torch": torch.__version__, "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
              "command": " ".join(sys.argv)}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
