"""Augmentation ops on hand-made images, the ADA controller's arithmetic and the settings."""

from __future__ import annotations

import pytest
import torch

from ganforge.augment import (
    ADA_DEFAULT_OPS,
    ALL_OPS,
    AdaController,
    AugmentPipe,
    DiffAugment,
    build_augment,
)
from ganforge.augment.diffaugment import cutout, translation
from ganforge.config import AugmentConfig
from ganforge.errors import GanforgeError


def images(n: int = 8, c: int = 3, size: int = 16, seed: int = 0) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    return torch.rand(n, c, size, size, generator=gen) * 2 - 1


def test_p_zero_is_the_identity() -> None:
    x = images()
    assert AugmentPipe(list(ALL_OPS), 0.0)(x) is x


@pytest.mark.parametrize("shape", [(4, 1, 16, 16), (4, 3, 32, 32), (3, 1, 28, 28), (2, 3, 16, 24)])
def test_shapes_and_dtype_are_kept(shape: tuple[int, ...]) -> None:
    torch.manual_seed(0)
    x = torch.rand(shape) * 2 - 1
    for module in (AugmentPipe(list(ALL_OPS), 1.0), DiffAugment()):
        out = module(x)
        assert out.shape == x.shape and out.dtype == x.dtype and torch.isfinite(out).all()


def test_geometric_ops_interpolate_within_the_input_range() -> None:
    torch.manual_seed(1)
    x = images(32)
    out = AugmentPipe(["xflip", "rotate90", "xint", "scale", "rotate", "aniso", "xfrac"], 1.0)(x)
    assert out.min() >= x.min() - 1e-5 and out.max() <= x.max() + 1e-5


@pytest.mark.parametrize("op", ALL_OPS)
def test_every_op_is_differentiable(op: str) -> None:
    torch.manual_seed(2)
    x = images(16).requires_grad_()
    AugmentPipe([op], 1.0)(x).square().sum().backward()
    assert torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0


def test_diffaugment_is_differentiable() -> None:
    x = images(8).requires_grad_()
    DiffAugment()(x).sum().backward()
    assert torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0


def test_xflip_is_exact_and_per_sample() -> None:
    torch.manual_seed(3)
    x = images(64)
    out = AugmentPipe(["xflip"], 1.0)(x)
    same = [(o - i).abs().max() < 1e-5 for o, i in zip(out, x, strict=True)]
    flipped = [(o - i.flip(-1)).abs().max() < 1e-5 for o, i in zip(out, x, strict=True)]
    assert all(s or f for s, f in zip(same, flipped, strict=True))
    assert 10 < sum(flipped) < 54


def test_rotate90_gives_one_of_the_four_quarter_turns_exactly() -> None:
    torch.manual_seed(4)
    x = images(64)
    out = AugmentPipe(["rotate90"], 1.0)(x)
    seen = set()
    for o, i in zip(out, x, strict=True):
        matches = [k for k in range(4) if (o - torch.rot90(i, k, (1, 2))).abs().max() < 1e-5]
        assert len(matches) == 1
        seen.add(matches[0])
    assert seen == {0, 1, 2, 3}


def test_integer_translation_shifts_whole_pixels() -> None:
    torch.manual_seed(5)
    x = images(32, size=32)
    out = AugmentPipe(["xint"], 1.0)(x)
    for o, i in zip(out, x, strict=True):
        found = False
        for dy in range(-4, 5):
            for dx in range(-4, 5):
                shifted = torch.roll(i, (dy, dx), (1, 2))[:, 8:24, 8:24]  # interior only
                if (o[:, 8:24, 8:24] - shifted).abs().max() < 1e-5:
                    found = True
        assert found


def test_brightness_adds_a_constant_and_contrast_scales_about_mid_grey() -> None:
    torch.manual_seed(6)
    x = images(16)
    diff = AugmentPipe(["brightness"], 1.0)(x) - x
    per_sample = diff.flatten(1)
    assert torch.allclose(per_sample, per_sample[:, :1].expand_as(per_sample), atol=1e-5)
    assert per_sample[:, 0].std() > 0.05
    out = AugmentPipe(["contrast"], 1.0)(x)
    ratio = out / x
    assert torch.allclose(ratio.flatten(1), ratio.flatten(1)[:, :1].expand(16, ratio[0].numel()),
                          atol=1e-3)


def test_lumaflip_on_grey_negates_and_hue_saturation_keep_luma() -> None:
    torch.manual_seed(7)
    grey = images(32, c=1)
    out = AugmentPipe(["lumaflip"], 1.0)(grey)
    kinds = [bool((o - g).abs().max() < 1e-5) or bool((o + g).abs().max() < 1e-5)
             for o, g in zip(out, grey, strict=True)]
    assert all(kinds)
    for op in ("hue", "saturation"):
        assert torch.allclose(AugmentPipe([op], 1.0)(grey), grey, atol=1e-5)
        rgb = images(16)
        changed = AugmentPipe([op], 1.0)(rgb)
        assert torch.allclose(changed.mean(1), rgb.mean(1), atol=1e-4)  # luma kept
        assert (changed - rgb).abs().max() > 0.01  # but colour changed
        grey_rgb = grey[:16].expand(-1, 3, -1, -1)
        assert torch.allclose(AugmentPipe([op], 1.0)(grey_rgb), grey_rgb, atol=1e-5)


