"""The translation task: paired (pix2pix, BicycleGAN), unpaired (CycleGAN) and attribute-labelled
(StarGAN) image-to-image translation.

One step draws `train.accumulate` micro-batches of (A, B) crops (StarGAN: images and their
attribute labels), runs the model's generator passes on each, then takes the model's phases of
that step in its reference order (pix2pix: D then G; CycleGAN: G then D; StarGAN: D, and G
every n_critic-th step), each over all micro-batches, through the same precision, gradient
averaging and guard as the generation task. The learning rate is constant for
`translation.epochs` epochs, then decays linearly over `translation.epochs_decay`; an optional
EMA of the generators (`translation.ema`) is what grids, evaluation and exports then use.
"""

from __future__ import annotations

import copy
import itertools
import json
import re
import sys
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from ganforge.config import Config
from ganforge.errors import GanforgeError
from ganforge.metrics.translation import Evaluator
from ganforge.nn.cross_replica_bn import convert_cross_replica
from ganforge.sampling import make_grid
from ganforge.training import distributed
from ganforge.training.ema import EMA
from ganforge.training.guard import Guard
from ganforge.training.optimization import StepFinisher, make_optimizer, resolve_device
from ganforge.training.precision import Precision
from ganforge.training.run_dir import MetricsLog
from ganforge.training.tasks.base import Task
from ganforge.translation.attribute_sets import MultiAttributeStream, attribute_stream
from ganforge.translation.data import TranslationData
from ganforge.translation.data_types import first_images
from ganforge.translation.instance_data import without_masks
from ganforge.translation.method import TranslationMethod
from ganforge.translation.models import build_model, method_class
from ganforge.translation.schedule import make_scheduler
from ganforge.translation.streams import AttributeStream, TranslationStream

SAMPLE_COLUMNS = 8
GRID_MIN_SIDE = 96  # tiles of smaller images are enlarged (nearest) to about this size
RANK_SEED_STRIDE = 7919
LOWER_IS_BETTER = re.compile(r"(l1|fid|kid|cycle_l1|reconstruction_l1|context_l1)_")
BEST_METRIC = re.compile(
    r"((l1|psnr|ssim|fid|kid|digit_accuracy|attribute_accuracy|attribute_flip_accuracy"
    r"|reconstruction_l1|diversity_l1|diversity_features|context_l1|instance_accuracy|miou"
    r"|pixel_accuracy)_(AtoB|BtoA)|cycle_l1_[AB])"
)


def check_data(config: Config, data: TranslationData) -> None:
    mode = config.translation.mode
    kind = method_class(mode).data_kind
    if kind == "attributes" and data.train_attrs is None:
        raise GanforgeError(
            f"{mode} trains on images with attribute labels but '{data.source}' has none; use "
            "--data celeba:DIR, attributes:FILE.csv or demo:digit-attributes"
        )
    if kind != "attributes" and data.train_attrs is not None:
        raise GanforgeError(
            f"'{data.source}' is one domain of attribute-labelled images, which {mode} cannot "
            "train on; use --recipe stargan, or paired:DIR / unpaired:DIR data"
        )
    if kind == "instances" and not data.instances:
        raise GanforgeError(
            f"{mode} trains on images with instance masks but '{data.source}' has none; use "
            "--data instances:DIR (trainA/, trainA_seg/, trainB/, trainB_seg/) or demo:digit-instances"
        )
    if kind == "paired" and not data.paired:
        raise GanforgeError(
            f"{mode} trains on paired data but '{data.source}' is unpaired; use --data "
            "paired:DIR (or demo:edges2digits), or --recipe cyclegan for unpaired data"
        )


class EmaView:
    """The EMA generators in the model's shape (`directions`, `generator(direction)`)."""

    def __init__(self, model: TranslationMethod, averages: dict[str, nn.Module]) -> None:
        self.model, self.averages = model, averages

    @property
    def directions(self) -> tuple[str, ...]:
        return self.model.directions

    def generator(self, direction: str) -> nn.Module:
        live = self.model.generator(direction)
        name = next(k for k, v in self.model.networks.items() if v is live)
        return self.averages[name]


