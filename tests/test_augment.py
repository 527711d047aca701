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
    rt_statistic,
)
from ganforge.augment.diffaugment import cutout, translation
from ganforge.config import AugmentConfig
from ganforge.errors import GanforgeError

GEOMETRIC = ["xflip", "rotate90", "xint", "scale", "rotate", "aniso", "xfrac"]


def images(n: int = 8, c: int = 3, size: int = 16, seed: int = 0) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    return torch.rand(n, c, size, size, generator=gen) * 2 - 1


def changed(out: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Per sample: did any value move?"""
    return (out != x).flatten(1).any(1)


def dihedral(image: torch.Tensor) -> list[torch.Tensor]:
    """The 8 flips and quarter turns of a CHW image."""
    turns = [torch.rot90(image, k, (1, 2)) for k in range(4)]
    return turns + [t.flip(-1) for t in turns]


# ---- AugmentPipe: identity, shapes, ranges, gradients ----

def test_p_zero_is_the_identity() -> None:
    x = images()
    assert AugmentPipe(list(ALL_OPS), 0.0)(x) is x
    assert AugmentPipe([], 1.0)(x) is x


def test_p_can_be_changed_after_construction() -> None:
    pipe = AugmentPipe(["brightness"], 0.0)
    x = images()
    pipe.p = 1.0
    assert changed(pipe(x), x).all()
    pipe.p = 0.0
    assert pipe(x) is x


@pytest.mark.parametrize("shape", [(4, 1, 16, 16), (4, 3, 32, 32), (3, 1, 28, 28), (3, 3, 28, 28),
                                   (2, 3, 16, 24)])
def test_shapes_and_dtype_are_kept(shape: tuple[int, ...]) -> None:
    torch.manual_seed(0)
    x = torch.rand(shape) * 2 - 1
    for module in (AugmentPipe(list(ALL_OPS), 1.0), AugmentPipe(list(ALL_OPS), 0.5), DiffAugment()):
        for dtype in (torch.float32, torch.float64, torch.bfloat16):
            out = module(x.to(dtype))
            assert out.shape == x.shape and out.dtype == dtype and torch.isfinite(out).all()


def test_same_rng_state_gives_the_same_augmentation() -> None:
    x = images(16)
    pipe = AugmentPipe(list(ALL_OPS), 0.7)
    torch.manual_seed(123)
    first = pipe(x)
    torch.manual_seed(123)
    assert torch.equal(pipe(x), first)


def test_geometric_ops_interpolate_within_the_input_range() -> None:
    torch.manual_seed(1)
    x = images(32)
    out = AugmentPipe(GEOMETRIC, 1.0)(x)
    assert out.min() >= x.min() - 1e-5 and out.max() <= x.max() + 1e-5
    assert changed(out, x).all()


@pytest.mark.parametrize("op", ALL_OPS)
@pytest.mark.parametrize("channels", [1, 3])
def test_every_op_is_differentiable(op: str, channels: int) -> None:
    torch.manual_seed(2)
    x = images(16, c=channels).requires_grad_()
    AugmentPipe([op], 1.0)(x).square().sum().backward()
    assert torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0


def test_cutout_gradient_is_zero_exactly_inside_the_cut() -> None:
    torch.manual_seed(3)
    x = (torch.rand(16, 3, 16, 16) * 0.5 + 0.25).requires_grad_()  # no zeros of its own
    out = AugmentPipe(["cutout"], 1.0)(x)
    out.sum().backward()
    kept = (out != 0).float()
    assert torch.equal(x.grad, kept)
    assert (kept == 0).any() and (kept == 1).any()


def test_colour_ops_need_one_or_three_channels() -> None:
    with pytest.raises(GanforgeError, match=r"augment\.ops"):
        AugmentPipe(["hue"], 1.0)(torch.zeros(2, 4, 8, 8))
    assert AugmentPipe(["xflip"], 1.0)(torch.zeros(2, 4, 8, 8)).shape == (2, 4, 8, 8)


def test_unknown_op_names_the_key_and_the_valid_ops() -> None:
    with pytest.raises(GanforgeError, match=r"augment\.ops.*xflip.*noise"):
        AugmentPipe(["xflip", "zoom"])


# ---- geometric ops, exactly ----

@pytest.mark.parametrize("size", [16, 28])
def test_xflip_is_exact_and_per_sample(size: int) -> None:
    torch.manual_seed(3)
    x = images(64, size=size)
    out = AugmentPipe(["xflip"], 1.0)(x)
    same = [torch.equal(o, i) for o, i in zip(out, x, strict=True)]
    flipped = [torch.equal(o, i.flip(-1)) for o, i in zip(out, x, strict=True)]
    assert all(s or f for s, f in zip(same, flipped, strict=True))
    assert 10 < sum(flipped) < 54  # an active xflip mirrors half of the time


@pytest.mark.parametrize("size", [16, 28])
def test_rotate90_gives_one_of_the_four_quarter_turns_exactly(size: int) -> None:
    torch.manual_seed(4)
    x = images(64, size=size)
    out = AugmentPipe(["rotate90"], 1.0)(x)
    seen = set()
    for o, i in zip(out, x, strict=True):
        matches = [k for k in range(4) if torch.equal(o, torch.rot90(i, k, (1, 2)))]
        assert len(matches) == 1
        seen.add(matches[0])
    assert seen == {0, 1, 2, 3}


@pytest.mark.parametrize("size", [28, 32])
def test_integer_translation_shifts_whole_pixels_exactly(size: int) -> None:
    torch.manual_seed(5)
    x = images(32, size=size)
    out = AugmentPipe(["xint"], 1.0)(x)
    reach = round(0.125 * size)
    inner = slice(reach, size - reach)
    shifts = set()
    for o, i in zip(out, x, strict=True):
        found = [(dy, dx) for dy in range(-reach, reach + 1) for dx in range(-reach, reach + 1)
                 if torch.equal(o[:, inner, inner], torch.roll(i, (dy, dx), (1, 2))[:, inner, inner])]
        assert len(found) == 1
        shifts.add(found[0])
    assert len(shifts) > 10


def test_integer_ops_together_permute_pixels_exactly() -> None:
    torch.manual_seed(6)
    size, reach = 28, 4
    x = images(16, size=size)
    out = AugmentPipe(["xflip", "rotate90", "xint"], 1.0)(x)
    inner = slice(reach, size - reach)
    for o, i in zip(out, x, strict=True):
        assert any(torch.equal(o[:, inner, inner], torch.roll(d, (dy, dx), (1, 2))[:, inner, inner])
                   for d in dihedral(i)
                   for dy in range(-reach, reach + 1) for dx in range(-reach, reach + 1))


def test_samples_without_an_active_op_come_back_exactly() -> None:
    torch.manual_seed(7)
    x = images(128)
    out = AugmentPipe(["scale", "brightness"], 0.3)(x)
    untouched = ~changed(out, x)
    moved = (out - x).flatten(1).abs().max(1).values
    assert untouched.sum() > 30 and (~untouched).sum() > 30  # 0.49 of them untouched
    assert (moved[~untouched] > 1e-3).all()  # the others are clearly transformed


# ---- colour ops ----

def test_brightness_adds_a_constant_per_sample() -> None:
    torch.manual_seed(8)
    for c in (1, 3):
        x = images(32, c=c)
        diff = (AugmentPipe(["brightness"], 1.0)(x) - x).flatten(1)
        assert torch.allclose(diff, diff[:, :1].expand_as(diff), atol=1e-6)
        assert 0.1 < float(diff[:, 0].std()) < 0.3  # N(0, 0.2)


@pytest.mark.parametrize("channels", [1, 3])
def test_contrast_scales_about_mid_grey(channels: int) -> None:
    torch.manual_seed(9)
    x = images(32, c=channels)
    out = AugmentPipe(["contrast"], 1.0)(x)
    factor = (out * x).flatten(1).sum(1) / x.square().flatten(1).sum(1)  # least squares per sample
    assert torch.allclose(out, factor.view(-1, 1, 1, 1) * x, atol=1e-5)  # ADA: x -> c x
    assert (factor > 0).all() and 0.2 < float(factor.log2().std()) < 0.8  # log2 ~ N(0, 0.5)


def test_lumaflip_negates_the_luma_and_keeps_the_colour() -> None:
    torch.manual_seed(10)
    grey = images(32, c=1)
    out = AugmentPipe(["lumaflip"], 1.0)(grey)
    kept = [torch.allclose(o, g, atol=1e-6) for o, g in zip(out, grey, strict=True)]
    negated = [torch.allclose(o, -g, atol=1e-6) for o, g in zip(out, grey, strict=True)]
    assert all(k or n for k, n in zip(kept, negated, strict=True)) and 5 < sum(negated) < 27
    rgb = images(32)
    out = AugmentPipe(["lumaflip"], 1.0)(rgb)
    luma, luma_out = rgb.mean(1, keepdim=True), out.mean(1, keepdim=True)
    assert torch.allclose(out - luma_out, rgb - luma, atol=1e-5)
    for lo, li in zip(luma_out, luma, strict=True):
        assert torch.allclose(lo, li, atol=1e-5) or torch.allclose(lo, -li, atol=1e-5)


@pytest.mark.parametrize("op", ["hue", "saturation"])
def test_hue_and_saturation_keep_luma_and_grey(op: str) -> None:
    torch.manual_seed(11)
    grey = images(16, c=1)
    assert torch.equal(AugmentPipe([op], 1.0)(grey), grey)  # identity on 1-channel images
    grey_rgb = grey.expand(-1, 3, -1, -1)
    assert torch.allclose(AugmentPipe([op], 1.0)(grey_rgb), grey_rgb, atol=1e-5)
    rgb = images(16)
    out = AugmentPipe([op], 1.0)(rgb)
    assert torch.allclose(out.mean(1), rgb.mean(1), atol=1e-5)  # luma kept
    assert (out - rgb).abs().max() > 0.1  # but the colour changed
    chroma, chroma_out = rgb - rgb.mean(1, keepdim=True), out - out.mean(1, keepdim=True)
    if op == "hue":  # a rotation about the luma axis keeps each pixel's chroma length
        assert torch.allclose(chroma_out.norm(dim=1), chroma.norm(dim=1), atol=1e-5)
    else:  # saturation scales the chroma by one factor per sample
        factor = (chroma_out * chroma).flatten(1).sum(1) / chroma.square().flatten(1).sum(1)
        assert torch.allclose(chroma_out, factor.view(-1, 1, 1, 1) * chroma, atol=1e-5)


# ---- cutout and noise ----

def test_cutout_zeroes_a_square_of_a_quarter_clipped_at_the_borders() -> None:
    torch.manual_seed(12)
    x = torch.ones(64, 1, 32, 32)
    out = AugmentPipe(["cutout"], 1.0)(x)
    zero_fraction = (out == 0).float().flatten(1).mean(1)
    assert zero_fraction.max() == 0.25 and zero_fraction.min() >= 1 / 16
    assert ((out == 0) | (out == 1)).all()
    for o in out[:, 0]:  # the zeros form one axis-aligned rectangle
        rows, cols = (o == 0).any(1).nonzero(), (o == 0).any(0).nonzero()
        assert (o == 0).sum() == len(rows) * len(cols)
        assert len(rows) == rows.max() - rows.min() + 1 and len(cols) == cols.max() - cols.min() + 1


def test_noise_is_zero_mean_with_a_per_sample_strength() -> None:
    torch.manual_seed(13)
    noisy = AugmentPipe(["noise"], 1.0)(torch.zeros(64, 1, 32, 32))
    assert abs(float(noisy.mean())) < 0.01
    std = noisy.flatten(1).std(1)
    assert 0.04 < float(std.mean()) < 0.12  # E|N(0, 0.1)| = 0.08
    assert float(std.std()) > 0.02


@pytest.mark.parametrize(("op", "expected"), [("brightness", 0.5), ("scale", 0.5),
                                              ("rotate", 0.5), ("cutout", 0.5), ("xflip", 0.25),
                                              ("noise", 0.5)])
def test_each_sample_is_augmented_independently_with_probability_p(op: str, expected: float) -> None:
    torch.manual_seed(14)
    x = images(256)
    fraction = float(changed(AugmentPipe([op], 0.5)(x), x).float().mean())
    assert abs(fraction - expected) < 0.1


# ---- DiffAugment ----

def test_diffaugment_translation_is_a_zero_filled_whole_pixel_shift() -> None:
    torch.manual_seed(15)
    x = images(32, size=16)
    for o, i in zip(translation(x), x, strict=True):  # at most 16/8 = 2 pixels
        ok = False
        for dy in range(-2, 3):
            for dx in range(-2, 3):
                ref = torch.zeros_like(i)
                ys, yd = slice(max(0, -dy), 16 - max(0, dy)), slice(max(0, dy), 16 - max(0, -dy))
                xs, xd = slice(max(0, -dx), 16 - max(0, dx)), slice(max(0, dx), 16 - max(0, -dx))
                ref[:, yd, xd] = i[:, ys, xs]
                ok = ok or torch.equal(o, ref)
        assert ok


def test_diffaugment_cutout_and_colour() -> None:
    torch.manual_seed(16)
    zero_fraction = (cutout(torch.ones(64, 1, 16, 16)) == 0).float().flatten(1).mean(1)
    assert zero_fraction.max() == 0.25 and zero_fraction.min() >= 1 / 16
    bright = DiffAugment("color")(torch.zeros(64, 1, 8, 8))  # grey and flat: brightness only
    per_sample = bright.flatten(1)
    assert per_sample.std(1).max() < 1e-6 and per_sample.abs().max() <= 0.5
    assert float(per_sample[:, 0].std()) > 0.2  # U(-0.5, 0.5): std 0.29
    rgb = images(32)
    out = DiffAugment("color")(rgb)
    assert changed(out, rgb).all() and out.shape == rgb.shape


def test_diffaugment_is_differentiable_always_on_and_checks_its_policy() -> None:
    module = DiffAugment()
    assert module.p == 1.0
    x = images(8).requires_grad_()
    out = module(x)
    assert changed(out, x).all()
    out.square().sum().backward()
    assert torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0
    for policy in ("color,blur", ""):
        with pytest.raises(GanforgeError, match=r"augment\.policy.*color, translation, cutout"):
            DiffAugment(policy)


# ---- the ADA controller ----

def test_controller_moves_p_by_the_formula_and_clamps() -> None:
    ada = AdaController(target=0.6, ada_kimg=1.0, interval=4, batch_size=50)
    step = 50 * 4 / 1000
    sure = torch.ones(50, 1)  # r_t = 1 > 0.6: D overfits, raise p
    for _ in range(3):
        ada.observe(sure)
        assert ada.step() is None and ada.p == 0.0 and ada.last_rt is None
    ada.observe(sure)
    assert ada.step() == 1.0 and ada.p == pytest.approx(step) and ada.last_rt == 1.0
    unsure = torch.tensor([1.0, -1.0] * 25)  # r_t = 0 < 0.6: lower p
    for _ in range(4):
        ada.observe(unsure)
        ada.step()
    assert ada.p == 0.0 and ada.last_rt == 0.0
    for _ in range(8):  # clamped at 0
        ada.observe(unsure)
        ada.step()
    assert ada.p == 0.0
    for i in range(4 * 10):  # and at 1, after 1 / step adjustments
        ada.observe(sure)
        ada.step()
        if i == 4 * 4 - 1:
            assert ada.p == pytest.approx(4 * step)
    assert ada.p == 1.0


def test_controller_averages_over_the_interval_and_holds_at_the_target() -> None:
    ada = AdaController(target=0.5, ada_kimg=10.0, interval=2, batch_size=4, p=0.5)
    ada.observe(torch.tensor([1.0, 1.0, 1.0, 1.0]))
    assert ada.step() is None
    ada.observe(torch.tensor([1.0, -1.0, -1.0, 1.0]))
    assert ada.step() == 0.5 and ada.p == 0.5  # r_t (4 + 0) / 8 = target: no move
    ada.observe(torch.tensor([2.0, -3.0, 0.5, 0.1]))
    ada.step()
    ada.observe(torch.tensor([-2.0, -3.0, -0.5, 0.1]))
    assert ada.step() == pytest.approx(0.0) and ada.p == pytest.approx(0.5 - 8 / 10_000)
    assert ada.step() is None and ada.step() is None and ada.p == pytest.approx(0.4992)  # no data


def test_controller_resumes_mid_interval_exactly() -> None:
    torch.manual_seed(17)
    logits = [torch.randn(16) + 0.5 for _ in range(14)]
    a = AdaController(0.6, 0.1, 4, 16, p=0.3)
    b = AdaController(0.6, 0.1, 4, 16)
    for x in logits[:6]:
        a.observe(x)
        a.step()
    state = a.state_dict()
    assert all(isinstance(v, int | float | None) for v in state.values())
    b.load_state_dict(state)
    ps_a, ps_b = [], []
    for x in logits[6:]:
        for ctl, ps in ((a, ps_a), (b, ps_b)):
            ctl.observe(x)
            ps.append((ctl.step(), ctl.p))
    assert ps_a == ps_b and len({p for _, p in ps_a}) > 1


def test_rt_statistic() -> None:
    assert rt_statistic(torch.tensor([3.0, -1.0, 2.0, 0.5])) == 0.5


# ---- settings ----

def test_build_augment_kinds() -> None:
    assert build_augment(AugmentConfig(), 8) == (None, None)
    pipe, ada = build_augment(AugmentConfig(kind="ada", p=0.2, target=0.5, interval=2), 8)
    assert isinstance(pipe, AugmentPipe) and pipe.ops == list(ADA_DEFAULT_OPS) and pipe.p == 0.2
    assert isinstance(ada, AdaController) and ada.p == 0.2 and ada.target == 0.5
    assert ada.adjustment == pytest.approx(8 * 2 / 500_000)
    pipe, ada = build_augment(AugmentConfig(kind="fixed", p=0.5, ops=["cutout"]), 8)
    assert isinstance(pipe, AugmentPipe) and pipe.p == 0.5 and pipe.ops == ["cutout"] and ada is None
    pipe, ada = build_augment(AugmentConfig(kind="diffaug", policy="translation"), 8)
    assert isinstance(pipe, DiffAugment) and ada is None
    assert len(ADA_DEFAULT_OPS) == 12 and set(ALL_OPS) == set(ADA_DEFAULT_OPS) | {"cutout", "noise"}


@pytest.mark.parametrize(("settings", "key"), [
    ({"kind": "strong"}, "augment.kind"), ({"p": 1.5}, "augment.p"), ({"p": -0.1}, "augment.p"),
    ({"ada_kimg": 0.0}, "augment.ada_kimg"), ({"interval": 0}, "augment.interval"),
    ({"kind": "ada", "ops": ["xflip", "zoom"]}, "augment.ops"), ({"target": 1.0}, "augment.target"),
    ({"kind": "diffaug", "policy": "colour"}, "augment.policy"),
])
def test_build_augment_errors_name_the_key(settings: dict, key: str) -> None:
    with pytest.raises(GanforgeError, match=key.replace(".", r"\.")) as info:
        build_augment(AugmentConfig(**settings), 8)
    assert "\n" not in str(info.value)