def test_cutout_zeroes_a_quarter_and_noise_is_zero_mean() -> None:
    torch.manual_seed(8)
    x = torch.ones(64, 1, 32, 32)
    out = AugmentPipe(["cutout"], 1.0)(x)
    zero_fraction = (out == 0).float().flatten(1).mean(1)
    assert zero_fraction.max() <= 0.25 + 1e-6 and zero_fraction.mean() > 0.1
    noisy = AugmentPipe(["noise"], 1.0)(torch.zeros(64, 1, 32, 32))
    assert noisy.abs().mean() > 1e-3 and abs(float(noisy.mean())) < 0.01


def test_each_sample_is_augmented_independently_with_probability_p() -> None:
    torch.manual_seed(9)
    x = images(512)
    out = AugmentPipe(["brightness"], 0.5)(x)
    changed = ((out - x).flatten(1).abs().max(1).values > 1e-6).float().mean()
    assert 0.4 < float(changed) < 0.6


def test_diffaugment_parts() -> None:
    torch.manual_seed(10)
    x = images(32, size=16)
    shifted = translation(x)
    for o, i in zip(shifted, x, strict=True):  # a zero-filled shift of at most 2 pixels
        ok = False
        for dy in range(-2, 3):
            for dx in range(-2, 3):
                ref = torch.zeros_like(i)
                ys, yd = slice(max(0, -dy), 16 - max(0, dy)), slice(max(0, dy), 16 - max(0, -dy))
                xs, xd = slice(max(0, -dx), 16 - max(0, dx)), slice(max(0, dx), 16 - max(0, -dx))
                ref[:, yd, xd] = i[:, ys, xs]
                ok = ok or bool(torch.equal(o, ref))
        assert ok
    ones = torch.ones(32, 1, 16, 16)
    zero_fraction = (cutout(ones) == 0).float().flatten(1).mean(1)
    assert zero_fraction.max() <= 0.25 + 1e-6 and zero_fraction.mean() > 0.1
    bright = DiffAugment("color")(torch.zeros(32, 1, 8, 8))
    assert bright.abs().max() <= 0.5 * 1.5 + 1e-6 and bright.flatten(1).std(1).max() < 1e-6
    with pytest.raises(GanforgeError, match="augment.policy"):
        DiffAugment("color,blur")


def test_controller_moves_p_by_the_formula_and_clamps() -> None:
    ada = AdaController(target=0.6, ada_kimg=1.0, interval=4, batch_size=50)
    assert ada.adjustment == pytest.approx(50 * 4 / 1000)
    sure = torch.ones(50)  # r_t = 1 > 0.6: D overfits, raise p
    for _ in range(3):
        ada.observe(sure)
        assert ada.step() is None and ada.p == 0.0
    ada.observe(sure)
    assert ada.step() == pytest.approx(1.0) and ada.p == pytest.approx(0.2)
    unsure = torch.tensor([1.0, -1.0] * 25)  # r_t = 0 < 0.6: lower p
    for _ in range(4):
        ada.observe(unsure)
        ada.step()
    assert ada.p == pytest.approx(0.0) and ada.last_rt == pytest.approx(0.0)
    for _ in range(8):  # clamped at 0
        ada.observe(unsure)
        ada.step()
    assert ada.p == 0.0
    for _ in range(40):  # and at 1
        ada.observe(sure)
        ada.step()
    assert ada.p == 1.0


def test_controller_resumes_mid_interval_exactly() -> None:
    torch.manual_seed(11)
    logits = [torch.randn(16) + 0.5 for _ in range(12)]
    a = AdaController(0.6, 0.1, 4, 16, p=0.3)
    b = AdaController(0.6, 0.1, 4, 16)
    for x in logits[:6]:
        a.observe(x)
        a.step()
    b.load_state_dict(a.state_dict())
    ps_a, ps_b = [], []
    for x in logits[6:]:
        for ctl, ps in ((a, ps_a), (b, ps_b)):
            ctl.observe(x)
            ctl.step()
            ps.append(ctl.p)
    assert ps_a == ps_b


def test_build_augment_kinds_and_errors() -> None:
    assert build_augment(AugmentConfig(), 8) == (None, None)
    pipe, ada = build_augment(AugmentConfig(kind="ada", p=0.2), 8)
    assert isinstance(pipe, AugmentPipe) and pipe.ops == list(ADA_DEFAULT_OPS) and ada.p == 0.2
    pipe, ada = build_augment(AugmentConfig(kind="fixed", p=0.5), 8)
    assert pipe.p == 0.5 and ada is None
    pipe, _ = build_augment(AugmentConfig(kind="diffaug"), 8)
    assert isinstance(pipe, DiffAugment)
    bad = [({"kind": "strong"}, "augment.kind"), ({"p": 1.5}, "augment.p"),
           ({"ada_kimg": 0.0}, "augment.ada_kimg"), ({"interval": 0}, "augment.interval"),
           ({"kind": "ada", "ops": ["xflip", "zoom"]}, "augment.ops"),
           ({"target": 1.0}, "augment.target")]
    for settings, key in bad:
        with pytest.raises(GanforgeError, match=key.replace(".", r"\.")):
            build_augment(AugmentConfig(**settings), 8)