class TranslationTask(Task):
    """The model, its optimizers, schedulers, data stream and evaluator for one run."""

    name = "translation"

    def __init__(self, config: Config, data: TranslationData, guard: Guard, run_root: str = "") -> None:
        check_data(config, data)
        # a config mistake: refused before the networks are built (building may print notes)
        if config.eval.best_metric and not BEST_METRIC.fullmatch(config.eval.best_metric):
            raise GanforgeError(
                f"eval.best_metric '{config.eval.best_metric}' is not a translation metric; use one "
                "of l1_, psnr_, ssim_, fid_, kid_, digit_accuracy_, attribute_accuracy_, "
                "attribute_flip_accuracy_, reconstruction_l1_, diversity_l1_, diversity_features_, miou_ "
                "+ AtoB/BtoA, or cycle_l1_A/B"
            )
        evaluated = data  # an image-only mode on instance data is still judged with the masks
        if data.instances and self.model_kind(config) != "instances":
            data = without_masks(data)  # e.g. CycleGAN on InstaGAN's data: the images alone
        self.config, self.data, self.guard, self.run_root = config, data, guard, Path(run_root)
        tc, train = config.translation, config.train
        self.dist = distributed.current()
        self.device = resolve_device(train.device)
        torch.manual_seed(train.seed)  # the same on every rank: identical initial networks
        self.model = build_model(config, "cpu", self.dist.rank)
        if self.dist.world > 1 and not self.model.distributed:
            raise GanforgeError(f"{tc.mode} does not support torchrun yet (its ranks could take "
                                "different numbers of steps); train it in one process")
        memory = torch.channels_last if train.channels_last else torch.preserve_format
        for net in self.model.networks.values():
            if train.sync_bn:
                convert_cross_replica(net)
            net.to(self.device, memory_format=memory)
            distributed.broadcast_module(net)
        if train.compile:
            self.model.fwd = {k: torch.compile(v) for k, v in self.model.networks.items()}
        self.averages: dict[str, nn.Module] = {}
        self.emas: list[EMA] = []
        if tc.ema:
            for name in self.model.generator_names:
                self.averages[name] = copy.deepcopy(self.model.networks[name])
                self.emas.append(EMA(self.model.networks[name], self.averages[name],
                                     train.ema_decay, train.ema_start))
        self.precision = Precision(train.precision, self.device)
        self.steps = StepFinisher(self.precision, guard)
        self.optimizers = {
            phase: make_optimizer(
                train,
                itertools.chain(*(self.model.networks[n].parameters() for n in names)),
                train.lr_g if phase == "g" else train.lr_d,
                train.betas_g if phase == "g" else train.betas_d,
            )
            for phase, names in self.model.param_groups.items()
        }
        shard = (self.dist.rank, self.dist.world)
        self.stream: TranslationStream | AttributeStream | MultiAttributeStream
        if self.model.data_kind == "attributes":  # one dataset, or several in turn
            self.stream = attribute_stream(data, train.batch_size, tc.crop_size, config.data.hflip,
                                           train.seed, shard, train.accumulate)
        else:  # CycleGAN draws even paired data unpaired
            paired = data.paired and self.model.data_kind == "paired"
            self.stream = TranslationStream(
                data.train_a, data.train_b, paired, train.batch_size, tc.crop_size,
                config.data.hflip, train.seed, shard=shard,
                pairs=data.train_pairs if paired else None, prefetch=config.data.prefetch,
                pin=self.device.type == "cuda",
            )
        largest = max(self.stream.sizes.values())
        self.steps_per_epoch = tc.steps_per_epoch or max(1, largest // train.batch_size)
        self.schedule_steps = (tc.epochs + tc.epochs_decay) * self.steps_per_epoch
        if tc.steps > self.schedule_steps and self.dist.is_main:
            print(f"warning: translation.steps={tc.steps} runs past the learning-rate schedule, which "
                  f"reaches 0 at step {self.schedule_steps}; raise translation.epochs_decay (or epochs) "
                  "to decay over more steps", file=sys.stderr)
        self.schedulers = {
            name: make_scheduler(opt, tc.epochs, tc.epochs_decay) for name, opt in self.optimizers.items()
        }
        self.evaluator = Evaluator(config, evaluated, self.device)
        if self.dist.rank > 0:  # dropout and crops of the networks differ between ranks
            torch.manual_seed(train.seed + RANK_SEED_STRIDE * self.dist.rank)
        self.step = 0
        self.lr_before = self.lr
        self.last_eval: dict[str, Any] = {}
        self.samples = self._sample_inputs()

    @staticmethod
    def model_kind(config: Config) -> str:
        return method_class(config.translation.mode).data_kind

    # ---- the budget ---------------------------------------------------------------------------
    def total_steps(self) -> int:
        """`translation.steps` when set (`--steps`), else the epochs' worth of steps."""
        return self.config.translation.steps or self.schedule_steps

    def images_per_step(self) -> int:
        return self.config.train.batch_size * self.config.train.accumulate

    def epoch(self, step: int) -> int:
        return step // self.steps_per_epoch

    @property
    def lr(self) -> float:
        return float(self.optimizers["g"].param_groups[0]["lr"])

    # ---- one step -----------------------------------------------------------------------------
    def _to_model(self, images: torch.Tensor) -> torch.Tensor:
        """uint8 images -> [-1, 1] on the device; float tensors (attribute labels) as they are."""
        if images.dtype != torch.uint8:
            return images.to(self.device, non_blocking=True)
        x = images.to(self.device, non_blocking=True).float().div_(127.5).sub_(1.0)
        if self.config.train.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        return x

    def _discriminators(self, trainable: bool) -> None:
        for name in self.model.param_groups["d"]:
            self.model.networks[name].requires_grad_(trainable)

    def train_step(self, step: int | None = None) -> dict[str, float]:
        train = self.config.train
        step = self.step + 1 if step is None else step
        self.lr_before = self.lr
        for net in self.model.networks.values():
            net.train()
        outputs = []
        for _ in range(train.accumulate):
            a, b = self.stream.next()
            with self.precision.autocast():
                outputs.append(self.model.forward(self._to_model(a), self._to_model(b)))
        stats: dict[str, float] = {}
        for phase in self.model.phases(step):
            self._discriminators(phase == "d")
            opt = self.optimizers[phase]
            opt.zero_grad(set_to_none=True)
            total = torch.zeros((), device=self.device)
            parts: dict[str, torch.Tensor] = {}
            for out in outputs:
                with self.precision.autocast():
                    loss, extra = self.model.loss(phase, out)
                self.steps.backward(loss / train.accumulate, phase)
                total += loss.detach().float()
                for key, value in extra.items():
                    parts[key] = parts.get(key, 0.0) + value.detach().float() / train.accumulate
            loss_value, norm, ok = self.steps.finish(phase, opt, total / train.accumulate)
            if ok and phase == "g":
                for ema in self.emas:
                    ema.update(step)
            stats[f"loss_{phase}"], stats[f"grad_norm_{phase}"] = loss_value, norm
            if parts:
                keys = list(parts)
                stats.update(zip(keys, torch.stack([parts[k] for k in keys]).tolist(), strict=True))
        self._discriminators(True)
        if step % self.steps_per_epoch == 0:
            for scheduler in self.schedulers.values():
                scheduler.step()
        self.step = step
        return stats

    def log_readings(self, step: int, log: MetricsLog | None, with_monitors: bool) -> dict[str, Any]:
        record: dict[str, Any] = {"epoch": self.epoch(step), "lr": self.lr_before,
                                  "nonfinite_skips": self.guard.nonfinite_skips}
        if self.precision.scalers:
            record["fp16_overflow_skips"] = self.precision.overflow_skips
        return record

    # ---- outputs ------------------------------------------------------------------------------
    @property
    def inference_model(self) -> TranslationMethod | EmaView:
        """What grids, evaluation and exports use: the EMA generators when kept."""
        return EmaView(self.model, self.averages) if self.averages else self.model

    def _sample_inputs(self) -> dict[str, torch.Tensor]:
        """Fixed images for the progress grids: the first test images (and their attribute
        labels), else centre crops of the first training images."""
        data, n = self.data, SAMPLE_COLUMNS
        if data.has_test:
            samples = {"a": data.test_a[:n], "b": data.test_b[:n]}
            attrs = data.test_attrs
        else:
            crop = self.config.translation.crop_size
            top = (data.train_a.shape[-1] - crop) // 2
            window = (slice(None), slice(None), slice(top, top + crop), slice(top, top + crop))
            samples = {"a": first_images(data.train_a, n)[window],
                       "b": first_images(data.train_b, n)[window]}
            attrs = data.train_attrs
        if attrs is not None:
            samples["attrs"] = attrs[:n]
        return samples

    def sample_grid(self) -> np.ndarray:
        """The mode's rows (`TranslationMethod.grid_rows`): pix2pix input, output, target;
        CycleGAN both cycles; StarGAN each attribute flipped; BicycleGAN outputs per code."""
        tc, seed = self.config.translation, self.config.train.seed
        model = self.inference_model
        rows = type(self.model).grid_rows(tc, model.generator, self.samples, tc.inference, seed)
        channels = max(r.shape[1] for r in rows)
        images = torch.cat([r.expand(-1, channels, -1, -1) for r in rows])
        zoom = max(1, GRID_MIN_SIDE // images.shape[-1])  # small images: enlarge, pixels kept
        if zoom > 1:
            images = images.repeat_interleave(zoom, -1).repeat_interleave(zoom, -2)
        return make_grid(images, len(rows[0]))

    # ---- evaluation ---------------------------------------------------------------------------
    def evaluation_due(self, step: int, total: int) -> bool:
        every = self.config.translation.eval_every
        epoch_end = step % self.steps_per_epoch == 0
        return step == total or (epoch_end and bool(every) and self.epoch(step) % every == 0)

    def evaluate(self, step: int) -> dict[str, float]:
        row = self.evaluator(self.inference_model)
        self.last_eval = {"step": step, "epoch": self.epoch(step), "kind": "eval", **row}
        return {"epoch": self.epoch(step), **row} if row else {}

    def lower_is_better(self, key: str) -> bool:
        return bool(LOWER_IS_BETTER.match(key))

    def finish(self, stopped: bool) -> None:
        """RUN_DIR/evaluation.json: the last evaluation with its protocol."""
        if stopped or not str(self.run_root):
            return
        payload = {"metrics": self.last_eval, "protocol": self.evaluator.protocol(),
                   "source": self.data.source}
        path = self.run_root / "evaluation.json"
        path.write_text(json.dumps(payload, indent=1) + "\n", encoding="utf-8")

    # ---- state --------------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        state = {
            "mode": self.config.translation.mode,
            "epoch": self.epoch(self.step),
            "networks": {k: v.state_dict() for k, v in self.model.networks.items()},
            "optimizers": {_OLD_NAMES[k]: v.state_dict() for k, v in self.optimizers.items()},
            "schedulers": {_OLD_NAMES[k]: v.state_dict() for k, v in self.schedulers.items()},
            "pools": {k: v.state_dict() for k, v in self.model.pools.items()},
            "stream": self.stream.state_dict(),
            "precision": self.precision.state_dict(),
        }
        if self.averages:
            state["networks_ema"] = {k: v.state_dict() for k, v in self.averages.items()}
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if state.get("mode") != self.config.translation.mode:
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
        ema_state = state.get("networks_ema", {})
        for name, average in self.averages.items():  # a run that had no EMA starts it from G
            average.load_state_dict(ema_state.get(name, self.model.networks[name].state_dict()))
        for phase, opt in self.optimizers.items():
            opt.load_state_dict(state["optimizers"][_OLD_NAMES[phase]])
        tc = self.config.translation
        for phase, scheduler in self.schedulers.items():
            scheduler.load_state_dict(state["schedulers"][_OLD_NAMES[phase]])
            # the position comes from the checkpoint, the rule from the config (which a user may
            # have edited to train longer)
            rule = scheduler.lr_lambdas[0]
            rule.constant, rule.decay = tc.epochs, tc.epochs_decay
            _apply_rule(scheduler)
        self._load_pools(state["pools"])
        self.stream.load_state_dict(state["stream"])
        self.precision.load_state_dict(state.get("precision", {}))
        self.step = int(state["step"])

    def _load_pools(self, pools: dict[str, Any]) -> None:
        for name, pool in self.model.pools.items():
            pool.load_state_dict(pools[name], self.device)

    def rank_state(self) -> dict[str, Any]:
        return {"pools": {k: v.state_dict() for k, v in self.model.pools.items()}}

    def load_rank_state(self, state: dict[str, Any]) -> None:
        self._load_pools(state["pools"])

    def seed_rank(self, rank: int, step: int) -> None:
        torch.manual_seed(self.config.train.seed + RANK_SEED_STRIDE * rank + 104729 * step)

    def state_is_finite(self) -> bool:
        nets = [*self.model.networks.values(), *self.averages.values()]
        tensors = [t for m in nets for t in (*m.parameters(), *m.buffers())]
        return all(bool(torch.isfinite(t).all()) for t in tensors if t.is_floating_point())

    def apply_remedy(self, lr_scale: float, p_boost: float) -> str:
        train = self.config.train
        for phase, scheduler in self.schedulers.items():
            base = train.lr_g if phase == "g" else train.lr_d
            scheduler.base_lrs = [base * lr_scale for _ in scheduler.base_lrs]
            _apply_rule(scheduler)
        return f"lr_g={train.lr_g * lr_scale:.3g} lr_d={train.lr_d * lr_scale:.3g} (before the decay)"


_OLD_NAMES = {"g": "G", "d": "D"}  # checkpoint keys of the optimizers and schedulers


def _apply_rule(scheduler: torch.optim.lr_scheduler.LambdaLR) -> None:
    rule = scheduler.lr_lambdas[0]
    for group, base in zip(scheduler.optimizer.param_groups, scheduler.base_lrs, strict=True):
        group["lr"] = base * rule(scheduler.last_epoch)
    scheduler._last_lr = [group["lr"] for group in scheduler.optimizer.param_groups]
