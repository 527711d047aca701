"""The translation training loop: epochs of steps of one model (pix2pix or CycleGAN), with the
engine's run directory, metrics log (JSON lines + TensorBoard), atomic checkpoints and graceful
stop. Everything a step depends on is checkpointed, so a resumed run continues exactly: all
networks, optimisers, LR schedulers, image pools, the data order and jitter, the logging window
and the torch / numpy / python RNG states.
"""

from __future__ import annotations

import contextlib
import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from ganforge.config import Config
from ganforge.errors import GanforgeError
from ganforge.sampling import make_grid, save_image
from ganforge.training.checkpoint import save_checkpoint
from ganforge.training.rng_state import capture_rng, restore_rng
from ganforge.training.run_dir import MetricsLog, RunDir
from ganforge.training.signals import GracefulStop
from ganforge.training.trainer import resolve_device
from ganforge.translation.checks import check_translation_config
from ganforge.translation.cyclegan import CycleGAN
from ganforge.translation.data import TranslationData
from ganforge.translation.evaluate import Evaluator
from ganforge.translation.inference import run_generator
from ganforge.translation.pix2pix import Pix2Pix
from ganforge.translation.schedule import make_scheduler
from ganforge.translation.streams import TranslationStream

SAMPLE_COLUMNS = 8
GRID_MIN_SIDE = 96  # tiles of smaller images are enlarged (nearest) to about this size
CHECKPOINT_TASK = "translation"


def build_model(config: Config, device: torch.device) -> Pix2Pix | CycleGAN:
    return (Pix2Pix if config.translation.mode == "pix2pix" else CycleGAN)(config, device)


def check_data(config: Config, data: TranslationData) -> None:
    if config.translation.mode == "pix2pix" and not data.paired:
        raise GanforgeError(
            f"pix2pix trains on paired data but '{data.source}' is unpaired; use --data "
            "paired:DIR (or demo:edges2digits), or --recipe cyclegan for unpaired data"
        )


