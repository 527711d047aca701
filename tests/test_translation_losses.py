"""The pieces of the translation objectives: loss composition on hand-made tensors, the identity
weight, the image pool, and the constant-then-linear learning-rate schedule."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from ganforge.errors import GanforgeError
from ganforge.translation.losses import (
    CycleOutputs,
    adversarial_terms,
    cyclegan_g_loss,
    pix2pix_d_loss,
    pix2pix_g_loss,
)
from ganforge.translation.pool import ImagePool
from ganforge.translation.schedule import linear_decay_factor, make_scheduler

LOG2 = math.log(2.0)


def test_vanilla_terms_closed_form() -> None:
    terms = adversarial_terms("ns")
    zero = torch.zeros(2, 1, 3, 3)
    assert float(terms.d(zero, zero)) == pytest.approx(LOG2)  # 0.5 (log 2 + log 2)
    assert float(terms.g(zero)) == pytest.approx(LOG2)
    big = torch.full((2, 1, 3, 3), 30.0)
    assert float(terms.d(big, -big)) == pytest.approx(0.0, abs=1e-12)


def test_terms_match_the_reference_criteria_on_random_logits() -> None:
    """BCE / MSE against the real and fake labels, D's half-weighted, as the reference GANLoss."""
    gen = torch.Generator().manual_seed(0)
    real, fake = torch.randn(3, 1, 4, 4, generator=gen), torch.randn(3, 1, 4, 4, generator=gen)
    ones, zeros = torch.ones_like(real), torch.zeros_like(real)
    ns, ls = adversarial_terms("ns"), adversarial_terms("ls")
    bce = F.binary_cross_entropy_with_logits
    assert float(ns.d(real, fake)) == pytest.approx(0.5 * float(bce(real, ones) + bce(fake, zeros)))
    assert float(ns.g(fake)) == pytest.approx(float(bce(fake, ones)))
    assert float(ls.d(real, fake)) == pytest.approx(
        0.5 * float(F.mse_loss(real, ones) + F.mse_loss(fake, zeros))
    )
    assert float(ls.g(fake)) == pytest.approx(float(F.mse_loss(fake, ones)))


def test_lsgan_terms_closed_form() -> None:
    terms = adversarial_terms("ls")
    assert float(terms.d(torch.ones(4), torch.full((4,), 0.5))) == pytest.approx(0.5 * 0.25)
    assert float(terms.g(torch.full((4,), 0.5))) == pytest.approx(0.25)


def test_only_vanilla_and_lsgan() -> None:
    with pytest.raises(GanforgeError, match="train.loss 'hinge' is not available for translation"):
        adversarial_terms("hinge")


def test_pix2pix_composition() -> None:
    terms = adversarial_terms("ns")
    fake = torch.zeros(2, 3, 4, 4)
    target = torch.full((2, 3, 4, 4), 0.5)
    target[0, 0, 0, 0] = 1.5  # |1.5 - 0| adds 1.0 to one of 96 pixels
    parts = pix2pix_g_loss(terms, torch.zeros(2, 1, 2, 2), fake, target, lambda_l1=100.0)
    l1 = (95 * 0.5 + 1.5) / 96
    assert float(parts["loss_g_l1"]) == pytest.approx(l1)
    assert float(parts["loss_g_gan"]) == pytest.approx(LOG2)
    assert float(parts["loss_g"]) == pytest.approx(LOG2 + 100.0 * l1)
    d = pix2pix_d_loss(terms, torch.full((2, 1, 2, 2), 2.0), torch.full((2, 1, 2, 2), -1.0))
    expected = 0.5 * (math.log1p(math.exp(-2.0)) + math.log1p(math.exp(-1.0)))
    assert float(d) == pytest.approx(expected)


def _cycle_outputs(identity: bool) -> CycleOutputs:
    shape = (1, 1, 2, 2)
    a, b = torch.zeros(shape), torch.ones(shape)
    return CycleOutputs(
        real_a=a,
        real_b=b,
        fake_b=torch.full(shape, 0.9),
        fake_a=torch.full(shape, 0.1),
        rec_a=torch.full(shape, 0.2),
        rec_b=torch.full(shape, 0.7),
        idt_b=torch.full(shape, 0.6) if identity else None,
        idt_a=torch.full(shape, -0.1) if identity else None,
    )


