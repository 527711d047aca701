"""The CLI as a user runs it: train a few steps, resume exactly, sample deterministically."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import torch

from ganforge.training.checkpoint import list_checkpoints

TINY = [
    "model.ch=4", "model.g_channels=[8,4,4,2]", "model.d_channels=[2,4,8,8]",
    "model.dim_z=32", "model.shared_dim=16", "train.log_every=2", "train.sample_every=3",
    "train.checkpoint_every=3",
]


def ganforge(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    result = subprocess.run(
        [sys.executable, "-m", "ganforge", *args], capture_output=True, text=True, timeout=300
    )
    if check and result.returncode != 0:
        raise AssertionError(f"ganforge {' '.join(args)} failed:\n{result.stderr}")
    return result


def test_train_resume_sample(tmp_path: Path) -> None:
    straight, split = tmp_path / "straight", tmp_path / "split"
    ganforge("train", "--out", str(straight), "--steps", "6", "--batch-size", "16", "--no-progress", *TINY)
    ganforge("train", "--out", str(split), "--steps", "3", "--batch-size", "16", "--no-progress", *TINY)
    ganforge("train", "--resume", str(split), "--steps", "6", "--no-progress")

    for run in (straight, split):
        for name in ("config.yaml", "classes.json", "metrics.jsonl", "samples/latest.png", "dashboard.png"):
            assert (run / name).is_file(), name
        assert list((run / "tensorboard").iterdir())
    records = [json.loads(line) for line in (split / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records if r["kind"] == "train"] == [2, 3, 4, 6]
    for key in ("step", "time", "loss_d", "loss_g", "d_acc_real", "d_acc_fake", "logit_real",
                "logit_fake", "images_per_s"):
        assert key in records[0]

    # a resumed run is bitwise identical to an uninterrupted one on CPU
    a = torch.load(list_checkpoints(straight / "checkpoints")[-1], weights_only=True)
    b = torch.load(list_checkpoints(split / "checkpoints")[-1], weights_only=True)
    assert a["step"] == b["step"] == 6
    for net in ("G", "D", "G_ema"):
        for key in a[net]:
            assert torch.equal(a[net][key], b[net][key]), f"{net}.{key} differs after resume"
    assert torch.equal(a["opt_d"]["state"][0]["exp_avg"], b["opt_d"]["state"][0]["exp_avg"])

    out1, out2 = tmp_path / "g1.png", tmp_path / "g2.png"
    args = ["--class", "3", "--class", "7", "--n", "4", "--truncation", "0.5", "--seed", "0"]
    ganforge("sample", str(split), *args, "--out", str(out1), "--individual")
    ganforge("sample", str(split), *args, "--out", str(out2))
    assert out1.read_bytes() == out2.read_bytes()
    singles = sorted((tmp_path / "g1").iterdir())
    assert len(singles) == 8 and singles[0].name.endswith("_3.png")


def test_user_mistakes_are_one_line_errors(tmp_path: Path) -> None:
    run = tmp_path / "exists"
    run.mkdir()
    (run / "keep.txt").write_text("precious")
    cases = [
        (["train", "--out", str(run)], "already exists"),
        (["train", "--recipe", "nope"], "unknown recipe 'nope'"),
        (["train", "train.lrg=1"], "unknown config key 'train.lrg'"),
        (["train", "--data", "mnist:/no/such/dir"], "does not exist"),
        (["train", "--data", "imagenet"], "unknown data spec"),
        (["train", "--batch-size", "5000", "--out", str(tmp_path / "b")], "larger than the dataset"),
        (["sample", str(tmp_path)], "not a ganforge run directory"),
    ]
    for args, message in cases:
        result = ganforge(*args, check=False)
        assert result.returncode == 2, args
        assert message in result.stderr, (args, result.stderr)
        assert "Traceback" not in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert (run / "keep.txt").read_text() == "precious"
    assert not (tmp_path / "b").exists()


def test_info_json_and_recipes_list() -> None:
    info = json.loads(ganforge("info", "biggan-128", "--json").stdout)
    assert info["generator_params"] == 70_433_988
    assert info["discriminator_params"] == 87_982_370
    assert "biggan-digits" in ganforge("recipes").stdout
