"""BicycleGAN on the translation task: the KL term, latent regression (to G only), the encoder's
reparameterisation, the losses composed on hand-made tensors, z injection, the multi-scale D,
the diversity measure, two demo steps that resume exactly, and `ganforge translate --n`."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from ganforge import api
from ganforge.cli import main
from ganforge.metrics.translation_conditional import mean_pairwise_distance
from ganforge.models import count_parameters
from ganforge.models.code_encoder import CodeEncoder, reparameterise
from ganforge.models.patchgan import MultiScaleDiscriminator
from ganforge.models.unet_z import UNetWithCode
from ganforge.training.checkpoint import load_latest_checkpoint
from ganforge.training.launch import load_task_data, make_loop
from ganforge.training.run_dir import RunDir, read_metrics
from ganforge.translation import demos
from ganforge.translation.bicyclegan import BicycleGAN
from ganforge.translation.bicyclegan_losses import (
    bicyclegan_g_loss,
    d_loss,
    gan_criterion,
    kl_divergence,
    latent_l1,
)
from resume_support import StopAfter, train_rows

TINY = [
    "translation.ngf=4",
    "translation.nef=4",
    "translation.ndf=4",
    "translation.generator=unet_16",
    "translation.encoder_blocks=2",
    "translation.n_layers_d=1",
    "translation.load_size=16",
    "translation.crop_size=16",
    "translation.eval_n=8",
    "translation.eval_every=0",
    "translation.steps_per_epoch=2",
    "translation.epochs=1",
    "translation.epochs_decay=1",
    "train.batch_size=4",
    "train.device=cpu",
    "train.log_every=1",
    "train.sample_every=2",
    "train.checkpoint_every=100",
    "monitor.plot=false",
]


@pytest.fixture(autouse=True)
def _one_thread() -> None:
    torch.set_num_threads(1)


# ---- losses ----------------------------------------------------------------------------------
def test_kl_term_on_hand_made_tensors() -> None:
    mu = torch.tensor([[1.0, 0.0], [0.0, 0.0]])
    logvar = torch.tensor([[0.0, math.log(2.0)], [0.0, 0.0]])
    # -1/2 sum(1 + logvar - mu^2 - exp(logvar)): (1 + 0 - 1 - 1) + (1 + log 2 - 0 - 2) + 0 + 0
    assert float(kl_divergence(mu, logvar)) == pytest.approx(-0.5 * (-1 + math.log(2) - 1))
    assert float(kl_divergence(torch.zeros(3, 8), torch.zeros(3, 8))) == 0.0  # N(0, I) itself


def test_latent_regression_and_criteria() -> None:
    assert float(latent_l1(torch.tensor([[0.5, -1.0]]), torch.tensor([[0.0, 1.0]]))) == pytest.approx(1.25)
    ls, ns = gan_criterion("ls"), gan_criterion("ns")
    real, fake = [torch.tensor([1.0, 0.5]), torch.tensor([[0.0]])], [torch.tensor([0.0, 0.5]), torch.tensor([[1.0]])]
    # LSGAN, summed over scales: fake (0 + 0.25)/2 + 1, real (0 + 0.25)/2 + 1
    assert float(d_loss(ls, real, fake)) == pytest.approx(0.125 + 1 + 0.125 + 1)
    log2 = math.log(2)
    assert float(ns(torch.zeros(4), True)) == pytest.approx(log2)


def test_g_loss_composed_exactly() -> None:
    ls = gan_criterion("ls")
    d_enc, d2_rand = [torch.tensor([0.0, 1.0])], [torch.tensor([0.5]), torch.tensor([1.0, 1.0])]
    fake, real = torch.full((1, 1, 2, 2), 0.5), torch.zeros(1, 1, 2, 2)
    mu, logvar = torch.tensor([[1.0]]), torch.tensor([[0.0]])
    mu_r, z_r = torch.tensor([[0.0, 2.0]]), torch.tensor([[1.0, 1.0]])
    w = {"gan": 2.0, "gan2": 3.0, "l1": 10.0, "kl": 0.01, "latent": 0.5}
    parts = bicyclegan_g_loss(ls, d_enc, d2_rand, fake, real, mu, logvar, mu_r, z_r, w)
    expected = {"loss_g_gan": 2 * 0.5, "loss_g_gan2": 3 * 0.25, "loss_g_l1": 10 * 0.5,
                "loss_kl": 0.01 * 0.5, "loss_z_l1": 0.5 * 1.0}
    for key, value in expected.items():
        assert float(parts[key]) == pytest.approx(value), key
    assert float(parts["loss_g"]) == pytest.approx(sum(expected.values()))


# ---- networks --------------------------------------------------------------------------------
def test_encoder_reparameterisation() -> None:
    mu, logvar = torch.tensor([[1.0, -2.0]], requires_grad=True), torch.tensor([[0.0, math.log(4.0)]], requires_grad=True)
    eps = torch.tensor([[0.5, 0.5]])
    z = reparameterise(mu, logvar, eps)
    assert z[0].tolist() == pytest.approx([1.5, -1.0])  # mu + exp(logvar / 2) eps
    z.sum().backward()
    assert mu.grad[0].tolist() == [1.0, 1.0] and logvar.grad[0].tolist() == pytest.approx([0.25, 0.5])
    torch.manual_seed(0)
    draws = reparameterise(torch.full((20000, 1), 3.0), torch.full((20000, 1), math.log(0.25)))
    assert float(draws.mean()) == pytest.approx(3.0, abs=0.02) and float(draws.std()) == pytest.approx(0.5, abs=0.02)
    encoder = CodeEncoder(3, 8, nef=4, blocks=3)
    mu, logvar = encoder(torch.zeros(2, 3, 32, 32))
    assert mu.shape == logvar.shape == (2, 8)


def test_z_injection_and_official_sizes() -> None:
    torch.manual_seed(0)
    every = UNetWithCode(1, 3, 8, 4, ngf=4, inject="all")
    first = UNetWithCode(1, 3, 8, 4, ngf=4, inject="input")
    assert [s[-1].in_channels if len(s) == 1 else s[1].in_channels for s in every.encoder] == [9, 12, 16, 24]
    assert [s[-1].in_channels if len(s) == 1 else s[1].in_channels for s in first.encoder] == [9, 4, 8, 16]
    x = torch.rand(2, 1, 16, 16)
    assert not torch.allclose(every(x, torch.zeros(2, 8)), every(x, torch.ones(2, 8)))
    with torch.device("meta"):  # the authors' sizes (benchmarks/manipulation.py checks their code)
        assert count_parameters(UNetWithCode(3, 3, 8, 8, 64, inject="all")) == 54_794_627
        assert count_parameters(UNetWithCode(3, 3, 8, 8, 64, inject="input")) == 54_417_795
        assert count_parameters(CodeEncoder(3, 8, 64, 5)) == 2_590_032
        assert count_parameters(MultiScaleDiscriminator(3, 64, 3, "instance", 2)) == 3_458_978


def test_multiscale_discriminator_outputs() -> None:
    d = MultiScaleDiscriminator(3, 8, 2, "instance", num_d=3)
    outs = d(torch.zeros(2, 3, 64, 64))
    assert [tuple(o.shape) for o in outs] == [(2, 1, 14, 14), (2, 1, 6, 6), (2, 1, 2, 2)]
    assert [s.model[0].out_channels for s in d.scales] == [8, 4, 2]  # each scale at half width
    same = MultiScaleDiscriminator(3, 8, 2, "instance", num_d=2, halve_width=False)
    assert [s.model[0].out_channels for s in same.scales] == [8, 8]


def test_latent_regression_reaches_g_only() -> None:
    config = api.make_config("bicyclegan", [*TINY, "translation.lambda_gan=0", "translation.lambda_gan2=0",
                                            "translation.lambda_l1=0", "translation.lambda_kl=0"],
                             data="demo:edges2colourdigits")
    torch.manual_seed(0)
    model = BicycleGAN(config.translation, "ls", 0)
    out = model.forward(torch.rand(4, 1, 16, 16) * 2 - 1, torch.rand(4, 3, 16, 16) * 2 - 1)
    loss, parts = model.loss("g", out)
    assert float(loss.detach()) == pytest.approx(float(parts["loss_z_l1"]))
    assert float(loss.detach()) > 0
    loss.backward()
    assert all(p.grad is None or not p.grad.any() for p in model.E.parameters())
    assert any(p.grad is not None and p.grad.any() for p in model.G.parameters())


def test_diversity_measure_on_hand_made_samples() -> None:
    samples = torch.tensor([[[0.0, 0.0], [1.0, 1.0], [1.0, -1.0]]])  # one input, 3 outputs
    # pairs: |0-1|=1, |0-(1,-1)|=1, |(1,1)-(1,-1)|=(0+2)/2=1
    assert mean_pairwise_distance(samples, "l1") == pytest.approx(1.0)
    assert mean_pairwise_distance(samples, "l2") == pytest.approx((math.sqrt(2) * 2 + 2) / 3)


def test_demo_is_multimodal_by_construction() -> None:
    rendered = demos.render("edges2colourdigits", 32, 1, 3)
    b = rendered["B"].float()
    ink = b.amax(1) > 64
    colours = torch.stack([b[i][:, ink[i]].mean(1) for i in range(20)])
    assert float(colours.std(0).mean()) > 30  # the same kind of outline, many ink colours
    assert rendered["A"].shape[1] == 1 and set(rendered["A"].unique().tolist()) <= {0, 255}


# ---- training, resume, translate -------------------------------------------------------------
def test_demo_trains_and_resumes_exactly(tmp_path: Path) -> None:
    config, data = load_task_data(api.make_config("bicyclegan", [*TINY, "translation.features=none"]))
    straight = make_loop(config, data, RunDir(tmp_path / "straight"))
    straight.fit(progress=False)
    assert straight.step == 4
    first = make_loop(config, data, RunDir(tmp_path / "resumed"))
    first.fit(progress=False, stop=StopAfter(first, 2))
    torch.manual_seed(4321)  # the codes and eps come from the checkpointed global RNG
    second = make_loop(config, data, RunDir(tmp_path / "resumed"))
    _, state, _ = load_latest_checkpoint(RunDir(tmp_path / "resumed").checkpoints)
    second.load_state_dict(state)
    second.fit(progress=False)
    assert set(straight.task.model.networks) == {"G", "E", "D", "D2"}
    for name, net in straight.task.model.networks.items():
        other = second.task.model.networks[name].state_dict()
        assert all(torch.equal(v, other[k]) for k, v in net.state_dict().items()), name
    assert train_rows(tmp_path / "straight") == train_rows(tmp_path / "resumed")


def test_translate_n_outputs_and_errors(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    run = tmp_path / "run"
    args = ["train", "--recipe", "bicyclegan", "--out", str(run), *TINY, "translation.eval_n=12",
            "--no-progress"]
    assert main(args) == 0
    evaluation = [r for r in read_metrics(run) if r["kind"] == "eval"][-1]
    for key in ("l1_AtoB", "fid_AtoB", "diversity_l1_AtoB", "diversity_features_AtoB"):
        assert key in evaluation, key
    edge = tmp_path / "edge.png"
    Image.fromarray(np.eye(24, dtype=np.uint8) * 255).save(edge)
    out = tmp_path / "out"
    assert main(["translate", str(run), str(edge), "--n", "3", "--seed", "0", "--out", str(out)]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["edge_0.png", "edge_1.png", "edge_2.png"]
    images = [np.asarray(Image.open(out / f"edge_{k}.png")) for k in range(3)]
    assert images[0].shape == (16, 16, 3) and not np.array_equal(images[0], images[1])
    again = tmp_path / "again"
    assert main(["translate", str(run), str(edge), "--n", "3", "--seed", "0", "--out", str(again)]) == 0
    assert np.array_equal(np.asarray(Image.open(again / "edge_2.png")), images[2])  # seeded codes
    capsys.readouterr()
    for extra, message in ((["--n", "0"], "--n must be between 1 and 1000, got 0"),
                           (["--to", "red"], "--to sets StarGAN's target attributes; this is a bicyclegan run")):
        assert main(["translate", str(run), str(edge), "--out", str(out), *extra]) == 2
        err = capsys.readouterr().err
        assert err.startswith("error: ") and len(err.strip().splitlines()) == 1 and message in err, err
