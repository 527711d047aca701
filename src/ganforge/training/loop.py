"""The one training loop: every task (generation, translation, ...) runs through it.

It owns what is the same for every kind of GAN: the step budget, the logging window, graceful
stop, progress grids, in-training evaluation and `best.pt`, checkpoints with exact resume, the
guard and its rollback, the dashboard and torchrun's ranks (rank 0 writes; every rank steps).
The task (`training/tasks/`) owns one training step and its state. A checkpoint holds the loop's
state, the task's state and every random stream, so a resumed run continues exactly.
"""

from __future__ import annotations

import contextlib
import copy
import json
import random
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from ganforge.config import Config
from ganforge.errors import GanforgeError
from ganforge.sampling import save_image
from ganforge.training import distributed
from ganforge.training.checkpoint import (
    list_checkpoints,
    load_latest_checkpoint,
    save_checkpoint,
    save_named_checkpoint,
)
from ganforge.training.dashboard import plot_dashboard
from ganforge.training.guard import Guard, GuardEvent
from ganforge.training.rng_state import capture_rng, restore_rng
from ganforge.training.run_dir import MetricsLog, NullLog, RunDir
from ganforge.training.signals import GracefulStop
from ganforge.training.tasks.base import Task


@contextlib.contextmanager
def preserved_rng() -> Any:
    """Run a block without disturbing the torch, CUDA, numpy and python random streams."""
    numpy_state, python_state = np.random.get_state(), random.getstate()
    devices = list(range(torch.cuda.device_count())) if torch.cuda.is_available() else []
    with torch.random.fork_rng(devices=devices):
        try:
            yield
        finally:
            np.random.set_state(numpy_state)
            random.setstate(python_state)


