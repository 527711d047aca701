"""The run directory layout and its metrics log (JSON lines + TensorBoard)."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np


@dataclass(frozen=True)
class RunDir:
    """Where a run keeps everything: the single source of truth for later commands."""

    root: Path

    @property
    def config(self) -> Path:
        return self.root / "config.yaml"

    @property
    def classes(self) -> Path:
        return self.root / "classes.json"

    @property
    def metrics(self) -> Path:
        return self.root / "metrics.jsonl"

    @property
    def checkpoints(self) -> Path:
        return self.root / "checkpoints"

    @property
    def samples(self) -> Path:
        return self.root / "samples"

    @property
    def tensorboard(self) -> Path:
        return self.root / "tensorboard"

    def write_classes(self, names: list[str], source: str) -> None:
        payload = {"source": source, "class_names": names}
        self.classes.write_text(json.dumps(payload, indent=1), encoding="utf-8")

    def read_classes(self) -> list[str]:
        return list(json.loads(self.classes.read_text(encoding="utf-8"))["class_names"])


class MetricsLog:
    """Appends one JSON object per logged step and mirrors scalars to TensorBoard."""

    def __init__(self, run: RunDir, resume_step: int | None = None) -> None:
        self.path = run.metrics
        if resume_step is not None and self.path.exists():
            self._truncate_after(resume_step)
        try:
            from torch.utils.tensorboard import SummaryWriter

            self.writer = SummaryWriter(str(run.tensorboard), purge_step=resume_step)
        except ImportError:  # tensorboard is a dependency; tolerate its absence in odd installs
            self.writer = None

    def _truncate_after(self, step: int, keep_kinds: tuple[str, ...] = ()) -> None:
        """Drop lines logged after the checkpoint we resume from, so no step appears twice."""
        kept = []
        for line in self.path.read_text(encoding="utf-8").splitlines():
            try:
                row = json.loads(line)
                if row["step"] <= step or row.get("kind") in keep_kinds:
                    kept.append(line)
            except (ValueError, KeyError):
                continue
        self.path.write_text("".join(k + "\n" for k in kept), encoding="utf-8")

    def rewind(self, step: int) -> None:
        """After a rollback: forget the abandoned steps' rows but keep the guard's events."""
        if self.path.exists():
            self._truncate_after(step, keep_kinds=("guard",))

    def scalars(self, tag: str, values: dict[str, float], step: int) -> None:
        """Many related scalars (e.g. each layer's sigma_0) to TensorBoard only."""
        if self.writer is not None:
            for key, value in values.items():
                self.writer.add_scalar(f"{tag}/{key or 'root'}", value, step)

    def log(self, record: dict[str, Any]) -> None:
        clean = {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in record.items()}
        with self.path.open("a", encoding="utf-8") as fh:
            fh.write(json.dumps(clean) + "\n")
        if self.writer is not None:
            step = int(record["step"])
            prefix = f"{record['kind']}/" if "kind" in record else ""
            for key, value in record.items():
                if key not in ("step", "time") and isinstance(value, (int, float)):
                    self.writer.add_scalar(prefix + key, value, step)
            if record.get("kind") == "guard":
                self.writer.add_text("guard", f"{record.get('event')}: {record.get('detail')}", step)

    def image(self, tag: str, grid: np.ndarray, step: int) -> None:
        if self.writer is not None:
            self.writer.add_image(tag, grid, step, dataformats="HWC")

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


def read_metrics(run_root: Path) -> list[dict[str, Any]]:
    path = RunDir(run_root).metrics
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


class NullLog(MetricsLog):
    """What ranks other than 0 log to: nothing (rank 0 writes the run's one log)."""

    def __init__(self) -> None:  # noqa: D107 - writes nothing, opens nothing
        self.writer = None

    def rewind(self, step: int) -> None:
        pass

    def scalars(self, tag: str, values: dict[str, float], step: int) -> None:
        pass

    def log(self, record: dict[str, Any]) -> None:
        pass

    def image(self, tag: str, grid: np.ndarray, step: int) -> None:
        pass

    def close(self) -> None:
        pass
