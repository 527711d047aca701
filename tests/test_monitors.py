"""Monitors on hand-made tensors: D decisions, r_t, gradient norms, sigma_0, diversity."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from ganforge.nn.layers import LayerFactory
from ganforge.training.monitors import (
    DECISION_KEYS,
    decision_stats,
    gradient_norm,
    singular_values,
    within_class_diversity,
)


def test_decision_stats_on_hand_made_logits() -> None:
    real = torch.tensor([2.0, -1.0, 0.5, 3.0])  # 3 of 4 judged real; signs +,-,+,+
    fake = torch.tensor([-2.0, 1.0, -0.5, -4.0, 0.0])  # 3 of 5 judged fake (0 is not < 0)
    stats = dict(zip(DECISION_KEYS, decision_stats(real, fake).tolist(), strict=True))
    assert stats["d_acc_real"] == pytest.approx(0.75)
    assert stats["d_acc_fake"] == pytest.approx(0.6)
    assert stats["logit_real"] == pytest.approx(4.5 / 4)
    assert stats["logit_fake"] == pytest.approx(-5.5 / 5)
    assert stats["r_t"] == pytest.approx((1 - 1 + 1 + 1) / 4)


def test_gradient_norm_is_the_global_l2_norm() -> None:
    model = nn.Linear(3, 2)
    model.weight.grad = torch.full((2, 3), 2.0)
    model.bias.grad = torch.tensor([3.0, 4.0])
    assert float(gradient_norm(model)) == pytest.approx((6 * 4 + 9 + 16) ** 0.5)
    assert float(gradient_norm(nn.Linear(2, 2))) == 0.0  # no gradients yet


def test_singular_values_match_svd_for_plain_and_spectral_weights() -> None:
    torch.manual_seed(0)
    plain = nn.Sequential(nn.Linear(6, 4), nn.Conv2d(2, 3, 3))
    exact = singular_values(plain)
    assert exact["0"] == pytest.approx(float(torch.linalg.svdvals(plain[0].weight.detach())[0]), rel=1e-5)
    conv = plain[1].weight.flatten(1)
    assert exact["1"] == pytest.approx(float(torch.linalg.svdvals(conv)[0]), rel=1e-5)

    layers = LayerFactory(spectral_norm=True, sn_eps=1e-6, init="normal")
    sn = nn.Sequential(layers.linear(16, 8))
    weight = sn[0].parametrizations.weight.original.detach().clone()
    sn.train()
    x = torch.randn(2, 16)
    for _ in range(50):  # power iterations converge to the top singular pair
        sn(x)
    estimate = singular_values(sn)["0"]
    assert estimate == pytest.approx(float(torch.linalg.svdvals(weight)[0]), rel=1e-3)


def test_within_class_diversity() -> None:
    labels = torch.tensor([0, 0, 1, 1])
    same = torch.zeros(4, 1, 2, 2)
    assert within_class_diversity(same, labels) == 0.0
    images = torch.zeros(4, 1, 2, 2)
    images[1] = 1.0  # class 0 pair differs by 1 everywhere: RMS distance 1
    images[3] = 0.5  # class 1 pair: 0.5
    assert within_class_diversity(images, labels) == pytest.approx(0.75)
    # collapse of one class halves the average even though the batch as a whole still varies
    images[3] = images[2]
    assert within_class_diversity(images, labels) == pytest.approx(0.5)
