"""pix2pix/CycleGAN's learning rate: constant for `constant` epochs, then linear decay.

The factor for (0-based) epoch e is the reference implementation's rule
    1 - max(0, e + 1 - constant) / (decay + 1),
so epochs 0..constant-1 run at the full rate and the last of the `decay` epochs at
1 / (decay + 1) of it (zero one epoch later). Stepped once per epoch through torch's LambdaLR,
whose state is checkpointed with the optimisers.
"""

from __future__ import annotations

import torch


def linear_decay_factor(epoch: int, constant: int, decay: int) -> float:
    """Multiplier of the initial learning rate during `epoch` (0-based)."""
    return max(0.0, 1.0 - max(0, epoch + 1 - constant) / float(decay + 1))


class LinearDecay:
    """The rule as a callable object: LambdaLR checkpoints its two ints with its own state."""

    def __init__(self, constant: int, decay: int) -> None:
        self.constant, self.decay = constant, decay

    def __call__(self, epoch: int) -> float:
        return linear_decay_factor(epoch, self.constant, self.decay)


def make_scheduler(
    optimizer: torch.optim.Optimizer, constant: int, decay: int
) -> torch.optim.lr_scheduler.LambdaLR:
    return torch.optim.lr_scheduler.LambdaLR(optimizer, LinearDecay(constant, decay))
