"""GAN-CLS: the matching-aware D loss and GAN-INT's interpolations on hand-made tensors, the
recipe training 2 steps and resuming exactly, the frozen encoder staying frozen, sampling from
text through the CLI and the one loading path, and the one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from PIL import Image

import ganforge
from ganforge import api
from ganforge.cli import main
from ganforge.errors import GanforgeError
from ganforge.objectives import get_objective
from ganforge.training.checkpoint import load_checkpoint
from ganforge.training.launch import load_task_data, make_loop
from ganforge.training.methods.gancls import interpolate_embeddings, matching_aware_d_loss
from ganforge.training.run_dir import RunDir
from resume_support import straight_and_resumed

TINY = ["model.ch=4", "text.width=16", "text.embed_dim=16", "text.heads=2", "text.pretrain_steps=2",
        "text.pretrain_batch=8", "train.batch_size=4", "train.log_every=1", "train.sample_every=1000",
        "train.checkpoint_every=1000", "monitor.plot=false", "train.device=cpu"]


@pytest.fixture(autouse=True)
def _one_thread() -> None:
    torch.set_num_threads(1)


def test_matching_aware_loss_is_real_plus_half_wrong_plus_half_fake() -> None:
    s_r, s_w, s_f = torch.tensor([2.0, -1.0]), torch.tensor([0.5, 1.5]), torch.tensor([-3.0, 0.0])
    ns = matching_aware_d_loss(get_objective("ns"), s_r, s_w, s_f, 0.5)
    by_hand = F.softplus(-s_r).mean() + 0.5 * F.softplus(s_w).mean() + 0.5 * F.softplus(s_f).mean()
    assert torch.allclose(ns, by_hand)
    hinge = matching_aware_d_loss(get_objective("hinge"), s_r, s_w, s_f, 0.25)
    by_hand = F.relu(1 - s_r).mean() + 0.25 * F.relu(1 + s_w).mean() + 0.75 * F.relu(1 + s_f).mean()
    assert torch.allclose(hinge, by_hand)
    plain = matching_aware_d_loss(get_objective("ns"), s_r, s_w, s_f, 0.0)  # w = 0: no wrong term
    assert torch.allclose(plain, get_objective("ns").d_loss(s_r, s_f))


def test_gan_int_mixes_the_first_half_with_the_second() -> None:
    t = torch.tensor([[0.0, 2.0], [4.0, 0.0], [2.0, 2.0], [0.0, 4.0], [9.0, 9.0]])
    assert torch.equal(interpolate_embeddings(t, 0.5), torch.tensor([[1.0, 2.0], [2.0, 2.0]]))
    assert torch.equal(interpolate_embeddings(t, 1.0), t[:2])
    assert torch.equal(interpolate_embeddings(t, 0.25), 0.25 * t[:2] + 0.75 * t[2:4])


def _args(out: Path, steps: int) -> list[str]:
    return ["train", "--recipe", "gan-cls", "--out", str(out), "--steps", str(steps), "--no-progress", *TINY]


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    torch.set_num_threads(1)
    return straight_and_resumed(tmp_path_factory.mktemp("gancls"), _args)


def _losses(run: Path) -> list[dict]:
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    return [{k: v for k, v in r.items() if k.startswith(("loss", "wrong"))} for r in rows if r["kind"] == "train"]


def test_recipe_trains_two_steps_and_resumes_exactly(runs: tuple[Path, Path]) -> None:
    straight, resumed = runs
    a = load_checkpoint(straight / "checkpoints" / "step_00000002.pt")
    b = load_checkpoint(resumed / "checkpoints" / "step_00000002.pt")
    for key in ("G", "D", "G_ema"):
        assert a[key].keys() == b[key].keys()
        assert [k for k in a[key] if not torch.equal(a[key][k], b[key][k])] == []
    assert a["stream"]["caption_rng"].equal(b["stream"]["caption_rng"])
    assert _losses(straight) == _losses(resumed) and "wrong_logit" in _losses(straight)[0]
    # the encoder trained first is frozen: G's and D's copies are equal after training
    text_g = {k[5:]: v for k, v in a["G"].items() if k.startswith("text.")}
    text_d = {k[5:]: v for k, v in a["D"].items() if k.startswith("text.")}
    assert text_g and all(torch.equal(text_g[k], text_d[k]) for k in text_g)


def test_encoder_is_pretrained_then_frozen(tmp_path: Path) -> None:
    config = api.make_config("gan-cls", [*TINY, "text.pretrain_steps=3"])
    config, data = load_task_data(config)
    assert "seven" in config.text.vocab and config.model.n_classes == 10
    loop = make_loop(config, data, RunDir(tmp_path))
    task = loop.task
    assert "text_pretrain_loss" in task.text_stats and task.dataset.tokens.shape[:2] == (len(data), 4)
    before = {k: v.clone() for k, v in task.G.text.state_dict().items()}
    calls = []
    generate = task.context.generate
    task.context.generate = lambda z, y: calls.append(tuple(y.shape)) or generate(z, y)
    task.train_step(1)
    assert calls == [(4, 16), (6, 16)]  # D step: 4 fakes; G step: 4 + 2 GAN-INT mixes
    after = task.G.text.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)
    assert all(torch.equal(before[k], task.D.text.state_dict()[k]) for k in before)


def test_sample_text_cli_and_export_load(runs: tuple[Path, Path], tmp_path: Path,
                                         capsys: pytest.CaptureFixture) -> None:
    straight, _ = runs
    out = tmp_path / "twos.png"
    assert main(["sample", str(straight), "--text", "a thin green two", "--text", "a large red six",
                 "--n", "3", "--seed", "0", "--out", str(out)]) == 0
    assert Image.open(out).size[0] > Image.open(out).size[1] > 32  # 2 rows of 3
    assert main(["export", str(straight), str(tmp_path / "export")]) == 0
    g, h = ganforge.load(straight), ganforge.load(tmp_path / "export")
    assert g.takes_text and torch.equal(g.sample_text(["a thin green two"], 2, seed=3),
                                        h.sample_text(["a thin green two"], 2, seed=3))
    capsys.readouterr()
    assert main(["sample", str(straight), "--text", "a purple two", "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert "unknown word 'purple'" in err and "\n" not in err
    assert main(["sample", str(straight), "--out", str(out)]) == 2
    assert "--text" in capsys.readouterr().err
    assert main(["sample", str(straight), "--text", "a red two", "--class", "3", "--out", str(out)]) == 2


def test_gancls_refuses_data_without_captions_and_class_generators_refuse_text(tmp_path: Path) -> None:
    config = api.make_config("gan-cls", [*TINY, "data.source=digits"])
    with pytest.raises(GanforgeError, match="needs captioned data"):
        load_task_data(config)
    dcgan = api.make_config("dcgan", ["model.ch=4", "train.batch_size=4", "monitor.plot=false",
                                      "train.device=cpu", "train.log_every=1", "train.steps=1"])
    run = api.train(dcgan, tmp_path / "dcgan", progress=False)  # loads: for_loading without model.init
    with pytest.raises(GanforgeError, match="draws from class labels, not text"):
        api.sample(run, tmp_path / "x.png", texts=["a red two"])


def test_text_interpolation_moves_between_the_two_sentences(runs: tuple[Path, Path], tmp_path: Path) -> None:
    straight, _ = runs
    out = tmp_path / "interp.png"
    assert main(["interpolate", str(straight), "--mode", "text", "--text", "a thin green two",
                 "--text", "a large red six", "--steps", "4", "--out", str(out)]) == 0
    g = ganforge.load(straight)
    a, b = g.text_embeddings(["a thin green two", "a large red six"])
    z = g.latents(1, None, 0).expand(4, -1)
    mixes = torch.stack([a + t * (b - a) for t in torch.linspace(0, 1, 4)])
    row = g.generate(z, mixes)
    assert torch.allclose(row[0], g.sample_text(["a thin green two"], 1, seed=0)[0], atol=1e-5)
    assert torch.allclose(row[-1], g.sample_text(["a large red six"], 1, seed=0)[0], atol=1e-5)
    with pytest.raises(GanforgeError, match="give --text A --text B"):
        api.interpolate(straight, tmp_path / "x.png", mode="text", texts=["a red two"])
