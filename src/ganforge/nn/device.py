"""`--device` values checked once: torch's own parse error is a traceback naming a dozen
backends; here a mistake (tpu, cuda without a GPU, cuda:99) is the usual one-line error."""

from __future__ import annotations

import torch

from ganforge.errors import GanforgeError


def parse_device(name: str | torch.device, flag: str = "--device") -> torch.device:
    if isinstance(name, torch.device):
        return name
    try:
        device = torch.device(name)
    except RuntimeError:
        raise GanforgeError(f"unknown {flag} '{name}'; use cpu or cuda[:N]") from None
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise GanforgeError(f"{flag} {name} but no CUDA GPU is available; use {flag} cpu")
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise GanforgeError(f"{flag} {name}: this machine has {torch.cuda.device_count()} GPU(s)")
    return device
