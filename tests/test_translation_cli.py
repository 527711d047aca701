"""Translation through the CLI: `train` (pix2pix on the demo, CycleGAN on unpaired folders),
`--resume`, `translate` on a tiny model, `eval`, `info`, and `sample`'s pointer to translate."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from PIL import Image

from ganforge.cli import main
from ganforge.training.run_dir import read_metrics

TINY = [
    "translation.ngf=4",
    "translation.ndf=4",
    "translation.epochs=1",
    "translation.epochs_decay=1",
    "translation.steps_per_epoch=2",
    "translation.eval_n=20",
    "translation.eval_every=1",
    "train.log_every=1",
    "train.batch_size=2",
    "train.sample_every=2",
    "monitor.plot=false",
    "--no-progress",
]


@pytest.fixture(autouse=True)
def _one_thread() -> None:
    torch.set_num_threads(1)  # tiny convolutions: a second thread only adds waiting


@pytest.fixture(scope="module")
def pix2pix_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    torch.set_num_threads(1)
    run = tmp_path_factory.mktemp("p2p") / "run"
    assert main(["train", "--recipe", "pix2pix", "--out", str(run), *TINY]) == 0
    return run


def _write(path: Path, array: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path)


@pytest.fixture(scope="module")
def unpaired_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("horse2zebra")
    gen = np.random.default_rng(0)
    for name, count in (("trainA", 4), ("trainB", 5), ("testA", 3), ("testB", 3)):
        for i in range(count):
            stripes = (np.arange(24) // (3 if "B" in name else 6) % 2 * 200).astype(np.uint8)
            image = np.stack([np.tile(stripes, (24, 1))] * 3, -1) + gen.integers(
                0, 40, (24, 24, 3), dtype=np.uint8
            )
            _write(root / name / f"{i}.png", image)
    return root


def test_pix2pix_demo_run_directory(pix2pix_run: Path, capsys: pytest.CaptureFixture) -> None:
    config = yaml.safe_load((pix2pix_run / "config.yaml").read_text())
    assert config["task"] == "translation" and config["translation"]["generator"] == "unet_32"
    assert config["data"]["source"] == "demo:edges2digits"
    for name in (
        "checkpoints/step_00000004.pt",
        "samples/latest.png",
        "evaluation.json",
        "metrics.jsonl",
    ):
        assert (pix2pix_run / name).is_file(), name
    rows = read_metrics(pix2pix_run)
    evals = [r for r in rows if r["kind"] == "eval"]
    assert [r["step"] for r in evals] == [2, 4]  # each epoch (eval_every=1), once at the end
    assert {
        "l1_AtoB",
        "psnr_AtoB",
        "ssim_AtoB",
        "fid_AtoB",
        "kid_AtoB",
        "digit_accuracy_AtoB",
    } <= set(evals[-1])
    assert [r["lr"] for r in rows if r["kind"] == "train"] == pytest.approx([2e-4] * 2 + [1e-4] * 2)
    grid = np.asarray(Image.open(pix2pix_run / "samples" / "latest.png"))
    assert grid.shape[0] == 3 * (96 + 2) + 2  # input, output, target rows of enlarged 32 px tiles


def test_translate_files_and_folders(
    pix2pix_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    inputs = tmp_path / "edges"
    for i in range(3):
        _write(
            inputs / f"e{i}.png",
            (np.eye(40, dtype=np.uint8) * 255)[:, ::-1] if i else np.zeros((40, 40), np.uint8),
        )
    _write(tmp_path / "single.jpg", np.full((50, 30, 3), 200, np.uint8))
    out = tmp_path / "out"
    assert (
        main(
            [
                "translate",
                str(pix2pix_run),
                str(inputs),
                str(tmp_path / "single.jpg"),
                "--out",
                str(out),
            ]
        )
        == 0
    )
    assert "wrote 4 AtoB translations (32 px)" in capsys.readouterr().out
    written = sorted(p.name for p in out.iterdir())
    assert written == ["e0.png", "e1.png", "e2.png", "single.png"]
    first = np.asarray(Image.open(out / "e1.png"))
    assert first.shape == (32, 32) and first.dtype == np.uint8
    assert (
        main(
            [
                "translate",
                str(pix2pix_run),
                str(inputs / "e1.png"),
                "--out",
                str(tmp_path / "again"),
                "--size",
                "64",
            ]
        )
        == 0
    )
    assert np.asarray(Image.open(tmp_path / "again" / "e1.png")).shape == (64, 64)
    assert main(["translate", str(pix2pix_run), str(inputs / "e1.png"), "--out", str(out)]) == 0
    assert np.array_equal(np.asarray(Image.open(out / "e1.png")), first)  # deterministic


def test_eval_info_and_sample_on_a_translation_run(
    pix2pix_run: Path, capsys: pytest.CaptureFixture
) -> None:
    capsys.readouterr()
    assert main(["eval", str(pix2pix_run)]) == 0
    result = json.loads(capsys.readouterr().out)
    logged = json.loads((pix2pix_run / "evaluation.json").read_text())["metrics"]
    assert result["step"] == 4
    assert result["metrics"]["l1_AtoB"] == pytest.approx(logged["l1_AtoB"])
    assert main(["info", "pix2pix", "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["networks"] == {"G": 54_413_955, "D": 2_768_705}
    assert info["demo_networks"]["G"] < 5_000_000
    assert main(["sample", str(pix2pix_run)]) == 2
    assert "ganforge translate" in capsys.readouterr().err


def test_resume_a_translation_run_after_raising_its_epochs(
    pix2pix_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    import shutil

    run = tmp_path / "run"
    shutil.copytree(pix2pix_run, run)
    assert main(["train", "--resume", str(run)]) == 2
    assert "already at step 4 of 4" in capsys.readouterr().err
    config = yaml.safe_load((run / "config.yaml").read_text())
    config["translation"]["epochs_decay"] = 2
    (run / "config.yaml").write_text(yaml.safe_dump(config))
    assert main(["train", "--resume", str(run), "--no-progress"]) == 0
    rows = [r for r in read_metrics(run) if r["kind"] == "train"]
    assert [r["step"] for r in rows] == [1, 2, 3, 4, 5, 6]
    # epoch 1 ran with one decay epoch (factor 1/2); epoch 2 follows the edited rule with two:
    # 1 - (2 + 1 - 1) / 3
    assert [r["lr"] for r in rows] == pytest.approx([2e-4] * 2 + [1e-4] * 2 + [2e-4 / 3] * 2)


def test_cyclegan_on_unpaired_folders(
    unpaired_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    run = tmp_path / "cg"
    argv = [
        "train",
        "--recipe",
        "cyclegan",
        "--data",
        f"unpaired:{unpaired_dir}",
        "--out",
        str(run),
        "translation.generator=resnet_2blocks",
        "translation.load_size=20",
        "translation.crop_size=16",
        "translation.discriminator=n_layers",
        "translation.n_layers_d=2",
        "translation.features=none",
        "translation.pool_size=2",
        *TINY,
    ]
    assert main(argv) == 0
    evaluation = json.loads((run / "evaluation.json").read_text())
    assert {"cycle_l1_A", "cycle_l1_B"} <= set(evaluation["metrics"])
    assert "l1_AtoB" not in evaluation["metrics"]  # unpaired test data: no ground truth
    assert evaluation["protocol"]["missing"]["fid"] == "translation.features=none"
    out = tmp_path / "zebras"
    assert (
        main(
            [
                "translate",
                str(run),
                str(unpaired_dir / "testB"),
                "--direction",
                "BtoA",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    assert np.asarray(Image.open(out / "0.png")).shape == (16, 16, 3)
    # both directions travel in one export and translate as from the run
    export = tmp_path / "cg-export"
    assert main(["export", str(run), str(export)]) == 0
    again = tmp_path / "zebras-again"
    assert main(["translate", str(export), str(unpaired_dir / "testB"), "--direction", "BtoA",
                 "--out", str(again)]) == 0
    assert (out / "0.png").read_bytes() == (again / "0.png").read_bytes()


def test_export_load_translate_round_trip(
    pix2pix_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    import ganforge
    from ganforge import api

    edges = tmp_path / "edges"
    for i in range(3):
        _write(edges / f"e{i}.png", (np.eye(40, dtype=np.uint8) * 255)[:, ::-1 if i else 1])
    folder, single = tmp_path / "p2p-export", tmp_path / "p2p.safetensors"
    assert main(["export", str(pix2pix_run), str(folder)]) == 0
    assert main(["export", str(pix2pix_run), "--out", str(single)]) == 0
    config = json.loads((folder / "config.json").read_text())
    assert config["architecture"] == "translation" and config["directions"] == ["AtoB"]
    assert "image-to-image" in (folder / "README.md").read_text()
    written = {}
    for name, source in (("run", pix2pix_run), ("folder", folder), ("file", single)):
        g = ganforge.load(source)
        assert isinstance(g, ganforge.PretrainedGenerator) and g.is_translator
        assert g.directions == ("AtoB",) and g.resolution == 32
        out = tmp_path / f"out-{name}"
        assert main(["translate", str(source), str(edges), "--out", str(out)]) == 0
        written[name] = [(out / f"e{i}.png").read_bytes() for i in range(3)]
    assert written["folder"] == written["run"] and written["file"] == written["run"]
    # the same translations in Python, in the run's inference mode, seeded
    images = torch.from_numpy(np.stack([np.asarray(Image.open(edges / f"e{i}.png"))[None]
                                        for i in range(3)]))
    images = torch.nn.functional.interpolate(images.float(), size=32, mode="area").round().byte()
    a, b = ganforge.load(pix2pix_run).translate(images), ganforge.load(folder).translate(images)
    assert torch.equal(a, b)
    # an export is evaluated on its data's test split like the run
    from_run = api.evaluate(pix2pix_run)["metrics"]
    from_export = api.evaluate(folder)["metrics"]
    assert from_export["l1_AtoB"] == pytest.approx(from_run["l1_AtoB"])
    capsys.readouterr()
    assert main(["sample", str(folder)]) == 2
    assert "ganforge translate" in capsys.readouterr().err
