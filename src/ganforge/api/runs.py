"""The Python API for runs: assemble a config, train, resume, describe a recipe, plot."""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch

from ganforge.config import Config, apply_overrides, load_config_file, load_recipe
from ganforge.errors import GanforgeError
from ganforge.generators import load
from ganforge.models import build_models, count_parameters
from ganforge.training import distributed, launch
from ganforge.training.dashboard import plot_dashboard
from ganforge.training.launch import check_task
from ganforge.training.run_dir import RunDir
from ganforge.training.signals import GracefulStop
from ganforge.training.size import check_size
from ganforge.translation.info import translation_info

DEFAULT_RECIPE = "biggan-digits"


def make_config(
    recipe: str = DEFAULT_RECIPE,
    overrides: list[str] | None = None,
    data: str | None = None,
    steps: int | None = None,
    batch_size: int | None = None,
    seed: int | None = None,
    checkpoint_every: int | None = None,
) -> Config:
    """A recipe with dotted overrides and the common flags applied, fully validated.

    `steps` is the run's budget for every task (a translation recipe otherwise trains for its
    epochs)."""
    base = load_recipe(recipe)
    config = apply_overrides(base, list(overrides or []))
    source = data if data is not None else config.data.source
    if config.demo_overrides and source.strip().startswith("demo:"):
        base = replace(base, data=replace(base.data, source=source))
        config = apply_overrides(base, [*config.demo_overrides, *(overrides or [])])
    check_task(config)
    flags = {"batch_size": batch_size, "seed": seed}
    for key, value in flags.items():
        if value is not None and value <= 0 and key != "seed":
            raise GanforgeError(f"--{key.replace('_', '-')} must be a positive integer, got {value}")
    config = replace(config, train=replace(config.train, **{k: v for k, v in flags.items() if v is not None}))
    config = launch.set_budget(config, steps, checkpoint_every)
    if data is not None:
        config = replace(config, data=replace(config.data, source=data))
    return config


def is_translation_run(source: Path | str) -> bool:
    """Whether `source` is the run directory of a translation (pix2pix / CycleGAN) run."""
    run = RunDir(Path(source))
    if not run.config.is_file():
        return False
    try:
        return load_config_file(run.config).task == "translation"
    except GanforgeError:
        return False


def train(
    config: Config,
    out: Path | str | None = None,
    overwrite: bool = False,
    progress: bool = True,
) -> Path:
    """Train a new run described by `config` (any task); returns its run directory.

    SIGINT/SIGTERM from here on (data loading included) end with a checkpoint and a clean exit.
    """
    distributed.setup(config.train.device)  # joins the process group under torchrun
    with GracefulStop() as stop:
        return launch.start(config, Path(out) if out is not None else None, overwrite, progress, stop, load)


def resume(
    run_dir: Path | str, steps: int | None = None, checkpoint_every: int | None = None,
    progress: bool = True,
) -> Path:
    """Continue a run (any task) from its newest good checkpoint to its configured (or new)
    total steps."""
    with GracefulStop() as stop:
        return launch.resume(Path(run_dir), steps, checkpoint_every, progress, stop, load)


def info(recipe: str, overrides: list[str] | None = None) -> dict[str, Any]:
    """Parameter counts and the resolved settings of a recipe, without training.

    Models are built on the meta device: shapes only, so even 512 px counts take seconds.
    """
    config = apply_overrides(load_recipe(recipe), list(overrides or []))
    check_task(config)
    if config.task == "inversion":  # its networks' sizes follow the generator it is given
        return {"recipe": config.name, "description": config.description, "task": "inversion",
                "mode": config.inversion.mode, "config": config.to_dict()}
    check_size(config)  # counts what would be too large to build, rather than overflowing
    if config.task == "translation":
        return translation_info(config)
    start = time.perf_counter()
    with torch.device("meta"):
        generator, discriminator = build_models(config.model, config.text)
    return {
        "recipe": config.name,
        "description": config.description,
        "generator_params": count_parameters(generator),
        "discriminator_params": count_parameters(discriminator),
        "resolution": config.model.resolution,
        "n_classes": config.model.n_classes,
        "build_seconds": round(time.perf_counter() - start, 3),
        "config": config.to_dict(),
    }


def plot(run_dir: Path | str, out: Path | str | None = None) -> Path:
    """The training dashboard (losses, D accuracy/logits, r_t and ADA p, gradient norms,
    singular values, guard events, evaluation metrics) as a PNG; default RUN_DIR/dashboard.png."""
    return plot_dashboard(Path(run_dir), Path(out) if out is not None else None)


