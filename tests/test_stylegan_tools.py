"""The tools around a StyleGAN generator: `ganforge mix` (the style-mixing grid), interpolation
in W, explore/interpolate with psi and cutoff, `serve` and `eval` on a tiny StyleGAN2 run."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from ganforge import api, latents
from ganforge.cli import main
from ganforge.config import load_recipe
from ganforge.errors import GanforgeError
from ganforge.generator import Generator
from ganforge.generators.export import save_generator_folder
from ganforge.models import build_models

TINY = ["model.resolution=16", "model.channel_base=128", "model.channel_max=16", "model.w_dim=16",
        "model.dim_z=8", "model.d_mapping_layers=1", "train.batch_size=4", "train.steps=2",
        "train.log_every=1", "train.sample_every=1000", "train.checkpoint_every=1000", "eval.every=0",
        "monitor.plot=false"]


@pytest.fixture(autouse=True)
def _one_thread() -> None:
    torch.set_num_threads(1)


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 2-step conditional StyleGAN2 run on the digits (16 px, 6 styles), with nonzero noise
    strengths in its EMA generator so that const noise matters."""
    torch.set_num_threads(1)
    out = tmp_path_factory.mktemp("stylegan") / "run"
    return api.train(api.make_config("stylegan2-digits", TINY), out, progress=False)


@pytest.fixture(scope="module")
def biggan_export(tmp_path_factory: pytest.TempPathFactory) -> Path:
    torch.manual_seed(0)
    cfg = load_recipe("biggan-digits")
    g, _ = build_models(cfg.model)
    return save_generator_folder(Generator(g, [str(i) for i in range(10)], config=cfg),
                                 tmp_path_factory.mktemp("biggan") / "export")


def test_style_layers_parse_ranges_and_groups() -> None:
    assert latents.style_layers("0-3", 18) == [0, 1, 2, 3]
    assert latents.style_layers("4,5, 8-9", 18) == [4, 5, 8, 9]
    assert latents.style_layers("coarse", 6) == [0, 1, 2, 3]
    assert latents.style_layers("middle", 6) == [4, 5]
    assert latents.style_layers("fine", 18) == list(range(8, 18))
    for bad, message in (("0-6", "styles 0-5"), ("x", "expected style indices"), ("3-1", "styles 0-5"),
                         ("fine", "picks no style")):
        with pytest.raises(GanforgeError, match=message):
            latents.style_layers(bad, 6)


def test_mix_grid_is_rows_styles_with_the_columns_layers(run: Path, tmp_path: Path) -> None:
    g = api.load(run)
    images, picked = latents.style_mix(g, rows=[1, 2], cols=[3, 4, 5], layers="0-1", label=7, truncation=0.7)
    assert picked == [0, 1] and images.shape == (12, 1, 16, 16)
    assert torch.equal(images[0], torch.ones_like(images[0]))  # the blank corner
    y = torch.full((5,), 7)
    z = torch.cat([g.latents(1, 0.7, s) for s in (1, 2, 3, 4, 5)])
    plain = g.generate(z, y, 0.7)  # what sample draws for these seeds at psi 0.7
    torch.testing.assert_close(images[1:4], plain[2:], atol=1e-5, rtol=0)  # columns across the top
    torch.testing.assert_close(images[[4, 8]], plain[:2], atol=1e-5, rtol=0)  # rows down the left
    ws = g.generator.styles(z, y, psi=0.7)
    mixed = ws[1].clone()  # row seed 2, column seed 4
    mixed[:2] = ws[3, :2]
    torch.testing.assert_close(images[10], g.generator.render(mixed[None])[0], atol=1e-5, rtol=0)
    assert not torch.allclose(images[10], plain[1], atol=1e-3)  # the coarse styles changed it
    every, _ = latents.style_mix(g, [1], [3], layers="0-5", label=7, truncation=0.7)
    torch.testing.assert_close(every[3], plain[2], atol=1e-5, rtol=0)  # all styles: the column's image


