"""`ganforge eval` / `sweep` and evaluation during training, end to end on a short real run."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from ganforge import api
from ganforge.api import evaluate
from ganforge.data import load_dataset
from ganforge.errors import GanforgeError

TINY = ["model.ch=4", "model.dim_z=32", "model.shared_dim=16", "train.log_every=10",
        "train.sample_every=20", "train.checkpoint_every=20", "eval.every=10", "eval.n=200",
        "eval.metrics=[fid,is,acc]", "eval.best_metric=fid"]


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("cache")
    mp = pytest.MonkeyPatch()
    mp.setenv("GANFORGE_CACHE", str(path))
    yield path
    mp.undo()


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory, cache: Path) -> Path:
    config = api.make_config(overrides=TINY, steps=20, batch_size=32)
    return api.train(config, tmp_path_factory.mktemp("runs") / "tiny", progress=False)


def ganforge(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "ganforge", *args], capture_output=True,
                          text=True, timeout=300)


def test_training_logs_evaluations_and_keeps_the_best(run: Path) -> None:
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    evals = [r for r in records if r["kind"] == "eval"]
    assert [r["step"] for r in evals] == [10, 20]
    for r in evals:
        assert r["fid"] > 0 and 1.0 <= r["is_mean"] <= 10.0 and 0.0 <= r["class_accuracy"] <= 1.0
    best = json.loads((run / "best.json").read_text())
    assert best["metric"] == "fid"
    assert best["value"] == min(r["fid"] for r in evals)
    assert (run / "checkpoints" / "best.pt").is_file()
    assert (run / "checkpoints" / "best.pt.sha256").is_file()
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(run / "tensorboard"))
    events.Reload()
    tags = events.Tags()["scalars"]
    assert {"eval/fid", "eval/is_mean", "eval/class_accuracy", "train/loss_d"} <= set(tags)
    assert [e.step for e in events.Scalars("eval/fid")] == [10, 20]
    assert "samples" in events.Tags()["images"]


def test_eval_cli_names_every_protocol_choice(run: Path, tmp_path: Path, cache: Path) -> None:
    out = tmp_path / "result.json"
    result = ganforge("eval", str(run), "--metrics", "fid,is,kid,pr,dc,acc", "--n", "300",
                      "--seed", "1", "--truncation", "1.0", "--out", str(out))
    assert result.returncode == 0, result.stderr
    data = json.loads(out.read_text())
    m, p = data["metrics"], data["protocol"]
    for key in ("fid", "is", "kid", "precision", "recall", "density", "coverage", "class_accuracy",
                "class_coverage"):
        assert key in m, key
    assert set(m["is"]) >= {"mean", "std", "splits"} and set(m["kid"]) >= {"mean", "std"}
    assert m["kid"]["subset_size"] == 300  # fewer than 1000 samples: stated, not hidden
    assert any("300" in w or "subset" in w for w in data["warnings"])
    assert p["n_generated"] == 300 and p["n_reference"] == 1797
    assert p["features"]["name"] == "digits" and len(p["features"]["weights_sha256"]) == 64
    assert p["reference"]["spec"] == "digits" and len(p["reference"]["sha256"]) == 64
    assert p["truncation"] == 1.0 and p["seed"] == 1 and "resize" in p["features"]
    # the reference features were cached by the first computation and are reused
    assert p["reference"]["cached"] is True
    assert list((cache / "reference").glob("*-digits-*.npz"))


def test_same_seed_same_numbers(run: Path) -> None:
    a = evaluate(run, "fid,kid", n=200, seed=3)
    b = evaluate(run, "fid,kid", n=200, seed=3)
    assert a["metrics"] == b["metrics"]


def _write_digit_folder(root: Path, images: torch.Tensor, labels: torch.Tensor) -> None:
    for i, (img, label) in enumerate(zip(images, labels.tolist(), strict=True)):
        folder = root / str(label)
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(img[0].numpy()).save(folder / f"{i:04d}.png")


def test_real_images_score_better_than_noise(tmp_path: Path) -> None:
    data = load_dataset("digits", 32, 1)
    idx = torch.randperm(len(data), generator=torch.Generator().manual_seed(0))[:400]
    _write_digit_folder(tmp_path / "real", data.images[idx], data.labels[idx])
    noise = torch.randint(0, 256, (400, 1, 32, 32), dtype=torch.uint8, generator=torch.Generator().manual_seed(1))
    np.savez(tmp_path / "noise.npz", images=noise.numpy(), labels=data.labels[idx].numpy())
    real = evaluate(tmp_path / "real", "fid,pr,acc", n=400, data="digits", features="digits")
    fake = evaluate(tmp_path / "noise.npz", "fid,pr,acc", n=400, data="digits", features="digits")
    assert real["metrics"]["class_accuracy"] > 0.97  # labelled folder: classes from sub-folders
    assert fake["metrics"]["class_accuracy"] < 0.5
    assert real["metrics"]["fid"] < 0.2 * fake["metrics"]["fid"]
    assert real["metrics"]["precision"] > 0.8 > fake["metrics"]["precision"]


def test_any_module_can_be_the_extractor(run: Path) -> None:
    torch.manual_seed(0)
    module = torch.nn.Sequential(torch.nn.AvgPool2d(4), torch.nn.Flatten(), torch.nn.Linear(64, 16))
    result = evaluate(run, "fid,is,acc", n=200, features=module)
    assert result["protocol"]["features"]["name"] == "custom"
    assert result["metrics"]["fid"] > 0
    assert "is" in result["missing"]  # a bare feature module has no class logits
    assert "class_accuracy" in result["metrics"]  # judged by the digits classifier instead


def test_sweep_writes_table_plot_and_strip(run: Path, tmp_path: Path) -> None:
    out = tmp_path / "sweep"
    result = ganforge("sweep", str(run), "--truncation", "0.5,1.0,none", "--n", "200",
                      "--metrics", "fid,pr,acc", "--out", str(out))
    assert result.returncode == 0, result.stderr
    rows = list(csv.DictReader((out / "sweep.csv").open()))
    assert [r["truncation"] for r in rows] == ["0.5", "1.0", "none"]
    assert all(float(r["fid"]) >= 0 for r in rows)
    table = json.loads((out / "sweep.json").read_text())
    assert len(table["results"]) == 3
    assert Image.open(out / "sweep.png").size[0] > 300
    strip = Image.open(out / "strip.png")
    assert strip.size[1] > strip.size[0] / 10 * 2  # three rows of ten


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--metrics", "fid,ssim"], "unknown metric 'ssim'"),
        (["--n", "0"], "--n must be a positive integer"),
        (["--truncation", "-1"], "--truncation must be a positive number"),
        (["--features", "vgg"], "unknown feature extractor 'vgg'"),
    ],
)
def test_eval_mistakes_are_one_line_errors(run: Path, args: list[str], message: str) -> None:
    result = ganforge("eval", str(run), *args)
    assert result.returncode == 2
    assert message in result.stderr and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_missing_inception_weights_is_one_clear_line(run: Path, tmp_path: Path) -> None:
    env_missing = tmp_path / "nowhere" / "pt_inception-2015-12-05-6726825d.pth"
    result = subprocess.run(
        [sys.executable, "-m", "ganforge", "eval", str(run), "--features", "inception",
         "--inception-weights", str(env_missing)],
        capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 2
    assert "pt_inception-2015-12-05-6726825d.pth" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_source_that_is_not_a_run_needs_data(tmp_path: Path) -> None:
    with pytest.raises(GanforgeError, match="give the reference with --data"):
        evaluate(tmp_path, "fid")


def test_exported_generator_samples_and_scores_like_its_run(run: Path, tmp_path: Path) -> None:
    export = tmp_path / "g.safetensors"
    result = ganforge("export", str(run), "--out", str(export))
    assert result.returncode == 0, result.stderr
    from safetensors import safe_open

    with safe_open(str(export), framework="pt") as fh:
        assert fh.metadata()["format"] == "ganforge-generator-v1"
        generator, _, _ = api.load_generator(run)
        assert set(fh.keys()) == set(generator.state_dict())  # the generator and nothing else
    from ganforge.checksums import file_sha256

    sidecar = tmp_path / "g.safetensors.sha256"
    assert sidecar.read_text().strip() == file_sha256(export)
    a, b = tmp_path / "a.png", tmp_path / "b.png"
    for source, out in ((run, a), (export, b)):
        r = ganforge("sample", str(source), "--class", "4", "--n", "3", "--seed", "5", "--out", str(out))
        assert r.returncode == 0, r.stderr
    assert a.read_bytes() == b.read_bytes()
    from_run = evaluate(run, "fid,acc", n=200, seed=2)
    from_export = evaluate(export, "fid,acc", n=200, seed=2)
    assert from_run["metrics"] == from_export["metrics"]
    assert from_export["protocol"]["source_kind"].startswith("exported generator")


def test_a_corrupted_export_is_detected_by_its_checksum(run: Path, tmp_path: Path) -> None:
    export = tmp_path / "g.safetensors"
    assert ganforge("export", str(run), "--out", str(export)).returncode == 0
    data = bytearray(export.read_bytes())
    data[-1] ^= 0xFF  # one flipped bit in the last weight
    export.write_bytes(bytes(data))
    result = ganforge("sample", str(export), "--out", str(tmp_path / "s.png"))
    assert result.returncode == 2 and "does not match its g.safetensors.sha256" in result.stderr


def test_a_file_that_is_not_an_export_is_refused(tmp_path: Path) -> None:
    bogus = tmp_path / "x.safetensors"
    bogus.write_bytes(b"not safetensors at all")
    result = ganforge("sample", str(bogus), "--out", str(tmp_path / "s.png"))
    assert result.returncode == 2 and "not a readable safetensors file" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
