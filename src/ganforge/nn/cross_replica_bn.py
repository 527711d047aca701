"""Cross-replica BatchNorm: batch statistics over the global batch of every rank (BigGAN).

BigGAN computed G's BatchNorm statistics across all TPU cores; with data parallelism a plain
BN normalises each rank's slice on its own, which changes the model as the world grows.
`convert_cross_replica(model)` turns every BatchNorm of a model (plain, conditional BN's inner
BN, SNGAN's unconditional one) into a cross-replica one in place, keeping state-dict keys, so
checkpoints load either way. torch's SyncBatchNorm is CUDA-only and only replaces plain
BatchNorm modules; this one runs on any backend (gloo on CPU too) and through autograd.

Statistics are computed in float32 in two passes (mean, then the centred second moment) for
agreement with single-process BN on the same global batch.
"""

from __future__ import annotations

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm


class _SumOverRanks(torch.autograd.Function):
    """all_reduce(SUM) with its adjoint: the gradient of a sum over ranks is the sum of the
    ranks' gradients, again an all_reduce."""

    @staticmethod
    def forward(ctx: object, tensor: torch.Tensor) -> torch.Tensor:
        out = tensor.clone()
        dist.all_reduce(out)
        return out

    @staticmethod
    def backward(ctx: object, grad: torch.Tensor) -> torch.Tensor:
        out = grad.clone()
        dist.all_reduce(out)
        return out


def _world() -> int:
    return dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1


def cross_replica_batch_norm(x: torch.Tensor, bn: _BatchNorm) -> torch.Tensor:
    """Training-mode BN of `x` with statistics over every rank's batch; updates running stats."""
    world = _world()
    dims = [0, *range(2, x.dim())]
    xf = x.float()
    count = xf.numel() // xf.shape[1] * world  # every rank holds an equal share of the batch
    total = _SumOverRanks.apply if world > 1 else (lambda t: t)
    mean = total(xf.sum(dims)) / count
    shape = [1, -1] + [1] * (x.dim() - 2)
    centred = xf - mean.view(shape)
    var = total(centred.square().sum(dims)) / count  # biased, used to normalise
    if bn.track_running_stats and bn.running_mean is not None:
        with torch.no_grad():
            bn.num_batches_tracked.add_(1)
            factor = 1.0 / float(bn.num_batches_tracked) if bn.momentum is None else bn.momentum
            bn.running_mean.lerp_(mean.detach(), factor)
            bn.running_var.lerp_(var.detach() * count / max(count - 1, 1), factor)
    out = centred * torch.rsqrt(var + bn.eps).view(shape)
    if bn.affine:
        out = out * bn.weight.view(shape) + bn.bias.view(shape)
    return out.to(x.dtype)


class CrossReplicaMixin:
    """Placed before a BatchNorm class: trains on global statistics when ranks > 1, and is
    the original BN otherwise (one process, eval mode)."""

    def forward(self, x: torch.Tensor, *args: object, **kwargs: object) -> torch.Tensor:
        if self.training and _world() > 1:  # type: ignore[attr-defined]
            return cross_replica_batch_norm(x, self)  # type: ignore[arg-type]
        return super().forward(x, *args, **kwargs)  # type: ignore[misc]


_CLASSES: dict[type, type] = {}


def _cross_replica_class(cls: type) -> type:
    if issubclass(cls, CrossReplicaMixin):
        return cls
    if cls not in _CLASSES:
        _CLASSES[cls] = type(f"CrossReplica{cls.__name__}", (CrossReplicaMixin, cls), {})
    return _CLASSES[cls]


def convert_cross_replica(model: nn.Module) -> int:
    """Make every BatchNorm in `model` cross-replica (in place); returns how many."""
    count = 0
    for module in model.modules():
        if isinstance(module, _BatchNorm):
            module.__class__ = _cross_replica_class(type(module))
            count += 1
    return count
