"""The inversion task: networks that invert a trained, frozen generator, on the one loop.

`inversion.mode=encoder` (`--recipe encoder`) trains a pSp/e4e-style encoder (W+ for StyleGAN2,
z + class for BigGAN; `editing/encoder.py`); `hyperstyle` (`--recipe hyperstyle`) trains
HyperStyle's hypernetwork over a finished encoder run (`editing/hyperstyle.py`). One step draws a
batch of the generator's own samples (their latents known) from a random generator seeded by
(seed, step), each rank decoding its share, so batches need no saved stream, plus real images of `data.source` when
given; the loss goes through the shared precision, gradient averaging over ranks and guard
(`StepFinisher`). There is no discriminator. The loop owns the rest (logging, grids,
evaluation, checkpoints, exact resume, rollback, torchrun); when a run finishes the task writes
the export the editing tools read (`editing/exports.py`).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ganforge.config import Config
from ganforge.data.spec import StreamedDataset, load_training_data, materialise
from ganforge.editing.codes import LatentCode, decode
from ganforge.editing.encoder import (
    EncoderSettings,
    build_encoder,
    describe,
    encoder_loss,
    generator_batch,
)
from ganforge.editing.exports import ENCODER_FORMAT, HYPER_FORMAT, load_encoder, write_export
from ganforge.editing.hyperstyle import HyperNetwork, hyper_loss, refine, target_layers
from ganforge.editing.identity import fingerprint
from ganforge.editing.perceptual import Perceptual, choose_perceptual
from ganforge.editing.project import image_channels, w_statistics
from ganforge.errors import GanforgeError
from ganforge.generator import Generator
from ganforge.sampling import make_grid
from ganforge.training import distributed
from ganforge.training.guard import Guard
from ganforge.training.optimization import StepFinisher, make_optimizer, resolve_device
from ganforge.training.precision import Precision
from ganforge.training.run_dir import MetricsLog
from ganforge.training.tasks.base import Task

STEP_SEED = 1_000_003  # the batches of step s (1, 2, ...): seed * STEP_SEED + s - 1
GRID_COLUMNS = 8
GRID_SEED = 7_777
EVAL_BATCH = 64
NO_DATA = ("", "none")


@dataclass
class InversionData:
    """What an inversion run trains on: the generator (loaded by the API layer, which knows
    every generator source) and, optionally, real images (uint8 (N, C, R, R))."""

    generator: Generator
    real: torch.Tensor | None
    source: str

    @property
    def class_names(self) -> list[str]:
        return list(self.generator.class_names)


def load_inversion_data(config: Config, open_generator: Any) -> InversionData:
    """The generator named by `inversion.generator` (opened by `open_generator(source)`) and the
    real images of `data.source` at its size and channels (none for `none`)."""
    inv = config.inversion
    if not inv.generator.strip():
        raise GanforgeError(f"--recipe {config.name} needs --generator GEN (inversion.generator): the "
                            "trained generator to invert (run directory, export or hub id)")
    if inv.mode == "hyperstyle" and not inv.encoder.strip():
        raise GanforgeError("inversion.mode=hyperstyle needs --encoder ENCODER_RUN (inversion.encoder): "
                            "train one with ganforge train --recipe encoder --generator GEN")
    if open_generator is None:
        raise GanforgeError("an inversion run needs its generator opened by the API: train it with "
                            "ganforge train --recipe encoder --generator GEN or ganforge.api.train")
    g = open_generator(inv.generator)
    g._need_gan("latent space to invert")
    if inv.mode == "hyperstyle":
        target_layers(g)  # one line for a generator that is not StyleGAN2, before anything is written
    real = None
    if config.data.source.strip() not in NO_DATA:
        dataset = load_training_data(config.data, g.resolution, image_channels(g))
        if isinstance(dataset, StreamedDataset):
            dataset = materialise(dataset)
        real = dataset.images
    return InversionData(g, real, config.data.source)


def parse_perceptual(spec: str, data_source: str | None, lpips_weights: str = "") -> Perceptual | None:
    """`inversion.perceptual`: auto | none | classifier:NAME | vgg:FILE (+ `inversion.lpips_weights`)."""
    if lpips_weights and not spec.startswith("vgg:"):
        raise GanforgeError("inversion.lpips_weights needs inversion.perceptual=vgg:FILE (its backbone)")
    if spec == "none":
        return None
    if spec.startswith("vgg:"):
        return choose_perceptual(spec[4:], data_source, None, lpips_weights or None)
    return choose_perceptual(None, data_source, spec[len("classifier:"):] if spec.startswith("classifier:") else None)


def psnr(mse: float) -> float:
    """Of images in [-1, 1] (peak-to-peak 2)."""
    return 10 * math.log10(4.0 / mse) if mse > 0 else math.inf


class InversionTask(Task):
    """The trained network (encoder or hypernetwork), its optimizer, and the frozen generator."""

    name = "inversion"

    def __init__(self, config: Config, data: InversionData, guard: Guard, run_root: str = "") -> None:
        self.config, self.guard, self.run_root = config, guard, Path(run_root)
        inv, train = config.inversion, config.train
        self.mode = inv.mode
        self.dist = distributed.current()
        self.device = resolve_device(train.device)
        self.g = data.generator.to(self.device)
        for net in self.g.networks():
            net.eval().requires_grad_(False)
        self.identity = fingerprint(self.g.generator)
        self.channels = image_channels(self.g)
        self.real = data.real
        self.per_rank = train.batch_size // self.dist.world
        data_source = self.g.config.data.source if self.g.config is not None else None
        self.perceptual = parse_perceptual(inv.perceptual, data_source, inv.lpips_weights)
        if self.perceptual is not None:
            self.perceptual = self.perceptual.to(self.device)
        self.settings = EncoderSettings(
            width=inv.width, lr=inv.lr, batch_size=train.batch_size, latent_weight=inv.latent_weight,
            pixel_weight=inv.pixel_weight, perceptual_weight=inv.perceptual_weight,
            delta_weight=inv.delta_weight, class_weight=inv.class_weight)
        # HyperStyle's frozen encoder is read before seeding (building it draws initial weights)
        self.encoder = load_encoder(inv.encoder, self.g) if self.mode == "hyperstyle" else None
        torch.manual_seed(train.seed)  # the same on every rank: identical initial networks
        self.w_std = 1.0
        if self.mode == "encoder":
            self.net: torch.nn.Module = build_encoder(self.g, self.channels, inv.width).to(self.device)
            if self.net.style:
                mean, self.w_std = w_statistics(self.g, inv.w_samples)
                self.net.w_avg.copy_(mean)
        else:
            self.net = HyperNetwork(target_layers(self.g), self.channels, self.g.resolution, inv.width).to(self.device)
        distributed.broadcast_module(self.net)
        self.precision = Precision(train.precision, self.device)
        self.steps = StepFinisher(self.precision, guard)
        self.optimizer = make_optimizer(train, self.net.parameters(), inv.lr, train.betas_g)
        self.step = 0
        self.last_eval: dict[str, float] = {}
        self.grid_targets = self._fixed_targets(GRID_COLUMNS, train.seed + GRID_SEED)

    # ---- the budget ---------------------------------------------------------------------------
    def total_steps(self) -> int:
        return self.config.train.steps

    def images_per_step(self) -> int:
        return self.config.train.batch_size * (1 if self.real is None else 2)

    # ---- one step -----------------------------------------------------------------------------
    def _batch(self, rng: torch.Generator) -> tuple[LatentCode, torch.Tensor, torch.Tensor | None]:
        """This rank's share of one global batch: samples (and real images) drawn for the whole
        batch from `rng`, so that N ranks step exactly as one process on the same batch."""
        n, rank = self.config.train.batch_size, self.dist.rank
        part = slice(rank * self.per_rank, (rank + 1) * self.per_rank)
        code, images = generator_batch(self.g, n, rng, part)
        real = None
        if self.real is not None:
            pick = torch.randint(0, self.real.shape[0], (n,), generator=rng)[part]
            real = self.real[pick].to(self.device).float().div_(127.5).sub_(1.0)
        return code, images, real

    def _loss(self, code: LatentCode, images: torch.Tensor, real: torch.Tensor | None,
              ) -> tuple[torch.Tensor, dict[str, float]]:
        if self.mode == "encoder":
            loss, terms = encoder_loss(self.g, self.net, images, code, self.settings, self.perceptual, self.w_std)
            if real is not None:
                real_loss, real_terms = encoder_loss(self.g, self.net, real, None, self.settings,
                                                     self.perceptual, self.w_std)
                loss = loss + real_loss
                terms.update({f"real_{k}": v for k, v in real_terms.items()})
            return loss, terms
        if real is not None:
            images = torch.cat([images, real])
        with torch.no_grad():
            start = self.encoder.encode(images)
        inv = self.config.inversion
        return hyper_loss(self.g, self.net, start, images, inv.iterations, self.perceptual, inv.perceptual_weight,
                          inv.pixel_weight)

    def train_step(self, step: int) -> dict[str, float]:
        """`train.accumulate` micro-batches, one optimizer step; the batches come from a random
        generator seeded by (seed, step): nothing to save for an exact resume."""
        train = self.config.train
        rng = torch.Generator().manual_seed(train.seed * STEP_SEED + step - 1)
        self.net.train()
        total = torch.zeros((), device=self.device)
        parts: dict[str, float] = {}
        for _ in range(train.accumulate):
            code, images, real = self._batch(rng)
            with self.precision.autocast():
                loss, terms = self._loss(code, images, real)
            self.steps.backward(loss / train.accumulate, "g")
            total += loss.detach().float() / train.accumulate
            for key, value in terms.items():
                parts[f"loss_{key}"] = parts.get(f"loss_{key}", 0.0) + float(value) / train.accumulate
        loss_value, norm, _ = self.steps.finish("g", self.optimizer, total)
        self.step = step
        return {"loss": loss_value, "grad_norm": norm, **parts}

    def log_readings(self, step: int, log: MetricsLog | None, with_monitors: bool) -> dict[str, Any]:
        record: dict[str, Any] = {"lr": float(self.optimizer.param_groups[0]["lr"]),
                                  "nonfinite_skips": self.guard.nonfinite_skips}
        if self.precision.scalers:
            record["fp16_overflow_skips"] = self.precision.overflow_skips
        return record

    # ---- reconstruction -----------------------------------------------------------------------
    def _fixed_targets(self, n: int, seed: int) -> dict[str, Any]:
        """n of the generator's samples (seeded) and the first n real images."""
        code, images = generator_batch(self.g, n, torch.Generator().manual_seed(seed))
        real = None
        if self.real is not None:
            real = self.real[:n].to(self.device).float().div(127.5).sub(1.0)
        return {"code": code, "images": images, "real": real}

    @torch.no_grad()
    def reconstruct(self, images: torch.Tensor) -> list[torch.Tensor]:
        """The encoder's reconstruction (hyperstyle: then each refinement's)."""
        self.net.eval()
        if self.mode == "encoder":
            return [decode(self.g, self.net.encode(images)).clamp(-1, 1)]
        code = self.encoder.encode(images)
        _, outputs = refine(self.g, self.net, code, images, self.config.inversion.iterations)
        return [o.clamp(-1, 1) for o in outputs]

    def sample_grid(self) -> np.ndarray:
        """Rows: targets (samples, then real images), the reconstruction (hyperstyle: after each
        refinement)."""
        t = self.grid_targets
        targets = t["images"] if t["real"] is None else torch.cat([t["images"], t["real"]])
        rows = [targets, *self.reconstruct(targets)]
        return make_grid(torch.cat(rows).float().cpu(), targets.shape[0])

    # ---- evaluation ---------------------------------------------------------------------------
    def evaluation_due(self, step: int, total: int) -> bool:
        every = self.config.eval.every
        return step == total or (bool(every) and step % every == 0)

    def evaluate(self, step: int) -> dict[str, float]:
        """Reconstruction MSE/PSNR of `eval.n` held-out samples (seeded by `eval.seed`), their
        latent MSE (encoder), and of the first `eval.n` real images when the run has them."""
        ec = self.config.eval
        sums = {"recon": 0.0, "latent": 0.0, "real": 0.0}
        counts = {"recon": 0, "real": 0}
        for i, start in enumerate(range(0, ec.n, EVAL_BATCH)):
            n = min(EVAL_BATCH, ec.n - start)
            code, images = generator_batch(self.g, n, torch.Generator().manual_seed(ec.seed * STEP_SEED + i))
            recon = self.reconstruct(images)[-1]
            sums["recon"] += float((recon - images).square().mean()) * n
            counts["recon"] += n
            if self.mode == "encoder" and self.net.style:
                with torch.no_grad():
                    sums["latent"] += float(((self.net(images)[0] - code.latent) / self.w_std).square().mean()) * n
        if self.real is not None:
            for start in range(0, min(ec.n, self.real.shape[0]), EVAL_BATCH):
                images = self.real[start:min(ec.n, start + EVAL_BATCH)].to(self.device).float().div(127.5).sub(1.0)
                sums["real"] += float((self.reconstruct(images)[-1] - images).square().mean()) * images.shape[0]
                counts["real"] += images.shape[0]
        mse = sums["recon"] / counts["recon"]
        row = {"recon_mse": mse, "recon_psnr": psnr(mse)}
        if self.mode == "encoder" and self.net.style:
            row["latent_mse"] = sums["latent"] / counts["recon"]
        if counts["real"]:
            real_mse = sums["real"] / counts["real"]
            row.update({"real_recon_mse": real_mse, "real_recon_psnr": psnr(real_mse)})
        self.last_eval = {"step": step, **row}
        return row

    def lower_is_better(self, key: str) -> bool:
        return key.endswith("_mse")

    def finish(self, stopped: bool) -> None:
        """The export the editing tools read (a stopped run writes it when it finishes)."""
        if stopped or not str(self.run_root):
            return
        inv, train = self.config.inversion, self.config.train
        common = {"generator": inv.generator, "generator_sha256": self.identity, "seed": train.seed,
                  "channels": self.channels, "resolution": self.g.resolution, "steps": self.step,
                  "real_images": 0 if self.real is None else int(self.real.shape[0]),
                  "perceptual": None if self.perceptual is None else self.perceptual.name,
                  "evaluation": self.last_eval}
        if self.mode == "encoder":
            meta = {"format": ENCODER_FORMAT, **common, "w_std": self.w_std, **describe(self.net, self.settings)}
        else:
            meta = {"format": HYPER_FORMAT, **common, "encoder": inv.encoder, "batch_size": train.batch_size,
                    "iterations": inv.iterations, "lr": inv.lr, "width": inv.width,
                    "layers": list(self.net.layer_names), "rank": self.net.rank,
                    "parameters": sum(p.numel() for p in self.net.parameters())}
        write_export(self.run_root, self.net, meta)

    # ---- state --------------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        return {"mode": self.mode, "generator_sha256": self.identity, "w_std": self.w_std,
                "networks": {self.mode: self.net.state_dict()}, "optimizers": {"g": self.optimizer.state_dict()},
                "precision": self.precision.state_dict(), "settings": asdict(self.settings)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if state.get("mode") != self.mode:
            raise GanforgeError(f"the checkpoint is not an inversion.mode={self.mode} checkpoint; "
                                "resume with the run's own config.yaml")
        if state.get("generator_sha256") != self.identity:
            raise GanforgeError(f"inversion.generator '{self.config.inversion.generator}' is not the generator "
                                "this run was trained for (its weights differ); restore that generator")
        try:
            self.net.load_state_dict(state["networks"][self.mode])
        except (RuntimeError, KeyError):
            raise GanforgeError("the checkpoint does not fit this network; resume with the run's own "
                                "config.yaml") from None
        self.optimizer.load_state_dict(state["optimizers"]["g"])
        self.precision.load_state_dict(state.get("precision", {}))
        self.w_std = float(state.get("w_std", self.w_std))
        self.step = int(state["step"])

    def state_is_finite(self) -> bool:
        tensors = [*self.net.parameters(), *self.net.buffers()]
        return all(bool(torch.isfinite(t).all()) for t in tensors if t.is_floating_point())

    def apply_remedy(self, lr_scale: float, p_boost: float) -> str:
        lr = self.config.inversion.lr * lr_scale
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        return f"inversion.lr={lr:.3g}"
