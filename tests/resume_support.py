"""Shared by the exact-resume tests: stop a loop at a step, and the logged rows to compare."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from ganforge.cli import main
from ganforge.training.run_dir import read_metrics


class StopAfter:
    """A GracefulStop stand-in that asks to stop once the loop reaches a step."""

    def __init__(self, loop: object, step: int) -> None:
        self.loop, self.step = loop, step

    @property
    def requested(self) -> str | None:
        return "SIGTERM" if self.loop.step >= self.step else None


def train_rows(run: Path) -> list[dict]:
    """The run's training log rows without wall-clock fields (equal after an exact resume)."""
    return [{k: v for k, v in r.items() if k not in ("time", "images_per_s")}
            for r in read_metrics(run) if r["kind"] == "train"]


def straight_and_resumed(root: Path, train: Callable[[Path, int], list[str]]) -> tuple[Path, Path]:
    """Two runs of the CLI arguments `train(out, steps)`: 2 steps straight, and 1 step then a
    resume to 2 (what the exact-resume tests compare)."""
    straight, resumed = root / "straight", root / "resumed"
    assert main(train(straight, 2)) == 0
    assert main(train(resumed, 1)) == 0
    assert main(["train", "--resume", str(resumed), "--steps", "2", "--no-progress"]) == 0
    return straight, resumed
