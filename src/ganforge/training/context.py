"""What a training method sees of a run: the networks, augmentation, objective, noise and real
batches, never the loop or the task (stylegan2-ada's Loss sees only G, D and the augment pipe).

The task builds one `StepContext` before it builds the method; the method keeps it and calls
`generate`, `discriminate`, `noise` and `real_batch` from its D and G losses.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from ganforge.config import Config
from ganforge.objectives import Objective


@dataclass
class DOutput:
    """D's answer on a batch: float32 logits (or BEGAN's reconstructions) and its extra heads
    (`classes` for ACGAN/SGAN, `codes_cat`/`codes_cont` for InfoGAN; empty when not read)."""

    logits: torch.Tensor
    heads: dict[str, Any] = field(default_factory=dict)


@dataclass
class StepContext:
    """The pieces of one generation run a method may use.

    `G_train`/`D_train` are the training forwards (compiled with `train.compile`), `g_levels`/
    `d_levels` the same for LAPGAN's per-level networks; `G`/`D` the plain modules whose
    parameters the optimizers step.
    """

    config: Config
    G: nn.Module
    D: nn.Module
    G_train: Callable[..., torch.Tensor]
    D_train: Callable[..., Any]
    objective: Objective
    augment: nn.Module | None
    device: torch.device
    local_batch: int  # this rank's share of a batch
    noise: Callable[[int], tuple[torch.Tensor, torch.Tensor]]  # n -> (z, class labels)
    real_batch: Callable[[], tuple[torch.Tensor, torch.Tensor]]  # next (images in [-1, 1], labels)
    to_model_range: Callable[[torch.Tensor], torch.Tensor]  # uint8 -> [-1, 1] on the device
    g_levels: list[Callable[..., torch.Tensor]] = field(default_factory=list)
    d_levels: list[Callable[..., torch.Tensor]] = field(default_factory=list)
    read_heads: bool = False  # set from the method's `uses_heads`

    def generate(self, z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return self.G_train(z, y)

    def discriminate(self, images: torch.Tensor, labels: torch.Tensor) -> DOutput:
        """D on augmented images: every D call, in D and G steps, sees the same augmentation so
        that D never learns to tell augmented from clean."""
        if self.augment is not None:
            images = self.augment(images)
        if self.read_heads:
            logits, heads = self.D_train(images, labels, heads=True)
            return DOutput(logits.float(), heads)
        return DOutput(self.D_train(images, labels).float())
