"""The interface the one training loop drives: a task owns one training step and its state.

The loop (`training/loop.py`) owns everything around the step: the schedule, logging window,
graceful stop, sample grids, evaluation and `best.pt`, checkpoints and exact resume, the guard
and its rollback, the dashboard and the torchrun ranks. A task says what one step is, what it
must save, what its progress grid shows and how it is evaluated.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

import numpy as np

from ganforge.config import Config
from ganforge.training.run_dir import MetricsLog


class Task(ABC):
    """One kind of training (generation, translation, ...) on the shared loop."""

    name: str  # written into checkpoints as "task"
    config: Config

    @abstractmethod
    def total_steps(self) -> int:
        """The run's budget in steps (what `--steps` sets)."""

    @abstractmethod
    def images_per_step(self) -> int:
        """Real images consumed per step over all ranks (for images_per_s)."""

    @abstractmethod
    def train_step(self, step: int) -> dict[str, float]:
        """One training step, which makes the run's step count `step`; per-step statistics."""

    def log_readings(self, step: int, log: MetricsLog | None, with_monitors: bool) -> dict[str, Any]:
        """Extra values for the train record at each log (and the monitors when `with_monitors`)."""
        return {}

    def monitor_readings(self, step: int, log: MetricsLog | None) -> dict[str, float]:
        """Training-health readings for `monitor.every` (singular values, diversity)."""
        return {}

    @abstractmethod
    def sample_grid(self) -> np.ndarray:
        """The progress grid (H, W, C uint8) of the current networks."""

    def evaluation_due(self, step: int, total: int) -> bool:
        return False

    def evaluate(self, step: int) -> dict[str, float]:
        """Metrics of the current networks as one flat row."""
        return {}

    def lower_is_better(self, key: str) -> bool:
        return False

    def finish(self, stopped: bool) -> None:  # noqa: B027 - an optional hook
        """After fit (e.g. translation writes evaluation.json)."""

    @abstractmethod
    def state_dict(self) -> dict[str, Any]:
        """Everything a step depends on besides the loop's own state and the global RNGs."""

    @abstractmethod
    def load_state_dict(self, state: dict[str, Any]) -> None: ...

    def rng_state(self) -> dict[str, Any]:
        """The task's own random generators (saved beside the global ones under "rng")."""
        return {}

    def load_rng_state(self, rng: dict[str, Any]) -> None:  # noqa: B027 - an optional hook
        pass

    def rank_state(self) -> dict[str, Any]:
        """State that differs between torchrun ranks (e.g. image pools); gathered at save."""
        return {}

    def load_rank_state(self, state: dict[str, Any]) -> None:  # noqa: B027 - an optional hook
        pass

    @abstractmethod
    def state_is_finite(self) -> bool: ...

    def apply_remedy(self, lr_scale: float, p_boost: float) -> str:
        """After a rollback: learning rates to lr_scale x their configured values, augmentation
        up by p_boost; returns what changed, for the log."""
        return ""

    def seed_rank(self, rank: int, step: int) -> None:  # noqa: B027 - an optional hook
        """Seed what differs between ranks when no per-rank state was saved."""
