"""Reading an exported generator (folder or single `.safetensors` file) back, strictly checked."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml
from safetensors import SafetensorError, safe_open

from ganforge.checksums import file_sha256
from ganforge.config import Config, config_from_dict
from ganforge.errors import GanforgeError
from ganforge.generator import Generator
from ganforge.generators.layout import (
    CONFIG_FILE,
    FORMAT,
    WEIGHTS_FILE,
    is_generator_folder,
    load_strict,
    read_safetensors,
    split_directions,
)
from ganforge.generators.networks import gan_generator, translation_networks
from ganforge.models.biggan_deep import BigGANDeep, BigGANDeepConfig


def read_export(path: Path | str) -> Generator:
    """An exported folder or single file."""
    path = Path(path)
    return read_folder(path) if is_generator_folder(path) else read_single_file(path)


def read_folder(folder: Path) -> Generator:
    config_path, weights = folder / CONFIG_FILE, folder / WEIGHTS_FILE
    try:
        config = json.loads(config_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise GanforgeError(f"'{config_path}' is not readable JSON ({exc})") from None
    if not weights.is_file():
        raise GanforgeError(f"'{weights}' is missing; export the generator again")
    if config.get("sha256") and file_sha256(weights) != config["sha256"]:
        raise GanforgeError(f"'{weights}' does not match the SHA-256 in {config_path.name} "
                            "(truncated or corrupted); download or export it again")
    tensors = read_safetensors(weights)
    arch = config.get("architecture")
    names = list(config.get("class_names", []))
    card = config.get("card", {})
    if arch in ("ganforge", "translation"):
        return _build(arch, config_from_dict(config["config"]), names, tensors, weights, card,
                      listed=True)
    if arch == "biggan-deep":
        deep_cfg = BigGANDeepConfig.from_dict(config["model_config"])
        generator = BigGANDeep(deep_cfg)
        load_strict(generator, tensors, weights)
        return Generator(generator, names, "biggan-deep", model_config=deep_cfg.to_dict(), card=card)
    raise GanforgeError(f"'{config_path}': unknown architecture {arch!r}")


def read_single_file(path: Path) -> Generator:
    """When the `.sha256` written beside a single file by export is present, the file must match
    it (a file shared alone, without its sidecar, is accepted as it is)."""
    if not path.is_file():
        raise GanforgeError(f"exported generator '{path}' does not exist")
    sidecar = path.with_name(path.name + ".sha256")
    if sidecar.is_file() and file_sha256(path) != sidecar.read_text(encoding="utf-8").strip():
        raise GanforgeError(
            f"'{path}' does not match its {sidecar.name} (truncated or corrupted); export it again"
        )
    try:
        with safe_open(str(path), framework="pt") as fh:
            metadata = fh.metadata() or {}
    except (SafetensorError, OSError, ValueError) as exc:
        raise GanforgeError(f"'{path}' is not a readable safetensors file ({exc})") from None
    tensors = read_safetensors(path)
    if metadata.get("format") != FORMAT or "config" not in metadata:
        raise GanforgeError(
            f"'{path}' is not a ganforge generator export (metadata format "
            f"{metadata.get('format')!r}, expected {FORMAT!r})"
        )
    config = config_from_dict(yaml.safe_load(metadata["config"]))
    names = list(json.loads(metadata["class_names"]))
    arch = metadata.get("architecture", "ganforge")
    return _build(arch, config, names, tensors, path, {"weights": metadata.get("weights", "G_ema")})


def _build(arch: str, config: Config, names: list[str], tensors: dict[str, Any], path: Path,
           card: dict[str, Any], listed: bool = False) -> Generator:
    """`listed`: name the missing, unexpected and mis-shaped keys (as folders always did)."""
    if arch == "translation":
        by_direction = split_directions(tensors)
        networks = translation_networks(config, list(by_direction))
        for direction, net in networks.items():
            load_strict(net, by_direction[direction], path)
        return Generator(None, names, "translation", config=config, card=card, translators=networks)
    if arch != "ganforge":
        raise GanforgeError(f"'{path}': unknown architecture {arch!r}")
    generator = gan_generator(config)
    if listed:
        load_strict(generator, tensors, path)
        return Generator(generator, names, "ganforge", config=config, card=card)
    try:
        generator.load_state_dict(tensors)
    except RuntimeError:
        raise GanforgeError(f"'{path}': its tensors do not match the architecture in its own config") from None
    return Generator(generator, names, "ganforge", config=config, card=card)
