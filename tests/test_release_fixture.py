"""A run directory, its export and a pix2pix run written by ganforge 0.1.0 (before the one-engine
redesign) still load, sample, translate and evaluate to exactly the images they gave then."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import ganforge
from ganforge import api
from ganforge.sampling import to_uint8

FIXTURE = Path(__file__).parent / "fixtures" / "release_0_1"


@pytest.fixture(scope="module")
def expected() -> dict[str, np.ndarray]:
    with np.load(FIXTURE / "expected_images.npz") as data:
        return {k: data[k] for k in data.files}


def _uint8(images) -> np.ndarray:
    """[-1, 1] (N, C, H, W) -> uint8 (N, C, H, W), as the fixture stores them."""
    return to_uint8(images).transpose(0, 3, 1, 2)


@pytest.mark.parametrize("name", ["gan_run", "gan_export"])
def test_gan_sources_give_the_release_images(name: str, expected: dict[str, np.ndarray]) -> None:
    g = ganforge.load(FIXTURE / name)
    assert isinstance(g, ganforge.PretrainedGenerator) and g.architecture == "ganforge"
    plain = g.sample(classes=[0, 3, 9], n=2, truncation=None, seed=0)
    truncated = g.sample(classes=[1], n=3, truncation=0.5, seed=4)
    assert np.array_equal(_uint8(plain), expected[name])
    assert np.array_equal(_uint8(truncated), expected[f"{name}_trunc05"])


def test_pix2pix_run_translates_to_the_release_image(
    tmp_path: Path, expected: dict[str, np.ndarray]
) -> None:
    g = ganforge.load(FIXTURE / "pix2pix_run")
    assert g.is_translator and g.directions == ("AtoB",)
    result = api.translate(FIXTURE / "pix2pix_run", [FIXTURE / "edge_input.png"], tmp_path / "out")
    written = np.asarray(Image.open(result["files"][0]))
    assert np.array_equal(written, expected["pix2pix_translate"])


def test_eval_runs_on_the_release_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GANFORGE_CACHE", str(tmp_path / "cache"))
    result = api.evaluate(FIXTURE / "gan_run", "fid,acc", n=50, seed=0)
    assert result["metrics"]["fid"] > 0 and 0.0 <= result["metrics"]["class_accuracy"] <= 1.0
    assert result["protocol"]["source_kind"].startswith("run directory")
    assert result["protocol"]["features"]["name"] == "digits"  # shipped weights, no download


def test_release_runs_resume_after_the_redesign(tmp_path: Path) -> None:
    """The 0.1 GAN run (2 steps) and pix2pix run (4 steps) continue on the one loop."""
    import shutil

    from ganforge.cli import main
    from ganforge.training.run_dir import read_metrics

    for name, steps in (("gan_run", 3), ("pix2pix_run", 5)):
        run = tmp_path / name
        shutil.copytree(FIXTURE / name, run)
        assert main(["train", "--resume", str(run), "--steps", str(steps), "--no-progress"]) == 0
        rows = [r for r in read_metrics(run) if r["kind"] == "train"]
        assert rows[-1]["step"] == steps and all(r["loss_d"] == r["loss_d"] for r in rows)
        assert (run / "checkpoints" / f"step_{steps:08d}.pt").is_file()
