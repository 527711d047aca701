"""What every task's optimizer steps share: the optimizers, the device, and how a step ends.

A step ends the same way in every task: gradients averaged over ranks (one coalesced
all-reduce), unscaled under fp16, their norm read, and the step taken only when the loss and
gradients are finite (the guard counts the skips).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import torch

from ganforge.errors import GanforgeError
from ganforge.training import distributed
from ganforge.training.guard import Guard
from ganforge.training.precision import Precision

OPTIMIZERS = ("adam", "rmsprop")


def make_optimizer(tc: Any, params: Any, lr: float, betas: list[float]) -> torch.optim.Optimizer:
    """Adam with the recipe's betas and eps (most GANs), or RMSprop (WGAN's choice: momentum-
    free, since momentum destabilised its critic). `train.fused_adam`: one fused kernel."""
    if tc.optimizer == "adam":
        fused = {"fused": True} if tc.fused_adam else {}
        return torch.optim.Adam(params, lr=lr, betas=tuple(betas), eps=tc.adam_eps, **fused)
    if tc.optimizer == "rmsprop":
        return torch.optim.RMSprop(params, lr=lr)
    raise GanforgeError(f"unknown train.optimizer '{tc.optimizer}'; available: {', '.join(OPTIMIZERS)}")


def lazy_regularization_factor(opt: torch.optim.Optimizer, interval: int) -> float:
    """For a regulariser applied every `interval` steps as its own step: lr x c and betas ^ c
    with c = interval / (interval + 1), so that the interval + 1 steps together move the weights
    and Adam's averages as the main steps alone would (Karras et al. 2020, appendix B). Returns c."""
    c = interval / (interval + 1)
    for group in opt.param_groups:
        group["lr"] = group["lr"] * c
        if "betas" in group:
            group["betas"] = tuple(b**c for b in group["betas"])
    return c


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


def gradient_norm_of(params: Iterable[torch.nn.Parameter]) -> torch.Tensor:
    """The L2 norm of all the gradients together (0 when none); a 0-d tensor."""
    grads = [p.grad for p in params if p.grad is not None]
    if not grads:
        return torch.zeros(())
    return torch.nn.utils.get_total_norm(grads, norm_type=2.0, foreach=True)


class StepFinisher:
    """Backward with the precision's loss scaling, and the shared end of every optimizer step."""

    def __init__(self, precision: Precision, guard: Guard) -> None:
        self.precision, self.guard = precision, guard

    def backward(self, loss: torch.Tensor, net: str) -> None:
        self.precision.backward(loss, net)

    def finish(self, net: str, opt: torch.optim.Optimizer, loss: torch.Tensor) -> tuple[float, float, bool]:
        """Average gradients over ranks, then step unless the loss or gradients are not finite.

        Under fp16 a finite loss with overflowing gradients is the scaler's routine skip
        (counted in `precision.overflow_skips`), not a guard event. Returns (loss, gradient
        norm, whether the step was taken).
        """
        params = [p for group in opt.param_groups for p in group["params"]]
        loss = distributed.average_gradients(params, loss.detach().float())
        self.precision.unscale(opt, net)
        norm = gradient_norm_of(params).to(loss.device)
        loss_value, norm_value = torch.stack([loss, norm.float()]).tolist()
        if net in self.precision.scalers and math.isfinite(loss_value) and not math.isfinite(norm_value):
            self.precision.overflow_skips += 1
            ok = False
        else:
            ok = self.guard.step_is_finite(loss_value, norm_value)
        self.precision.step(opt, net, ok)
        opt.zero_grad(set_to_none=True)
        return loss_value, norm_value, ok
