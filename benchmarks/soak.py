"""Soak: train for a while under random SIGKILLs and SIGTERMs, resuming each time.

Reports steps completed, kills, resumes, and checks after every kill that no checkpoint was lost
(the newest good step never goes backwards) or corrupt (every checkpoint verifies). At the end
an uninterrupted run to the same step must give bitwise-identical weights.

    python benchmarks/soak.py --minutes 10 --out benchmarks/results/soak.json
"""

from __future__ import annotations

import argparse
import random
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

from _report import provenance, write_result
from ganforge.training.checkpoint import list_checkpoints, verify_checkpoint

OVERRIDES = ["model.ch=8", "model.dim_z=32", "model.shared_dim=16", "train.log_every=5",
             "train.sample_every=50", "eval.every=0", "--batch-size", "32", "--no-progress"]


def train_command(out: Path, steps: int, resume: bool) -> list[str]:
    base = [sys.executable, "-m", "ganforge", "train"]
    if resume:
        return base + ["--resume", str(out), "--steps", str(steps), "--no-progress"]
    return base + ["--out", str(out), "--overwrite", "--steps", str(steps), "--checkpoint-every", "5", *OVERRIDES]


def newest_step(run: Path) -> int:
    paths = list_checkpoints(run / "checkpoints")
    return int(paths[-1].stem.split("_")[1]) if paths else 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--min-gap", type=float, default=4.0, help="seconds before a kill, at least")
    parser.add_argument("--max-gap", type=float, default=20.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    work = Path(tempfile.mkdtemp(prefix="ganforge-soak-"))
    run = work / "soak"
    target = 10**6
    kills = {"SIGKILL": 0, "SIGTERM": 0}
    resumes, lost, corrupt, restarts_from_scratch = 0, 0, 0, 0
    best_seen = 0
    sigterm_status: dict[str, int] = {}  # exit status after SIGTERM: 0 = graceful stop
    deadline = time.time() + args.minutes * 60
    while time.time() < deadline:
        resume = newest_step(run) > 0
        resumes += int(resume)
        restarts_from_scratch += int(not resume and run.exists())
        proc = subprocess.Popen(train_command(run, target, resume), stdout=subprocess.DEVNULL,
                                stderr=subprocess.PIPE)
        time.sleep(min(rng.uniform(args.min_gap, args.max_gap), max(deadline - time.time(), 0.1)))
        sig = rng.choice([signal.SIGKILL, signal.SIGTERM])
        if proc.poll() is None:
            proc.send_signal(sig)
            kills[sig.name] += 1
        try:
            proc.wait(timeout=120)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if sig == signal.SIGTERM:
            sigterm_status[str(proc.returncode)] = sigterm_status.get(str(proc.returncode), 0) + 1
        for path in list_checkpoints(run / "checkpoints"):
            if verify_checkpoint(path) is not None:
                corrupt += 1
        step = newest_step(run)
        lost += int(step < best_seen)
        best_seen = max(best_seen, step)
        print(f"{sig.name}: newest checkpoint step {step}, resumes {resumes}", flush=True)

    final = newest_step(run)
    straight = work / "straight"
    subprocess.run(train_command(straight, final, False), check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    a = torch.load(run / "checkpoints" / f"step_{final:08d}.pt", weights_only=True)
    b = torch.load(straight / "checkpoints" / f"step_{final:08d}.pt", weights_only=True)
    identical = all(torch.equal(a[n][k], b[n][k]) for n in ("G", "D", "G_ema") for k in a[n])
    result = {
        "benchmark": "soak",
        "minutes": args.minutes,
        "steps_completed": final,
        "kills": kills,
        "resumes": resumes,
        "exit_status_after_sigterm": sigterm_status,
        "restarts_before_first_checkpoint": restarts_from_scratch,
        "checkpoints_lost": lost,
        "corrupt_checkpoints_seen": corrupt,
        "bitwise_identical_to_uninterrupted_run": identical,
        **provenance(),
        "command": f"python benchmarks/soak.py --minutes {args.minutes} --min-gap {args.min_gap} "
                   f"--max-gap {args.max_gap} --seed {args.seed}",
    }
    write_result(result, args.out)


if __name__ == "__main__":
    main()
