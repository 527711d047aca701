"""Running a translation generator on images, in one of two inference modes.

`batch_stats` is the pix2pix paper's test procedure: the network runs as in training, so batch
norm normalises each test image with its own statistics and dropout stays on as the noise
source; images go one at a time (the paper's batch of 1) with a fixed seed, and the running
statistics are left untouched. `running_stats` is the usual eval mode (running averages, no
dropout). With instance norm and no dropout (CycleGAN) the two are the same.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch
from torch import nn

INFERENCE_MODES = ("batch_stats", "running_stats")
EVAL_BATCH = 64


@contextlib.contextmanager
def untouched_buffers(model: nn.Module) -> Iterator[None]:
    """Run a block in train mode without changing the model's buffers (BN running stats)."""
    saved = {name: buf.clone() for name, buf in model.named_buffers()}
    was_training = model.training
    try:
        yield
    finally:
        with torch.no_grad():
            for name, buf in model.named_buffers():
                buf.copy_(saved[name])
        model.train(was_training)


def to_model_range(images: torch.Tensor, device: torch.device | str) -> torch.Tensor:
    """uint8 -> float in [-1, 1] on `device` (float images pass through)."""
    if images.dtype == torch.uint8:
        return images.to(device).float().div_(127.5).sub_(1.0)
    return images.to(device).float()


@torch.no_grad()
def run_generator(
    generator: nn.Module, images: torch.Tensor, mode: str = "running_stats", seed: int = 0,
    condition: torch.Tensor | None = None,
) -> torch.Tensor:
    """Translations (float, [-1, 1], on the CPU) of uint8 or [-1, 1] images (N, C, H, W);
    a conditional translator (StarGAN, BicycleGAN) also takes `condition` (N, ...) row by row.

    The global RNGs are not disturbed (dropout draws come from a forked, seeded stream), so
    evaluating during training leaves a run's random sequence, and its exact resume, intact.
    """
    if mode not in INFERENCE_MODES:
        raise ValueError(
            f"unknown inference mode '{mode}'; available: {', '.join(INFERENCE_MODES)}"
        )
    device = next(generator.parameters()).device
    devices = [device.index or 0] if device.type == "cuda" else []
    outputs = []
    with torch.random.fork_rng(devices=devices), untouched_buffers(generator):
        torch.manual_seed(seed)
        generator.train(mode == "batch_stats")
        batch = 1 if mode == "batch_stats" else EVAL_BATCH
        if condition is not None and condition.shape[0] != images.shape[0]:
            raise ValueError(f"{images.shape[0]} images but {condition.shape[0]} conditions")
        for i, chunk in enumerate(images.split(batch)):
            x = to_model_range(chunk, device)
            if condition is None:
                outputs.append(generator(x).float().cpu())
            else:
                c = condition[i * batch : i * batch + len(chunk)].to(device).float()
                outputs.append(generator(x, c).float().cpu())
    return torch.cat(outputs)