class Loop:
    """Drives one task of one run: `Loop(config, task, run, guard).fit()`."""

    def __init__(self, config: Config, task: Task, run: RunDir, guard: Guard) -> None:
        self.config, self.task, self.run, self.guard = config, task, run, guard
        self.dist = distributed.current()
        self.device = getattr(task, "device", torch.device("cpu"))
        self.step = 0
        self.best: dict[str, Any] | None = None
        self.stopped_by: str | None = None  # the signal that ended fit() early, if any
        self.window: dict[str, float] = {}  # sums of per-step statistics since the last log
        self.window_steps = 0
        # steps that reported each statistic (StarGAN's G losses come every n_critic-th step)
        self.window_counts: dict[str, int] = {}
        self._tick, self._timed_steps = time.perf_counter(), 0

    def _say(self, message: str, bar: tqdm | None = None) -> None:
        """Print on rank 0 only (every rank runs the same loop)."""
        if self.dist.is_main:
            (bar.write if bar is not None else print)(message)

    # ---- state -------------------------------------------------------------------------------
    def state_dict(self, gather: bool = True) -> dict[str, Any]:
        """The loop's and the task's state; `gather` (every rank must call it then) adds each
        rank's random streams under torchrun."""
        state = {
            "task": self.task.name,
            "step": self.step,
            **self.task.state_dict(),
            "log_window": {"sums": dict(self.window), "steps": self.window_steps,
                           "counts": dict(self.window_counts)},
            "guard": self.guard.state_dict(),
            "config": self.config.to_dict(),
            "rng": {**capture_rng(), **self.task.rng_state()},
        }
        if gather and self.dist.enabled:  # what differs between ranks: their random streams (and pools)
            mine = {"rng": capture_rng(), "task": self.task.rank_state()}
            ranks: list[Any] = [None] * self.dist.world
            torch.distributed.all_gather_object(ranks, mine)
            state["ranks"] = ranks
        return state

    def load_state_dict(self, state: dict[str, Any], restore_guard: bool = True) -> None:
        kind = state.get("task", "generation")
        if kind != self.task.name:
            raise GanforgeError(
                f"the checkpoint is a {kind} checkpoint, not a {self.task.name} one; "
                "resume with the run's own config.yaml"
            )
        self.task.load_state_dict(state)
        self.step = int(state["step"])
        self.window = {k: float(v) for k, v in state["log_window"]["sums"].items()}
        self.window_steps = int(state["log_window"]["steps"])
        counts = state["log_window"].get("counts")  # absent in older checkpoints: every step
        self.window_counts = ({k: int(v) for k, v in counts.items()} if counts is not None
                              else {k: self.window_steps for k in self.window})
        if restore_guard and "guard" in state:
            self.guard.load_state_dict(state["guard"])
        restore_rng(state["rng"])
        self.task.load_rng_state(state["rng"])
        ranks = state.get("ranks")
        if ranks is not None and len(ranks) == self.dist.world:
            restore_rng(ranks[self.dist.rank]["rng"])
            self.task.load_rank_state(ranks[self.dist.rank]["task"])
        elif self.dist.rank > 0:  # a checkpoint from another world size: derive this rank's
            self.task.seed_rank(self.dist.rank, self.step)
        best = self.run.root / "best.json"
        self.best = json.loads(best.read_text(encoding="utf-8")) if best.is_file() else None

    def save(self) -> Path | None:
        """Checkpoint (rank 0 writes; every rank takes part in gathering its own state)."""
        state = self.state_dict()
        if not self.dist.is_main:
            return None
        return save_checkpoint(state, self.run.checkpoints, self.step, self.config.train.keep_checkpoints)

    # ---- outputs -----------------------------------------------------------------------------
    def write_samples(self, log: MetricsLog | None) -> Path:
        grid = self.task.sample_grid()
        path = self.run.samples / f"step_{self.step:08d}.png"
        save_image(grid, path)
        save_image(grid, self.run.samples / "latest.png")
        if log is not None:
            log.image("samples", grid if grid.shape[-1] == 3 else grid.repeat(3, -1), self.step)
        return path

    def evaluate(self, log: MetricsLog | None, bar: tqdm | None = None) -> dict[str, float]:
        """The task's metrics now (without touching the training's random streams); keeps
        `best.pt` by `eval.best_metric`."""
        with preserved_rng():
            row = self.task.evaluate(self.step)
        if not row:
            return row
        if log is not None:
            log.log({"step": self.step, "time": time.time(), "kind": "eval", **row})
        shown = {k: round(v, 4) for k, v in row.items()
                 if isinstance(v, float) and not k.endswith("_std")}
        if shown and bar is not None:
            self._say(f"eval at step {self.step}: {shown}", bar)
        key = self.config.eval.best_metric
        if key and row.get(key) is not None:
            value = float(row[key])
            old = self.best["value"] if self.best else None
            lower = self.task.lower_is_better(key)
            if old is None or (value < old if lower else value > old):
                self.best = {"metric": key, "value": value, "step": self.step}
                save_named_checkpoint(self.state_dict(gather=False), self.run.checkpoints / "best.pt")
                (self.run.root / "best.json").write_text(json.dumps(self.best) + "\n", encoding="utf-8")
        return row

    def plot_dashboard(self) -> Path | None:
        """RUN_DIR/dashboard.png; a failed plot warns but never fails a finished run."""
        try:
            return plot_dashboard(self.run.root)
        except Exception as exc:  # noqa: BLE001 - plotting is a convenience
            print(f"warning: could not write the dashboard: {exc}")
            return None

    # ---- the loop ----------------------------------------------------------------------------
    def fit(self, total_steps: int | None = None, progress: bool = True,
            stop: GracefulStop | None = None) -> None:
        """Train until `total_steps` (default: the task's budget), logging, sampling,
        evaluating and checkpointing on schedule.

        `stop`: a GracefulStop already listening (the CLI installs one before loading data, so
        a signal during set-up is honoured too); otherwise fit installs its own.
        """
        total = self.task.total_steps() if total_steps is None else total_steps
        main = self.dist.is_main
        log = MetricsLog(self.run, resume_step=self.step) if main else NullLog()
        bar = tqdm(total=total, initial=self.step, desc="train", unit="step",
                   disable=not (progress and main), dynamic_ncols=True)
        self._tick, self._timed_steps = time.perf_counter(), 0
        if self.config.guard.rollback and not list_checkpoints(self.run.checkpoints):
            self.save()  # something healthy to roll back to
            distributed.barrier()
        with contextlib.nullcontext(stop) if stop is not None else GracefulStop() as stop:
            try:
                while self.step < total:
                    self._iteration(total, log, bar)
                    # a signal may reach one rank only: all stop at the same step, or none
                    if distributed.any_rank(stop.requested is not None, self.device):
                        path = self.save()
                        self._say(
                            f"stopping on {stop.requested or 'a signal to another rank'}: checkpoint "
                            f"{path.name if path else ''} saved at step {self.step}; continue with: "
                            f"ganforge train --resume {self.run.root}", bar,
                        )
                        self.stopped_by = stop.requested or "peer"
                        break
            finally:
                bar.close()
                log.close()
        if main:
            self.task.finish(self.stopped_by is not None)
        if self.config.monitor.plot and main:
            self.plot_dashboard()

    def _iteration(self, total: int, log: MetricsLog, bar: tqdm) -> None:
        """One task step, then whatever logging/sampling/evaluation/checkpoint is due.

        Per-step statistics accumulate in `self.window` (saved in checkpoints), so a resumed
        run logs exactly the averages an uninterrupted one would.
        """
        tc = self.config.train
        stats = self.task.train_step(self.step + 1)
        self.step += 1
        for key, value in stats.items():
            self.window[key] = self.window.get(key, 0.0) + value
            self.window_counts[key] = self.window_counts.get(key, 0) + 1
        self.window_steps += 1
        self._timed_steps += 1
        bar.update(1)
        last = self.step == total
        if self.step % tc.log_every == 0 or last:
            if self._log_train(log, bar):
                return
        every = self.config.monitor.every
        if every and self.step % every == 0:
            reading = {"step": self.step, "time": time.time(), "kind": "monitor"}
            reading.update(self.task.monitor_readings(self.step, log))
            log.log(reading)
            if self._handle_events(self.guard.check(reading), log, bar):
                return
        busy = False
        if self.dist.is_main and (self.step % tc.sample_every == 0 or last):
            self.write_samples(log)
            busy = True
        if self.dist.is_main and self.task.evaluation_due(self.step, total):
            self.evaluate(log, bar)
            busy = True
        if self.step % tc.checkpoint_every == 0 or last:
            if self.config.guard.rollback and not self.task.state_is_finite():
                event = GuardEvent("nonfinite", "a parameter or buffer is not finite at checkpoint time")
                self._handle_events([event], log, bar)
                return
            self.save()
            busy = True
        if busy:  # images_per_s measures training, not evaluation or writing
            self._tick, self._timed_steps = time.perf_counter(), 0

    def _log_train(self, log: MetricsLog, bar: tqdm) -> bool:
        """Write the window's averages; True if the guard rolled the run back."""
        window = self.window
        if self.dist.enabled:  # every rank logs (and the guard judges) the same averages
            window = self._mean_over_ranks(window)
        elapsed = time.perf_counter() - self._tick
        record: dict[str, Any] = {"step": self.step, "time": time.time(), "kind": "train"}
        record.update({k: v / self.window_counts.get(k, self.window_steps) for k, v in window.items()})
        record["images_per_s"] = self.task.images_per_step() * self._timed_steps / max(elapsed, 1e-9)
        record.update(self.task.log_readings(self.step, log, self.config.monitor.every == 0))
        log.log(record)
        postfix = {k: f"{record[k]:.3f}" for k in ("loss_d", "loss_g") if k in record}
        bar.set_postfix(**postfix, img_s=f"{record['images_per_s']:.1f}")
        self.window, self.window_steps, self.window_counts = {}, 0, {}
        self._tick, self._timed_steps = time.perf_counter(), 0
        return self._handle_events(self.guard.check(record), log, bar)

    def _mean_over_ranks(self, window: dict[str, float]) -> dict[str, float]:
        keys = sorted(window)
        values = torch.tensor([window[k] for k in keys], dtype=torch.float64, device=self.device)
        return dict(zip(keys, distributed.all_reduce_mean(values).tolist(), strict=True))

    # ---- the guard -----------------------------------------------------------------------------
    def _handle_events(self, events: list[GuardEvent], log: MetricsLog, bar: tqdm) -> bool:
        """Log and warn about each event; with guard.rollback, roll back. True if rolled back."""
        for event in events:
            log.log({"step": self.step, "time": time.time(), "kind": "guard",
                     "event": event.kind, "detail": event.detail})
            self._say(f"warning: guard: {event.kind} at step {self.step}: {event.detail}", bar)
        if not events or not self.config.guard.rollback:
            return False
        self.rollback(log, bar, events[0].kind)
        return True

    def rollback(self, log: MetricsLog, bar: tqdm | None, reason: str) -> None:
        """Restore the newest checkpoint and apply the remedy: lower learning rates, more aug."""
        current = copy.deepcopy(self.guard.state_dict())
        path, state, _ = load_latest_checkpoint(self.run.checkpoints)
        failed_at = self.step
        self.load_state_dict(state, restore_guard=False)
        self.guard.load_state_dict(current)
        self.guard.after_rollback()
        remedy = self.task.apply_remedy(self.guard.lr_scale, self.config.guard.augment_p_boost)
        detail = f"{reason} at step {failed_at}: restored {path.name} (step {self.step}); {remedy}"
        log.rewind(self.step)
        log.log({"step": self.step, "time": time.time(), "kind": "guard", "event": "rollback",
                 "detail": detail, "rollbacks": self.guard.rollbacks})
        if bar is not None:
            bar.n = self.step
            bar.refresh()
        self._say(f"guard: rolled back: {detail}", bar)
        self._tick, self._timed_steps = time.perf_counter(), 0
