"""The GAN family as recipes of one engine: every recipe builds and trains a step, and each
one's defining mechanism is checked on hand-made tensors."""

from __future__ import annotations

import math
import re
from pathlib import Path

import pytest
import torch
from torch import nn

from ganforge import api
from ganforge.config import ModelConfig
from ganforge.data import load_dataset
from ganforge.models import build_models, count_parameters
from ganforge.models.common import coded_input, set_codes, split_latent
from ganforge.objectives import (
    began_convergence,
    began_k_update,
    gradient_penalty,
    mutual_information_loss,
)
from ganforge.training.launch import make_loop
from ganforge.training.loop import Loop
from ganforge.training.run_dir import RunDir

FAMILY = ["gan", "cgan", "dcgan", "dcgan-64", "lsgan", "wgan", "wgan-gp", "acgan", "infogan", "ragan",
          "sgan", "sngan", "sagan", "began", "lapgan"]
SMALL = {  # narrower nets so that a step takes well under a second
    "mlp": ["model.hidden=[64,64]", "model.d_hidden=[32,32]"],
    "dcgan": ["model.ch=8"],
    "biggan": ["model.ch=8"],
    "began": ["model.ch=8", "model.dim_z=16"],
    "lapgan": ["model.ch=8", "model.hidden=[64]", "model.d_hidden=[64]"],
}
COMMON = ["train.batch_size=16", "train.log_every=1", "train.sample_every=1000",
          "train.checkpoint_every=1000", "eval.every=0", "monitor.plot=false"]


def make_trainer(recipe: str, tmp_path: Path, extra: list[str] | None = None) -> Loop:
    arch = api.make_config(recipe=recipe).model.arch
    config = api.make_config(recipe=recipe, overrides=SMALL[arch] + COMMON + list(extra or []))
    dataset = load_dataset("digits", config.model.resolution, config.model.img_channels)
    return make_loop(config, dataset, RunDir(tmp_path / recipe))


def snapshot(model: nn.Module) -> list[torch.Tensor]:
    return [p.detach().clone() for p in model.parameters()]


def changed(before: list[torch.Tensor], model: nn.Module) -> bool:
    return any(not torch.equal(a, b) for a, b in zip(before, model.parameters(), strict=True))


@pytest.mark.parametrize("recipe", FAMILY)
def test_recipe_builds_reports_and_one_step_changes_both_networks(recipe: str, tmp_path: Path) -> None:
    info = api.info(recipe)
    assert info["generator_params"] > 0 and info["discriminator_params"] > 0
    text = (Path(api.__file__).parent.parent / "recipes" / f"{recipe}.yaml").read_text()
    header = "".join(line for line in text.splitlines()[:3] if line.startswith("#"))
    assert re.search(r"(19|20)\d\d", header), header  # the comments cite the paper and year
    trainer = make_trainer(recipe, tmp_path)
    g0, d0 = snapshot(trainer.task.G), snapshot(trainer.task.D)
    trainer.fit(1, progress=False)
    assert changed(g0, trainer.task.G) and changed(d0, trainer.task.D)
    row = [r for r in api_rows(trainer) if r["kind"] == "train"][-1]
    assert math.isfinite(row["loss_d"]) and math.isfinite(row["loss_g"])
    images = trainer.task.G_ema.eval()(*trainer.task.noise(4))
    assert images.shape == (4, 1, trainer.config.model.resolution, trainer.config.model.resolution)


def api_rows(trainer: Loop) -> list[dict]:
    import json

    return [json.loads(x) for x in trainer.run.metrics.read_text().splitlines()]


def test_dcgan_parameter_counts_match_the_pytorch_reference_model() -> None:
    # PyTorch's DCGAN example at 64 px RGB (nz 100, ngf = ndf = 64): 3,576,704 and 2,765,568
    info = api.info("dcgan-64", ["model.img_channels=3"])
    assert (info["generator_params"], info["discriminator_params"]) == (3_576_704, 2_765_568)


