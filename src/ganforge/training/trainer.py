"""The training loop: alternating D and G steps, EMA, logging, samples and checkpoints.

One readable loop (nanoGPT-style) that every recipe runs through; components come from the
config. The full state (models, optimizers, EMA, data order, RNGs) is checkpointed so that a
resumed run continues exactly.
"""

from __future__ import annotations

import contextlib
import copy
import json
import math
import random
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from ganforge.augment import build_augment
from ganforge.config import Config, save_config
from ganforge.data import ImageDataset
from ganforge.errors import GanforgeError
from ganforge.models import build_models
from ganforge.nn.cross_replica_bn import convert_cross_replica
from ganforge.nn.fast_conv import CONV_ALGORITHMS, use_conv_algorithm
from ganforge.objectives import get_objective, orthogonal_penalty
from ganforge.sampling import generate, make_grid, save_image, truncated_normal
from ganforge.training import distributed
from ganforge.training.batches import BatchStream
from ganforge.training.checkpoint import (
    list_checkpoints,
    load_latest_checkpoint,
    save_checkpoint,
    save_named_checkpoint,
)
from ganforge.training.ema import EMA
from ganforge.training.guard import Guard, GuardEvent
from ganforge.training.methods import build_method
from ganforge.training.monitors import (
    DECISION_KEYS,
    decision_stats,
    gradient_norm,
    singular_values,
    within_class_diversity,
)
from ganforge.training.precision import Precision
from ganforge.training.rng_state import capture_rng, restore_rng
from ganforge.training.run_dir import MetricsLog, NullLog, RunDir
from ganforge.training.signals import GracefulStop

SAMPLE_COLUMNS = 8
MAX_SAMPLE_ROWS = 10
OPTIMIZERS = ("adam", "rmsprop")


SINGLE_PROCESS_METHODS = ("began", "sgan", "lapgan")  # their extra state is not yet reduced over ranks


def make_optimizer(tc: Any, params: Any, lr: float, betas: list[float]) -> torch.optim.Optimizer:
    """Adam with the recipe's betas and eps (most GANs), or RMSprop (WGAN's choice: momentum-
    free, since momentum destabilised its critic). `train.fused_adam`: one fused kernel."""
    if tc.optimizer == "adam":
        fused = {"fused": True} if tc.fused_adam else {}
        return torch.optim.Adam(params, lr=lr, betas=tuple(betas), eps=tc.adam_eps, **fused)
    if tc.optimizer == "rmsprop":
        return torch.optim.RMSprop(params, lr=lr)
    raise GanforgeError(f"unknown train.optimizer '{tc.optimizer}'; available: {', '.join(OPTIMIZERS)}")


def resolve_device(name: str) -> torch.device:
    """The training device; under torchrun with CUDA, rank r's GPU is cuda:LOCAL_RANK."""
    ctx = distributed.current()
    if ctx.enabled and (name == "auto" or name.startswith("cuda")) and torch.cuda.is_available():
        return torch.device(f"cuda:{ctx.local_rank}")
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise GanforgeError(f"train.device={name} but no CUDA GPU is available; use train.device=cpu")
    try:
        return torch.device(name)
    except RuntimeError:
        raise GanforgeError(f"unknown train.device '{name}'; use auto, cpu or cuda[:N]") from None


def regularised_weights(model: nn.Module) -> list[torch.Tensor]:
    """Matrix-shaped trainable weights except embeddings (BigGAN leaves the shared one out)."""
    out = []
    for module in model.modules():
        if isinstance(module, nn.Embedding):
            continue
        params = getattr(module, "parametrizations", None)
        if params is not None and "weight" in params:
            out.append(params.weight.original)
        elif isinstance(module, (nn.Conv2d, nn.Linear)):
            out.append(module.weight)
    return out


def sample_row_classes(n_classes: int) -> list[int]:
    """One grid row per class, evenly spread when there are more classes than rows."""
    if n_classes <= MAX_SAMPLE_ROWS:
        return list(range(n_classes))
    return np.linspace(0, n_classes - 1, MAX_SAMPLE_ROWS).round().astype(int).tolist()


