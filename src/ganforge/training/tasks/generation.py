"""The generation task: unconditional and class-conditional GANs (the whole family).

One step is `train.d_steps` D steps and one G step, each over `train.accumulate` micro-batches;
the method (`training/methods/`) computes the losses from a `StepContext`. G_ema is the EMA of
G's weights that samples, evaluation and exports use.
"""

from __future__ import annotations

import copy
from typing import Any

import numpy as np
import torch
from torch import nn

from ganforge.augment import build_augment
from ganforge.config import Config
from ganforge.data.batches import BatchStream
from ganforge.data.spec import Dataset
from ganforge.errors import GanforgeError
from ganforge.metrics.evaluate import (
    LOWER_IS_BETTER,
    build_setup,
    flatten_metrics,
    run_eval,
)
from ganforge.models import build_models
from ganforge.nn.cross_replica_bn import convert_cross_replica
from ganforge.nn.fast_conv import use_conv_algorithm
from ganforge.objectives import get_objective, orthogonal_penalty
from ganforge.sampling import generate, make_grid, truncated_normal
from ganforge.text import FrozenText
from ganforge.training import distributed
from ganforge.training.context import StepContext
from ganforge.training.ema import EMA, half_life_decay
from ganforge.training.guard import Guard
from ganforge.training.methods import build_method
from ganforge.training.monitors import (
    DECISION_KEYS,
    decision_stats,
    singular_values,
    within_class_diversity,
)
from ganforge.training.optimization import (
    StepFinisher,
    lazy_regularization_factor,
    make_optimizer,
    resolve_device,
)
from ganforge.training.precision import Precision
from ganforge.training.run_dir import MetricsLog
from ganforge.training.tasks.base import Task
from ganforge.training.text import prepare_text

SAMPLE_COLUMNS = 8
MAX_SAMPLE_ROWS = 10


def regularised_weights(model: nn.Module) -> list[torch.Tensor]:
    """The weights `train.ortho_reg` acts on, as BigGAN-PyTorch's utils.ortho picks them: every
    parameter with two or more axes (convolutions, linears, per-class embeddings; SN layers'
    unnormalised weights) except the shared class embedding's."""
    shared = getattr(model, "shared", None)
    exempt = {id(p) for p in shared.parameters()} if isinstance(shared, nn.Module) else set()
    return [p for p in model.parameters() if p.ndim >= 2 and id(p) not in exempt]


def sample_row_classes(n_classes: int) -> list[int]:
    """One grid row per class, evenly spread when there are more classes than rows."""
    if n_classes <= MAX_SAMPLE_ROWS:
        return list(range(n_classes))
    return np.linspace(0, n_classes - 1, MAX_SAMPLE_ROWS).round().astype(int).tolist()


def compiled(module: nn.Module, on: bool) -> Any:
    return torch.compile(module) if on else module


