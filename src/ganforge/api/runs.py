"""The Python API: every CLI command is a thin wrapper over one of these functions."""

from __future__ import annotations

import re
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch

from ganforge.config import Config, apply_overrides, load_config_file, load_recipe
from ganforge.data.spec import load_training_data
from ganforge.errors import GanforgeError
from ganforge.models import build_models, count_parameters
from ganforge.training import distributed
from ganforge.training.checkpoint import (
    load_latest_checkpoint,
    remove_stale_temporaries,
)
from ganforge.training.run_dir import RunDir
from ganforge.training.signals import GracefulStop
from ganforge.training.trainer import Trainer, prepare_run_dir, save_resolved_config

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
    """A recipe with dotted overrides and the common flags applied, fully validated."""
    base = load_recipe(recipe)
    config = apply_overrides(base, list(overrides or []))
    source = data if data is not None else config.data.source
    if config.demo_overrides and source.strip().startswith("demo:"):
        base = replace(base, data=replace(base.data, source=source))
        config = apply_overrides(base, [*config.demo_overrides, *(overrides or [])])
    check_task(config)
    if config.task == "translation" and steps is not None:
        raise GanforgeError(
            "--steps counts generator steps of the GAN recipes; a translation run is measured "
            "in epochs: set translation.epochs=N translation.epochs_decay=M (and optionally "
            "translation.steps_per_epoch=K)"
        )
    flags = {"steps": steps, "batch_size": batch_size, "seed": seed,
             "checkpoint_every": checkpoint_every}
    for key, value in flags.items():
        if value is not None and value <= 0 and key != "seed":
            raise GanforgeError(f"--{key.replace('_', '-')} must be a positive integer, got {value}")
    train = replace(config.train, **{k: v for k, v in flags.items() if v is not None})
    config = replace(config, train=train)
    if data is not None:
        config = replace(config, data=replace(config.data, source=data))
    return config


TASKS = ("generation", "translation")


def check_task(config: Config) -> None:
    if config.task not in TASKS:
        raise GanforgeError(f"unknown task '{config.task}'; available: {', '.join(TASKS)}")


def is_translation_run(source: Path | str) -> bool:
    """Whether `source` is the run directory of a translation (pix2pix / CycleGAN) run."""
    run = RunDir(Path(source))
    if not run.config.is_file():
        return False
    try:
        return load_config_file(run.config).task == "translation"
    except GanforgeError:
        return False


def refuse_translation_run(source: Path | str, command: str) -> None:
    """`sample`, `export`, ... draw from a GAN's generator; a translation run needs an input."""
    if is_translation_run(source):
        raise GanforgeError(
            f"'{source}' is an image-to-image translation run; {command} draws from a GAN's "
            f"generator; translate images with: ganforge translate {source} INPUT --out DIR"
        )


def default_run_dir(config: Config, root: Path = Path("runs")) -> Path:
    """runs/<recipe>, or runs/<recipe>-2, -3 ... so that no earlier run is touched."""
    base = root / re.sub(r"[^A-Za-z0-9_.-]+", "-", config.name)
    candidate, n = base, 2
    while candidate.exists():
        candidate, n = root / f"{base.name}-{n}", n + 1
    return candidate


def train(
    config: Config,
    out: Path | str | None = None,
    overwrite: bool = False,
    progress: bool = True,
) -> Path:
    """Train a new run described by `config`; returns its run directory.

    SIGINT/SIGTERM from here on (data loading included) end with a checkpoint and a clean exit.
    """
    distributed.setup(config.train.device)  # joins the process group under torchrun
    with GracefulStop() as stop:
        return _train(config, out, overwrite, progress, stop)