def test_cyclegan_composition_with_identity() -> None:
    terms = adversarial_terms("ls")
    d_b_fake, d_a_fake = torch.full((1, 1, 3, 3), 0.5), torch.full((1, 1, 3, 3), 0.0)
    parts = cyclegan_g_loss(
        terms, _cycle_outputs(True), d_b_fake, d_a_fake, lambda_cycle=10.0, lambda_identity=0.5
    )
    assert float(parts["loss_g_gan_ab"]) == pytest.approx(0.25)  # (0.5 - 1)^2
    assert float(parts["loss_g_gan_ba"]) == pytest.approx(1.0)  # (0 - 1)^2
    assert float(parts["loss_cycle_a"]) == pytest.approx(10 * 0.2)
    assert float(parts["loss_cycle_b"]) == pytest.approx(10 * 0.3)
    assert float(parts["loss_idt_b"]) == pytest.approx(10 * 0.5 * 0.4)  # |G_AB(b) - b|
    assert float(parts["loss_idt_a"]) == pytest.approx(10 * 0.5 * 0.1)  # |G_BA(a) - a|
    assert float(parts["loss_g"]) == pytest.approx(0.25 + 1.0 + 2.0 + 3.0 + 2.0 + 0.5)


def test_identity_weight_is_relative_to_the_cycle_weight_and_off_at_zero() -> None:
    terms = adversarial_terms("ls")
    d = torch.ones(1, 1, 3, 3)  # G's GAN terms vanish
    for lam_cycle, lam_idt in ((10.0, 0.5), (10.0, 0.1), (4.0, 1.0)):
        parts = cyclegan_g_loss(terms, _cycle_outputs(True), d, d, lam_cycle, lam_idt)
        assert float(parts["loss_idt_b"] + parts["loss_idt_a"]) == pytest.approx(
            lam_cycle * lam_idt * (0.4 + 0.1)
        )
    parts = cyclegan_g_loss(terms, _cycle_outputs(False), d, d, 10.0, 0.0)
    assert "loss_idt_a" not in parts
    assert float(parts["loss_g"]) == pytest.approx(10 * (0.2 + 0.3))
    with pytest.raises(ValueError, match="identity outputs"):
        cyclegan_g_loss(terms, _cycle_outputs(False), d, d, 10.0, 0.5)


def test_pool_of_zero_passes_through() -> None:
    pool = ImagePool(0)
    x = torch.randn(3, 1, 2, 2)
    assert torch.equal(pool.query(x), x)
    assert len(pool) == 0


def test_pool_fills_then_swaps_about_half() -> None:
    pool = ImagePool(5, seed=0)
    first = torch.arange(5.0).view(5, 1, 1, 1)
    assert torch.equal(pool.query(first), first)  # filling: returned as given
    assert len(pool) == 5
    seen_old = seen_new = 0
    history = set(range(5))
    for step in range(400):
        value = 100.0 + step
        out = float(pool.query(torch.full((1, 1, 1, 1), value))[0, 0, 0, 0])
        if out == value:
            seen_new += 1
        else:
            assert out in history  # an image from the pool, which then holds the new one
            history.discard(out)
            seen_old += 1
        history.update(float(v) for v in pool.images)
        assert len(pool) == 5
    assert 0.4 < seen_old / 400 < 0.6


def test_pool_state_round_trip_continues_identically() -> None:
    a, b = ImagePool(4, seed=3), ImagePool(4, seed=99)
    gen = torch.Generator().manual_seed(0)
    for _ in range(6):
        a.query(torch.randn(2, 1, 2, 2, generator=gen))
    b.load_state_dict(a.state_dict())
    for _ in range(10):
        x = torch.randn(2, 1, 2, 2, generator=gen)
        assert torch.equal(a.query(x), b.query(x))


def test_linear_decay_values() -> None:
    f = [linear_decay_factor(e, 100, 100) for e in range(201)]
    assert f[0] == 1.0 and f[99] == 1.0
    assert f[100] == pytest.approx(100 / 101)
    assert f[149] == pytest.approx(51 / 101)
    assert f[199] == pytest.approx(1 / 101)
    assert f[200] == 0.0
    assert all(x >= y for x, y in zip(f, f[1:], strict=False))


def test_scheduler_drives_adam_per_epoch_and_resumes() -> None:
    param = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.Adam([param], lr=2e-4, betas=(0.5, 0.999))
    sched = make_scheduler(opt, constant=2, decay=3)
    lrs = []
    for _ in range(6):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    assert lrs == pytest.approx([2e-4, 2e-4, 2e-4 * 3 / 4, 2e-4 * 2 / 4, 2e-4 * 1 / 4, 0.0])
    opt2 = torch.optim.Adam([param], lr=2e-4)
    sched2 = make_scheduler(opt2, constant=50, decay=50)  # replaced by the checkpointed state
    opt2.load_state_dict(opt.state_dict())
    sched2.load_state_dict(sched.state_dict())
    assert sched2.last_epoch == 6 and opt2.param_groups[0]["lr"] == 0.0
    assert sched2.lr_lambdas[0].constant == 2