def test_maxout_mlp_counts_by_hand() -> None:
    cfg = ModelConfig(arch="mlp", resolution=8, img_channels=1, conditional=True, n_classes=10,
                      dim_z=20, hidden=[30], g_norm="none", d_hidden=[7], maxout_pieces=3)
    g, d = build_models(cfg)
    assert count_parameters(g) == (30 * 30 + 30) + (30 * 64 + 64)
    assert count_parameters(d) == (74 * 21 + 21) + (7 + 1)


def test_conditional_models_use_the_label() -> None:
    torch.manual_seed(0)
    for recipe in ("cgan", "acgan"):
        config = api.make_config(recipe=recipe, overrides=SMALL[api.make_config(recipe=recipe).model.arch])
        g, d = build_models(config.model)
        g.eval(), d.eval()
        z = torch.randn(2, g.dim_z).repeat(2, 1)
        y = torch.tensor([0, 1, 2, 3])
        out = g(z, y)
        assert not torch.allclose(out[:2], out[2:])  # same z, other class: another image
    x = torch.randn(2, 1, 32, 32)
    config = api.make_config(recipe="cgan", overrides=SMALL["mlp"])
    _, d = build_models(config.model)
    d.eval()
    assert not torch.allclose(d(x, torch.tensor([0, 0])), d(x, torch.tensor([5, 5])))


def test_unconditional_models_ignore_the_label() -> None:
    for recipe in ("gan", "dcgan", "sgan", "infogan"):
        config = api.make_config(recipe=recipe, overrides=SMALL[api.make_config(recipe=recipe).model.arch])
        g, _ = build_models(config.model)
        g.eval()
        z = torch.randn(2, g.dim_z)
        assert torch.equal(g(z, torch.tensor([0, 1])), g(z, torch.tensor([7, 3])))


def test_weight_clipping_bounds_every_critic_weight(tmp_path: Path) -> None:
    trainer = make_trainer("wgan", tmp_path)
    assert max(float(p.detach().abs().max()) for p in trainer.task.D.parameters()) > 0.01  # N(0, 0.02)
    trainer.fit(1, progress=False)
    assert max(float(p.detach().abs().max()) for p in trainer.task.D.parameters()) <= 0.01
    assert isinstance(trainer.task.opt_d, torch.optim.RMSprop) and trainer.task.opt_d.param_groups[0]["lr"] == 5e-5


def test_gradient_penalty_on_a_linear_critic_by_hand() -> None:
    w = torch.tensor([3.0, 4.0])  # D(x) = w.x: gradient w everywhere, norm 5
    critic = lambda x: x @ w  # noqa: E731
    real, fake = torch.randn(6, 2), torch.randn(6, 2)
    assert float(gradient_penalty(critic, real, fake)) == pytest.approx((5.0 - 1.0) ** 2)
    w2 = torch.tensor([0.6, 0.8], requires_grad=True)  # unit norm: no penalty, zero gradient
    gp = gradient_penalty(lambda x: x @ w2, real, fake)
    gp.backward()
    assert float(gp.detach()) == pytest.approx(0.0, abs=1e-10) and float(w2.grad.abs().max()) < 1e-6


def test_wgan_gp_logs_its_penalty_and_has_no_batch_norm_in_the_critic(tmp_path: Path) -> None:
    trainer = make_trainer("wgan-gp", tmp_path)
    assert not any(isinstance(m, nn.BatchNorm2d) for m in trainer.task.D.modules())
    trainer.fit(1, progress=False)
    row = api_rows(trainer)[-1]
    assert row["gp"] >= 0 and trainer.config.train.d_steps == 5


