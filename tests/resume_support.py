"""Shared by the exact-resume tests: stop a loop at a step, and the logged rows to compare."""

from __future__ import annotations

from pathlib import Path

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