class GenerationTask(Task):
    """G, D, G_ema, their optimizers, the method and the data stream of one GAN run."""

    name = "generation"

    def __init__(self, config: Config, dataset: Dataset, guard: Guard, run_root: str = "") -> None:
        self.config, self.guard, self.run_root = config, guard, run_root
        tc = config.train
        self.dist = distributed.current()
        self.local_batch = tc.batch_size // self.dist.world  # this rank's share of every batch
        self.device = resolve_device(tc.device)
        torch.manual_seed(tc.seed)  # the same on every rank: identical initial networks
        self.G, self.D = build_models(config.model, config.text)
        if tc.sync_bn:
            convert_cross_replica(self.G)
            convert_cross_replica(self.D)
        memory = torch.channels_last if tc.channels_last else torch.preserve_format
        self.G.to(self.device, memory_format=memory)
        self.D.to(self.device, memory_format=memory)
        self._route_convolutions()
        self.text_stats: dict[str, float] = {}
        if isinstance(getattr(self.G, "text", None), FrozenText):  # text-to-image: captions -> ids,
            dataset, self.text_stats = prepare_text(config, dataset, self.G, self.D, self.device)
        distributed.broadcast_module(self.G)
        distributed.broadcast_module(self.D)
        self.G_ema = copy.deepcopy(self.G)
        self.ema = EMA(self.G, self.G_ema, tc.ema_decay, tc.ema_start,
                       copy_buffers=tc.ema_buffers == "copy")
        self.objective = get_objective(tc.loss)
        self.precision = Precision(tc.precision, self.device)
        self.steps = StepFinisher(self.precision, guard)
        self.opt_g = make_optimizer(tc, self.G.parameters(), tc.lr_g, tc.betas_g)
        self.opt_d = make_optimizer(tc, self.D.parameters(), tc.lr_d, tc.betas_d)
        self.n_classes = config.model.n_classes
        # z and y come from their own generators (on the CPU, so a seed means the same noise on
        # any device), drawn for the global batch and sliced per rank: the samples of a step
        # do not depend on the number of ranks or micro-batches.
        self.noise_gen = torch.Generator().manual_seed(tc.seed + 2)
        self.label_gen = torch.Generator().manual_seed(tc.seed + 3)
        self.augment, self.ada = None, None
        self.G_train = compiled(self.G, tc.compile)
        self.D_train = compiled(self.D, tc.compile)
        self.context = StepContext(
            config=config, G=self.G, D=self.D, G_train=self.G_train, D_train=self.D_train,
            objective=self.objective, augment=None, device=self.device, local_batch=self.local_batch,
            noise=self.noise, real_batch=self.real_batch, to_model_range=self.to_model_range,
            g_levels=[compiled(m, tc.compile) for m in getattr(self.G, "levels", [])],
            d_levels=[compiled(m, tc.compile) for m in getattr(self.D, "levels", [])],
        )
        self.method = build_method(self.context)
        # lazy regularisers (StyleGAN2's R1 and path length) run as their own optimizer steps
        # every `interval` main steps; each such net's lr and betas are corrected for it
        self.reg_intervals = {k: v for k, v in self.method.reg_intervals().items() if v}
        self.reg_counts = {net: 0 for net in self.reg_intervals}
        self.lr_factor = {"g": 1.0, "d": 1.0}
        for net, opt in (("g", self.opt_g), ("d", self.opt_d)):
            if net in self.reg_intervals:
                self.lr_factor[net] = lazy_regularization_factor(opt, self.reg_intervals[net])
        dataset = self.method.prepare_dataset(dataset)
        if tc.data_on_device and self.device.type == "cuda":
            dataset = dataset.to(self.device)
        self.dataset = dataset
        self.stream = BatchStream(dataset, tc.batch_size, tc.seed, shard=(self.dist.rank, self.dist.world),
                                  prefetch=config.data.prefetch, pin=self.device.type == "cuda")
        self.augment, self.ada = build_augment(config.augment, tc.batch_size * tc.accumulate)
        if self.augment is not None:
            self.augment.to(self.device)
        self.context.augment = self.augment
        if self.ada is not None and self.dist.enabled:
            self.ada.reduce = lambda total, count: _sum_over_ranks(total, count, self.device)
        if self.dist.rank > 0:  # augmentation, flips and dropout differ between ranks
            torch.manual_seed(tc.seed + 7919 * self.dist.rank)
        self.ortho_weights = regularised_weights(self.G) if tc.ortho_reg > 0 else []
        sample_gen = torch.Generator().manual_seed(tc.seed + 1)
        rows = sample_row_classes(self.n_classes)
        self.sample_labels = torch.tensor(rows).repeat_interleave(SAMPLE_COLUMNS)
        self.sample_y = self.method.grid_condition(self.sample_labels, self.dataset)
        self.sample_z = self.method.grid_latent(
            truncated_normal((len(self.sample_labels), self.G.dim_z), tc.sample_truncation, sample_gen),
            self.sample_labels,
        )
        self._eval_setup = None
        self.g_steps = 0

    def _route_convolutions(self) -> None:
        """`train.conv_algorithm`: which kernels G's and D's 3x3 convolutions run on. (Its clashes
        with precision and compile were refused by `validate_config`; the device is known only
        now, when `train.device=auto` has chosen one.)"""
        tc = self.config.train
        if tc.conv_algorithm == "torch":
            return
        if self.device.type != "cpu":
            raise GanforgeError(f"train.conv_algorithm={tc.conv_algorithm} is a float32 eager CPU lever and "
                                f"cannot run on device {self.device.type}; set train.conv_algorithm=torch")
        use_conv_algorithm(self.G, tc.conv_algorithm)
        use_conv_algorithm(self.D, tc.conv_algorithm)

    # ---- what the loop asks ---------------------------------------------------------------------
    def total_steps(self) -> int:
        return self.config.train.steps

    def images_per_step(self) -> int:
        tc = self.config.train
        return tc.batch_size * tc.accumulate * tc.d_steps

    def train_step(self, step: int) -> dict[str, float]:
        tc = self.config.train
        self.G.train()
        self.D.train()
        stats: dict[str, float] = {}
        for _ in range(tc.d_steps):
            for key, value in self.d_step().items():
                stats[key] = stats.get(key, 0.0) + value / tc.d_steps
        stats.update(self.g_step(step))
        return stats

    # ---- inputs ---------------------------------------------------------------------------------
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
        return x, labels.to(self.device, non_blocking=True)

    def noise(self, n: int) -> tuple[torch.Tensor, torch.Tensor]:
        """This rank's n of z ~ N(0, I) (G's latent size) and uniformly drawn classes."""
        lo, hi, total = self.dist.rank * n, (self.dist.rank + 1) * n, n * self.dist.world
        z = torch.randn(total, self.G.dim_z, generator=self.noise_gen)[lo:hi]
        y = torch.randint(0, self.n_classes, (total,), generator=self.label_gen)[lo:hi]
        return z.to(self.device, non_blocking=True), y.to(self.device, non_blocking=True)

    # ---- one optimisation step of each network ----------------------------------------------------
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
        reals = []
        for _ in range(tc.accumulate):
            real, y_real = self.real_batch()
            reals.append((real, y_real))
            with self.precision.autocast():
                out = self.method.d_loss(real, y_real)
            self.steps.backward(out.loss / tc.accumulate, "d")
            total += out.loss.detach()
            for key, value in out.extra.items():
                extras[key] = extras.get(key, 0.0) + value.detach().float()
            if out.real_logits is not None:
                has_logits = True
                decisions += decision_stats(out.real_logits, out.fake_logits)
                if self.ada is not None:
                    self.ada.observe(out.real_logits)
        loss_value, norm, ok = self.steps.finish("d", self.opt_d, total / tc.accumulate)
        if ok:
            self.method.after_d_step()
        if self._reg_due("d"):
            self.d_reg_step(reals)
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

    def g_step(self, step: int | None = None) -> dict[str, float]:
        """One G optimizer step; `step` is the G step it completes (EMA starts by it; default:
        the one after the last, for driving steps by hand)."""
        tc = self.config.train
        step = self.g_steps + 1 if step is None else step
        self.g_steps = step
        self.D.requires_grad_(False)
        self.opt_g.zero_grad(set_to_none=True)
        total = torch.zeros((), device=self.device)
        extras: dict[str, torch.Tensor] = {}
        for _ in range(tc.accumulate):
            with self.precision.autocast():
                loss, extra = self.method.g_loss(self.local_batch)
            if self.ortho_weights:
                loss = loss + tc.ortho_reg * orthogonal_penalty(self.ortho_weights)
            self.steps.backward(loss / tc.accumulate, "g")
            total += loss.detach()
            for key, value in extra.items():
                extras[key] = extras.get(key, 0.0) + value.detach().float()
        loss_value, norm, ok = self.steps.finish("g", self.opt_g, total / tc.accumulate)
        if ok:
            self.method.after_g_step()
        if self._reg_due("g"):
            ok = self.g_reg_step() or ok
        if ok:  # a skipped step leaves G as it was, so there is nothing new to average
            self.ema.update(step, self.ema_decay(step))
        result = {"loss_g": loss_value, "grad_norm_g": norm}
        result.update({k: float(v) / tc.accumulate for k, v in extras.items()})
        return result

    # ---- lazy regularisation ----------------------------------------------------------------------
    def _reg_due(self, net: str) -> bool:
        """Whether this main step of `net` is followed by its regulariser's step (the first is)."""
        if net not in self.reg_intervals:
            return False
        due = self.reg_counts[net] % self.reg_intervals[net] == 0
        self.reg_counts[net] += 1
        return due

    def d_reg_step(self, reals: list[tuple[torch.Tensor, torch.Tensor]]) -> bool:
        """D's regulariser as its own optimizer step on the main step's real micro-batches, the
        loss multiplied by the interval (so that it weighs as if applied every step). Its D
        decisions on real images also feed ADA's r_t, as the official Dreg phase's do."""
        tc = self.config.train
        self.opt_d.zero_grad(set_to_none=True)
        total = torch.zeros((), device=self.device)
        for real, y_real in reals:
            with self.precision.autocast():
                out = self.method.d_reg_loss(real, y_real)
            if out is None:
                return False
            self.steps.backward(out.loss * self.reg_intervals["d"] / tc.accumulate, "d")
            total += out.loss.detach()
            if self.ada is not None and out.real_logits is not None:
                self.ada.observe(out.real_logits)
        return self.steps.finish("d", self.opt_d, total / tc.accumulate)[2]

    def g_reg_step(self) -> bool:
        """G's regulariser as its own optimizer step (see `d_reg_step`); False when it is off."""
        tc = self.config.train
        self.opt_g.zero_grad(set_to_none=True)
        total = torch.zeros((), device=self.device)
        for _ in range(tc.accumulate):
            with self.precision.autocast():
                loss = self.method.g_reg_loss(self.local_batch)
            if loss is None:
                return False
            self.steps.backward(loss * self.reg_intervals["g"] / tc.accumulate, "g")
            total += loss.detach()
        return self.steps.finish("g", self.opt_g, total / tc.accumulate)[2]

    def ema_decay(self, step: int) -> float | None:
        """With `train.ema_kimg`, the decay of a half-life in images (None: train.ema_decay)."""
        tc = self.config.train
        if tc.ema_kimg <= 0:
            return None
        batch = tc.batch_size * tc.accumulate
        return half_life_decay(batch, tc.ema_kimg, tc.ema_rampup, (step - 1) * self.images_per_step())

    # ---- readings ---------------------------------------------------------------------------------
    def log_readings(self, step: int, log: MetricsLog | None, with_monitors: bool) -> dict[str, Any]:
        record: dict[str, Any] = dict(self.method.monitor())
        if with_monitors:
            record.update(self.monitor_readings(step, log))
        record["nonfinite_skips"] = self.guard.nonfinite_skips
        if self.precision.scalers:
            record["fp16_overflow_skips"] = self.precision.overflow_skips
            record["fp16_scale_g"] = float(self.precision.scalers["g"].get_scale())
        if self.augment is not None:
            record["ada_p"] = float(self.augment.p)
        return record

    def monitor_readings(self, step: int, log: MetricsLog | None) -> dict[str, float]:
        """sigma_0 of every weight (max per network; each layer to TensorBoard) and diversity."""
        out: dict[str, float] = {}
        for tag, model in (("g", self.G), ("d", self.D)):
            sigmas = singular_values(model)
            if sigmas:
                out[f"sigma_max_{tag}"] = max(sigmas.values())
                if log is not None:
                    log.scalars(f"sigma_{tag}", sigmas, step)
        if self.config.monitor.diversity:
            out["diversity"] = self.sample_diversity()
        return out

    @torch.no_grad()
    def sample_diversity(self) -> float:
        """Within-class diversity of G (eval mode: no BN or SN state changes) on the grid's noise."""
        was_training = self.G.training
        self.G.eval()
        try:
            images = self.G(self.sample_z.to(self.device), self.sample_y.to(self.device))
        finally:
            self.G.train(was_training)
        return within_class_diversity(images, self.sample_labels.to(self.device))

    def sample_grid(self) -> np.ndarray:
        """G_ema (eval mode, fixed z): one row per class (text: a caption of that class), 8 each."""
        self.G_ema.eval()
        images = generate(self.G_ema, self.sample_y.to(self.device), z=self.sample_z)
        return make_grid(images, SAMPLE_COLUMNS)

    # ---- evaluation -------------------------------------------------------------------------------
    def evaluation_due(self, step: int, total: int) -> bool:
        every = self.config.eval.every
        return bool(every) and (step % every == 0 or step == total)

    def evaluate(self, step: int) -> dict[str, float]:
        """G_ema with the configured metrics (`eval.*`), through `ganforge eval`'s path (text and
        layout generators draw for their data's captions or layouts there)."""
        ec, mc = self.config.eval, self.config.model
        if self._eval_setup is None:
            self._eval_setup = build_setup(
                ec.metrics, self.run_root, "training G_ema", self.config.data.source,
                mc.resolution, mc.img_channels, list(self.dataset.class_names),
                generator=self.G_ema, features=ec.features, device=self.device,
                text_config=self.config.text,
            )
            self._eval_setup.generator.use_truncation_convention(ec.truncation_convention).use_bn(ec.bn)
        self.G_ema.eval()
        return flatten_metrics(run_eval(self._eval_setup, ec.n, ec.truncation, ec.seed))

    def lower_is_better(self, key: str) -> bool:
        return key in LOWER_IS_BETTER

    # ---- state ------------------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        return {
            "G": self.G.state_dict(),
            "D": self.D.state_dict(),
            "G_ema": self.G_ema.state_dict(),
            "opt_g": self.opt_g.state_dict(),
            "opt_d": self.opt_d.state_dict(),
            "stream": self.stream.state_dict(),
            "augment": {
                "p": float(self.augment.p) if self.augment is not None else None,
                "ada": self.ada.state_dict() if self.ada is not None else None,
            },
            "precision": self.precision.state_dict(),
            "method": self.method.state_dict(),
            "reg_counts": dict(self.reg_counts),
            "class_names": list(self.dataset.class_names),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
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
        augment = state.get("augment", {})
        if self.augment is not None and augment.get("p") is not None:
            self.augment.p = float(augment["p"])
        if self.ada is not None and augment.get("ada") is not None:
            self.ada.load_state_dict(augment["ada"])
        self.method.load_state_dict(state.get("method", {}))
        self.reg_counts.update({k: int(v) for k, v in state.get("reg_counts", {}).items()
                                if k in self.reg_counts})
        self.precision.load_state_dict(state.get("precision", {}))

    def rng_state(self) -> dict[str, Any]:
        return {"noise": self.noise_gen.get_state(), "labels": self.label_gen.get_state()}

    def load_rng_state(self, rng: dict[str, Any]) -> None:
        if "noise" in rng:
            self.noise_gen.set_state(rng["noise"])
            self.label_gen.set_state(rng["labels"])

    def seed_rank(self, rank: int, step: int) -> None:
        torch.manual_seed(self.config.train.seed + 7919 * rank + 104729 * step)

    def state_is_finite(self) -> bool:
        tensors = [t for m in (self.G, self.D, self.G_ema) for t in (*m.parameters(), *m.buffers())]
        return all(bool(torch.isfinite(t).all()) for t in tensors if t.is_floating_point())

    def apply_remedy(self, lr_scale: float, p_boost: float) -> str:
        tc = self.config.train
        for opt, base in ((self.opt_g, tc.lr_g * self.lr_factor["g"]), (self.opt_d, tc.lr_d * self.lr_factor["d"])):
            for group in opt.param_groups:
                group["lr"] = base * lr_scale
        detail = f"lr_g={tc.lr_g * lr_scale:.3g} lr_d={tc.lr_d * lr_scale:.3g}"
        if self.augment is not None and p_boost > 0:
            self.augment.p = min(1.0, float(self.augment.p) + p_boost)
            if self.ada is not None:
                self.ada.p = self.augment.p
            detail += f" augment p={self.augment.p:.3f}"
        return detail


def _sum_over_ranks(sign_sum: float, count: int, device: torch.device) -> tuple[float, int]:
    """ADA's r_t over every rank's real images, so that p stays the same on all ranks."""
    values = torch.tensor([sign_sum, float(count)], dtype=torch.float64, device=device)
    total = distributed.all_reduce_mean(values).cpu()
    world = distributed.current().world
    return float(total[0]) * world, int(round(float(total[1]) * world))
