"""The guard on real short runs: a provoked divergence is caught, rolled back and recovered from."""

from __future__ import annotations

import json
import math
from pathlib import Path

import torch

from ganforge import api
from ganforge.data import load_dataset
from ganforge.training.checkpoint import list_checkpoints, load_checkpoint
from ganforge.training.launch import make_loop, prepare_run_dir
from ganforge.training.loop import Loop
from ganforge.training.run_dir import RunDir

TINY = [
    "model.ch=8", "model.dim_z=32", "model.shared_dim=16", "train.batch_size=16",
    "train.log_every=5", "train.sample_every=1000", "train.checkpoint_every=10",
    "train.ema_start=0", "eval.every=0", "monitor.plot=false",
]


def rows(run: Path, kind: str) -> list[dict]:
    lines = (run / "metrics.jsonl").read_text().splitlines()
    return [r for r in map(json.loads, lines) if r["kind"] == kind]


def make_trainer(tmp_path: Path, overrides: list[str]) -> Loop:
    config = api.make_config(overrides=TINY + overrides)
    dataset = load_dataset("digits", config.model.resolution, config.model.img_channels)
    run = prepare_run_dir(tmp_path / "run", overwrite=False)
    return make_loop(config, dataset, RunDir(run.root))


def test_absurd_learning_rate_is_caught_rolled_back_and_training_goes_on(tmp_path: Path) -> None:
    # lr 2.0 is 10^4 times BigGAN's: the first Adam steps blow sigma_0 of every weight up
    trainer = make_trainer(tmp_path, [
        "train.lr_g=2.0", "train.lr_d=2.0", "guard.rollback=true", "guard.sigma_limit=50",
        "guard.lr_factor=1e-4",
    ])
    trainer.fit(40, progress=False)
    run = trainer.run.root
    events = rows(run, "guard")
    assert events[0]["event"] == "sigma_explosion" and events[0]["step"] == 5
    rollback = next(e for e in events if e["event"] == "rollback")
    assert rollback["step"] == 0 and "lr_g=0.0002" in rollback["detail"]
    assert trainer.step == 40 and trainer.guard.rollbacks == 1
    assert [g["lr"] for g in trainer.task.opt_g.param_groups] == [2.0 * 1e-4]
    # after the rollback the run is healthy: finite losses, bounded sigma, no further events
    train = rows(run, "train")
    assert [r["step"] for r in train] == [5, 10, 15, 20, 25, 30, 35, 40]  # abandoned rows gone
    assert all(r["sigma_max_d"] < 50 and math.isfinite(r["loss_d"]) for r in train)
    assert len(events) == 2
    state = load_checkpoint(list_checkpoints(run / "checkpoints")[-1])
    assert state["step"] == 40 and state["guard"]["rollbacks"] == 1
    assert all(torch.isfinite(v).all() for v in state["G"].values() if v.is_floating_point())


def test_nan_weights_skip_steps_then_roll_back(tmp_path: Path) -> None:
    trainer = make_trainer(tmp_path, ["guard.rollback=true", "guard.max_nonfinite=4"])
    trainer.fit(10, progress=False)  # checkpoint at step 10
    with torch.no_grad():  # corrupt D as a hardware fault or an overflow would
        next(trainer.task.D.parameters()).fill_(float("nan"))
    trainer.fit(30, progress=False)
    events = rows(trainer.run.root, "guard")
    assert [e["event"] for e in events] == ["nonfinite", "rollback"]
    assert trainer.guard.nonfinite_skips >= 4
    assert trainer.task.state_is_finite() and trainer.step == 30
    assert rows(trainer.run.root, "train")[-1]["nonfinite_skips"] == trainer.guard.nonfinite_skips


def test_without_rollback_the_guard_warns_and_the_run_continues(tmp_path: Path) -> None:
    trainer = make_trainer(tmp_path, ["guard.sigma_limit=1e-3"])  # every reading trips it
    trainer.fit(10, progress=False)
    events = rows(trainer.run.root, "guard")
    assert [e["event"] for e in events] == ["sigma_explosion", "sigma_explosion"]
    assert trainer.step == 10 and trainer.guard.rollbacks == 0


def test_monitors_are_logged_with_the_losses(tmp_path: Path) -> None:
    trainer = make_trainer(tmp_path, ["augment.kind=ada", "augment.ada_kimg=1"])
    trainer.fit(10, progress=False)
    row = rows(trainer.run.root, "train")[-1]
    for key in ("loss_d", "loss_g", "d_acc_real", "d_acc_fake", "logit_real", "logit_fake", "r_t",
                "grad_norm_g", "grad_norm_d", "sigma_max_g", "sigma_max_d", "diversity", "ada_p",
                "nonfinite_skips"):
        assert key in row and row[key] is not None, key
    assert 0.0 <= row["d_acc_real"] <= 1.0 and -1.0 <= row["r_t"] <= 1.0
    assert trainer.task.ada.last_rt is not None  # 20 D steps: five adjustments of p
    assert row["ada_p"] == trainer.task.ada.p == trainer.task.augment.p


def test_fixed_and_diffaugment_train_and_change_what_d_sees(tmp_path: Path) -> None:
    for kind in ("fixed", "diffaug"):
        trainer = make_trainer(tmp_path / kind, [f"augment.kind={kind}", "augment.p=0.5"])
        x = trainer.task.to_model_range(trainer.task.dataset.images[:8])
        assert not torch.equal(trainer.task.augment(x), x)  # D never sees the clean batch
        trainer.fit(4, progress=False)
        row = rows(trainer.run.root, "train")[-1]
        assert math.isfinite(row["loss_d"]) and row["ada_p"] == (0.5 if kind == "fixed" else 1.0)
