"""Data-parallel training on torch.distributed, launched by torchrun.

`torchrun --nproc_per_node N -m ganforge train ...` starts N processes; each reads RANK,
WORLD_SIZE and LOCAL_RANK from the environment. Every rank holds the whole model and draws
its own share of each global batch; after each backward the gradients are averaged with one
coalesced all-reduce per optimizer step (as StyleGAN2-ADA does), so that every rank takes the
same optimizer step and G, D and G_ema stay identical without broadcasting weights.

Why not the DistributedDataParallel wrapper: a GAN step calls D several times per backward
(real and fake, the gradient penalty's double backward) and runs G's step through a frozen D,
patterns DDP's reducer rejects or mis-handles; averaging once per optimizer step is also what
gradient accumulation wants (one reduction per K micro-batches).
"""

from __future__ import annotations

import datetime
import os
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist

from ganforge.errors import GanforgeError


@dataclass(frozen=True)
class Context:
    """This process's place in the job: rank 0 of 1 when not launched by torchrun."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        """Rank 0 logs, samples, evaluates and checkpoints."""
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        return self.world > 1


def env_context() -> Context:
    """The torchrun environment (RANK, WORLD_SIZE, LOCAL_RANK), or a single process."""
    try:
        world = int(os.environ.get("WORLD_SIZE", "1"))
        rank = int(os.environ.get("RANK", "0"))
        local = int(os.environ.get("LOCAL_RANK", str(rank)))
    except ValueError:
        raise GanforgeError("RANK, WORLD_SIZE and LOCAL_RANK must be integers; launch with torchrun") from None
    if world < 1 or not 0 <= rank < world:
        raise GanforgeError(f"invalid torchrun environment: RANK={rank} WORLD_SIZE={world}")
    return Context(rank, world, local)


def setup(device_name: str) -> tuple[Context, str]:
    """Join the process group when launched with more than one process.

    Returns the context and the device this rank trains on: under torchrun with CUDA each
    rank takes `cuda:LOCAL_RANK` (NCCL); on CPU the ranks use gloo.
    """
    ctx = env_context()
    if not ctx.enabled:
        return ctx, device_name
    use_cuda = device_name.startswith("cuda") or (device_name == "auto" and torch.cuda.is_available())
    if use_cuda:
        if not torch.cuda.is_available():
            raise GanforgeError(f"train.device={device_name} but no CUDA GPU is available; use train.device=cpu")
        torch.cuda.set_device(ctx.local_rank)
        device_name = f"cuda:{ctx.local_rank}"
    elif device_name == "auto":
        device_name = "cpu"
    if not dist.is_initialized():
        # rank 0 evaluates and checkpoints while the others wait at the next collective: allow
        # a long evaluation (e.g. 50k-sample FID) before the wait counts as a hang
        minutes = int(os.environ.get("GANFORGE_DIST_TIMEOUT_MIN", "120"))
        dist.init_process_group(backend="nccl" if use_cuda else "gloo",
                                timeout=datetime.timedelta(minutes=minutes))
    if dist.get_world_size() != ctx.world:
        raise GanforgeError("the process group's size differs from WORLD_SIZE; launch with torchrun")
    return ctx, device_name


def current() -> Context:
    """The context of an initialised process group, else a single process."""
    if dist.is_available() and dist.is_initialized():
        return Context(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", "0")))
    return Context()


def teardown() -> None:
    """Leave the process group together. A rank that destroys its gloo group while rank 0 still
    writes the last checkpoint can abort ("terminate called without an active exception"), so
    gloo ranks meet at a bounded barrier first (it gives up if a peer has died)."""
    if dist.is_available() and dist.is_initialized():
        if dist.get_backend() == "gloo":
            try:
                dist.monitored_barrier(timeout=datetime.timedelta(minutes=5))
            except Exception:  # a peer failed: leave anyway, its own error is the one to read
                pass
        dist.destroy_process_group()


def barrier() -> None:
    if current().enabled:
        dist.barrier()


def broadcast_object(obj: Any) -> Any:
    """Rank 0's value of a picklable object on every rank."""
    if not current().enabled:
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def broadcast_module(module: torch.nn.Module) -> None:
    """Copy rank 0's parameters and buffers to every rank (start-up insurance against any
    non-deterministic initialisation)."""
    if not current().enabled:
        return
    with torch.no_grad():
        for tensor in [*module.parameters(), *module.buffers()]:
            dist.broadcast(tensor.data, src=0)


def all_reduce_mean(values: torch.Tensor) -> torch.Tensor:
    """Element-wise mean over ranks (returns the input unchanged on one process)."""
    if not current().enabled:
        return values
    out = values.detach().clone()
    dist.all_reduce(out)
    return out / dist.get_world_size()


def average_gradients(params: list[torch.nn.Parameter], extra: torch.Tensor) -> torch.Tensor:
    """Average every existing gradient across ranks in place, together with `extra` (e.g. the
    loss), in one coalesced all-reduce; returns the averaged `extra`."""
    ctx = current()
    if not ctx.enabled:
        return extra
    grads = [p.grad for p in params if p.grad is not None]
    flat = torch.cat([g.reshape(-1).float() for g in grads] + [extra.detach().float().reshape(-1)])
    dist.all_reduce(flat)
    flat /= ctx.world
    offset = 0
    for g in grads:
        n = g.numel()
        g.copy_(flat[offset:offset + n].view_as(g))
        offset += n
    return flat[offset:].view_as(extra)


def any_rank(flag: bool, device: torch.device) -> bool:
    """True on every rank when the flag is set on any (e.g. a stop signal that reached one)."""
    if not current().enabled:
        return flag
    value = torch.tensor([1.0 if flag else 0.0], device=device)
    dist.all_reduce(value, op=dist.ReduceOp.MAX)
    return bool(value.item() > 0)
