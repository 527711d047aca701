"""Generator-only export: one safetensors file with the config and class names inside.

Seed 003: usually only G's weights are published. An exported file needs no run directory,
loads without unpickling anything, and works wherever a run directory does for sampling and
evaluation.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import torch
import yaml
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import nn

from ganforge.checksums import file_sha256
from ganforge.config import Config, config_from_dict
from ganforge.errors import GanforgeError
from ganforge.models import build_models
from ganforge.training.checkpoint import write_checksum_sidecar

FORMAT = "ganforge-generator-v1"


def export_generator(
    source: Path | str, out: Path | str, ema: bool = True, checkpoint: Path | str | None = None
) -> dict[str, Any]:
    """Write a run's (EMA) generator to `out` (.safetensors), atomically; returns its SHA-256."""
    from ganforge.api import load_generator

    out_path = Path(out)
    if out_path.suffix != ".safetensors":
        raise GanforgeError(f"--out '{out}' must end in .safetensors")
    generator, config, names = load_generator(source, ema=ema, checkpoint=checkpoint)
    metadata = {
        "format": FORMAT,
        "config": yaml.safe_dump(config.to_dict(), sort_keys=False),
        "class_names": json.dumps(names),
        "weights": "G_ema" if ema else "G",
    }
    tensors = {k: v.detach().contiguous().cpu() for k, v in generator.state_dict().items()}
    out_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = out_path.with_name(f".{out_path.name}.tmp")
    try:
        save_file(tensors, str(tmp), metadata=metadata)
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        digest = file_sha256(tmp)
        tmp.replace(out_path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    write_checksum_sidecar(out_path, digest)
    return {"path": str(out_path), "sha256": digest, "tensors": len(tensors),
            "generator_params": sum(p.numel() for p in generator.parameters())}


def is_exported_generator(path: Path | str) -> bool:
    return Path(path).suffix == ".safetensors"


def load_exported_generator(
    path: Path | str, device: str | torch.device = "cpu"
) -> tuple[nn.Module, Config, list[str]]:
    """(generator in eval mode, config, class names) from an exported file.

    When the `.sha256` written beside it by `export_generator` is present, the file must match
    it (a file shared alone, without its sidecar, is accepted as it is).
    """
    path = Path(path)
    if not path.is_file():
        raise GanforgeError(f"exported generator '{path}' does not exist")
    sidecar = path.with_name(path.name + ".sha256")
    if sidecar.is_file() and file_sha256(path) != sidecar.read_text(encoding="utf-8").strip():
        raise GanforgeError(
            f"'{path}' does not match its {sidecar.name} (truncated or corrupted); export it again"
        )
    try:
        from safetensors import safe_open

        with safe_open(str(path), framework="pt") as fh:
            metadata = fh.metadata() or {}
        tensors = load_file(str(path))
    except (SafetensorError, OSError, ValueError) as exc:
        raise GanforgeError(f"'{path}' is not a readable safetensors file ({exc})") from None
    if metadata.get("format") != FORMAT:
        raise GanforgeError(
            f"'{path}' is not a ganforge generator export (metadata format "
            f"{metadata.get('format')!r}, expected {FORMAT!r})"
        )
    config = config_from_dict(yaml.safe_load(metadata["config"]))
    names = list(json.loads(metadata["class_names"]))
    generator, _ = build_models(config.model)
    try:
        generator.load_state_dict(tensors)
    except RuntimeError:
        raise GanforgeError(f"'{path}': its tensors do not match the architecture in its own config") from None
    return generator.to(device).eval().requires_grad_(False), config, names
