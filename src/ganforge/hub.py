"""Sharing generators: export a run's generator, read it back, and move it through the HF Hub.

Seed 003: usually only G's weights are published. Two layouts, both loadable without unpickling:
- a folder (`ganforge export RUN OUT_DIR`, `save_pretrained`): `model.safetensors`, `config.json`
  (architecture, model settings, class names, the weights' SHA-256, provenance) and `README.md`,
  a model card with the recipe and the evaluation results: what the Hugging Face Hub expects;
- a single `.safetensors` file with the config and class names in its metadata.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
import yaml
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file, save_file
from torch import nn

from ganforge.checksums import file_sha256
from ganforge.config import Config, config_from_dict
from ganforge.errors import GanforgeError
from ganforge.models import build_models, count_parameters
from ganforge.training.checkpoint import write_checksum_sidecar

if TYPE_CHECKING:
    from ganforge.pretrained import PretrainedGenerator

FORMAT = "ganforge-generator-v1"
WEIGHTS_FILE, CONFIG_FILE, CARD_FILE = "model.safetensors", "config.json", "README.md"


# ---- export from a run ---------------------------------------------------------------------------
def export_generator(
    source: Path | str, out: Path | str, ema: bool = True, checkpoint: Path | str | None = None
) -> dict[str, Any]:
    """A run's (EMA) generator as a folder (default) or a single `.safetensors` file."""
    out_path = Path(out)
    if out_path.suffix in (".pt", ".pth", ".bin", ".ckpt", ".pkl"):
        raise GanforgeError(f"--out '{out}' must be a folder or end in .safetensors "
                            "(exports are never pickles)")
    pretrained = pretrained_from_run(source, ema=ema, checkpoint=checkpoint)
    if out_path.suffix == ".safetensors":
        return _export_single_file(pretrained, out_path)
    folder = save_generator_folder(pretrained, out_path)
    config = json.loads((folder / CONFIG_FILE).read_text(encoding="utf-8"))
    return {"path": str(folder), "sha256": config["sha256"], "tensors": config["tensors"],
            "generator_params": config["generator_params"]}


def pretrained_from_run(
    source: Path | str, ema: bool = True, checkpoint: Path | str | None = None
) -> PretrainedGenerator:
    from ganforge.api import load_run_generator
    from ganforge.pretrained import PretrainedGenerator

    generator, config, names, step = load_run_generator(source, ema=ema, checkpoint=checkpoint)
    card = {"recipe": config.name, "description": config.description, "steps": step,
            "data": config.data.source, "weights": "G_ema" if ema else "G",
            "evaluation": _latest_evaluation(Path(source))}
    return PretrainedGenerator(generator, names, "ganforge", config=config, card=card)


def _latest_evaluation(run_dir: Path) -> dict[str, Any]:
    """The last evaluation row of a run's metrics.jsonl (empty when the run never evaluated)."""
    path = run_dir / "metrics.jsonl"
    latest: dict[str, Any] = {}
    if path.is_file():
        for line in path.read_text(encoding="utf-8").splitlines():
            try:
                row = json.loads(line)
            except ValueError:
                continue
            if row.get("kind") == "eval":
                latest = {k: v for k, v in row.items() if k not in ("kind", "time")}
    return latest


def _export_single_file(pretrained: PretrainedGenerator, out_path: Path) -> dict[str, Any]:
    if pretrained.config is None:
        raise GanforgeError("a single .safetensors export holds ganforge generators only; "
                            "give a folder instead")
    metadata = {
        "format": FORMAT,
        "config": yaml.safe_dump(pretrained.config.to_dict(), sort_keys=False),
        "class_names": json.dumps(pretrained.class_names),
        "weights": pretrained.card.get("weights", "G_ema"),
    }
    digest, tensors = _write_safetensors(pretrained.generator, out_path, metadata)
    write_checksum_sidecar(out_path, digest)
    return {"path": str(out_path), "sha256": digest, "tensors": tensors,
            "generator_params": count_parameters(pretrained.generator)}


def _write_safetensors(generator: nn.Module, path: Path, metadata: dict[str, str]) -> tuple[str, int]:
    """Atomic write (temporary file, fsync, rename); returns (SHA-256, number of tensors)."""
    tensors = {k: v.detach().contiguous().cpu() for k, v in generator.state_dict().items()}
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


