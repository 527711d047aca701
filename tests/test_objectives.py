"""Losses on hand-made tensors against their closed forms."""

from __future__ import annotations

import math

import pytest
import torch

from ganforge.errors import GanforgeError
from ganforge.objectives import get_objective, orthogonal_penalty

REAL = torch.tensor([2.0, 0.5, -1.0])
FAKE = torch.tensor([-2.0, 0.0, 1.0])


def test_hinge() -> None:
    obj = get_objective("hinge")
    # relu(1 - real) = [0, .5, 2]; relu(1 + fake) = [0, 1, 2]
    assert obj.d_loss(REAL, FAKE).item() == pytest.approx(2.5 / 3 + 3.0 / 3)
    assert obj.g_loss(FAKE).item() == pytest.approx(1.0 / 3)


def sig(v: float) -> float:
    return 1 / (1 + math.exp(-v))


def test_non_saturating_and_minimax_differ_as_in_goodfellow() -> None:
    d = sum(-math.log(sig(r)) for r in REAL.tolist()) / 3 + sum(-math.log(1 - sig(f)) for f in FAKE.tolist()) / 3
    assert get_objective("ns").d_loss(REAL, FAKE).item() == pytest.approx(d)
    ns = sum(-math.log(sig(f)) for f in FAKE.tolist()) / 3
    mm = sum(math.log(1 - sig(f)) for f in FAKE.tolist()) / 3
    assert get_objective("ns").g_loss(FAKE).item() == pytest.approx(ns)
    assert get_objective("minimax").g_loss(FAKE).item() == pytest.approx(mm)


def test_least_squares_and_wasserstein() -> None:
    ls = get_objective("ls")
    expected_d = 0.5 * sum((r - 1) ** 2 for r in REAL.tolist()) / 3 + 0.5 * sum(f**2 for f in FAKE.tolist()) / 3
    assert ls.d_loss(REAL, FAKE).item() == pytest.approx(expected_d)
    assert ls.g_loss(FAKE).item() == pytest.approx(0.5 * sum((f - 1) ** 2 for f in FAKE.tolist()) / 3)
    w = get_objective("wasserstein")
    assert w.d_loss(REAL, FAKE).item() == pytest.approx(FAKE.mean().item() - REAL.mean().item())


def test_unknown_loss_is_a_clear_error() -> None:
    with pytest.raises(GanforgeError, match="available: hinge"):
        get_objective("hing")


def test_orthogonal_penalty_closed_form() -> None:
    w = torch.tensor([[1.0, 0.0], [1.0, 1.0]])
    # W W^T = [[1, 1], [1, 2]] -> off-diagonal squares: 1 + 1, halved
    assert orthogonal_penalty([w]).item() == pytest.approx(1.0)
    q, _ = torch.linalg.qr(torch.randn(6, 6))
    assert orthogonal_penalty([q]).item() == pytest.approx(0.0, abs=1e-9)
    conv = torch.randn(4, 3, 3, 3)
    flat = conv.view(4, -1)
    gram = flat @ flat.t()
    assert orthogonal_penalty([conv]).item() == pytest.approx(0.5 * ((gram - torch.diag(gram.diag())) ** 2).sum().item(), rel=1e-5)


def test_orthogonal_penalty_gradient_is_biggan_pytorchs() -> None:
    """BigGAN-PyTorch's utils.ortho adds beta * 2 (W W^T * (1 - I)) W to the gradient: the
    penalty's gradient must be exactly that (per unit beta), for matrices and conv kernels."""
    torch.manual_seed(0)
    for shape in [(5, 7), (4, 3, 3, 3)]:
        w = torch.randn(*shape, dtype=torch.float64, requires_grad=True)
        orthogonal_penalty([w]).backward()
        flat = w.detach().reshape(shape[0], -1)
        reference = 2 * ((flat @ flat.t()) * (1.0 - torch.eye(shape[0], dtype=torch.float64))) @ flat
        torch.testing.assert_close(w.grad, reference.view(shape), rtol=1e-12, atol=1e-12)
