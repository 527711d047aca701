"""Starting and resuming runs of any task: one launch path for `ganforge train` and
`ganforge train --resume`, for GANs and translation alike."""

from __future__ import annotations

import re
import shutil
import sys
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from ganforge.config import Config, load_config_file, save_config
from ganforge.data import ImageDataset
from ganforge.data.spec import load_training_data
from ganforge.errors import GanforgeError
from ganforge.generator import Generator
from ganforge.models import ARCHITECTURES
from ganforge.objectives import get_objective
from ganforge.text import build_vocabulary
from ganforge.training import distributed
from ganforge.training.checkpoint import load_latest_checkpoint, remove_stale_temporaries
from ganforge.training.guard import Guard
from ganforge.training.loop import Loop
from ganforge.training.run_dir import RunDir
from ganforge.training.signals import GracefulStop
from ganforge.training.tasks.base import Task
from ganforge.training.tasks.generation import GenerationTask
from ganforge.training.tasks.inversion import InversionData, InversionTask, load_inversion_data
from ganforge.training.tasks.translation import TranslationTask
from ganforge.training.validation import validate_config
from ganforge.translation.data import TranslationData, load_translation_data
from ganforge.translation.label_instances import resolved

TASKS = ("generation", "translation", "inversion")
Data = object  # an ImageDataset (generation), TranslationData (translation) or InversionData
# inversion: opens `inversion.generator` (any source `ganforge.load` reads: the API layer passes it)
GeneratorOpener = Callable[[str], Generator]


def check_task(config: Config) -> None:
    if config.task not in TASKS:
        raise GanforgeError(f"unknown task '{config.task}'; available: {', '.join(TASKS)}")


def check_settings(config: Config) -> None:
    """Every check that needs no data and builds nothing (`validate_config`)."""
    check_task(config)
    validate_config(config, distributed.current().world)


def load_task_data(config: Config, open_generator: GeneratorOpener | None = None) -> tuple[Config, Data]:
    """The run's data, and the config completed by it (a GAN's class count)."""
    if config.task == "inversion":
        return config, load_inversion_data(config, open_generator)
    if config.task == "translation":
        data = load_translation_data(config.data.source, config.translation, config.data.workers)
        tc = config.translation
        if data.attributes and hasattr(tc, "attributes"):
            # [] means every attribute of the data: the run's config names them, in label order,
            # and how many each dataset labels (several datasets: `--data A+B`)
            sets = list(data.attribute_sets)
            if tc.attribute_sets and list(tc.attribute_sets) != sets:
                raise GanforgeError(f"translation.attribute_sets={list(tc.attribute_sets)} does not match "
                                    f"{config.data.source} ({sets or 'one dataset'}); leave it [] (the "
                                    "data fills it in), or resume with the run's own --data")
            if list(tc.attributes) != list(data.attributes) or list(tc.attribute_sets) != sets:
                config = replace(config, translation=replace(tc, attributes=list(data.attributes),
                                                             attribute_sets=sets))
        # SPADE's instance_edges: auto becomes what the data holds (the saved config is concrete)
        config = replace(config, translation=resolved(config.translation, data.label_instances, data.source))
        return config, data
    dataset = load_training_data(config.data, config.model.resolution, config.model.img_channels)
    if takes_text(config):
        return with_vocabulary(config, dataset), dataset
    if dataset.n_classes < 2:
        raise GanforgeError(
            f"{dataset.source} has {dataset.n_classes} class; a class-conditional model needs at "
            "least 2 (use class sub-folders for a folder dataset)"
        )
    return replace(config, model=replace(config.model, n_classes=dataset.n_classes)), dataset


def takes_text(config: Config) -> bool:
    """Whether the architecture draws from text (its condition y is caption token ids)."""
    networks = ARCHITECTURES.get(config.model.arch)
    return bool(networks and getattr(networks[0], "takes_text", False))


def with_vocabulary(config: Config, dataset: ImageDataset) -> Config:
    """The config with `text.vocab` built from the captions (builtin encoder; kept when set, as
    on resume, so ids never change), and the class count of the data's labels."""
    if dataset.captions is None:
        raise GanforgeError(f"model.arch={config.model.arch} draws from text and needs captioned data "
                            f"(--data captioned-digits | captions:DIR | coco:FILE.json | cub:DIR); "
                            f"'{dataset.source}' has no captions")
    text = config.text
    if text.encoder == "builtin" and not text.vocab:
        text = replace(text, vocab=build_vocabulary(c for cs in dataset.captions for c in cs))
    return replace(config, text=text, model=replace(config.model, n_classes=dataset.n_classes))


