"""Starting and resuming translation runs: what `ganforge train` does when the recipe's
`task` is `translation` (`ganforge.api.train` / `resume` hand over to these)."""

from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path

from ganforge.config import Config
from ganforge.errors import GanforgeError
from ganforge.training import distributed
from ganforge.training.checkpoint import load_latest_checkpoint, remove_stale_temporaries
from ganforge.training.run_dir import RunDir
from ganforge.training.signals import GracefulStop
from ganforge.training.trainer import prepare_run_dir, save_resolved_config
from ganforge.translation.checks import check_translation_config
from ganforge.translation.data import load_translation_data
from ganforge.translation.trainer import TranslationTrainer


def _single_process() -> None:
    if distributed.current().world > 1:
        raise GanforgeError("translation recipes train on one process; run them without torchrun")


def train_translation(
    config: Config, out: Path, overwrite: bool, progress: bool, stop: GracefulStop
) -> Path:
    """A new translation run in `out`; returns its run directory."""
    _single_process()
    check_translation_config(config)  # before reading data
    data = load_translation_data(config.data.source, config.translation)
    trainer = TranslationTrainer(config, data, RunDir(out))  # validates before touching disk
    run = prepare_run_dir(out, overwrite)
    save_resolved_config(config, run)
    run.write_classes([], data.source)
    trainer.fit(progress=progress, stop=stop)
    return run.root


def resume_translation(
    config: Config, run: RunDir, checkpoint_every: int | None, progress: bool, stop: GracefulStop
) -> Path:
    """Continue a translation run from its newest good checkpoint to its configured epochs."""
    _single_process()
    if checkpoint_every is not None:
        config = replace(config, train=replace(config.train, checkpoint_every=checkpoint_every))
    remove_stale_temporaries(run.checkpoints)
    path, state, warnings = load_latest_checkpoint(run.checkpoints, quarantine=True)
    for message in warnings:
        print(f"warning: skipped {message}", file=sys.stderr)
    if warnings:
        print(f"resuming from {path.name}", file=sys.stderr)
    data = load_translation_data(config.data.source, config.translation)
    trainer = TranslationTrainer(config, data, run)
    trainer.load_state_dict(state)
    if trainer.step >= trainer.total_steps:
        raise GanforgeError(
            f"run '{run.root}' is already at epoch {trainer.epoch} of {trainer.total_epochs}; "
            "to train further, raise translation.epochs_decay (or epochs) in its config.yaml "
            "and resume"
        )
    if checkpoint_every is not None:
        save_resolved_config(config, run)
    trainer.fit(progress=progress, stop=stop)
    return run.root
