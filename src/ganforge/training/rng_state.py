"""The global random streams (torch, CUDA, numpy, python) as checkpointable tensors and lists.

Exact resume needs every stream a training step draws from; both the generation and the
translation trainers save and restore them through these two functions.
"""

from __future__ import annotations

import random
from typing import Any

import numpy as np
import torch


def capture_rng() -> dict[str, Any]:
    name, keys, pos, has_gauss, cached = np.random.get_state()
    version, internal, gauss = random.getstate()
    return {
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        "numpy": {"name": name, "keys": torch.from_numpy(keys.astype(np.int64)), "pos": int(pos),
                  "has_gauss": int(has_gauss), "cached": float(cached)},
        "python": [version, list(internal), gauss],
    }


def restore_rng(rng: dict[str, Any]) -> None:
    """Restore what `capture_rng` saved (extra keys, e.g. a trainer's own generators, are ignored)."""
    torch.set_rng_state(rng["torch"])
    if rng["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(rng["cuda"])
    state = rng["numpy"]
    np.random.set_state((state["name"], state["keys"].numpy().astype(np.uint32), state["pos"],
                         state["has_gauss"], state["cached"]))
    random.setstate((rng["python"][0], tuple(rng["python"][1]), rng["python"][2]))
