"""Which statistics a generator's BatchNorm layers use when sampling: `--bn running|batch|standing:N`.

- running: the running averages kept during training (eval mode; ganforge's default).
- batch: each generated batch's own statistics (train mode, stored statistics untouched). This is
  how BigGAN-PyTorch evaluates its CIFAR G_ema (`--G_eval_mode` off); results then depend on the
  batch size and on what else is in the batch, so the batch size is part of the mode.
- standing:N[xB]: "standing statistics" (BigGAN-PyTorch's `--accumulate_stats`): the stored
  statistics are replaced by the equal-weight average, over N forward passes of B samples at the
  truncation in use, of each batch's mean and biased variance, as its myBN accumulates them.
- per-truncation[:N[xB]]: what DeepMind's TF-Hub BigGAN modules do: the stored statistics at
  truncation 1, and at any other truncation standing statistics computed at that truncation the
  first time it is used and kept for it (the module recomputes its accumulators whenever the
  truncation changes). The default of converted TF-Hub BigGAN exports.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm

from ganforge.errors import GanforgeError

DEFAULT_BATCH = 64
BN_MODES = "running | batch[:B] | standing:N[xB] | per-truncation[:N[xB]]"
PER_TRUNCATION_DEFAULT = 16  # passes, as BigGAN-PyTorch's num_standing_accumulations


@dataclass(frozen=True)
class BNMode:
    kind: str  # running | batch | standing | per-truncation
    accumulations: int = 0  # standing, per-truncation: forward passes averaged
    batch_size: int = 0  # batch/standing: samples per forward pass (0 = the caller's batch size)

    @property
    def name(self) -> str:
        """Canonical text, recorded in results (e.g. "standing:16x64")."""
        if self.kind in ("standing", "per-truncation"):
            return f"{self.kind}:{self.accumulations}x{self.batch_size}"
        if self.kind == "batch" and self.batch_size:
            return f"batch:{self.batch_size}"
        return self.kind


def parse_bn_mode(text: str | BNMode | None) -> BNMode:
    """'running' | 'batch' | 'batch:50' | 'standing:16' | 'standing:16x256' -> BNMode."""
    if isinstance(text, BNMode):
        return text
    spec = (text or "running").strip()
    if spec == "running":
        return BNMode("running")
    match = re.fullmatch(r"batch(?::(\d+))?", spec)
    if match:
        size = int(match.group(1) or 0)
        if match.group(1) is not None and size < 2:
            raise GanforgeError(f"--bn {spec}: batch statistics need a batch of at least 2")
        return BNMode("batch", batch_size=size)
    match = re.fullmatch(r"(standing|per-truncation)(?::(\d+)(?:x(\d+))?)?", spec)
    if match and (match.group(1) == "per-truncation" or match.group(2)):
        count = int(match.group(2) or PER_TRUNCATION_DEFAULT)
        size = int(match.group(3) or DEFAULT_BATCH)
        if count < 1 or size < 2:
            raise GanforgeError(f"--bn {spec}: need at least 1 pass of at least 2 samples")
        return BNMode(match.group(1), count, size)
    raise GanforgeError(f"unknown --bn mode '{spec}'; use {BN_MODES} (e.g. standing:16)")


def batchnorms(model: nn.Module) -> list[_BatchNorm]:
    """The BatchNorm layers that keep statistics (the ones a mode changes)."""
    return [m for m in model.modules() if isinstance(m, _BatchNorm) and m.running_mean is not None]


@contextmanager
def batch_statistics(model: nn.Module) -> Iterator[None]:
    """Inside, every BatchNorm normalises with the current batch's statistics and leaves its
    stored statistics as they are."""
    layers = batchnorms(model)
    saved = [(m.training, m.track_running_stats) for m in layers]
    for m in layers:
        m.train()
        m.track_running_stats = False  # F.batch_norm gets no running buffers: nothing updated
    try:
        yield
    finally:
        for m, (training, tracking) in zip(layers, saved, strict=True):
            m.train(training)
            m.track_running_stats = tracking


class StandingStatistics:
    """Accumulates each BatchNorm input's per-channel batch mean and biased variance (float64)
    over forward passes run inside `batch_statistics`, then stores their averages."""

    def __init__(self, model: nn.Module) -> None:
        self.layers = batchnorms(model)
        self.sums: dict[int, list[torch.Tensor]] = {}
        self.count = 0
        self.hooks = [m.register_forward_pre_hook(self._record) for m in self.layers]

    def _record(self, module: nn.Module, inputs: tuple[torch.Tensor, ...]) -> None:
        x = inputs[0].detach().double()
        dims = [0, *range(2, x.ndim)]
        mean = x.mean(dim=dims)
        var = (x * x).mean(dim=dims) - mean * mean  # biased, as BigGAN-PyTorch's manual_bn
        sums = self.sums.setdefault(id(module), [torch.zeros_like(mean), torch.zeros_like(var)])
        sums[0] += mean
        sums[1] += var

    def step(self) -> None:
        """Call after each forward pass."""
        self.count += 1

    def store(self) -> None:
        """Write the averages into the running buffers and remove the hooks."""
        for hook in self.hooks:
            hook.remove()
        if self.count == 0:
            raise GanforgeError("standing statistics need at least one forward pass")
        for m in self.layers:
            mean, var = self.sums[id(m)]
            m.running_mean.copy_(mean / self.count)
            m.running_var.copy_(var / self.count)


def running_buffers(model: nn.Module) -> dict[int, tuple[torch.Tensor, torch.Tensor]]:
    """Copies of every BatchNorm's stored statistics (to restore after standing statistics)."""
    return {id(m): (m.running_mean.clone(), m.running_var.clone()) for m in batchnorms(model)}


def restore_buffers(model: nn.Module, saved: dict[int, tuple[torch.Tensor, torch.Tensor]]) -> None:
    for m in batchnorms(model):
        mean, var = saved[id(m)]
        m.running_mean.copy_(mean)
        m.running_var.copy_(var)
