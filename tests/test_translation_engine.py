"""Translation on the one training loop gains what the GAN task has: bf16/fp16, accumulation,
channels_last, compile, the guard with rollback, an EMA of the generators, `best.pt`, a step
budget (`--steps`) and torchrun data parallelism, each resuming exactly."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import ganforge
from ganforge import api
from ganforge.cli import main
from ganforge.config import Config, save_config
from ganforge.errors import GanforgeError
from ganforge.training.checkpoint import load_checkpoint, load_latest_checkpoint
from ganforge.training.launch import make_loop
from ganforge.training.loop import Loop
from ganforge.training.run_dir import RunDir, read_metrics
from test_translation_training import StopAfter, random_data, tiny_config

DEMO = [  # the built-in paired demo at its smallest
    "translation.ngf=4", "translation.ndf=4", "translation.eval_n=20", "translation.eval_every=0",
    "translation.epochs=1", "translation.epochs_decay=1", "translation.steps_per_epoch=3",
    "train.log_every=1", "train.sample_every=100", "monitor.plot=false",
]


@pytest.fixture(autouse=True)
def _one_thread() -> None:
    torch.set_num_threads(1)


def _straight_and_resumed(config: Config, tmp_path: Path, stop_at: int) -> tuple[Loop, Loop]:
    data = random_data(config, paired=config.translation.mode == "pix2pix")
    straight = make_loop(config, data, RunDir(tmp_path / "straight"))
    straight.fit(progress=False)
    first = make_loop(config, data, RunDir(tmp_path / "resumed"))
    first.fit(progress=False, stop=StopAfter(first, stop_at))
    assert first.step == stop_at
    torch.manual_seed(999)  # nothing between the runs may matter
    second = make_loop(config, data, RunDir(tmp_path / "resumed"))
    second.load_state_dict(load_latest_checkpoint(RunDir(tmp_path / "resumed").checkpoints)[1])
    second.fit(progress=False)
    return straight, second


def _assert_same_networks(a: Loop, b: Loop) -> None:
    nets_a = {**a.task.model.networks, **{f"ema_{k}": v for k, v in a.task.averages.items()}}
    nets_b = {**b.task.model.networks, **{f"ema_{k}": v for k, v in b.task.averages.items()}}
    assert set(nets_a) == set(nets_b)
    for name, net in nets_a.items():
        other = nets_b[name].state_dict()
        for key, value in net.state_dict().items():
            assert torch.equal(value, other[key]), (name, key)


def _rows(run: Path) -> list[dict]:
    return [{k: v for k, v in r.items() if k not in ("time", "images_per_s")}
            for r in read_metrics(run) if r["kind"] == "train"]


@pytest.mark.parametrize("mode", ["pix2pix", "cyclegan"])
def test_bf16_accumulation_and_ema_resume_exactly(mode: str, tmp_path: Path) -> None:
    config = tiny_config(mode, [
        "translation.epochs=1", "translation.epochs_decay=1", "translation.steps_per_epoch=2",
        "train.precision=bf16", "train.accumulate=2", "translation.ema=true", "train.ema_decay=0.5",
        "guard.enabled=true",
    ])
    straight, resumed = _straight_and_resumed(config, tmp_path, stop_at=3)
    assert straight.step == resumed.step == 4
    _assert_same_networks(straight, resumed)
    assert _rows(tmp_path / "straight") == _rows(tmp_path / "resumed")
    # the EMA is an average, not a copy, and the grids and evaluation use it
    g = straight.task.model.generator_names[0]
    live, average = straight.task.model.networks[g], straight.task.averages[g]
    assert any(not torch.equal(p, q) for p, q in zip(live.parameters(), average.parameters(), strict=True))
    view = straight.task.inference_model.generator(straight.task.model.directions[0])
    assert view is average
    assert "networks_ema" in load_checkpoint(next((tmp_path / "straight" / "checkpoints").glob("*.pt")))
    save_config(straight.config, RunDir(tmp_path / "straight").config)  # what `train` writes
    loaded = ganforge.load(tmp_path / "straight").network(straight.task.model.directions[0])
    for key, value in average.state_dict().items():  # ganforge.load, translate, export use it
        assert torch.equal(loaded.state_dict()[key], value), key


def test_guard_rolls_a_translation_run_back(tmp_path: Path) -> None:
    config = tiny_config("pix2pix", ["guard.rollback=true", "guard.max_nonfinite=2",
                                     "translation.epochs=3", "translation.epochs_decay=0",
                                     "translation.steps_per_epoch=2", "train.checkpoint_every=2"])
    loop = make_loop(config, random_data(config), RunDir(tmp_path / "run"))
    real_loss = loop.task.model.loss
    poisoned = {"left": 4}  # D's and G's losses of steps 3 and 4 are NaN: 4 skips in a row

    def loss(phase: str, out: dict) -> tuple[torch.Tensor, dict]:
        value, parts = real_loss(phase, out)
        if loop.step in (2, 3) and poisoned["left"]:
            poisoned["left"] -= 1
            value = value * float("nan")
        return value, parts

    loop.task.model.loss = loss
    loop.fit(progress=False)
    events = [r for r in read_metrics(tmp_path / "run") if r["kind"] == "guard"]
    assert any(e["event"] == "rollback" for e in events), events
    assert poisoned["left"] == 0 and loop.step == 6 and loop.task.state_is_finite()
    assert loop.task.lr < 2e-4  # the remedy lowered the learning rates


def test_best_checkpoint_and_step_budget_from_the_cli(tmp_path: Path) -> None:
    """--steps is the budget of a translation run too (its epochs give 2 x 2 = 4 steps)."""
    run = tmp_path / "run"
    assert main(["train", "--recipe", "pix2pix", "--out", str(run), "--steps", "3", *DEMO,
                 "translation.eval_every=1", "translation.steps_per_epoch=2",
                 "eval.best_metric=l1_AtoB", "--no-progress"]) == 0
    assert max(r["step"] for r in read_metrics(run)) == 3
    evaluated = {r["step"]: r["l1_AtoB"] for r in read_metrics(run) if r["kind"] == "eval"}
    assert set(evaluated) == {2, 3}  # the end of epoch 1, and the last step
    best = json.loads((run / "best.json").read_text())
    assert best == {"metric": "l1_AtoB", "value": min(evaluated.values()),
                    "step": min(evaluated, key=evaluated.get)}
    assert load_checkpoint(run / "checkpoints" / "best.pt")["step"] == best["step"]
    assert main(["train", "--resume", str(run), "--steps", "4", "--no-progress"]) == 0
    assert max(r["step"] for r in read_metrics(run)) == 4
    with pytest.raises(GanforgeError, match="already at step 4 of 4"):
        api.resume(run, progress=False)


def test_unknown_best_metric_is_refused(tmp_path: Path) -> None:
    config = tiny_config("pix2pix", ["eval.best_metric=fid"])
    with pytest.raises(GanforgeError, match="not a translation metric"):
        make_loop(config, random_data(config), RunDir(tmp_path))


def _torchrun(*args: str) -> list[str]:
    return [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--standalone",
            "-m", "ganforge", *args]


def _run(cmd: list[str]) -> None:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore"}
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]


def test_two_rank_translation_run_resumes_exactly(tmp_path: Path) -> None:
    """pix2pix with dropout on 2 gloo ranks: 4 steps straight equal 2 steps, a stop, and a
    resume to 4 (each rank's random streams travel in the checkpoint)."""
    common = ["--recipe", "pix2pix", *DEMO, "train.batch_size=4", "train.device=cpu",
              "translation.steps_per_epoch=2", "train.checkpoint_every=2", "--no-progress"]
    _run(_torchrun("train", "--out", str(tmp_path / "straight"), "--steps", "4", *common))
    _run(_torchrun("train", "--out", str(tmp_path / "resumed"), "--steps", "2", *common))
    _run(_torchrun("train", "--resume", str(tmp_path / "resumed"), "--steps", "4", "--no-progress"))
    a = load_checkpoint(tmp_path / "straight" / "checkpoints" / "step_00000004.pt")
    b = load_checkpoint(tmp_path / "resumed" / "checkpoints" / "step_00000004.pt")
    assert len(a["ranks"]) == 2
    assert not torch.equal(a["ranks"][0]["rng"]["torch"], a["ranks"][1]["rng"]["torch"])
    for name, state in a["networks"].items():
        for key, value in state.items():
            assert torch.equal(value, b["networks"][name][key]), (name, key)
    assert _rows(tmp_path / "straight") == _rows(tmp_path / "resumed")


def _params(loop: Loop) -> list[torch.Tensor]:
    return [p.detach() for net in loop.task.model.networks.values() for p in net.parameters()]


@pytest.mark.parametrize("lever", ["train.channels_last=true", "train.compile=true"])
def test_speed_levers_train_like_eager(lever: str, tmp_path: Path) -> None:
    """channels_last and torch.compile reach the translation networks and take the same steps
    (no norm layers, whose removal of per-channel constants leaves biases with zero gradient for
    Adam to turn into round-off steps; no dropout: nothing random inside the networks)."""
    plain = ["translation.norm=none", "translation.dropout=false"]
    base_config = tiny_config("pix2pix", plain)
    data = random_data(base_config)
    base = make_loop(base_config, data, RunDir(tmp_path / "base"))
    try:
        fast = make_loop(tiny_config("pix2pix", [*plain, lever]), data, RunDir(tmp_path / "fast"))
        for step in (1, 2):
            fast.task.train_step(step)
    except Exception as exc:  # noqa: BLE001 - inductor needs a working C++ toolchain
        if "compile" not in lever:
            raise
        pytest.skip(f"torch.compile is unavailable here: {type(exc).__name__}: {str(exc)[:200]}")
    if "channels_last" in lever:
        conv = next(m for m in fast.task.model.G.modules() if isinstance(m, torch.nn.Conv2d))
        assert conv.weight.is_contiguous(memory_format=torch.channels_last)
    else:
        assert fast.task.model.fwd["G"] is not fast.task.model.G  # the compiled wrapper trains G
        assert "_orig_mod" not in "".join(fast.task.state_dict()["networks"]["G"])
    for step in (1, 2):
        base.task.train_step(step)
    for a, b in zip(_params(base), _params(fast), strict=True):
        torch.testing.assert_close(b, a, rtol=1e-4, atol=2e-4)


def test_fp16_translation_scales_losses_and_checkpoints_the_scalers(tmp_path: Path) -> None:
    config = tiny_config("pix2pix", ["train.precision=fp16", "translation.epochs=1",
                                     "translation.epochs_decay=0", "translation.steps_per_epoch=2"])
    loop = make_loop(config, random_data(config), RunDir(tmp_path / "run"))
    assert set(loop.task.precision.scalers) == {"g", "d"}
    loop.fit(progress=False)
    rows = [r for r in read_metrics(tmp_path / "run") if r["kind"] == "train"]
    assert [r["step"] for r in rows] == [1, 2] and "fp16_overflow_skips" in rows[-1]
    state = load_checkpoint(tmp_path / "run" / "checkpoints" / "step_00000002.pt")
    assert state["precision"]["scalers"]["g"]["scale"] > 0
