"""The exported generator's file layouts, shared by writing (`export`) and reading (`read`).

Seed 003: usually only G's weights are published. Two layouts, both loadable without unpickling:
- a folder (`ganforge export RUN OUT_DIR`, `save_pretrained`): `model.safetensors`, `config.json`
  (architecture, settings, class names, the weights' SHA-256, provenance) and `README.md`,
  a model card: what the Hugging Face Hub expects;
- a single `.safetensors` file with the config and class names in its metadata.
A translation generator stores each direction's network under "AtoB." / "BtoA." key prefixes.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file
from torch import nn

from ganforge.errors import GanforgeError
from ganforge.generator import Generator

FORMAT = "ganforge-generator-v1"
WEIGHTS_FILE, CONFIG_FILE, CARD_FILE = "model.safetensors", "config.json", "README.md"


def is_generator_folder(path: Path | str) -> bool:
    config = Path(path) / CONFIG_FILE
    if not config.is_file():
        return False
    try:
        return json.loads(config.read_text(encoding="utf-8")).get("format") == FORMAT
    except (ValueError, OSError, AttributeError):
        return False


def is_exported_generator(path: Path | str) -> bool:
    """A ganforge export (single .safetensors file, or folder with the ganforge config.json)."""
    return Path(path).suffix == ".safetensors" or is_generator_folder(path)


def weight_tensors(g: Generator) -> dict[str, torch.Tensor]:
    """The tensors an export holds: G's state dict, or each direction's under its prefix."""
    if g.is_translator:
        return {f"{d}.{k}": v for d, net in g.translators.items() for k, v in _state(net).items()}
    return _state(g.generator)


def _state(net: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().contiguous().cpu() for k, v in net.state_dict().items()}


def split_directions(tensors: dict[str, torch.Tensor]) -> dict[str, dict[str, torch.Tensor]]:
    """{"AtoB.w": t} -> {"AtoB": {"w": t}}: a translation export's networks."""
    out: dict[str, dict[str, torch.Tensor]] = {}
    for key, value in tensors.items():
        direction, _, name = key.partition(".")
        out.setdefault(direction, {})[name] = value
    return out


def read_safetensors(path: Path) -> dict[str, torch.Tensor]:
    try:
        return load_file(str(path))
    except (SafetensorError, OSError, ValueError) as exc:
        raise GanforgeError(f"'{path}' is not a readable safetensors file ({exc})") from None


def load_strict(generator: nn.Module, tensors: dict[str, torch.Tensor], path: Path) -> None:
    """Every key used, none missing, every shape equal: a loose load still makes (wrong) images."""
    expected = generator.state_dict()
    missing = sorted(set(expected) - set(tensors))
    extra = sorted(set(tensors) - set(expected))
    wrong = [k for k in expected if k in tensors and tensors[k].shape != expected[k].shape]
    if missing or extra or wrong:
        raise GanforgeError(
            f"'{path}' does not match its config: missing {missing[:3]}, unexpected {extra[:3]}, "
            f"wrong shape {wrong[:3]}"
        )
    generator.load_state_dict(tensors)