def test_mix_cli_writes_the_grid_and_refuses_a_non_style_generator(
    run: Path, biggan_export: Path, tmp_path: Path, capsys: pytest.CaptureFixture,
) -> None:
    out = tmp_path / "mix.png"
    assert main(["mix", str(run), "--rows", "1-2", "--cols", "3,4", "--layers", "coarse", "--psi", "0.7",
                 "--cutoff", "4", "--class", "3", "--out", str(out)]) == 0
    assert "styles 0,1,2,3 of 6" in capsys.readouterr().out
    assert Image.open(out).size == (3 * 18 + 2, 3 * 18 + 2)
    assert main(["mix", str(biggan_export), "--rows", "1", "--cols", "2", "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert "mix needs a style-based generator" in err and "\n" not in err


def test_psi_is_the_truncation_flag_of_sample(run: Path, tmp_path: Path) -> None:
    for flag, name in (("--psi", "a.png"), ("--truncation", "b.png")):
        assert main(["sample", str(run), "--class", "2", "--n", "2", flag, "0.6", "--cutoff", "3",
                     "--out", str(tmp_path / name)]) == 0
    a, b = (np.asarray(Image.open(tmp_path / n)) for n in ("a.png", "b.png"))
    assert np.array_equal(a, b)
    untruncated = main(["sample", str(run), "--class", "2", "--n", "2", "--out", str(tmp_path / "c.png")])
    assert untruncated == 0 and not np.array_equal(a, np.asarray(Image.open(tmp_path / "c.png")))


def test_interpolation_in_w_with_psi_and_cutoff(run: Path, tmp_path: Path) -> None:
    g = api.load(run).use_cutoff(3)
    images = latents.interpolate(g, "w", [(1, 2)], [5], steps=5, truncation=0.6)
    ends = g.sample([5], 1, 0.6, seed=1), g.sample([5], 1, 0.6, seed=2)
    torch.testing.assert_close(images[0], ends[0][0], atol=1e-5, rtol=0)
    z = torch.cat([g.latents(1, 0.6, 1), g.latents(1, 0.6, 2)])
    ws = g.generator.styles(z, torch.tensor([5, 5]), psi=0.6, cutoff=3)
    middle = g.generator.render(((ws[0] + ws[1]) / 2)[None])[0]
    torch.testing.assert_close(images[2], middle, atol=1e-5, rtol=0)
    result = api.interpolate(run, tmp_path / "w.png", mode="w", seeds=[(1, 2), (3, 4)], classes=[5],
                             steps=4, truncation=0.6, cutoff=3)
    assert result["rows"] == 2 and (tmp_path / "w.png").is_file()
    with pytest.raises(GanforgeError, match="W is interpolated linearly"):
        latents.interpolate(g, "w", [(1, 2)], [5], steps=3, spherical=True)
    first = api.explore(run, tmp_path / "e.png", label=2, seed=4, n=3, truncation=0.5, cutoff=2)
    assert first["n"] == 3


def test_mode_w_is_refused_for_a_non_style_generator(biggan_export: Path, tmp_path: Path) -> None:
    with pytest.raises(GanforgeError, match="needs a style-based generator"):
        api.interpolate(biggan_export, tmp_path / "w.png", mode="w", classes=[1])


def test_serve_a_stylegan_run(run: Path, biggan_export: Path) -> None:
    pytest.importorskip("fastapi", reason="the serve extra is not installed")
    from fastapi.testclient import TestClient  # noqa: PLC0415

    from ganforge.serve import create_app  # noqa: PLC0415
    from ganforge.serve.render import png  # noqa: PLC0415

    g = api.load(run)
    client = TestClient(create_app(g))
    info = client.get("/api/info").json()
    assert info["style_based"] is True and info["n_classes"] == 10 and info["resolution"] == 16
    response = client.get("/api/sample", params={"class": "3", "n": 2, "seed": 5, "truncation": 0.7})
    assert response.status_code == 200
    assert response.content == png(g.sample([3], 2, 0.7, seed=5), columns=2)
    w = client.get("/api/interpolate", params={"mode": "w", "class_a": "3", "seed_a": 1, "seed_b": 2,
                                               "steps": 3, "truncation": 0.7})
    assert w.status_code == 200
    assert w.content == png(latents.interpolate(g, "w", [(1, 2)], [3, 3], 3, 0.7), columns=3)
    shown = np.asarray(Image.open(io.BytesIO(w.content)))
    assert shown.shape == (20, 3 * 18 + 2)
    big = TestClient(create_app(api.load(biggan_export)))
    refused = big.get("/api/interpolate", params={"mode": "w", "class_a": "1"})
    assert refused.status_code == 400 and "no mapping network" in refused.json()["error"]
    assert big.get("/api/info").json()["style_based"] is False


def test_serve_cutoff_truncates_the_coarse_styles_only(run: Path, biggan_export: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("fastapi", reason="the serve extra is not installed")
    from fastapi.testclient import TestClient  # noqa: PLC0415

    from ganforge.serve import create_app  # noqa: PLC0415
    from ganforge.serve.render import png  # noqa: PLC0415

    params = {"class": "3", "n": 2, "seed": 5, "truncation": 0.5}
    cut = api.load(run).use_cutoff(2)  # what `ganforge serve RUN --cutoff 2` serves
    shown = TestClient(create_app(cut)).get("/api/sample", params=params).content
    assert shown == png(cut.sample([3], 2, 0.5, seed=5), columns=2)
    assert shown != TestClient(create_app(api.load(run))).get("/api/sample", params=params).content
    # the CLI refuses a bad cutoff in one line, before serving anything
    assert main(["serve", str(run), "--cutoff", "999", "--port", "0"]) != 0
    assert "--cutoff must be between 1 and" in capsys.readouterr().err
    assert main(["serve", str(biggan_export), "--cutoff", "2", "--port", "0"]) != 0
    assert "this generator has none" in capsys.readouterr().err


def test_eval_a_stylegan_run_with_psi_and_cutoff(run: Path) -> None:
    result = api.evaluate(run, "fid,kid,pr,acc", n=20, features="digits", n_ref=60, truncation=0.7,
                          cutoff=2, seed=0)
    protocol = result["protocol"]
    assert protocol["truncation_convention"] == "psi" and protocol["truncation_cutoff"] == 2
    assert protocol["truncation"] == 0.7
    metrics = result["metrics"]
    assert np.isfinite(metrics["fid"]) and 0 <= metrics["class_accuracy"] <= 1 and not result["missing"]