def test_began_equilibrium_by_hand(tmp_path: Path) -> None:
    assert began_k_update(0.0, 0.5, 0.001, loss_real=0.4, loss_fake=0.1) == pytest.approx(0.0001)
    assert began_k_update(0.0, 0.5, 0.001, loss_real=0.1, loss_fake=0.4) == 0.0  # clamped
    assert began_k_update(0.9999, 0.5, 1.0, loss_real=1.0, loss_fake=0.0) == 1.0
    assert began_convergence(0.5, 0.4, 0.1) == pytest.approx(0.4 + 0.1)
    trainer = make_trainer("began", tmp_path)
    trainer.fit(3, progress=False)
    rows = [r for r in api_rows(trainer) if r["kind"] == "train"]
    assert all("began_M" in r and "began_k" in r for r in rows)
    last = rows[-1]
    expected = last["recon_real"] + abs(0.5 * last["recon_real"] - last["recon_fake"])
    assert last["began_M"] == pytest.approx(expected, rel=1e-5)
    assert trainer.state_dict()["method"]["k"] == trainer.task.method.k


def test_infogan_codes_priors_and_mutual_information() -> None:
    cfg = ModelConfig(arch="dcgan", dim_z=4, codes_cat=[10], codes_cont=2, conditional=False)
    z = torch.randn(20000, 16, generator=torch.Generator().manual_seed(0))
    noise, cats, cont = split_latent(z, cfg)
    assert torch.equal(noise, z[:, :4])
    counts = torch.bincount(cats[0], minlength=10).float() / len(z)
    assert counts.min() > 0.09 and counts.max() < 0.11  # uniform over 10 values
    assert cont.min() >= -1 and cont.max() <= 1 and abs(float(cont.mean())) < 0.02
    assert float(cont.var()) == pytest.approx(1 / 3, abs=0.01)  # U[-1, 1]
    chosen = set_codes(z[:3], cfg, {0: torch.tensor([7, 2, 9])}, {1: torch.tensor([0.5, -0.25, 0.0])})
    _, cats, cont = split_latent(chosen, cfg)
    assert cats[0].tolist() == [7, 2, 9] and torch.allclose(cont[:, 1], torch.tensor([0.5, -0.25, 0.0]), atol=1e-5)
    g_input = coded_input(chosen, cfg)
    assert torch.equal(g_input[:, 4:14].argmax(1), torch.tensor([7, 2, 9]))
    # the bound: Q that recovers the code has a far lower MI loss than Q that guesses
    target_cat, target_cont = [torch.tensor([1, 4])], torch.tensor([[0.2, -0.5], [0.9, 0.0]])
    guess = mutual_information_loss([torch.zeros(2, 10)], torch.zeros(2, 2), target_cat, target_cont)
    assert float(guess) == pytest.approx(math.log(10) + 0.5 * (0.04 + 0.25 + 0.81) / 2)
    recovered = mutual_information_loss([torch.eye(10)[[1, 4]] * 20], target_cont, target_cat, target_cont)
    assert float(recovered) < 1e-6


def test_infogan_q_learns_the_categorical_code(tmp_path: Path) -> None:
    # a stronger MI weight and D rate than the paper's, so that 100 steps of a tiny net suffice
    trainer = make_trainer("infogan", tmp_path, ["train.log_every=10", "method.info_weight=10",
                                                 "train.lr_d=1e-3"])
    trainer.fit(100, progress=False)
    rows = [r for r in api_rows(trainer) if r["kind"] == "train"]
    assert rows[0]["q_cat_acc"] < 0.3 < 0.4 < rows[-1]["q_cat_acc"]  # chance is 0.1
    assert rows[-1]["mi_loss"] < 0.7 * rows[0]["mi_loss"]


def test_acgan_and_sgan_use_the_labels(tmp_path: Path) -> None:
    trainer = make_trainer("acgan", tmp_path)
    trainer.fit(1, progress=False)
    assert "aux_acc_real" in api_rows(trainer)[-1]
    trainer = make_trainer("sgan", tmp_path, ["method.labelled=50", "method.holdout=0.2"])
    assert len(trainer.task.method.labelled_stream.dataset) == 50
    assert len(trainer.task.method.heldout) + len(trainer.task.dataset) == 1797
    assert trainer.task.method.labelled_stream.dataset.class_counts() == [5] * 10
    trainer.fit(2, progress=False)
    accuracy = api_rows(trainer)[-1]["heldout_accuracy"]
    assert 0.0 <= accuracy <= 1.0


