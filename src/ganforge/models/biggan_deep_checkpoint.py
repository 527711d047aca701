"""Strict loading of the public `biggan-deep-{128,256,512}` checkpoint directories.

A directory holds `config.json` and `pytorch_model.bin` (a plain state dict) or
`model.safetensors`. The .bin is read with `torch.load(weights_only=True)`, so a pickle that
would run code is refused, never executed. Every key must be used, none missing, every shape
equal: a partly loaded generator still makes images, just wrong ones, so we never load loosely.
"""

from __future__ import annotations

import json
import pickle
from functools import cache
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file

from ganforge.errors import GanforgeError
from ganforge.models.biggan_deep import PRESETS, BigGANDeep, BigGANDeepConfig

CONFIG_NAME = "config.json"
WEIGHTS_NAMES = ("model.safetensors", "pytorch_model.bin")  # first one present wins
_SHOW = 3  # offending keys quoted per kind of problem


def read_config(directory: Path | str) -> BigGANDeepConfig:
    """The validated `config.json` of a checkpoint directory."""
    path = Path(directory) / CONFIG_NAME
    if not path.is_file():
        raise GanforgeError(f"'{path}' not found: a biggan-deep checkpoint directory holds "
                            f"{CONFIG_NAME} and pytorch_model.bin (download both)")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise GanforgeError(f"'{path}' is not valid JSON ({exc}); re-download it") from None
    return BigGANDeepConfig.from_dict(data, source=f"'{path}'")


def read_state_dict(directory: Path | str) -> tuple[dict[str, torch.Tensor], Path]:
    """(state dict, file it came from); only tensors are accepted, nothing is unpickled."""
    directory = Path(directory)
    path = next((directory / n for n in WEIGHTS_NAMES if (directory / n).is_file()), None)
    if path is None:
        raise GanforgeError(f"no weights in '{directory}': expected "
                            f"{' or '.join(WEIGHTS_NAMES)} beside {CONFIG_NAME}")
    if path.suffix == ".safetensors":
        try:
            state = load_file(str(path), device="cpu")
        except (SafetensorError, OSError) as exc:
            raise GanforgeError(f"'{path}' could not be read ({exc}); re-download it") from None
    else:
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as exc:  # noqa: BLE001 - any failure means an unusable file
            raise _load_error(path, exc) from None
    if not isinstance(state, dict) or not all(
        isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in state.items()
    ):
        raise GanforgeError(f"'{path}' is not a plain state dict (name -> tensor); "
                            "expected the generator's weights as saved by state_dict()")
    return state, path


def _load_error(path: Path, exc: Exception) -> GanforgeError:
    """Tell a refused pickle (it names a callable, e.g. os.system) from a corrupt file."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    blocked = next((line for line in lines if "GLOBAL" in line), None)
    if isinstance(exc, pickle.UnpicklingError) and blocked:
        return GanforgeError(
            f"refused to load '{path}': it is not a plain state dict of tensors ({blocked.rstrip('.')}) "
            "and unpickling it could run code; use the official file or a .safetensors copy"
        )
    reason = next((line for line in lines if line.startswith("Unsupported")),
                  lines[0].split(". ")[0] if lines else type(exc).__name__)
    return GanforgeError(f"'{path}' is not a readable PyTorch state dict ({reason}); "
                         "re-download it")


def _quote(keys: list[str]) -> str:
    more = f" and {len(keys) - _SHOW} more" if len(keys) > _SHOW else ""
    return ", ".join(keys[:_SHOW]) + more


@cache
def _preset_key_counts() -> dict[int, int]:
    """State-dict key count per public preset (506 / 602 / 698)."""
    with torch.device("meta"):
        return {res: len(BigGANDeep(cfg).state_dict()) for res, cfg in PRESETS.items()}


def _hint(state: dict[str, torch.Tensor], config: BigGANDeepConfig) -> str:
    """A guess at the cause: weights of another preset, or a DataParallel 'module.' prefix."""
    if state and all(k.startswith("module.") for k in state):
        return "the keys start with 'module.': save model.module.state_dict() instead"
    for res, n_keys in _preset_key_counts().items():
        if res != config.output_dim and n_keys == len(state):
            return (f"is this a biggan-deep-{res} checkpoint with a {config.output_dim}px "
                    f"config? use the {CONFIG_NAME} that came with the weights")
    return f"check that {CONFIG_NAME} and the weights come from the same biggan-deep model"


def check_state_dict(
    model: BigGANDeep, state: dict[str, torch.Tensor], source: str = "checkpoint"
) -> None:
    """Raise one GanforgeError naming the first few missing, unexpected or mis-shaped keys."""
    expected = model.state_dict()
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    shapes = [f"{k} {tuple(state[k].shape)} != {tuple(v.shape)}"
              for k, v in expected.items() if k in state and state[k].shape != v.shape]
    dtypes = [f"{k} ({state[k].dtype})" for k in expected
              if k in state and not state[k].is_floating_point()]
    problems = [f"{name} {len(keys)} key(s): {_quote(keys)}" for name, keys in
                (("missing", missing), ("unexpected", unexpected), ("wrong shape for", shapes),
                 ("non-float", dtypes)) if keys]
    if problems:
        raise GanforgeError(f"{source} does not match its config ({'; '.join(problems)}); "
                            f"{_hint(state, model.config)}")


def load_biggan_deep(
    directory: Path | str, device: torch.device | str = "cpu"
) -> tuple[BigGANDeep, BigGANDeepConfig]:
    """(generator in eval mode with every weight checked and loaded, its config)."""
    directory = Path(directory)
    if not directory.is_dir():
        raise GanforgeError(f"biggan-deep checkpoint directory '{directory}' does not exist")
    config = read_config(directory)
    state, path = read_state_dict(directory)
    with torch.device("meta"):  # no memory or init time for weights about to be replaced
        model = BigGANDeep(config)
    check_state_dict(model, state, source=f"'{path}'")
    state = {k: v.to(torch.float32).contiguous() for k, v in state.items()}
    model.load_state_dict(state, strict=True, assign=True)
    return model.to(device).eval(), config


def save_biggan_deep(model: BigGANDeep, directory: Path | str) -> Path:
    """Write `config.json` + `pytorch_model.bin` in the public layout (tests, conversions)."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    config: dict[str, Any] = model.config.to_dict()
    (directory / CONFIG_NAME).write_text(json.dumps(config, indent=2, sort_keys=True) + "\n",
                                         encoding="utf-8")
    path = directory / "pytorch_model.bin"
    torch.save({k: v.detach().cpu() for k, v in model.state_dict().items()}, path)
    return path
