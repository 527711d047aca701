"""Writing a generator out: `ganforge export RUN OUT`, `save_pretrained`, and the model card.

A GAN or a translation generator, as a folder (default) or a single `.safetensors` file; the
layouts are described in `layout`.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import yaml
from safetensors.torch import save_file

from ganforge.checksums import file_sha256
from ganforge.errors import GanforgeError
from ganforge.generator import Generator
from ganforge.generators.layout import (
    CARD_FILE,
    CONFIG_FILE,
    FORMAT,
    WEIGHTS_FILE,
    is_generator_folder,
    weight_tensors,
)
from ganforge.generators.runs import generator_from_run
from ganforge.models import count_parameters
from ganforge.training.checkpoint import write_checksum_sidecar


def export_generator(
    source: Path | str, out: Path | str, ema: bool = True, checkpoint: Path | str | None = None
) -> dict[str, Any]:
    """A run's (EMA) generator as a folder (default) or a single `.safetensors` file."""
    out_path = Path(out)
    if out_path.suffix in (".pt", ".pth", ".bin", ".ckpt", ".pkl"):
        raise GanforgeError(f"--out '{out}' must be a folder or end in .safetensors "
                            "(exports are never pickles)")
    g = generator_from_run(source, ema=ema, checkpoint=checkpoint)
    if out_path.suffix == ".safetensors":
        return export_single_file(g, out_path)
    folder = save_generator_folder(g, out_path)
    config = json.loads((folder / CONFIG_FILE).read_text(encoding="utf-8"))
    return {"path": str(folder), "sha256": config["sha256"], "tensors": config["tensors"],
            "generator_params": config["generator_params"]}


def parameter_count(g: Generator) -> int:
    return sum(count_parameters(net) for net in g.networks())


def export_single_file(g: Generator, out_path: Path) -> dict[str, Any]:
    if g.config is None:
        raise GanforgeError("a single .safetensors export holds ganforge generators only; "
                            "give a folder instead")
    metadata = {
        "format": FORMAT,
        "config": yaml.safe_dump(g.config.to_dict(), sort_keys=False),
        "class_names": json.dumps(g.class_names),
        "weights": g.card.get("weights", "G_ema"),
    }
    if g.is_translator:  # absent: a GAN generator (what every earlier single file holds)
        metadata["architecture"] = g.architecture
    digest, tensors = _write_safetensors(g, out_path, metadata)
    write_checksum_sidecar(out_path, digest)
    return {"path": str(out_path), "sha256": digest, "tensors": tensors,
            "generator_params": parameter_count(g)}


def _write_safetensors(g: Generator, path: Path, metadata: dict[str, str]) -> tuple[str, int]:
    """Atomic write (temporary file, fsync, rename); returns (SHA-256, number of tensors)."""
    tensors = weight_tensors(g)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        save_file(tensors, str(tmp), metadata=metadata)
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        digest = file_sha256(tmp)
        tmp.replace(path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return digest, len(tensors)


def _write_text(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)


def save_generator_folder(g: Generator, folder: Path) -> Path:
    """Write model.safetensors, config.json and README.md; refuses to mix into another folder."""
    if folder.exists() and not folder.is_dir():
        raise GanforgeError(f"'{folder}' exists and is not a folder; choose another output")
    if folder.is_dir() and any(folder.iterdir()) and not is_generator_folder(folder):
        raise GanforgeError(f"'{folder}' is a non-empty folder that is not a ganforge export; "
                            "choose a new or empty folder")
    folder.mkdir(parents=True, exist_ok=True)
    metadata = {"format": FORMAT}  # one key: safetensors orders metadata keys at random, and
    # the same weights should give the same bytes (the architecture is in config.json)
    digest, n_tensors = _write_safetensors(g, folder / WEIGHTS_FILE, metadata)
    config: dict[str, Any] = {
        "format": FORMAT,
        "architecture": g.architecture,
        "resolution": g.resolution,
    }
    if g.is_translator:
        config["directions"] = list(g.directions)
    else:
        config["dim_z"] = g.dim_z
    config.update({
        "n_classes": g.n_classes,
        "class_names": g.class_names,
        "sha256": digest,
        "tensors": n_tensors,
        "generator_params": parameter_count(g),
        "card": g.card,
    })
    if g.config is not None:
        config["config"] = g.config.to_dict()
    else:
        config["model_config"] = g.model_config
    _write_text(folder / CONFIG_FILE, json.dumps(config, indent=1) + "\n")
    _write_text(folder / CARD_FILE, model_card(config))
    return folder


def model_card(config: dict[str, Any]) -> str:
    """A Hugging Face model card: YAML front matter, how to load it, provenance, evaluation."""
    card = config.get("card", {})
    arch = config["architecture"]
    name = card.get("recipe") or arch
    translation = arch == "translation"
    pipeline = "image-to-image" if translation else "unconditional-image-generation"
    use = ['images = g.translate(inputs)  # uint8 or [-1, 1] (N, C, H, W) -> [-1, 1]'] if translation \
        else ["images = g.sample(classes=[0], n=8, truncation=0.5, seed=0)  # (8, C, H, W) in [-1, 1]"]
    cli = "ganforge translate PATH_OR_HUB_ID INPUT --out DIR" if translation \
        else "ganforge sample PATH_OR_HUB_ID --out grid.png"
    lines = [
        "---", "library_name: ganforge", f"pipeline_tag: {pipeline}",
        "tags:", "- gan", f"- {arch}", "---", "",
        f"# {name} generator ({config['resolution']} px)", "",
        card.get("description", "") or "", "",
        "## Use it", "", "```python", "import ganforge", "",
        'g = ganforge.load("PATH_OR_HUB_ID")', *use,
        "```", "", f"or `{cli}`.", "",
        "## Model", "",
    ]
    if translation:
        lines.append(f"- architecture: translation ({', '.join(config['directions'])}), "
                     f"{config['generator_params']:,} parameters")
    else:
        lines += [
            f"- architecture: {arch}, {config['generator_params']:,} parameters, z {config['dim_z']}",
            f"- classes: {config['n_classes']}"
            + (f" ({', '.join(config['class_names'][:10])}{' ...' if config['n_classes'] > 10 else ''})"
               if config["n_classes"] else " (unconditional)"),
        ]
    lines.append(f"- weights: {card.get('weights', 'G_ema')}, safetensors SHA-256 `{config['sha256']}`")
    if "steps" in card:
        lines.append(f"- trained {card['steps']:,} steps on `{card.get('data', '?')}` "
                     f"with the ganforge recipe `{name}` (full settings in config.json)")
    if card.get("source"):
        lines.append(f"- converted from: {card['source']}")
    evaluation = card.get("evaluation") or {}
    lines += ["", "## Evaluation", ""]
    if evaluation:
        lines += ["| metric | value |", "|---|---|"]
        lines += [f"| {k} | {v:.4g} |" if isinstance(v, float) else f"| {k} | {v} |"
                  for k, v in evaluation.items()]
        lines += ["", "From the run's last evaluation during training (`metrics.jsonl`)."]
    else:
        lines.append("No evaluation was recorded for these weights.")
    return "\n".join(lines) + "\n"
