"""Mixed precision for the G and D steps: autocast, and loss scaling for fp16.

`train.precision=bf16` runs the networks' matmuls and convolutions in bfloat16 under autocast
(no loss scaling: bf16 has fp32's range). `fp16` adds one GradScaler per network: a scaled
backward, gradients unscaled before the norm is read, steps with overflowing gradients skipped
and the scale halved (those skips are fp16's routine calibration, counted apart from the
guard's non-finite steps). What stays float32 whatever the setting: parameters and optimizer
state, the spectral-norm power iteration (`Fp32SpectralNorm`), BatchNorm running statistics,
D's logits and every loss, and the EMA.
"""

from __future__ import annotations

import contextlib
from typing import Any

import torch

from ganforge.errors import GanforgeError

PRECISIONS: dict[str, torch.dtype | None] = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}


class Precision:
    """The autocast context and (fp16) the per-network loss scalers of one run."""

    def __init__(self, name: str, device: torch.device) -> None:
        if name not in PRECISIONS:
            raise GanforgeError(f"unknown train.precision '{name}'; available: {', '.join(PRECISIONS)}")
        self.name, self.device = name, device
        self.dtype = PRECISIONS[name]
        self.scalers: dict[str, torch.amp.GradScaler] = {}
        if name == "fp16":
            self.scalers = {k: torch.amp.GradScaler(device.type) for k in ("g", "d")}
        self.overflow_skips = 0

    def autocast(self) -> contextlib.AbstractContextManager:
        if self.dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=self.dtype)

    def backward(self, loss: torch.Tensor, net: str) -> None:
        scaler = self.scalers.get(net)
        (scaler.scale(loss) if scaler is not None else loss).backward()

    def unscale(self, opt: torch.optim.Optimizer, net: str) -> None:
        """Bring the gradients back to their true size before they are read or clipped."""
        if net in self.scalers:
            self.scalers[net].unscale_(opt)

    def step(self, opt: torch.optim.Optimizer, net: str, ok: bool) -> None:
        """Take the step (if `ok`) and let the fp16 scaler adapt its scale."""
        scaler = self.scalers.get(net)
        if scaler is None:
            if ok:
                opt.step()
            return
        if ok:
            scaler.step(opt)
        scaler.update()

    def state_dict(self) -> dict[str, Any]:
        return {"scalers": {k: s.state_dict() for k, s in self.scalers.items()},
                "overflow_skips": self.overflow_skips}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        for key, scaler_state in state.get("scalers", {}).items():
            if key in self.scalers and scaler_state:
                self.scalers[key].load_state_dict(scaler_state)
        self.overflow_skips = int(state.get("overflow_skips", 0))