# ---- the folder layout ----------------------------------------------------------------------------
def is_generator_folder(path: Path | str) -> bool:
    config = Path(path) / CONFIG_FILE
    if not config.is_file():
        return False
    try:
        return json.loads(config.read_text(encoding="utf-8")).get("format") == FORMAT
    except (ValueError, OSError, AttributeError):
        return False


def save_generator_folder(pretrained: PretrainedGenerator, folder: Path) -> Path:
    """Write model.safetensors, config.json and README.md; refuses to mix into another folder."""
    if folder.exists() and not folder.is_dir():
        raise GanforgeError(f"'{folder}' exists and is not a folder; choose another output")
    if folder.is_dir() and any(folder.iterdir()) and not is_generator_folder(folder):
        raise GanforgeError(f"'{folder}' is a non-empty folder that is not a ganforge export; "
                            "choose a new or empty folder")
    folder.mkdir(parents=True, exist_ok=True)
    metadata = {"format": FORMAT}  # one key: safetensors orders metadata keys at random, and
    # the same weights should give the same bytes (the architecture is in config.json)
    digest, n_tensors = _write_safetensors(pretrained.generator, folder / WEIGHTS_FILE, metadata)
    config: dict[str, Any] = {
        "format": FORMAT,
        "architecture": pretrained.architecture,
        "resolution": pretrained.resolution,
        "dim_z": pretrained.dim_z,
        "n_classes": pretrained.n_classes,
        "class_names": pretrained.class_names,
        "sha256": digest,
        "tensors": n_tensors,
        "generator_params": count_parameters(pretrained.generator),
        "card": pretrained.card,
    }
    if pretrained.config is not None:
        config["config"] = pretrained.config.to_dict()
    else:
        config["model_config"] = pretrained.model_config
    _write_text(folder / CONFIG_FILE, json.dumps(config, indent=1) + "\n")
    _write_text(folder / CARD_FILE, model_card(config))
    return folder


def model_card(config: dict[str, Any]) -> str:
    """A Hugging Face model card: YAML front matter, how to load it, provenance, evaluation."""
    card = config.get("card", {})
    arch = config["architecture"]
    name = card.get("recipe") or arch
    lines = [
        "---", "library_name: ganforge", "pipeline_tag: unconditional-image-generation",
        "tags:", "- gan", f"- {arch}", "---", "",
        f"# {name} generator ({config['resolution']} px)", "",
        card.get("description", "") or "", "",
        "## Use it", "", "```python", "import ganforge", "",
        'g = ganforge.load("PATH_OR_HUB_ID")',
        "images = g.sample(classes=[0], n=8, truncation=0.5, seed=0)  # (8, C, H, W) in [-1, 1]",
        "```", "", "or `ganforge sample PATH_OR_HUB_ID --out grid.png`.", "",
        "## Model", "",
        f"- architecture: {arch}, {config['generator_params']:,} parameters, z {config['dim_z']}",
        f"- classes: {config['n_classes']}"
        + (f" ({', '.join(config['class_names'][:10])}{' ...' if config['n_classes'] > 10 else ''})"
           if config["n_classes"] else " (unconditional)"),
        f"- weights: {card.get('weights', 'G_ema')}, safetensors SHA-256 `{config['sha256']}`",
    ]
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


def load_generator_folder(folder: Path) -> PretrainedGenerator:
    from ganforge.pretrained import PretrainedGenerator

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
    tensors = _read_safetensors(weights)
    arch = config.get("architecture")
    names = list(config.get("class_names", []))
    if arch == "ganforge":
        cfg = config_from_dict(config["config"])
        generator, _ = build_models(cfg.model)
        _load_strict(generator, tensors, weights)
        return PretrainedGenerator(generator, names, "ganforge", config=cfg,
                                   card=config.get("card", {}))
    if arch == "biggan-deep":
        from ganforge.models.biggan_deep import BigGANDeep, BigGANDeepConfig

        deep_cfg = BigGANDeepConfig.from_dict(config["model_config"])
        generator = BigGANDeep(deep_cfg)
        _load_strict(generator, tensors, weights)
        return PretrainedGenerator(generator, names, "biggan-deep",
                                   model_config=deep_cfg.to_dict(), card=config.get("card", {}))
    raise GanforgeError(f"'{config_path}': unknown architecture {arch!r}")


