"""The translation bad-input catalogue (docs/translation.md, "Mistakes and their messages"):
each user mistake, through the CLI entry point, is one line on stderr naming the problem and the
fix, exit status 2, and changes nothing on disk."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from PIL import Image

from ganforge.checksums import file_sha256
from ganforge.cli import main

TINY = [
    "translation.ngf=4",
    "translation.ndf=4",
    "translation.epochs=1",
    "translation.epochs_decay=0",
    "translation.steps_per_epoch=1",
    "translation.eval_n=10",
    "train.batch_size=2",
    "monitor.plot=false",
]
P2P = ["train", "--recipe", "pix2pix"]
CG = ["train", "--recipe", "cyclegan"]

# (name, argv template, expected substring of the one-line message)
CASES = [
    (
        "paired files with different names",
        [*P2P, "--data", "paired:{mismatch}"],
        "mismatched pairs",
    ),
    (
        "paired images of different sizes",
        [*P2P, "--data", "paired:{sizes}"],
        "must have the same size",
    ),
    ("side-by-side image of odd width", [*P2P, "--data", "paired:{odd}"], "needs an even width"),
    ("paired folder without images", [*P2P, "--data", "paired:{empty}"], "no images in"),
    ("A/ folder without B/", [*P2P, "--data", "paired:{only_a}"], "has no B/ folder"),
    ("unpaired folder without trainB", [*CG, "--data", "unpaired:{no_b}"], "has no trainB/ folder"),
    ("empty unpaired domain", [*CG, "--data", "unpaired:{empty_b}"], "trainB holds no images"),
    ("testA without testB", [*CG, "--data", "unpaired:{half_test}"], "has testA/ but no testB/"),
    (
        "pix2pix on unpaired data",
        [*P2P, "--data", "unpaired:{unpaired}"],
        "pix2pix trains on paired data",
    ),
    (
        "GAN data spec for a translation recipe",
        [*P2P, "--data", "digits"],
        "unknown translation data 'digits'",
    ),
    ("unknown demo task", [*P2P, "--data", "demo:horses"], "unknown demo task 'horses'"),
    (
        "crop size the U-Net cannot take",
        [*P2P, "translation.crop_size=100"],
        "translation.crop_size=100 does not fit",
    ),
    (
        "crop too small for the PatchGAN",
        [
            *CG,
            "--data",
            "unpaired:{unpaired}",
            "translation.generator=resnet_1blocks",
            "translation.crop_size=16",
            "translation.load_size=16",
        ],
        "too small for a PatchGAN",
    ),
    (
        "load size below the crop size",
        [*P2P, "translation.load_size=30"],
        "translation.load_size=30 is smaller",
    ),
    (
        "unknown translation generator",
        [*P2P, "translation.generator=unet_100"],
        "unknown translation.generator 'unet_100'",
    ),
    (
        "unknown translation mode",
        [*P2P, "translation.mode=munit"],
        "unknown translation.mode 'munit'",
    ),
    (
        "GAN loss translation does not use",
        [*P2P, "train.loss=hinge"],
        "not available for translation",
    ),
    (
        "identity loss across channel counts",
        [*CG, "--data", "unpaired:{unpaired}", "translation.channels_b=1"],
        "needs channels_a == channels_b",
    ),
    (
        "several D steps on a translation recipe",
        [*P2P, "train.d_steps=2"],
        "not supported for translation",
    ),
    (
        "resume a finished translation run",
        ["train", "--resume", "{run}"],
        "pass --steps N with a larger total",
    ),
    ("sample from a translation run", ["sample", "{run}"], "ganforge translate {run}"),
    (  # a translation run exports like any generator (test_translation_cli); it draws nothing
        "explore a translation run",
        ["explore", "{run}", "--out", "{new}.png"],
        "ganforge translate {run}",
    ),
    (
        "translate with a folder that is not a run",
        ["translate", "{empty}", "{edges}", "--out", "{new}"],
        "not a ganforge run directory",
    ),
    (
        "translate with a GAN run",
        ["translate", "{gan_run}", "{edges}", "--out", "{new}"],
        "not an image-to-image translation run",
    ),
    (
        "translate the direction pix2pix lacks",
        ["translate", "{run}", "{edges}", "--direction", "BtoA", "--out", "{new}"],
        "has no BtoA generator",
    ),
    (
        "translate a missing input",
        ["translate", "{run}", "{missing}", "--out", "{new}"],
        "does not exist",
    ),
    (
        "translate a folder without images",
        ["translate", "{run}", "{empty}", "--out", "{new}"],
        "no images in",
    ),
    (
        "translate into a .png path",
        ["translate", "{run}", "{edges}", "--out", "{new}.png"],
        "must be a folder",
    ),
    (
        "translate at a size the generator cannot take",
        ["translate", "{run}", "{edges}", "--size", "30", "--out", "{new}"],
        "--size 30 does not fit",
    ),
    (
        "translation checkpoint of another architecture",
        ["translate", "{edited}", "{edges}", "--out", "{new}"],
        "do not match",
    ),
]


def _png(path: Path, array: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("translation-world")
    w = {"missing": root / "missing", "empty": root / "empty", "new": root / "new"}
    w["empty"].mkdir()
    grey = np.zeros((16, 16), np.uint8)
    w["mismatch"] = root / "mismatch"
    _png(w["mismatch"] / "A" / "1.png", grey)
    _png(w["mismatch"] / "B" / "2.png", grey)
    w["sizes"] = root / "sizes"
    _png(w["sizes"] / "A" / "1.png", grey)
    _png(w["sizes"] / "B" / "1.png", np.zeros((32, 16), np.uint8))
    w["odd"] = root / "odd"
    _png(w["odd"] / "ab.png", np.zeros((16, 33), np.uint8))
    w["only_a"] = root / "only_a"
    _png(w["only_a"] / "A" / "1.png", grey)
    w["unpaired"] = root / "unpaired"
    for name in ("trainA", "trainB"):
        for i in range(2):
            _png(w["unpaired"] / name / f"{i}.png", np.full((40, 40, 3), 90 * i, np.uint8))
    w["no_b"] = root / "no_b"
    _png(w["no_b"] / "trainA" / "1.png", grey)
    w["empty_b"] = root / "empty_b"
    _png(w["empty_b"] / "trainA" / "1.png", grey)
    (w["empty_b"] / "trainB").mkdir()
    w["half_test"] = root / "half_test"
    shutil.copytree(w["unpaired"], w["half_test"])
    _png(w["half_test"] / "testA" / "1.png", grey)
    w["edges"] = root / "edges"
    _png(w["edges"] / "e.png", grey)
    w["run"] = root / "run"
    assert main([*P2P, *TINY, "--out", str(w["run"]), "--no-progress"]) == 0
    w["edited"] = root / "edited"
    shutil.copytree(w["run"], w["edited"])
    cfg = yaml.safe_load((w["edited"] / "config.yaml").read_text())
    cfg["translation"]["ngf"] = 8
    (w["edited"] / "config.yaml").write_text(yaml.safe_dump(cfg))
    w["gan_run"] = root / "gan_run"
    assert (
        main(
            [
                "train",
                "--recipe",
                "dcgan",
                "--out",
                str(w["gan_run"]),
                "--steps",
                "1",
                "--batch-size",
                "4",
                "model.ch=4",
                "eval.every=0",
                "monitor.plot=false",
                "--no-progress",
            ]
        )
        == 0
    )
    return w


def snapshot(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): file_sha256(p) for p in sorted(root.rglob("*")) if p.is_file()
    }


@pytest.mark.parametrize(("name", "argv", "message"), CASES, ids=[c[0] for c in CASES])
def test_mistake_is_one_clear_line_and_changes_nothing(
    name: str,
    argv: list[str],
    message: str,
    world: dict[str, Path],
    capsys: pytest.CaptureFixture,
) -> None:
    torch.set_num_threads(1)
    fill = {k: str(v) for k, v in world.items()}
    args = [a.format(**fill) for a in argv]
    if args[0] == "train" and "--resume" not in args:
        args += [*TINY, "--out", fill["new"], "--no-progress"]  # overrides stay contiguous
    watched = ("run", "edited", "unpaired", "gan_run")
    before = {key: snapshot(world[key]) for key in watched}
    capsys.readouterr()
    status = main(args)
    err = capsys.readouterr().err
    assert status == 2, (name, err)
    assert err.startswith("error: ") and len(err.strip().splitlines()) == 1, err
    assert message.format(**fill) in err, err
    assert not world["new"].exists() and not Path(fill["new"] + ".png").exists()
    assert {key: snapshot(world[key]) for key in watched} == before


def test_catalogue_is_documented() -> None:
    docs = (Path(__file__).resolve().parents[1] / "docs" / "translation.md").read_text()
    for name, _, _ in CASES:
        assert f"| {name} |" in docs, f"docs/translation.md does not list '{name}'"