class Trainer:
    """Holds G, D, G_ema, their optimizers and the data stream of one run."""

    def __init__(self, config: Config, dataset: ImageDataset, run: RunDir) -> None:
        self.config, self.dataset, self.run = config, dataset, run
        tc = config.train
        Precision(tc.precision, torch.device("cpu"))  # validates the setting before any work
        for key in ("d_steps", "accumulate", "steps", "log_every", "sample_every", "checkpoint_every"):
            if getattr(tc, key) <= 0:
                raise GanforgeError(f"train.{key} must be a positive integer, got {getattr(tc, key)}")
        self.dist = distributed.current()
        self._check_distributed()
        self.local_batch = tc.batch_size // self.dist.world  # this rank's share of every batch
        self.device = resolve_device(tc.device)
        torch.manual_seed(tc.seed)  # the same on every rank: identical initial networks
        self.G, self.D = build_models(config.model)
        if tc.sync_bn:
            convert_cross_replica(self.G)
            convert_cross_replica(self.D)
        memory = torch.channels_last if tc.channels_last else torch.preserve_format
        self.G.to(self.device, memory_format=memory)
        self.D.to(self.device, memory_format=memory)
        self._route_convolutions()
        distributed.broadcast_module(self.G)
        distributed.broadcast_module(self.D)
        self.G_ema = copy.deepcopy(self.G)
        self.ema = EMA(self.G, self.G_ema, tc.ema_decay, tc.ema_start)
        self.objective = get_objective(tc.loss)
        self.precision = Precision(tc.precision, self.device)
        self.opt_g = make_optimizer(tc, self.G.parameters(), tc.lr_g, tc.betas_g)
        self.opt_d = make_optimizer(tc, self.D.parameters(), tc.lr_d, tc.betas_d)
        self.n_classes = config.model.n_classes
        # z and y come from their own generators (on the CPU, so a seed means the same noise on
        # any device), drawn for the global batch and sliced per rank: the samples of a step
        # do not depend on the number of ranks or micro-batches.
        self.noise_gen = torch.Generator().manual_seed(tc.seed + 2)
        self.label_gen = torch.Generator().manual_seed(tc.seed + 3)
        self.method = build_method(self)
        dataset = self.method.prepare_dataset(dataset)
        if tc.data_on_device and self.device.type == "cuda":
            dataset = dataset.to(self.device)
        self.dataset = dataset
        self.stream = BatchStream(dataset, tc.batch_size, tc.seed, shard=(self.dist.rank, self.dist.world))
        self.augment, self.ada = build_augment(config.augment, tc.batch_size * tc.accumulate)
        if self.augment is not None:
            self.augment.to(self.device)
        if self.ada is not None and self.dist.enabled:
            self.ada.reduce = lambda total, count: _sum_over_ranks(total, count, self.device)
        if self.dist.rank > 0:  # augmentation, flips and dropout differ between ranks
            torch.manual_seed(tc.seed + 7919 * self.dist.rank)
        self.G_train = torch.compile(self.G) if tc.compile else self.G
        self.D_train = torch.compile(self.D) if tc.compile else self.D
        self.guard = Guard(config.guard)
        if config.monitor.every < 0:
            raise GanforgeError(f"monitor.every must be >= 0, got {config.monitor.every}")
        self.ortho_weights = regularised_weights(self.G) if tc.ortho_reg > 0 else []
        self.step = 0
        sample_gen = torch.Generator().manual_seed(tc.seed + 1)
        rows = sample_row_classes(self.n_classes)
        self.sample_labels = torch.tensor(rows).repeat_interleave(SAMPLE_COLUMNS)
        self.sample_z = self.method.grid_latent(
            truncated_normal((len(self.sample_labels), self.G.dim_z), tc.sample_truncation, sample_gen),
            self.sample_labels,
        )
        self._check_eval_config()
        self._eval_setup = None
        self.best: dict[str, Any] | None = None
        self.stopped_by: str | None = None  # the signal that ended fit() early, if any
        self.window: dict[str, float] = {}  # sums of per-step statistics since the last log
        self.window_steps = 0
        self._tick, self._timed_steps = time.perf_counter(), 0

    def _route_convolutions(self) -> None:
        """`train.conv_algorithm`: which kernels G's and D's 3x3 convolutions run on."""
        tc = self.config.train
        if tc.conv_algorithm not in CONV_ALGORITHMS:
            raise GanforgeError(f"unknown train.conv_algorithm '{tc.conv_algorithm}'; "
                                f"available: {', '.join(CONV_ALGORITHMS)}")
        if tc.conv_algorithm == "torch":
            return
        clashes = [f"train.precision={tc.precision}"] if tc.precision != "fp32" else []
        clashes += ["train.compile=true"] if tc.compile else []
        clashes += [f"device {self.device.type}"] if self.device.type != "cpu" else []
        if clashes:
            raise GanforgeError(f"train.conv_algorithm={tc.conv_algorithm} is a float32 eager CPU lever and "
                                f"cannot run with {' or '.join(clashes)}; set train.conv_algorithm=torch")
        use_conv_algorithm(self.G, tc.conv_algorithm)
        use_conv_algorithm(self.D, tc.conv_algorithm)

    def _check_distributed(self) -> None:
        tc, world = self.config.train, self.dist.world
        if tc.batch_size % world:
            raise GanforgeError(
                f"train.batch_size={tc.batch_size} does not split evenly among {world} processes; "
                f"use a multiple of {world} (it is the global batch)"
            )
        if world > 1 and self.config.method.name in SINGLE_PROCESS_METHODS:
            raise GanforgeError(
                f"method.name={self.config.method.name} trains on one process only; "
                "run it without torchrun (or with --nproc_per_node 1)"
            )

    def _say(self, message: str, bar: tqdm | None = None) -> None:
        """Print on rank 0 only (every rank runs the same loop)."""
        if self.dist.is_main:
            (bar.write if bar is not None else print)(message)

    def _check_eval_config(self) -> None:
        from ganforge.metrics.evaluate import METRIC_KEYS, parse_metrics

        ec = self.config.eval
        if ec.every < 0 or ec.n <= 0:
            raise GanforgeError("eval.every must be >= 0 and eval.n positive")
        names = parse_metrics(ec.metrics)
        if ec.best_metric:
            valid = [k for m in names for k in METRIC_KEYS[m]]
            if ec.best_metric not in valid:
                raise GanforgeError(
                    f"eval.best_metric '{ec.best_metric}' is not produced by eval.metrics "
                    f"{names}; choose one of: {', '.join(valid)}"
                )

    # ---- one optimisation step of each network -------------------------------------------
    def to_model_range(self, images: torch.Tensor) -> torch.Tensor:
        """uint8 images -> floats in [-1, 1] on the training device."""
        x = images.to(self.device, non_blocking=True).float().div_(127.5).sub_(1.0)
        if self.config.train.channels_last and x.dim() == 4:
            x = x.contiguous(memory_format=torch.channels_last)
        return x

    def real_batch(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The next real images (in [-1, 1], optionally flipped) and labels from the stream."""
        images, labels = self.stream.next()
        x = self.to_model_range(images)
        if self.config.data.hflip:
            flip = torch.rand(x.shape[0], device=self.device) < 0.5
            x = torch.where(flip.view(-1, 1, 1, 1), x.flip(3), x)
        return x, labels.to(self.device)

    def noise(self, n: int) -> tuple[torch.Tensor, torch.Tensor]:
        """This rank's n of z ~ N(0, I) (G's latent size) and uniformly drawn classes."""
        lo, hi, total = self.dist.rank * n, (self.dist.rank + 1) * n, n * self.dist.world
        z = torch.randn(total, self.G.dim_z, generator=self.noise_gen)[lo:hi]
        y = torch.randint(0, self.n_classes, (total,), generator=self.label_gen)[lo:hi]
        return z.to(self.device, non_blocking=True), y.to(self.device, non_blocking=True)

    def generate(self, z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """G's training forward (compiled with `train.compile`)."""
        return self.G_train(z, y)

    def discriminate(self, images: torch.Tensor, labels: torch.Tensor, heads: bool = False) -> Any:
        """D's logits (float32) on augmented images: every D call, in D and G steps, sees the
        same augmentation so that D never learns to tell augmented from clean. With `heads`,
        (logits, {head: output}) for the methods that read D's extra heads."""
        if self.augment is not None:
            images = self.augment(images)
        if heads:
            logits, extra = self.D_train(images, labels, heads=True)
            return logits.float(), extra
        return self.D_train(images, labels).float()

    def _finish_step(self, net: str, model: nn.Module, opt: torch.optim.Optimizer,
                     loss: torch.Tensor) -> tuple[float, float, bool]:
        """Average gradients over ranks, then step unless the loss or gradients are not finite.

        Under fp16 a finite loss with overflowing gradients is the scaler's routine skip
        (counted in `precision.overflow_skips`), not a guard event.
        """
        params = [p for group in opt.param_groups for p in group["params"]]
        loss = distributed.average_gradients(params, loss.detach().float())
        self.precision.unscale(opt, net)
        norm = gradient_norm(model).to(loss.device)
        loss_value, norm_value = torch.stack([loss, norm.float()]).tolist()
        if net in self.precision.scalers and math.isfinite(loss_value) and not math.isfinite(norm_value):
            self.precision.overflow_skips += 1
            ok = False
        else:
            ok = self.guard.step_is_finite(loss_value, norm_value)
        self.precision.step(opt, net, ok)
        opt.zero_grad(set_to_none=True)
        return loss_value, norm_value, ok

    def d_step(self) -> dict[str, float]:
        """One D optimizer step: the method's D loss over `train.accumulate` micro-batches,
        with the monitors' decision statistics and ADA's r_t read from the same logits."""
        tc = self.config.train
        self.D.requires_grad_(True)
        self.opt_d.zero_grad(set_to_none=True)
        total = torch.zeros((), device=self.device)
        decisions = torch.zeros(len(DECISION_KEYS), device=self.device)
        extras: dict[str, torch.Tensor] = {}
        has_logits = False
        for _ in range(tc.accumulate):
            real, y_real = self.real_batch()
            with self.precision.autocast():
                out = self.method.d_loss(real, y_real)
            self.precision.backward(out.loss / tc.accumulate, "d")
            total += out.loss.detach()
            for key, value in out.extra.items():
                extras[key] = extras.get(key, 0.0) + value.detach().float()
            if out.real_logits is not None:
                has_logits = True
                decisions += decision_stats(out.real_logits, out.fake_logits)
                if self.ada is not None:
                    self.ada.observe(out.real_logits)
        loss_value, norm, ok = self._finish_step("d", self.D, self.opt_d, total / tc.accumulate)
        if ok:
            self.method.after_d_step()
        if self.ada is not None and self.ada.step() is not None:
            self.augment.p = self.ada.p
        result = {"loss_d": loss_value, "grad_norm_d": norm}
        if has_logits:
            result.update(zip(DECISION_KEYS, (decisions / tc.accumulate).tolist(), strict=True))
        if extras:
            keys = list(extras)
            values = (torch.stack([extras[k] for k in keys]) / tc.accumulate).tolist()
            result.update(zip(keys, values, strict=True))
        return result

    def g_step(self) -> dict[str, float]:
        tc = self.config.train
        self.D.requires_grad_(False)
        self.opt_g.zero_grad(set_to_none=True)
        total = torch.zeros((), device=self.device)
        extras: dict[str, torch.Tensor] = {}
        for _ in range(tc.accumulate):
            with self.precision.autocast():
                loss, extra = self.method.g_loss(self.local_batch)
            if self.ortho_weights:
                loss = loss + tc.ortho_reg * orthogonal_penalty(self.ortho_weights)
            self.precision.backward(loss / tc.accumulate, "g")
            total += loss.detach()
            for key, value in extra.items():
                extras[key] = extras.get(key, 0.0) + value.detach().float()
        loss_value, norm, ok = self._finish_step("g", self.G, self.opt_g, total / tc.accumulate)
        self.step += 1
        if ok:  # a skipped step leaves G as it was, so there is nothing new to average
            self.method.after_g_step()
            self.ema.update(self.step)
        result = {"loss_g": loss_value, "grad_norm_g": norm}
        result.update({k: float(v) / tc.accumulate for k, v in extras.items()})
        return result

    # ---- evaluation during training ----------------------------------------------------------
    def evaluate_ema(self, log: MetricsLog | None) -> dict[str, float]:
        """Evaluate G_ema with the configured metrics; keep `best.pt` by `eval.best_metric`."""
        with preserved_rng():  # evaluating must not change the training's random stream
            row = self._evaluate_ema()
        return self._log_and_keep_best(row, log)

    def _evaluate_ema(self) -> dict[str, float]:
        from ganforge.metrics.evaluate import build_setup, flatten_metrics, run_eval

        ec, mc = self.config.eval, self.config.model
        if self._eval_setup is None:
            self._eval_setup = build_setup(
                ec.metrics, str(self.run.root), "training G_ema (eval mode)", self.config.data.source,
                mc.resolution, mc.img_channels, list(self.dataset.class_names),
                generator=self.G_ema, features=ec.features, device=self.device,
            )
        self.G_ema.eval()
        return flatten_metrics(run_eval(self._eval_setup, ec.n, ec.truncation, ec.seed))

    def _log_and_keep_best(self, row: dict[str, float], log: MetricsLog | None) -> dict[str, float]:
        from ganforge.metrics.evaluate import LOWER_IS_BETTER

        if log is not None:
            log.log({"step": self.step, "time": time.time(), "kind": "eval", **row})
        key = self.config.eval.best_metric
        if key and row.get(key) is not None:
            value = float(row[key])
            old = self.best["value"] if self.best else None
            lower = key in LOWER_IS_BETTER
            if old is None or (value < old if lower else value > old):
                self.best = {"metric": key, "value": value, "step": self.step}
                save_named_checkpoint(self.state_dict(), self.run.checkpoints / "best.pt")
                (self.run.root / "best.json").write_text(json.dumps(self.best) + "\n", encoding="utf-8")
        return row

    # ---- state -------------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        return {
            "step": self.step,
            "G": self.G.state_dict(),
            "D": self.D.state_dict(),
            "G_ema": self.G_ema.state_dict(),
            "opt_g": self.opt_g.state_dict(),
            "opt_d": self.opt_d.state_dict(),
            "stream": self.stream.state_dict(),
            "log_window": {"sums": dict(self.window), "steps": self.window_steps},
            "augment": {
                "p": float(self.augment.p) if self.augment is not None else None,
                "ada": self.ada.state_dict() if self.ada is not None else None,
            },
            "guard": self.guard.state_dict(),
            "precision": self.precision.state_dict(),
            "method": self.method.state_dict(),
            "config": self.config.to_dict(),
            "class_names": list(self.dataset.class_names),
            "rng": {
                **capture_rng(),
                "noise": self.noise_gen.get_state(),
                "labels": self.label_gen.get_state(),
            },
        }

    def load_state_dict(self, state: dict[str, Any], restore_guard: bool = True) -> None:
        try:
            self.G.load_state_dict(state["G"])
            self.D.load_state_dict(state["D"])
            self.G_ema.load_state_dict(state["G_ema"])
        except RuntimeError as exc:
            first = str(exc).splitlines()[1].strip() if "\n" in str(exc) else str(exc)
            raise GanforgeError(
                f"the checkpoint does not fit this architecture ({first}); "
                "resume with the run's own config.yaml"
            ) from None
        self.opt_g.load_state_dict(state["opt_g"])
        self.opt_d.load_state_dict(state["opt_d"])
        self.stream.load_state_dict(state["stream"])
        self.step = int(state["step"])
        self.window = {k: float(v) for k, v in state["log_window"]["sums"].items()}
        self.window_steps = int(state["log_window"]["steps"])
        augment = state.get("augment", {})
        if self.augment is not None and augment.get("p") is not None:
            self.augment.p = float(augment["p"])
        if self.ada is not None and augment.get("ada") is not None:
            self.ada.load_state_dict(augment["ada"])
        self.method.load_state_dict(state.get("method", {}))
        self.precision.load_state_dict(state.get("precision", {}))
        if restore_guard and "guard" in state:
            self.guard.load_state_dict(state["guard"])
        rng = state["rng"]
        restore_rng(rng)
        if "noise" in rng:
            self.noise_gen.set_state(rng["noise"])
            self.label_gen.set_state(rng["labels"])
        if self.dist.rank > 0:  # the checkpoint holds rank 0's stream; other ranks derive theirs
            torch.manual_seed(self.config.train.seed + 7919 * self.dist.rank + 104729 * self.step)
        best = self.run.root / "best.json"
        self.best = json.loads(best.read_text(encoding="utf-8")) if best.is_file() else None

    def save(self) -> Path | None:
        """Checkpoint (rank 0 writes; every rank holds the same state)."""
        if not self.dist.is_main:
            return None
        return save_checkpoint(
            self.state_dict(), self.run.checkpoints, self.step, self.config.train.keep_checkpoints
        )

    # ---- outputs -----------------------------------------------------------------------------
    def write_samples(self, log: MetricsLog | None) -> Path:
        """A grid from G_ema (eval mode, fixed z): one row per class, 8 samples each."""
        self.G_ema.eval()
        images = generate(self.G_ema, self.sample_labels.to(self.device), z=self.sample_z)
        grid = make_grid(images, SAMPLE_COLUMNS)
        path = self.run.samples / f"step_{self.step:08d}.png"
        save_image(grid, path)
        save_image(grid, self.run.samples / "latest.png")
        if log is not None:
            log.image("samples", grid if grid.shape[-1] == 3 else grid.repeat(3, -1), self.step)
        return path

    def fit(self, total_steps: int, progress: bool = True, stop: GracefulStop | None = None) -> None:
        """Train until `total_steps` G steps, logging, sampling and checkpointing on schedule.

        `stop`: a GracefulStop already listening (the CLI installs one before loading data, so
        a signal during set-up is honoured too); otherwise fit installs its own.
        """
        main = self.dist.is_main
        log = MetricsLog(self.run, resume_step=self.step) if main else NullLog()
        bar = tqdm(
            total=total_steps, initial=self.step, desc="train", unit="step",
            disable=not (progress and main), dynamic_ncols=True,
        )
        self._tick = time.perf_counter()
        if self.config.guard.rollback and not list_checkpoints(self.run.checkpoints):
            self.save()  # something healthy to roll back to
            distributed.barrier()
        with contextlib.nullcontext(stop) if stop is not None else GracefulStop() as stop:
            try:
                while self.step < total_steps:
                    self._iteration(total_steps, log, bar)
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
        if self.config.monitor.plot and main:
            self.plot_dashboard()

    def plot_dashboard(self) -> Path | None:
        """RUN_DIR/dashboard.png; a failed plot warns but never fails a finished run."""
        from ganforge.training.dashboard import plot_dashboard

        try:
            return plot_dashboard(self.run.root)
        except Exception as exc:  # noqa: BLE001 - plotting is a convenience
            print(f"warning: could not write the dashboard: {exc}")
            return None

    def _iteration(self, total_steps: int, log: MetricsLog, bar: tqdm) -> None:
        """One G step with its D steps, then whatever logging/sampling/checkpoint is due.

        Per-step statistics accumulate in `self.window` (saved in checkpoints), so a resumed
        run logs exactly the averages an uninterrupted one would.
        """
        tc = self.config.train
        window = self.window
        self.G.train()
        self.D.train()
        for _ in range(tc.d_steps):
            for key, value in self.d_step().items():
                window[key] = window.get(key, 0.0) + value / tc.d_steps
        for key, value in self.g_step().items():
            window[key] = window.get(key, 0.0) + value
        self.window_steps += 1
        self._timed_steps += 1
        bar.update(1)
        if self.step % tc.log_every == 0 or self.step == total_steps:
            if self.dist.enabled:  # every rank logs (and the guard judges) the same averages
                window = self._mean_over_ranks(window)
            elapsed = time.perf_counter() - self._tick
            images = tc.batch_size * tc.accumulate * tc.d_steps * self._timed_steps
            record = {"step": self.step, "time": time.time(), "kind": "train"}
            record.update({k: v / self.window_steps for k, v in window.items()})
            record["images_per_s"] = images / max(elapsed, 1e-9)
            record.update(self.method.monitor())
            if self.config.monitor.every == 0:
                record.update(self.read_monitors(log))
            record["nonfinite_skips"] = self.guard.nonfinite_skips
            if self.precision.scalers:
                record["fp16_overflow_skips"] = self.precision.overflow_skips
                record["fp16_scale_g"] = float(self.precision.scalers["g"].get_scale())
            if self.augment is not None:
                record["ada_p"] = float(self.augment.p)
            log.log(record)
            bar.set_postfix(
                loss_d=f"{record['loss_d']:.3f}", loss_g=f"{record['loss_g']:.3f}",
                img_s=f"{record['images_per_s']:.0f}",
            )
            self.window, self.window_steps = {}, 0
            self._tick, self._timed_steps = time.perf_counter(), 0
            if self._handle_events(self.guard.check(record), log, bar):
                return
        every = self.config.monitor.every
        if every and self.step % every == 0:
            reading = {"step": self.step, "time": time.time(), "kind": "monitor"}
            reading.update(self.read_monitors(log))
            log.log(reading)
            if self._handle_events(self.guard.check(reading), log, bar):
                return
        if self.dist.is_main and (self.step % tc.sample_every == 0 or self.step == total_steps):
            self.write_samples(log)
        every = self.config.eval.every
        if self.dist.is_main and every and (self.step % every == 0 or self.step == total_steps):
            self.evaluate_ema(log)
        if self.step % tc.checkpoint_every == 0 or self.step == total_steps:
            if self.config.guard.rollback and not self.state_is_finite():
                event = GuardEvent("nonfinite", "a parameter or buffer is not finite at checkpoint time")
                self._handle_events([event], log, bar)
                return
            self.save()

    def _mean_over_ranks(self, window: dict[str, float]) -> dict[str, float]:
        keys = sorted(window)
        values = torch.tensor([window[k] for k in keys], dtype=torch.float64, device=self.device)
        return dict(zip(keys, distributed.all_reduce_mean(values).tolist(), strict=True))

    # ---- monitors and the guard --------------------------------------------------------------
    def read_monitors(self, log: MetricsLog | None) -> dict[str, float]:
        """sigma_0 of every weight (max per network; each layer to TensorBoard) and diversity."""
        out: dict[str, float] = {}
        for tag, model in (("g", self.G), ("d", self.D)):
            sigmas = singular_values(model)
            if sigmas:
                out[f"sigma_max_{tag}"] = max(sigmas.values())
                if log is not None:
                    log.scalars(f"sigma_{tag}", sigmas, self.step)
        if self.config.monitor.diversity:
            out["diversity"] = self.sample_diversity()
        return out

    @torch.no_grad()
    def sample_diversity(self) -> float:
        """Within-class diversity of G (eval mode: no BN or SN state changes) on the grid's noise."""
        was_training = self.G.training
        self.G.eval()
        try:
            images = self.G(self.sample_z.to(self.device), self.sample_labels.to(self.device))
        finally:
            self.G.train(was_training)
        return within_class_diversity(images, self.sample_labels.to(self.device))

    def state_is_finite(self) -> bool:
        tensors = [t for m in (self.G, self.D, self.G_ema) for t in (*m.parameters(), *m.buffers())]
        return all(bool(torch.isfinite(t).all()) for t in tensors if t.is_floating_point())

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
        tc = self.config.train
        for opt, base in ((self.opt_g, tc.lr_g), (self.opt_d, tc.lr_d)):
            for group in opt.param_groups:
                group["lr"] = base * self.guard.lr_scale
        detail = f"{reason} at step {failed_at}: restored {path.name} (step {self.step}); " \
                 f"lr_g={tc.lr_g * self.guard.lr_scale:.3g} lr_d={tc.lr_d * self.guard.lr_scale:.3g}"
        if self.augment is not None and self.config.guard.augment_p_boost > 0:
            self.augment.p = min(1.0, float(self.augment.p) + self.config.guard.augment_p_boost)
            if self.ada is not None:
                self.ada.p = self.augment.p
            detail += f" augment p={self.augment.p:.3f}"
        log.rewind(self.step)
        log.log({"step": self.step, "time": time.time(), "kind": "guard", "event": "rollback",
                 "detail": detail, "rollbacks": self.guard.rollbacks})
        if bar is not None:
            bar.n = self.step
            bar.refresh()
        self._say(f"guard: rolled back: {detail}", bar)
        self._tick, self._timed_steps = time.perf_counter(), 0


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


def _sum_over_ranks(sign_sum: float, count: int, device: torch.device) -> tuple[float, int]:
    """ADA's r_t over every rank's real images, so that p stays the same on all ranks."""
    values = torch.tensor([sign_sum, float(count)], dtype=torch.float64, device=device)
    total = distributed.all_reduce_mean(values).cpu()
    world = distributed.current().world
    return float(total[0]) * world, int(round(float(total[1]) * world))


def prepare_run_dir(out: Path, overwrite: bool) -> RunDir:
    """Create the run directory; refuse to reuse one that holds a run unless told to."""
    run = RunDir(out)
    if out.exists() and not out.is_dir():
        raise GanforgeError(f"--out '{out}' exists and is not a directory")
    if out.exists() and any(out.iterdir()):
        if not overwrite:
            raise GanforgeError(
                f"run directory '{out}' already exists; use --resume {out} to continue it, "
                "--overwrite to replace it, or another --out"
            )
        import shutil

        shutil.rmtree(out)
    out.mkdir(parents=True, exist_ok=True)
    return run


def save_resolved_config(config: Config, run: RunDir) -> None:
    save_config(config, run.config)