def _read_safetensors(path: Path) -> dict[str, torch.Tensor]:
    try:
        return load_file(str(path))
    except (SafetensorError, OSError, ValueError) as exc:
        raise GanforgeError(f"'{path}' is not a readable safetensors file ({exc})") from None


def _load_strict(generator: nn.Module, tensors: dict[str, torch.Tensor], path: Path) -> None:
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


# ---- the single-file layout -----------------------------------------------------------------------
def is_exported_generator(path: Path | str) -> bool:
    """A ganforge export (single .safetensors file, or folder with the ganforge config.json)."""
    return Path(path).suffix == ".safetensors" or is_generator_folder(path)


def load_exported_generator(
    path: Path | str, device: str | torch.device = "cpu"
) -> tuple[nn.Module, Config, list[str]]:
    """(generator in eval mode, config, class names) from an exported file or folder.

    When the `.sha256` written beside a single file by `export_generator` is present, the file
    must match it (a file shared alone, without its sidecar, is accepted as it is).
    """
    path = Path(path)
    if is_generator_folder(path):
        pretrained = load_generator_folder(path)
        if pretrained.config is None:
            raise GanforgeError(f"'{path}' holds a {pretrained.architecture} generator, which has "
                                "no ganforge training config; use ganforge.load() to sample from it")
        return pretrained.generator.to(device), pretrained.config, pretrained.class_names
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
    tensors = _read_safetensors(path)
    if metadata.get("format") != FORMAT or "config" not in metadata:
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


# ---- any source -------------------------------------------------------------------------------------
def load_any(source: Path | str) -> PretrainedGenerator:
    """Run directory, exported folder or file, BigGAN-deep checkpoint folder, or Hub id."""
    from ganforge.pretrained import PretrainedGenerator

    path = Path(source)
    if path.exists():
        if is_generator_folder(path):
            return load_generator_folder(path)
        if path.is_file():
            generator, config, names = load_exported_generator(path)
            return PretrainedGenerator(generator, names, "ganforge", config=config)
        if (path / "pytorch_model.bin").is_file() or (
            (path / CONFIG_FILE).is_file() and (path / WEIGHTS_FILE).is_file()
        ):
            from ganforge.convert import biggan_deep_from_checkpoint

            return biggan_deep_from_checkpoint(path)
        return pretrained_from_run(path)
    if _looks_like_hub_id(str(source)):
        return load_generator_folder(download_from_hub(str(source)))
    raise GanforgeError(f"'{source}' does not exist (expected a run directory, an exported "
                        "generator, a BigGAN-deep checkpoint folder or a Hub id user/name)")


def _looks_like_hub_id(text: str) -> bool:
    parts = text.split("/")
    return len(parts) == 2 and all(parts) and not text.startswith((".", "~"))


def _hub_api() -> Any:
    try:
        import huggingface_hub
    except ImportError:
        raise GanforgeError("the Hugging Face Hub needs huggingface_hub: "
                            "pip install 'ganforge[hf]'") from None
    return huggingface_hub


def download_from_hub(repo_id: str) -> Path:
    """The exported folder from the Hub (cached by huggingface_hub; works offline once cached)."""
    hub = _hub_api()
    try:
        folder = hub.snapshot_download(repo_id, allow_patterns=[WEIGHTS_FILE, CONFIG_FILE, CARD_FILE])
    except Exception as exc:  # network, auth, missing repo: all one line for the user
        raise GanforgeError(f"could not download '{repo_id}' from the Hugging Face Hub "
                            f"({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''})"
                            ) from None
    return Path(folder)


def push_folder_to_hub(
    pretrained: PretrainedGenerator, repo_id: str, private: bool = False, token: str | None = None
) -> str:
    """Export to a temporary folder and upload it as one commit; returns the repository URL."""
    hub = _hub_api()
    with tempfile.TemporaryDirectory() as tmp:
        folder = save_generator_folder(pretrained, Path(tmp) / "export")
        try:
            api = hub.HfApi(token=token)
            url = api.create_repo(repo_id, private=private, exist_ok=True)
            api.upload_folder(repo_id=repo_id, folder_path=str(folder),
                              commit_message="Upload ganforge generator")
        except Exception as exc:
            raise GanforgeError(f"could not push to '{repo_id}' on the Hugging Face Hub "
                                f"({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''})"
                                ) from None
    return str(url)