def loop_for_converted(config: Config, out: Path | str, origin: str) -> tuple[Loop, Data]:
    """A new run's loop (and its data) that converted weights (`origin`: "snapshot's model", "converted
    model") are loaded into before its first checkpoint: the data must have the model's classes."""
    check_settings(config)
    completed, dataset = load_task_data(config)
    if completed.model.n_classes != config.model.n_classes:
        raise GanforgeError(f"--data {config.data.source} has {completed.model.n_classes} classes; the "
                            f"{origin} has {config.model.n_classes} (continuing needs the same classes)")
    return make_loop(config, dataset, RunDir(out)), dataset


def make_loop(config: Config, data: Data, run: RunDir) -> Loop:
    """The task for `config.task` on the one loop (builds networks; touches no files)."""
    check_settings(config)
    guard = Guard(config.guard, d_loss_bounded=get_objective(config.train.loss).d_loss_bounded)
    task: Task
    if config.task == "translation":
        assert isinstance(data, TranslationData)
        task = TranslationTask(config, data, guard, str(run.root))
    elif config.task == "inversion":
        assert isinstance(data, InversionData)
        task = InversionTask(config, data, guard, str(run.root))
    else:
        task = GenerationTask(config, data, guard, str(run.root))
    return Loop(config, task, run, guard)


def class_names(data: Data) -> list[str]:
    return [] if isinstance(data, TranslationData) else list(data.class_names)


def default_run_dir(config: Config, root: Path = Path("runs")) -> Path:
    """runs/<recipe>, or runs/<recipe>-2, -3 ... so that no earlier run is touched."""
    base = root / re.sub(r"[^A-Za-z0-9_.-]+", "-", config.name)
    candidate, n = base, 2
    while candidate.exists():
        candidate, n = root / f"{base.name}-{n}", n + 1
    return candidate


def prepare_run_dir(out: Path, overwrite: bool) -> RunDir:
    """Create the run directory; refuse to reuse one that holds a run unless told to."""
    run = RunDir(out)
    if out.exists() and not out.is_dir():
        raise GanforgeError(f"--out '{out}' exists and is not a directory")
    if out.exists() and any(out.iterdir()):
        if not overwrite:
            raise GanforgeError(
                f"run directory '{out}' already exists; use --resume {out} to continue it, "
                "--overwrite to replace it, or another --out"
            )
        shutil.rmtree(out)
    out.mkdir(parents=True, exist_ok=True)
    return run


def start(config: Config, out: Path | None, overwrite: bool, progress: bool, stop: GracefulStop,
          open_generator: GeneratorOpener | None = None) -> Path:
    """A new run of `config` in `out` (default runs/<recipe>[-N]); returns its directory."""
    check_settings(config)  # before reading data
    config, data = load_task_data(config, open_generator)
    # rank 0 picks the directory (runs/<recipe>-N depends on what exists) for every rank
    out_path = distributed.broadcast_object(out if out is not None else default_run_dir(config))
    loop = make_loop(config, data, RunDir(out_path))  # validates before touching disk
    run = RunDir(out_path)
    if loop.dist.is_main:
        run = prepare_run_dir(out_path, overwrite)
        save_config(config, run.config)
        source = getattr(data, "source", config.data.source)
        run.write_classes(class_names(data), source)
    distributed.barrier()
    loop.fit(progress=progress, stop=stop)
    return run.root


def set_budget(config: Config, steps: int | None, checkpoint_every: int | None) -> Config:
    """`--steps` and `--checkpoint-every` applied to a config of any task."""
    for key, value in (("steps", steps), ("checkpoint_every", checkpoint_every)):
        if value is not None and value <= 0:
            raise GanforgeError(f"--{key.replace('_', '-')} must be a positive integer, got {value}")
    if checkpoint_every is not None:
        config = replace(config, train=replace(config.train, checkpoint_every=checkpoint_every))
    if steps is None:
        return config
    if config.task == "translation":
        return replace(config, translation=replace(config.translation, steps=steps))
    return replace(config, train=replace(config.train, steps=steps))


def resume(run_dir: Path, steps: int | None, checkpoint_every: int | None, progress: bool,
           stop: GracefulStop, open_generator: GeneratorOpener | None = None) -> Path:
    """Continue a run from its newest good checkpoint to its configured (or new) total steps."""
    run = RunDir(Path(run_dir))
    if not run.config.is_file():
        raise GanforgeError(f"'{run_dir}' is not a ganforge run directory (no config.yaml)")
    config = set_budget(load_config_file(run.config), steps, checkpoint_every)
    check_settings(config)
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
    _, data = load_task_data(config, open_generator)
    loop = make_loop(config, data, run)
    loop.load_state_dict(state)
    total = loop.task.total_steps()
    if loop.step >= total:
        raise GanforgeError(
            f"run '{run_dir}' is already at step {loop.step} of {total}; "
            "pass --steps N with a larger total to train further"
        )
    if (steps is not None or checkpoint_every is not None) and ctx.is_main:
        save_config(config, run.config)
    loop.fit(progress=progress, stop=stop)
    return run.root
