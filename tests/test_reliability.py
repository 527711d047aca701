"""Never lose a run: SIGKILL anywhere + resume is exact, graceful stop, corrupt files, disk full."""

from __future__ import annotations

import errno
import json
import os
import pickle
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from ganforge import api
from ganforge.checksums import file_sha256
from ganforge.cli import main
from ganforge.training.checkpoint import list_checkpoints, verify_checkpoint

SMALL = ["model.ch=8", "model.dim_z=32", "model.shared_dim=16", "train.log_every=2",
         "train.sample_every=10", "eval.every=0", "augment.kind=ada", "augment.ada_kimg=5",
         "augment.target=0", "--batch-size", "32", "--no-progress"]  # ADA: its p must resume too


def command(*args: str) -> list[str]:
    return [sys.executable, "-m", "ganforge", *args]


def train_args(out: Path, steps: int, every: int = 2) -> list[str]:
    return command("train", "--out", str(out), "--steps", str(steps), "--checkpoint-every", str(every), *SMALL)


def final_state(run: Path) -> dict:
    return torch.load(list_checkpoints(run / "checkpoints")[-1], weights_only=True)


def train_metrics(run: Path) -> list[dict]:
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    return [{k: v for k, v in r.items() if k not in ("time", "images_per_s")} for r in rows]


def assert_same_state(a: dict, b: dict) -> None:
    assert a["step"] == b["step"]
    for net in ("G", "D", "G_ema"):
        for key in a[net]:
            assert torch.equal(a[net][key], b[net][key]), f"{net}.{key}"
    for opt in ("opt_g", "opt_d"):
        for idx, state in a[opt]["state"].items():
            for key, value in state.items():
                assert torch.equal(value, b[opt]["state"][idx][key]), f"{opt}[{idx}].{key}"
    assert torch.equal(a["stream"]["order"], b["stream"]["order"])
    assert a["stream"]["position"] == b["stream"]["position"]
    assert torch.equal(a["rng"]["torch"], b["rng"]["torch"])
    assert a["augment"] == b["augment"] and a["guard"] == b["guard"]


def test_sigkill_at_random_points_then_resume_is_bitwise_exact(tmp_path: Path) -> None:
    steps = 30
    straight, killed = tmp_path / "straight", tmp_path / "killed"
    subprocess.run(train_args(straight, steps), check=True, capture_output=True, timeout=600)

    rng = random.Random(0)
    kills_mid_run, attempts = 0, 0
    while True:
        attempts += 1
        assert attempts < 15, "the killed run never finished"
        if list_checkpoints(killed / "checkpoints"):
            args = command("train", "--resume", str(killed), "--no-progress")
        else:  # killed before its first checkpoint: nothing to resume, start again
            args = train_args(killed, steps) + ["--overwrite"]
        proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        if kills_mid_run < 3:
            time.sleep(rng.uniform(3.0, 7.0))
            if proc.poll() is None:
                proc.send_signal(signal.SIGKILL)
                proc.wait()
                kills_mid_run += 1
                continue
        _, err = proc.communicate(timeout=600)
        assert proc.returncode == 0, err.decode()
        break
    assert kills_mid_run == 3
    assert final_state(straight)["augment"]["ada"]["last_rt"] is not None  # ADA was adjusting
    assert_same_state(final_state(straight), final_state(killed))
    assert train_metrics(straight) == train_metrics(killed)
    for path in list_checkpoints(killed / "checkpoints"):
        assert verify_checkpoint(path) is None


