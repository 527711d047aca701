"""Each family method's losses replayed by hand with the real (small) networks and the same
noise, and the schedule each recipe promises (D steps per G step, optimiser, init), counted on
real training steps. test_family.py covers building, one step and the objectives' formulas."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from ganforge import api
from ganforge.cli import main
from ganforge.errors import GanforgeError
from ganforge.models import build_models, count_parameters
from ganforge.objectives import began_k_update, gradient_penalty, reconstruction_l1
from ganforge.training.loop import Loop
from test_family import COMMON, FAMILY, SMALL, api_rows, changed, make_trainer, snapshot


def replay(trainer: Loop) -> callable:
    """Returns a function that puts the trainer's noise generators back where they are now, so
    that a loss can be recomputed by hand from the same z and classes."""
    states = (trainer.task.noise_gen.get_state(), trainer.task.label_gen.get_state())

    def rewind() -> None:
        trainer.task.noise_gen.set_state(states[0])
        trainer.task.label_gen.set_state(states[1])

    return rewind


def frozen(trainer: Loop) -> Loop:
    """Eval mode: batch norm and dropout give the same output for the same input in any call."""
    trainer.task.G.eval(), trainer.task.D.eval()
    return trainer


def real_batch(n: int = 8) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(3)
    return torch.rand(n, 1, 32, 32, generator=g) * 2 - 1, torch.arange(n) % 10


# ---- conditioning through D's heads ----------------------------------------------------------
def test_acgan_losses_by_hand_use_the_real_and_the_generated_classes(tmp_path: Path) -> None:
    trainer = frozen(make_trainer("acgan", tmp_path))
    method, w = trainer.task.method, trainer.config.method.aux_weight
    real, y_real = real_batch()
    rewind = replay(trainer)
    loss = method.d_loss(real, y_real).loss
    rewind()
    z, y_fake = trainer.task.noise(8)
    with torch.no_grad():
        fake = trainer.task.G(z, y_fake)
    l_real, h_real = trainer.task.D(real, y_real, heads=True)
    l_fake, h_fake = trainer.task.D(fake, y_fake, heads=True)
    expected = (F.softplus(-l_real).mean() + F.softplus(l_fake).mean()
                + w * (F.cross_entropy(h_real["classes"], y_real) + F.cross_entropy(h_fake["classes"], y_fake)))
    assert loss.item() == pytest.approx(expected.item(), rel=1e-5)
    rewind()
    assert abs(method.d_loss(real, y_real.roll(1)).loss.item() - loss.item()) > 1e-6

    rewind = replay(trainer)
    g_loss, _ = method.g_loss(8)
    rewind()
    z, y = trainer.task.noise(8)
    logits, heads = trainer.task.D(trainer.task.G(z, y), y, heads=True)
    expected = F.softplus(-logits).mean() + w * F.cross_entropy(heads["classes"], y)
    assert g_loss.item() == pytest.approx(expected.item(), rel=1e-5)  # G is told its class too


def test_sgan_real_logit_is_the_k_plus_one_class_form() -> None:
    from ganforge.training.methods.sgan import SemiSupervised

    logits = torch.tensor([[0.0, 0.0], [float(torch.log(torch.tensor(3.0))), 0.0]])
    lse = SemiSupervised.real_logit(logits)
    assert torch.allclose(lse, torch.log(torch.tensor([2.0, 4.0])))
    # K+1 classes with the generated one at logit 0: p(real) = Z / (Z + 1), Z = sum exp(l_k)
    full = torch.cat([logits, torch.zeros(2, 1)], dim=1).softmax(1)
    assert torch.allclose(torch.sigmoid(lse), full[:, :2].sum(1))
    assert torch.allclose(torch.sigmoid(lse), torch.tensor([2 / 3, 4 / 5]))


def test_sgan_loss_by_hand_and_held_out_accuracy(tmp_path: Path) -> None:
    trainer = frozen(make_trainer("sgan", tmp_path, ["method.labelled=50"]))
    method = trainer.task.method
    real, y_real = real_batch()
    rewind, stream = replay(trainer), method.labelled_stream.state_dict()
    out = method.d_loss(real, y_real)
    rewind()
    method.labelled_stream.load_state_dict(stream)
    z, y = trainer.task.noise(8)
    with torch.no_grad():
        fake = trainer.task.G(z, y)
    lse_real = torch.logsumexp(trainer.task.D(real, y_real, heads=True)[1]["classes"], 1)
    lse_fake = torch.logsumexp(trainer.task.D(fake, y, heads=True)[1]["classes"], 1)
    images, labels = method.labelled_stream.next()
    class_logits = trainer.task.D(trainer.task.to_model_range(images), labels, heads=True)[1]["classes"]
    supervised = F.cross_entropy(class_logits, labels)
    expected = F.softplus(-lse_real).mean() + F.softplus(lse_fake).mean() + supervised
    assert out.loss.item() == pytest.approx(expected.item(), rel=1e-5)
    assert out.extra["supervised_loss"].item() == pytest.approx(supervised.item(), rel=1e-5)
    assert abs(F.cross_entropy(class_logits, labels.roll(1)).item() - supervised.item()) > 1e-6
    # held-out accuracy is D's argmax on the held-out real images, counted by hand
    x = trainer.task.to_model_range(method.heldout.images)
    by_hand = (trainer.task.D(x, method.heldout.labels, heads=True)[1]["classes"].argmax(1)
               == method.heldout.labels).float().mean()
    assert method.heldout_accuracy() == pytest.approx(float(by_hand))


def test_sgan_learns_to_classify_held_out_digits_from_few_labels(tmp_path: Path) -> None:
    trainer = make_trainer("sgan", tmp_path, ["method.labelled_fraction=0.1", "train.log_every=50"])
    assert len(trainer.task.method.labelled_stream.dataset) == round(0.1 * len(trainer.task.dataset))
    trainer.fit(150, progress=False)
    rows = [r for r in api_rows(trainer) if r["kind"] == "train"]
    assert rows[0]["heldout_accuracy"] < rows[-1]["heldout_accuracy"]
    assert rows[-1]["heldout_accuracy"] > 0.5  # chance is 0.1


def test_sgan_labelled_fraction_is_checked(tmp_path: Path) -> None:
    with pytest.raises(GanforgeError, match="labelled_fraction must lie in"):
        make_trainer("sgan", tmp_path, ["method.labelled_fraction=1.5"])
    with pytest.raises(GanforgeError, match="need at least one per class"):
        make_trainer("sgan", tmp_path, ["method.labelled_fraction=0.001"])


# ---- critics -----------------------------------------------------------------------------
def test_gradient_penalty_uses_one_uniform_interpolate_per_sample() -> None:
    # D(x) = |x|^2 / 2 has gradient x, so on x_hat = e * 1 + (1 - e) * 0 = e the penalty is
    # (e - 1)^2, whose mean over e ~ U[0, 1] is 1/3. x_hat = real gives 0, x_hat = fake gives 1
    # and one e for the whole batch gives (e - 1)^2 for a single draw.
    torch.manual_seed(0)
    n = 200_000
    real, fake = torch.ones(n, 1, 1, 1), torch.zeros(n, 1, 1, 1)
    gp = gradient_penalty(lambda x: 0.5 * (x**2).flatten(1).sum(1), real, fake)
    assert gp.item() == pytest.approx(1 / 3, abs=0.004)


def test_wasserstein_generator_loss() -> None:
    from ganforge.objectives import get_objective

    fake = torch.tensor([0.5, -1.5, 4.0])
    assert float(get_objective("wasserstein").g_loss(fake)) == pytest.approx(-1.0)


STEPS_PER_G_STEP = {"gan": 1, "cgan": 1, "dcgan": 1, "lsgan": 1, "wgan": 5, "wgan-gp": 5,
                    "acgan": 1, "infogan": 1, "sgan": 1, "sngan": 5, "sagan": 1, "began": 1,
                    "lapgan": 1}


@pytest.mark.parametrize("recipe", sorted(STEPS_PER_G_STEP))
def test_d_steps_per_g_step_are_counted_on_real_steps(recipe: str, tmp_path: Path) -> None:
    trainer = make_trainer(recipe, tmp_path)
    counts = {"d": 0, "g": 0}
    trainer.task.opt_d.register_step_post_hook(lambda *_: counts.__setitem__("d", counts["d"] + 1))
    trainer.task.opt_g.register_step_post_hook(lambda *_: counts.__setitem__("g", counts["g"] + 1))
    trainer.fit(2, progress=False)
    assert counts == {"d": 2 * STEPS_PER_G_STEP[recipe], "g": 2}


OPTIMISERS = {  # recipe: (class, lr G, lr D, betas G, betas D), from each paper
    "dcgan": (torch.optim.Adam, 2e-4, 2e-4, (0.5, 0.999), (0.5, 0.999)),
    "wgan": (torch.optim.RMSprop, 5e-5, 5e-5, None, None),
    "wgan-gp": (torch.optim.Adam, 1e-4, 1e-4, (0.0, 0.9), (0.0, 0.9)),
    "sngan": (torch.optim.Adam, 2e-4, 2e-4, (0.0, 0.9), (0.0, 0.9)),
    "sagan": (torch.optim.Adam, 1e-4, 4e-4, (0.0, 0.9), (0.0, 0.9)),
}


@pytest.mark.parametrize("recipe", sorted(OPTIMISERS))
def test_optimisers_are_the_papers(recipe: str, tmp_path: Path) -> None:
    kind, lr_g, lr_d, betas_g, betas_d = OPTIMISERS[recipe]
    trainer = make_trainer(recipe, tmp_path)
    for opt, lr, betas in ((trainer.task.opt_g, lr_g, betas_g), (trainer.task.opt_d, lr_d, betas_d)):
        assert type(opt) is kind and opt.param_groups[0]["lr"] == lr
        if betas is not None:
            assert tuple(opt.param_groups[0]["betas"]) == betas
    loss = trainer.config.train.loss
    assert loss == {"dcgan": "ns", "wgan": "wasserstein", "wgan-gp": "wasserstein",
                    "sngan": "hinge", "sagan": "hinge"}[recipe]


# ---- DCGAN -------------------------------------------------------------------------------
def test_dcgan_init_is_normal_0_02_and_batch_norm_gains_normal_1_0_02() -> None:
    torch.manual_seed(0)
    g, d = build_models(api.make_config(recipe="dcgan").model)
    for model in (g, d):
        convs = [m.weight for m in model.modules() if isinstance(m, nn.Conv2d | nn.ConvTranspose2d)]
        weights = torch.cat([w.detach().flatten() for w in convs])
        assert abs(float(weights.mean())) < 1e-3 and float(weights.std()) == pytest.approx(0.02, rel=0.02)
        norms = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
        gains = torch.cat([m.weight.detach() for m in norms])
        assert float(gains.mean()) == pytest.approx(1.0, abs=0.004)
        assert float(gains.std()) == pytest.approx(0.02, rel=0.15)
        assert all(float(m.bias.abs().max()) == 0.0 for m in norms)
    first = next(m for m in d.modules() if isinstance(m, nn.Conv2d))
    after_first = list(d.modules())[list(d.modules()).index(first) + 1]
    assert not isinstance(after_first, nn.BatchNorm2d)  # no BN on D's input layer


def test_the_d_step_does_not_reach_g(tmp_path: Path) -> None:
    for recipe in ("dcgan", "acgan", "began", "sgan"):
        trainer = make_trainer(recipe, tmp_path)
        real, y = real_batch()
        trainer.task.method.d_loss(real, y).loss.backward()
        assert all(p.grad is None for p in trainer.task.G.parameters()), recipe  # G(z) was detached
        assert any(p.grad is not None for p in trainer.task.D.parameters()), recipe


# ---- BEGAN -------------------------------------------------------------------------------
def test_began_d_loss_and_the_k_chain_over_real_steps(tmp_path: Path) -> None:
    trainer = frozen(make_trainer("began", tmp_path, ["method.began_lambda_k=0.05"]))
    method = trainer.task.method
    method.k = 0.3
    real, y = real_batch()
    rewind = replay(trainer)
    out = method.d_loss(real, y)
    rewind()
    z, y_fake = trainer.task.noise(8)
    with torch.no_grad():
        fake = trainer.task.G(z, y_fake)
    l_real = reconstruction_l1(real, trainer.task.D(real, y))
    l_fake = reconstruction_l1(fake, trainer.task.D(fake, y_fake))
    assert out.loss.item() == pytest.approx((l_real - 0.3 * l_fake).item(), rel=1e-5)
    method.after_d_step()
    assert method.k == pytest.approx(began_k_update(0.3, 0.5, 0.05, l_real.item(), l_fake.item()), rel=1e-6)

    trainer.task.G.train(), trainer.task.D.train()
    method.k = 0.5
    trainer.fit(6, progress=False)
    rows = [r for r in api_rows(trainer) if r["kind"] == "train"]
    assert rows[0]["began_k"] == pytest.approx(0.5)
    for now, after in zip(rows, rows[1:], strict=False):
        expected = began_k_update(now["began_k"], 0.5, 0.05, now["recon_real"], now["recon_fake"])
        assert after["began_k"] == pytest.approx(expected, rel=1e-5, abs=1e-7)
    assert len({round(r["began_k"], 6) for r in rows}) == len(rows)  # k moved at every step


# ---- LAPGAN ------------------------------------------------------------------------------
def test_lapgan_coarse_level_is_the_papers_and_every_level_trains(tmp_path: Path) -> None:
    g, d = build_models(api.make_config(recipe="lapgan").model)
    # 8x8 level: G two ReLU layers of 1200, D two of 600 with dropout (Denton et al. 2015)
    assert count_parameters(g.levels[0]) == (110 * 1200 + 1200) + (1200 * 1200 + 1200) + (1200 * 64 + 64)
    assert count_parameters(d.levels[0]) == (74 * 600 + 600) + (600 * 600 + 600) + (600 + 1)
    assert sum(isinstance(m, nn.Dropout) for m in d.levels[0].modules()) == 2
    trainer = make_trainer("lapgan", tmp_path)
    before = [(snapshot(gl), snapshot(dl)) for gl, dl in zip(trainer.task.G.levels, trainer.task.D.levels, strict=True)]
    trainer.fit(1, progress=False)
    for (g0, d0), gl, dl in zip(before, trainer.task.G.levels, trainer.task.D.levels, strict=True):
        assert changed(g0, gl) and changed(d0, dl)


# ---- the CLI -----------------------------------------------------------------------------
@pytest.mark.parametrize("recipe", FAMILY)
def test_train_and_info_every_recipe_from_the_cli(recipe: str, tmp_path: Path,
                                                  capsys: pytest.CaptureFixture) -> None:
    run = tmp_path / recipe
    overrides = [*SMALL[api.make_config(recipe=recipe).model.arch], *COMMON]
    assert main(["train", "--recipe", recipe, "--out", str(run), "--steps", "2", "--no-progress",
                 *overrides]) == 0
    rows = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    train = [r for r in rows if r["kind"] == "train"]
    assert [r["step"] for r in train] == [1, 2]
    assert all(math.isfinite(r["loss_d"]) and math.isfinite(r["loss_g"]) for r in train)
    assert (run / "checkpoints" / "step_00000002.pt").is_file()
    if recipe == "wgan-gp":
        assert all("gp" in r for r in train)
    capsys.readouterr()
    assert main(["info", recipe]) == 0
    assert "parameters" in capsys.readouterr().out.lower()