class TranslationTrainer:
    """Holds the model, its data stream, schedulers and evaluator for one run."""

    def __init__(self, config: Config, data: TranslationData, run: RunDir) -> None:
        check_translation_config(config)
        check_data(config, data)
        self.config, self.data, self.run = config, data, run
        tc, train = config.translation, config.train
        self.device = resolve_device(train.device)
        torch.manual_seed(train.seed)
        self.model = build_model(config, self.device)
        paired = data.paired and tc.mode == "pix2pix"  # CycleGAN draws even paired data unpaired
        self.stream = TranslationStream(
            data.train_a,
            data.train_b,
            paired,
            train.batch_size,
            tc.crop_size,
            config.data.hflip,
            train.seed,
        )
        largest = max(self.stream.sizes.values())
        self.steps_per_epoch = tc.steps_per_epoch or max(1, largest // train.batch_size)
        self.total_epochs = tc.epochs + tc.epochs_decay
        self.total_steps = self.total_epochs * self.steps_per_epoch
        self.schedulers = {
            name: make_scheduler(opt, tc.epochs, tc.epochs_decay)
            for name, opt in self.model.optimizers.items()
        }
        self.evaluator = Evaluator(config, data, self.device)
        self.step = 0
        self.window: dict[str, float] = {}
        self.window_steps = 0
        self.last_eval: dict[str, Any] = {}
        self.stopped_by: str | None = None
        self._tick, self._timed_steps = time.perf_counter(), 0
        self.sample_a, self.sample_b = self._sample_inputs()

    @property
    def epoch(self) -> int:
        return self.step // self.steps_per_epoch

    def _sample_inputs(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Fixed images for the progress grids: the first test images, else centre crops."""
        if self.data.has_test:
            return self.data.test_a[:SAMPLE_COLUMNS], self.data.test_b[:SAMPLE_COLUMNS]
        crop = self.config.translation.crop_size
        side = self.data.train_a.shape[-1]
        top = (side - crop) // 2
        window = (slice(None), slice(None), slice(top, top + crop), slice(top, top + crop))
        return self.data.train_a[:SAMPLE_COLUMNS][window], self.data.train_b[:SAMPLE_COLUMNS][
            window
        ]

    # ---- one step ------------------------------------------------------------------------------
    def train_step(self) -> dict[str, float]:
        a, b = self.stream.next()
        for net in self.model.networks.values():
            net.train()
        losses = self.model.step(self._to_model(a), self._to_model(b))
        keys = list(losses)
        values = torch.stack([losses[k].float() for k in keys]).tolist()
        self.step += 1
        if self.step % self.steps_per_epoch == 0:
            for scheduler in self.schedulers.values():
                scheduler.step()
        return dict(zip(keys, values, strict=True))

    def _to_model(self, images: torch.Tensor) -> torch.Tensor:
        return images.to(self.device, non_blocking=True).float().div_(127.5).sub_(1.0)

    @property
    def lr(self) -> float:
        return float(self.model.optimizers["G"].param_groups[0]["lr"])

    # ---- state ---------------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        return {
            "task": CHECKPOINT_TASK,
            "mode": self.config.translation.mode,
            "step": self.step,
            "epoch": self.epoch,
            "networks": {k: v.state_dict() for k, v in self.model.networks.items()},
            "optimizers": {k: v.state_dict() for k, v in self.model.optimizers.items()},
            "schedulers": {k: v.state_dict() for k, v in self.schedulers.items()},
            "pools": {k: v.state_dict() for k, v in self.model.pools.items()},
            "stream": self.stream.state_dict(),
            "log_window": {"sums": dict(self.window), "steps": self.window_steps},
            "rng": capture_rng(),
            "config": self.config.to_dict(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if (
            state.get("task") != CHECKPOINT_TASK
            or state.get("mode") != self.config.translation.mode
        ):
            raise GanforgeError(
                f"the checkpoint is not a {self.config.translation.mode} translation checkpoint; "
                "resume with the run's own config.yaml"
            )
        try:
            for name, net in self.model.networks.items():
                net.load_state_dict(state["networks"][name])
        except (RuntimeError, KeyError) as exc:
            first = str(exc).splitlines()[1].strip() if "\n" in str(exc) else str(exc)
            raise GanforgeError(
                f"the checkpoint does not fit this architecture ({first}); "
                "resume with the run's own config.yaml"
            ) from None
        for name, opt in self.model.optimizers.items():
            opt.load_state_dict(state["optimizers"][name])
        tc = self.config.translation
        for name, scheduler in self.schedulers.items():
            scheduler.load_state_dict(state["schedulers"][name])
            # the position comes from the checkpoint, the rule from the config (which a user may
            # have edited to train longer)
            rule = scheduler.lr_lambdas[0]
            rule.constant, rule.decay = tc.epochs, tc.epochs_decay
            for group, base in zip(
                scheduler.optimizer.param_groups, scheduler.base_lrs, strict=True
            ):
                group["lr"] = base * rule(scheduler.last_epoch)
            scheduler._last_lr = [group["lr"] for group in scheduler.optimizer.param_groups]
        for name, pool in self.model.pools.items():
            pool.load_state_dict(state["pools"][name], self.device)
        self.stream.load_state_dict(state["stream"])
        self.step = int(state["step"])
        self.window = {k: float(v) for k, v in state["log_window"]["sums"].items()}
        self.window_steps = int(state["log_window"]["steps"])
        rng = state["rng"]
        restore_rng(rng)

    def save(self) -> Path:
        return save_checkpoint(
            self.state_dict(), self.run.checkpoints, self.step, self.config.train.keep_checkpoints
        )

    # ---- outputs -------------------------------------------------------------------------------
    def sample_grid(self) -> np.ndarray:
        """pix2pix rows: input, output, target. CycleGAN rows: A, G_AB(A), G_BA(G_AB(A)),
        B, G_BA(B), G_AB(G_BA(B))."""
        mode, seed = self.config.translation.inference, self.config.train.seed
        model = self.model
        if isinstance(model, Pix2Pix):
            x, y = (
                (self.sample_a, self.sample_b)
                if model.direction == "AtoB"
                else (self.sample_b, self.sample_a)
            )
            rows = [_float(x), run_generator(model.G, x, mode, seed), _float(y)]
        else:
            fake_b = run_generator(model.G_AB, self.sample_a, mode, seed)
            fake_a = run_generator(model.G_BA, self.sample_b, mode, seed)
            rows = [
                _float(self.sample_a),
                fake_b,
                run_generator(model.G_BA, fake_b, mode, seed),
                _float(self.sample_b),
                fake_a,
                run_generator(model.G_AB, fake_a, mode, seed),
            ]
        channels = max(r.shape[1] for r in rows)
        images = torch.cat([r.expand(-1, channels, -1, -1) for r in rows])
        zoom = max(1, GRID_MIN_SIDE // images.shape[-1])  # small images: enlarge, pixels kept
        if zoom > 1:
            images = images.repeat_interleave(zoom, -1).repeat_interleave(zoom, -2)
        return make_grid(images, len(rows[0]))

    def write_samples(self, log: MetricsLog | None) -> Path:
        grid = self.sample_grid()
        path = self.run.samples / f"step_{self.step:08d}.png"
        save_image(grid, path)
        save_image(grid, self.run.samples / "latest.png")
        if log is not None:
            log.image("samples", grid if grid.shape[-1] == 3 else grid.repeat(3, -1), self.step)
        return path

    def evaluate(self, log: MetricsLog | None) -> dict[str, Any]:
        record = {"step": self.step, "epoch": self.epoch, "time": time.time(), "kind": "eval"}
        record.update(self.evaluator(self.model))
        self.last_eval = record
        if log is not None and len(record) > 4:
            log.log(record)
        return record

    def write_evaluation(self) -> Path:
        """RUN_DIR/evaluation.json: the last evaluation with its protocol."""
        path = self.run.root / "evaluation.json"
        payload = {
            "metrics": self.last_eval,
            "protocol": self.evaluator.protocol(),
            "source": self.data.source,
        }
        path.write_text(json.dumps(payload, indent=1) + "\n", encoding="utf-8")
        return path

    # ---- the loop ------------------------------------------------------------------------------
    def fit(self, progress: bool = True, stop: GracefulStop | None = None) -> None:
        """Train to `total_steps`, logging, sampling, evaluating and checkpointing on schedule."""
        log = MetricsLog(self.run, resume_step=self.step)
        bar = tqdm(
            total=self.total_steps,
            initial=self.step,
            desc="train",
            unit="step",
            disable=not progress,
            dynamic_ncols=True,
        )
        self._tick, self._timed_steps = time.perf_counter(), 0
        with contextlib.nullcontext(stop) if stop is not None else GracefulStop() as stop:
            try:
                while self.step < self.total_steps:
                    self._iteration(log, bar)
                    if stop.requested is not None:
                        path = self.save()
                        bar.write(
                            f"stopping on {stop.requested}: checkpoint {path.name} saved at "
                            f"step {self.step}; continue with: ganforge train --resume "
                            f"{self.run.root}"
                        )
                        self.stopped_by = stop.requested
                        break
            finally:
                bar.close()
                log.close()
        if self.stopped_by is None:
            self.write_evaluation()
        if self.config.monitor.plot:
            self._plot()

    def _plot(self) -> None:
        from ganforge.training.dashboard import plot_dashboard

        try:
            plot_dashboard(self.run.root)
        except Exception as exc:  # noqa: BLE001 - plotting is a convenience
            print(f"warning: could not write the dashboard: {exc}")

    def _iteration(self, log: MetricsLog, bar: tqdm) -> None:
        train, tc = self.config.train, self.config.translation
        lr = self.lr
        for key, value in self.train_step().items():
            self.window[key] = self.window.get(key, 0.0) + value
        self.window_steps += 1
        self._timed_steps += 1
        bar.update(1)
        last = self.step == self.total_steps
        if self.step % train.log_every == 0 or last:
            elapsed = time.perf_counter() - self._tick
            record = {"step": self.step, "epoch": self.epoch, "time": time.time(), "kind": "train"}
            record.update({k: v / self.window_steps for k, v in self.window.items()})
            record["lr"] = lr
            record["images_per_s"] = train.batch_size * self._timed_steps / max(elapsed, 1e-9)
            log.log(record)
            bar.set_postfix(
                loss_d=f"{record['loss_d']:.3f}",
                loss_g=f"{record['loss_g']:.3f}",
                img_s=f"{record['images_per_s']:.1f}",
            )
            self.window, self.window_steps = {}, 0
            self._tick, self._timed_steps = time.perf_counter(), 0
        busy = False
        if self.step % train.sample_every == 0 or last:
            self.write_samples(log)
            busy = True
        epoch_end = self.step % self.steps_per_epoch == 0
        if last or (epoch_end and tc.eval_every and self.epoch % tc.eval_every == 0):
            record = self.evaluate(log)
            shown = {
                k: round(v, 4)
                for k, v in record.items()
                if isinstance(v, float) and k not in ("time",) and not k.endswith("_std")
            }
            if shown:
                bar.write(f"epoch {self.epoch} step {self.step}: {shown}")
            busy = True
        if self.step % train.checkpoint_every == 0 or last:
            self.save()
            busy = True
        if busy:  # images_per_s measures training, not evaluation or writing
            self._tick, self._timed_steps = time.perf_counter(), 0


def _float(images: torch.Tensor) -> torch.Tensor:
    return images.float().div(127.5).sub(1.0)