def _start_and_wait_for_training(out: Path) -> subprocess.Popen:
    proc = subprocess.Popen(train_args(out, 100000, every=1000), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    while not (out / "metrics.jsonl").is_file() or not (out / "metrics.jsonl").read_text():
        assert proc.poll() is None, proc.communicate()[1]
        assert time.time() < deadline, "training did not start"
        time.sleep(0.2)
    return proc


def test_sigterm_saves_a_checkpoint_and_exits_zero(tmp_path: Path) -> None:
    run = tmp_path / "run"
    proc = _start_and_wait_for_training(run)
    sent = time.time()
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert time.time() - sent < 30  # bounded: one step plus one checkpoint
    assert "stopping on SIGTERM" in out + err
    (checkpoint,) = list_checkpoints(run / "checkpoints")
    assert verify_checkpoint(checkpoint) is None
    stopped_at = torch.load(checkpoint, weights_only=True)["step"]
    assert stopped_at > 0
    result = subprocess.run(command("train", "--resume", str(run), "--steps", str(stopped_at + 3),
                                    "--no-progress"), capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert final_state(run)["step"] == stopped_at + 3


def test_a_second_signal_exits_at_once_without_corrupting(tmp_path: Path) -> None:
    run = tmp_path / "run"
    proc = _start_and_wait_for_training(run)
    proc.send_signal(signal.SIGINT)
    time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=30)
    # 130: the second signal ended the process at once (during training, or during shutdown
    # after a finished graceful stop). 0: the graceful stop and the exit finished before it.
    # -SIGINT: it came in the interpreter's last instant, after Python reset signal handlers to
    # the default; also at once, with nothing open.
    assert proc.returncode in (0, 130, -signal.SIGINT), err
    assert "Traceback" not in err
    for path in list_checkpoints(run / "checkpoints"):
        assert verify_checkpoint(path) is None
    assert not list((run / "checkpoints").glob(".*.tmp")) or proc.returncode == 130


def test_corrupt_newest_checkpoint_falls_back_and_stays_exact(tmp_path: Path) -> None:
    straight, broken = tmp_path / "straight", tmp_path / "broken"
    subprocess.run(train_args(straight, 6), check=True, capture_output=True, timeout=300)
    subprocess.run(train_args(broken, 4), check=True, capture_output=True, timeout=300)
    newest = list_checkpoints(broken / "checkpoints")[-1]
    data = newest.read_bytes()
    newest.write_bytes(data[: len(data) // 2])  # truncated, as by a crash without atomic writes
    result = subprocess.run(command("train", "--resume", str(broken), "--steps", "6", "--no-progress"),
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert "step_00000004.pt" in result.stderr and "SHA-256" in result.stderr
    assert "resuming from step_00000002.pt" in result.stderr
    assert (broken / "checkpoints" / "step_00000004.pt.corrupt").is_file()
    assert_same_state(final_state(straight), final_state(broken))


class _Exploit:
    def __reduce__(self) -> tuple:
        return (os.system, (f"touch {_Exploit.target}",))


def test_a_malicious_checkpoint_is_refused_even_with_a_valid_checksum(tmp_path: Path) -> None:
    run = tmp_path / "run"
    subprocess.run(train_args(run, 2), check=True, capture_output=True, timeout=300)
    _Exploit.target = tmp_path / "pwned"
    evil = run / "checkpoints" / "step_00000009.pt"
    evil.write_bytes(pickle.dumps({"step": 9, "payload": _Exploit()}))
    (run / "checkpoints" / "step_00000009.pt.sha256").write_text(file_sha256(evil) + "\n")
    result = subprocess.run(command("sample", str(run), "--out", str(tmp_path / "s.png")),
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr  # the previous good checkpoint is used
    assert not _Exploit.target.exists()
    result = subprocess.run(command("train", "--resume", str(run), "--steps", "3", "--no-progress"),
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert "step_00000009.pt" in result.stderr and "could not be read" in result.stderr
    assert not _Exploit.target.exists()


def test_a_failing_write_leaves_every_earlier_file_intact(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    run = tmp_path / "run"
    assert main(["train", "--out", str(run), "--steps", "2", "--checkpoint-every", "2", *SMALL]) == 0
    export = tmp_path / "g.safetensors"
    assert main(["export", str(run), "--out", str(export)]) == 0
    appended = ("metrics.jsonl", "latest.png")  # a log that grows, and the newest grid
    before = {p: file_sha256(p) for p in sorted(run.rglob("*")) if p.is_file()
              and "tensorboard" not in p.parts and p.name not in appended}
    metrics_before = (run / "metrics.jsonl").read_text()
    before[export] = file_sha256(export)

    real_save = torch.save

    def disk_full(obj: object, f: object, *args: object, **kwargs: object) -> None:
        real_save(obj, f, *args, **kwargs)
        raise OSError(errno.ENOSPC, "No space left on device", str(getattr(f, "name", f)))

    monkeypatch.setattr(torch, "save", disk_full)
    capsys.readouterr()
    assert main(["train", "--resume", str(run), "--steps", "4", "--checkpoint-every", "2", *SMALL[-1:]]) == 1
    err = capsys.readouterr().err
    assert "No space left on device" in err and len(err.strip().splitlines()) == 1

    import safetensors.torch as st

    def failing_save_file(*args: object, **kwargs: object) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(st, "save_file", failing_save_file)
    monkeypatch.setattr("ganforge.generators.export.save_file", failing_save_file)
    assert main(["export", str(run), "--out", str(export)]) == 1
    for path, digest in before.items():
        if path.name == "config.yaml":
            continue  # --checkpoint-every on resume rewrites the config on purpose
        assert path.is_file() and file_sha256(path) == digest, path
    assert (run / "metrics.jsonl").read_text().startswith(metrics_before)
    assert not list((run / "checkpoints").glob(".*.tmp"))
    assert not list(tmp_path.glob(".*.tmp"))
    assert [p.name for p in list_checkpoints(run / "checkpoints")] == ["step_00000002.pt"]


def test_resume_flags(tmp_path: Path) -> None:
    run = api.train(api.make_config(overrides=SMALL[:6], steps=2, batch_size=16, checkpoint_every=1),
                    tmp_path / "r", progress=False)
    assert [p.name for p in list_checkpoints(run / "checkpoints")] == ["step_00000001.pt", "step_00000002.pt"]
    api.resume(run, steps=4, checkpoint_every=4, progress=False)
    names = [p.name for p in list_checkpoints(run / "checkpoints")]
    assert names[-1] == "step_00000004.pt" and "step_00000003.pt" not in names


def test_a_signal_during_set_up_still_ends_with_a_checkpoint(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from ganforge.training import launch as launch_module

    real_load = launch_module.load_training_data

    def load_then_get_preempted(*args: object, **kwargs: object) -> object:
        dataset = real_load(*args, **kwargs)
        os.kill(os.getpid(), signal.SIGTERM)  # arrives while the run is still being set up
        return dataset

    monkeypatch.setattr(launch_module, "load_training_data", load_then_get_preempted)
    config = api.make_config(overrides=SMALL[:6], steps=50, batch_size=16)
    run = api.train(config, tmp_path / "r", progress=False)
    assert [p.name for p in list_checkpoints(run / "checkpoints")] == ["step_00000001.pt"]
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL  # handlers are restored