def _train(config: Config, out: Path | str | None, overwrite: bool, progress: bool,
           stop: GracefulStop) -> Path:
    check_task(config)
    if config.task == "translation":
        from ganforge.translation.runner import train_translation

        out_path = Path(out) if out is not None else default_run_dir(config)
        return train_translation(config, out_path, overwrite, progress, stop)
    dataset = load_training_data(config.data, config.model.resolution, config.model.img_channels)
    if dataset.n_classes < 2:
        raise GanforgeError(
            f"{dataset.source} has {dataset.n_classes} class; a class-conditional model needs at "
            "least 2 (use class sub-folders for a folder dataset)"
        )
    config = replace(config, model=replace(config.model, n_classes=dataset.n_classes))
    # rank 0 picks the directory (runs/<recipe>-N depends on what exists) for every rank
    out_path = distributed.broadcast_object(Path(out) if out is not None else default_run_dir(config))
    trainer = Trainer(config, dataset, RunDir(out_path))  # validates before touching disk
    run = RunDir(out_path)
    if trainer.dist.is_main:
        run = prepare_run_dir(out_path, overwrite)
        save_resolved_config(config, run)
        run.write_classes(dataset.class_names, dataset.source)
    distributed.barrier()
    trainer.fit(config.train.steps, progress=progress, stop=stop)
    return run.root


def resume(
    run_dir: Path | str, steps: int | None = None, checkpoint_every: int | None = None,
    progress: bool = True,
) -> Path:
    """Continue a run from its newest good checkpoint to its configured (or new) total steps."""
    with GracefulStop() as stop:
        return _resume(run_dir, steps, checkpoint_every, progress, stop)


def _resume(run_dir: Path | str, steps: int | None, checkpoint_every: int | None, progress: bool,
            stop: GracefulStop) -> Path:
    run = RunDir(Path(run_dir))
    if not run.config.is_file():
        raise GanforgeError(f"'{run_dir}' is not a ganforge run directory (no config.yaml)")
    config = load_config_file(run.config)
    if config.task == "translation":
        from ganforge.translation.runner import resume_translation

        if steps is not None:
            raise GanforgeError(
                "a translation run trains for its config's epochs; to train further, raise "
                f"translation.epochs_decay (or epochs) in {run.config} and resume without --steps"
            )
        if checkpoint_every is not None and checkpoint_every <= 0:
            raise GanforgeError(f"--checkpoint-every must be a positive integer, got {checkpoint_every}")
        return resume_translation(config, run, checkpoint_every, progress, stop)
    changes = {k: v for k, v in {"steps": steps, "checkpoint_every": checkpoint_every}.items()
               if v is not None}
    for key, value in changes.items():
        if value <= 0:
            raise GanforgeError(f"--{key.replace('_', '-')} must be a positive integer, got {value}")
    config = replace(config, train=replace(config.train, **changes))
    ctx, _ = distributed.setup(config.train.device)
    if ctx.is_main:  # rank 0 tidies and quarantines; then every rank reads the same newest file
        remove_stale_temporaries(run.checkpoints)
        path, state, warnings = load_latest_checkpoint(run.checkpoints, quarantine=True)
    distributed.barrier()
    if not ctx.is_main:
        path, state, warnings = load_latest_checkpoint(run.checkpoints)
    for message in warnings:
        print(f"warning: skipped {message}", file=sys.stderr)
    if warnings:
        print(f"resuming from {path.name}", file=sys.stderr)
    dataset = load_training_data(config.data, config.model.resolution, config.model.img_channels)
    trainer = Trainer(config, dataset, run)
    trainer.load_state_dict(state)
    if trainer.step >= config.train.steps:
        raise GanforgeError(
            f"run '{run_dir}' is already at step {trainer.step} of {config.train.steps}; "
            "pass --steps N with a larger total to train further"
        )
    if changes and ctx.is_main:
        save_resolved_config(config, run)
    trainer.fit(config.train.steps, progress=progress, stop=stop)
    return run.root


def info(recipe: str, overrides: list[str] | None = None) -> dict[str, Any]:
    """Parameter counts and the resolved settings of a recipe, without training.

    Models are built on the meta device: shapes only, so even 512 px counts take seconds.
    """
    config = apply_overrides(load_recipe(recipe), list(overrides or []))
    check_task(config)
    if config.task == "translation":
        from ganforge.translation.info import translation_info

        return translation_info(config)
    start = time.perf_counter()
    with torch.device("meta"):
        generator, discriminator = build_models(config.model)
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
    from ganforge.training.dashboard import plot_dashboard

    return plot_dashboard(Path(run_dir), Path(out) if out is not None else None)


