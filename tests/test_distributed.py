"""Data-parallel training on CPU (gloo, 2 processes under torchrun): equivalence with one
process on the same global batch, identical ranks, cross-replica BN, accumulation, and resume
on a different world size."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from ganforge import api
from ganforge.training.checkpoint import load_checkpoint
from ganforge.training.launch import make_loop
from ganforge.training.loop import Loop
from ganforge.training.run_dir import RunDir

WORKER = Path(__file__).with_name("distributed_worker.py")
STEPS = 2
OVERRIDES = [f"train.steps={STEPS}", "train.sync_bn=true", "train.batch_size=32",
             "train.log_every=1", "train.sample_every=100", "monitor.plot=false"]
LR = 2e-4  # biggan-digits' Adam learning rates


def _env() -> dict[str, str]:
    return {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore"}


def _torchrun(*args: str) -> list[str]:
    return [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2",
            "--standalone", *args]


def _run(cmd: list[str]) -> None:
    done = subprocess.run(cmd, env=_env(), capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The same training on 2 ranks (global batch 32 = 2 x 16) and on 1 process (batch 32)."""
    root = tmp_path_factory.mktemp("dist")
    _run(_torchrun(str(WORKER), "--out", str(root / "two"), *OVERRIDES))
    _run([sys.executable, str(WORKER), "--out", str(root / "one"), *OVERRIDES])
    return {"two": root / "two", "one": root / "one", "root": root}


def _before_batchnorm(name: str) -> bool:
    """G's block conv biases: every one feeds a BatchNorm (the next block's, or G's output BN),
    which removes any per-channel constant, so their exact gradient is zero and Adam turns
    float round-off into steps of up to lr. They are compared against that bound instead."""
    return name.startswith("blocks.") and name.endswith(("conv1.bias", "conv2.bias", "conv_sc.bias"))


def test_every_rank_holds_identical_networks_and_ema(runs: dict[str, Path]) -> None:
    a, b = (torch.load(runs["two"] / f"rank{r}.pt") for r in (0, 1))
    assert a["world"] == b["world"] == 2
    for net in ("G", "D", "G_ema"):
        for key in a[net]:
            assert torch.equal(a[net][key], b[net][key]), (net, key)


def test_two_ranks_equal_one_process_on_the_global_batch(runs: dict[str, Path]) -> None:
    two, one = torch.load(runs["two"] / "rank0.pt"), torch.load(runs["one"] / "rank0.pt")
    assert one["world"] == 1
    for net in ("G", "D", "G_ema"):
        for key, value in one[net].items():
            other = two[net][key]
            if not value.is_floating_point():
                assert torch.equal(value, other), (net, key)
            elif net != "D" and _before_batchnorm(key):
                assert (value - other).abs().max() <= 2 * STEPS * LR, (net, key)
            else:
                torch.testing.assert_close(other, value, rtol=1e-4, atol=5e-5, msg=f"{net} {key}")


def test_cross_replica_batchnorm_equals_full_batch_statistics(tmp_path: Path) -> None:
    _run(_torchrun(str(WORKER), "--out", str(tmp_path), "--bn"))
    parts = [torch.load(tmp_path / f"bn{r}.pt") for r in (0, 1)]
    for part in parts:
        torch.testing.assert_close(part["out"], part["ref"], rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(part["running"], part["ref_running"], rtol=1e-6, atol=1e-6)
        torch.testing.assert_close(part["grad_input"], part["ref_grad_input"], rtol=1e-5, atol=1e-5)
    # each rank holds its share of the affine weight's gradient; averaging (x2 ranks) sums them
    total = parts[0]["grad_weight"] + parts[1]["grad_weight"]
    torch.testing.assert_close(total, parts[0]["ref_grad_weight"], rtol=1e-5, atol=1e-4)


def test_resume_on_two_ranks_from_a_one_process_checkpoint(runs: dict[str, Path]) -> None:
    """Train 2 steps on 1 process, continue to 3 under torchrun with 2 ranks (the CLI), and
    compare with continuing on 1 process: the same data order, noise and networks."""
    root = runs["root"]
    on_two, on_one = root / "resume-two", root / "resume-one"
    shutil.copytree(runs["one"] / "run", on_two)
    shutil.copytree(runs["one"] / "run", on_one)
    _run(_torchrun("-m", "ganforge", "train", "--resume", str(on_two), "--steps", "3"))
    api.resume(on_one, steps=3, progress=False)
    a = load_checkpoint(on_two / "checkpoints" / "step_00000003.pt")
    b = load_checkpoint(on_one / "checkpoints" / "step_00000003.pt")
    assert a["step"] == b["step"] == 3
    assert torch.equal(a["stream"]["order"], b["stream"]["order"])
    assert a["stream"]["position"] == b["stream"]["position"]
    assert torch.equal(a["rng"]["noise"], b["rng"]["noise"])
    for key, value in b["D"].items():
        torch.testing.assert_close(a["D"][key], value, rtol=1e-4, atol=5e-5, msg=key)
    rows = RunDir(on_two).metrics.read_text().splitlines()
    assert sum('"kind": "train"' in r for r in rows) == 3  # rank 0 logged once per step


def test_batch_must_split_evenly_among_ranks(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from ganforge.errors import GanforgeError
    from ganforge.training import distributed

    monkeypatch.setattr(distributed, "current", lambda: distributed.Context(0, 3, 0))
    config = api.make_config(recipe="biggan-digits", overrides=["train.batch_size=64"])
    with pytest.raises(GanforgeError, match="multiple of 3"):
        make_loop(config, _digits(config), RunDir(tmp_path))
    config = api.make_config(recipe="began", overrides=["train.batch_size=63"])
    with pytest.raises(GanforgeError, match="one process only"):
        make_loop(config, _digits(config), RunDir(tmp_path))


def _digits(config: object) -> object:
    from ganforge.data.spec import load_training_data

    return load_training_data(config.data, config.model.resolution, config.model.img_channels)


def _train_steps(overrides: list[str], tmp_path: Path, steps: int = 2) -> Loop:
    config = api.make_config(recipe="gan", overrides=[
        "model.dropout=0", "train.log_every=1", "monitor.plot=false", *overrides])
    trainer = make_loop(config, _digits(config), RunDir(tmp_path))
    for _ in range(steps):
        trainer.task.d_step()
        trainer.task.g_step()
    return trainer


def test_accumulating_two_half_batches_equals_one_full_batch(tmp_path: Path) -> None:
    """BN-free nets (the MLP GAN without dropout): accumulate=2 x 32 takes the step 64 does."""
    full = _train_steps(["train.batch_size=64"], tmp_path / "a")
    halves = _train_steps(["train.batch_size=32", "train.accumulate=2"], tmp_path / "b")
    for net in ("G", "D"):
        for (name, a), b in zip(getattr(full.task, net).named_parameters(),
                                getattr(halves.task, net).parameters(), strict=True):
            torch.testing.assert_close(b, a, rtol=1e-5, atol=1e-6, msg=f"{net} {name}")
    assert full.task.stream.position == halves.task.stream.position