def test_sngan_has_spectral_norm_in_d_only_and_sagan_in_both_with_attention() -> None:
    def has_sn(model: nn.Module) -> bool:
        return any(hasattr(m, "parametrizations") for m in model.modules())

    g, d = build_models(api.make_config(recipe="sngan", overrides=SMALL["biggan"]).model)
    assert not has_sn(g) and has_sn(d)
    g, d = build_models(api.make_config(recipe="sagan", overrides=SMALL["biggan"]).model)
    assert has_sn(g) and has_sn(d) and len(g.attention) == 1 and len(d.attention) == 1
    config = api.make_config(recipe="sagan")
    assert (config.train.lr_g, config.train.lr_d, config.train.d_steps) == (1e-4, 4e-4, 1)


def test_method_and_architecture_mismatches_are_clear(tmp_path: Path) -> None:
    from ganforge.errors import GanforgeError

    with pytest.raises(GanforgeError, match="needs D heads"):
        make_trainer("dcgan", tmp_path, ["method.name=acgan"])
    with pytest.raises(GanforgeError, match="go together"):
        make_trainer("dcgan", tmp_path, ["method.name=began"])
    with pytest.raises(GanforgeError, match="unknown train.optimizer"):
        make_trainer("dcgan", tmp_path, ["train.optimizer=sgd"])


def test_sample_code_varies_one_infogan_code_along_each_row(tmp_path: Path) -> None:
    from PIL import Image

    from ganforge.api import code_sweep
    from ganforge.cli import main

    config = api.make_config(recipe="infogan", overrides=SMALL["dcgan"] + COMMON, steps=2)  # codes, not quality
    run = api.train(config, tmp_path / "info", progress=False, overwrite=False)
    z, columns = code_sweep("cat0", config, 74, rows=3, n=8, truncation=None, seed=0)
    assert columns == 10 and z.shape == (30, 74)
    _, cats, _ = split_latent(z, config.model)
    assert cats[0].tolist() == list(range(10)) * 3
    assert torch.equal(z[:10, :62], z[:1, :62].expand(10, 62))  # one noise per row
    _, _, cont = split_latent(code_sweep("cont1", config, 74, 2, 5, None, 0)[0], config.model)
    assert torch.allclose(cont[:5, 1], torch.linspace(-1, 1, 5), atol=1e-5)
    out = tmp_path / "codes.png"
    assert main(["sample", str(run), "--code", "cat0", "--class", "0", "--class", "1",
                 "--out", str(out)]) == 0
    with Image.open(out) as grid:
        assert grid.width > grid.height * 4  # 10 columns, 2 rows
    assert main(["sample", str(run), "--code", "cat3", "--out", str(out)]) == 2


def test_laplacian_pyramid_reconstructs_and_sampling_chains_the_levels() -> None:
    from ganforge.models.lapgan import laplacian_pyramid, upsample

    x = torch.rand(3, 1, 32, 32) * 2 - 1
    pyramid = laplacian_pyramid(x, 3)
    assert [p[0].shape[-1] for p in pyramid] == [8, 16, 32]
    image = pyramid[0][0]
    for residual, low in pyramid[1:]:
        assert torch.allclose(low, upsample(image))
        image = low + residual
    assert torch.allclose(image, x, atol=1e-6)  # the pyramid is lossless
    config = api.make_config(recipe="lapgan", overrides=SMALL["lapgan"])
    g, _ = build_models(config.model)
    g.eval()
    assert g.chunks == [100, 16 * 16, 32 * 32] and g.dim_z == 100 + 256 + 1024
    z, y = torch.randn(2, g.dim_z), torch.tensor([1, 7])
    noise = torch.split(z, g.chunks, dim=1)
    by_hand = g.levels[0](noise[0], y)
    for level in (1, 2):
        low = upsample(by_hand)
        by_hand = low + g.levels[level](noise[level], low, y)
    assert torch.allclose(g(z, y), by_hand.clamp(-1, 1))
    assert not torch.allclose(g(z, torch.tensor([2, 2])), g(z, y))  # every level sees the class
