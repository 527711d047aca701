"""A run directory's generator: a GAN run's (EMA) G, or a translation run's generator(s)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ganforge.config import Config, load_config_file
from ganforge.errors import GanforgeError
from ganforge.generator import Generator
from ganforge.generators.networks import gan_generator, run_directions, translation_networks
from ganforge.training.checkpoint import load_checkpoint, load_latest_checkpoint
from ganforge.training.run_dir import RunDir


def is_run_dir(path: Path | str) -> bool:
    return RunDir(Path(path)).config.is_file()


def generator_from_run(
    source: Path | str, ema: bool = True, checkpoint: Path | str | None = None
) -> Generator:
    """The run's generator, with provenance (recipe, steps, data, last evaluation) for its card."""
    run = RunDir(Path(source))
    if not run.config.is_file():
        raise GanforgeError(
            f"'{source}' is not a ganforge run directory (no config.yaml), an exported generator "
            "(folder with config.json, or .safetensors) nor a BigGAN-deep checkpoint folder"
        )
    config = load_config_file(run.config)
    if config.task == "inversion":  # an encoder / hypernetwork of a generator, not a generator
        raise GanforgeError(f"'{source}' is an inversion ({config.inversion.mode}) run, not a generator; use it "
                            f"with ganforge project GEN IMAGE --encoder RUN [--refine RUN]")
    if checkpoint is not None:
        state = load_checkpoint(Path(checkpoint))
    else:
        _, state, _ = load_latest_checkpoint(run.checkpoints)
    names = run.read_classes() if run.classes.is_file() else list(state.get("class_names", []))
    if config.task == "translation":  # the EMA of the generators when the run kept one
        key = "networks_ema" if ema and "networks_ema" in state else "networks"
        return Generator(None, names, "translation", config=config,
                         card=_card(config, state, run, "G_ema" if key == "networks_ema" else "G"),
                         translators=_translation_networks(config, state, run, key))
    generator = gan_generator(config)
    key = "G_ema" if ema else "G"
    try:
        generator.load_state_dict(state[key])
    except (RuntimeError, KeyError):
        raise GanforgeError(
            f"the checkpoint's generator does not match '{run.config}'; was the config edited?"
        ) from None
    return Generator(generator, names, "ganforge", config=config, card=_card(config, state, run, key))


def _translation_networks(config: Config, state: dict[str, Any], run: RunDir, key: str) -> dict:
    if key not in state:
        raise GanforgeError(f"checkpoint of '{run.root}' is not a translation checkpoint")
    names = run_directions(config)
    networks = translation_networks(config, list(names))
    try:
        for direction, net in networks.items():
            net.load_state_dict(state[key][names[direction]])
    except (RuntimeError, KeyError):
        raise GanforgeError(
            f"the checkpoint's networks do not match '{run.config}'; was the config edited?"
        ) from None
    return networks


def _card(config: Config, state: dict[str, Any], run: RunDir, weights: str) -> dict[str, Any]:
    return {"recipe": config.name, "description": config.description,
            "steps": int(state.get("step", 0)), "data": config.data.source, "weights": weights,
            "evaluation": latest_evaluation(run.root)}


def latest_evaluation(run_dir: Path) -> dict[str, Any]:
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
