"""Translation data: paired (side-by-side AB, or A/ and B/ folders), unpaired (trainA/trainB),
the built-in digits demo tasks, and the random jitter that keeps pairs aligned."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from ganforge.config import TranslationConfig
from ganforge.errors import GanforgeError
from ganforge.translation import demos
from ganforge.translation.data import load_translation_data
from ganforge.translation.streams import TranslationStream, random_jitter

TC = TranslationConfig(channels_a=1, channels_b=3, load_size=12, crop_size=8, generator="unet_8")


def _save(path: Path, array: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path)


def _ab(value_a: int, value_b: int, side: int = 16) -> np.ndarray:
    img = np.zeros((side, 2 * side, 3), np.uint8)
    img[:, :side] = value_a
    img[:, side:] = (value_b, 0, 255 - value_b)
    return img


def test_side_by_side_images_split_into_a_and_b_with_train_and_test(tmp_path: Path) -> None:
    for i in range(3):
        _save(tmp_path / "train" / f"{i}.png", _ab(10 * i, 100 + i))
    _save(tmp_path / "val" / "x.jpg", _ab(50, 60, side=20))
    data = load_translation_data(f"paired:{tmp_path}", TC)
    assert data.paired and data.test_paired
    assert data.train_a.shape == (3, 1, 12, 12) and data.train_b.shape == (3, 3, 12, 12)
    assert data.test_a.shape == (1, 1, 8, 8) and data.test_b.shape == (1, 3, 8, 8)
    assert data.train_a[:, 0, 5, 5].tolist() == [0, 10, 20]  # A: the left half, grey
    assert data.train_b[:, :, 5, 5].tolist() == [[100, 0, 155], [101, 0, 154], [102, 0, 153]]


def test_a_and_b_folders_pair_by_name(tmp_path: Path) -> None:
    for name, value in (("cat", 30), ("dog", 90)):
        _save(tmp_path / "A" / f"{name}.png", np.full((10, 10), value, np.uint8))
        _save(tmp_path / "B" / f"{name}.jpg", np.full((10, 10, 3), value + 1, np.uint8))
    data = load_translation_data(f"paired:{tmp_path}", TC)
    assert data.train_a[:, 0, 0, 0].tolist() == [30, 90]
    assert data.train_b[:, 0, 0, 0].tolist() == [31, 91]
    assert data.test_a is None and not data.has_test


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (
            lambda r: (
                _save(r / "A" / "1.png", np.zeros((9, 9), np.uint8)),
                _save(r / "B" / "2.png", np.zeros((9, 9), np.uint8)),
            ),
            "mismatched pairs",
        ),
        (
            lambda r: (
                _save(r / "A" / "1.png", np.zeros((9, 9), np.uint8)),
                _save(r / "B" / "1.png", np.zeros((18, 9), np.uint8)),
            ),
            "must have the same size",
        ),
        (
            lambda r: (_save(r / "A" / "1.png", np.zeros((9, 9), np.uint8)), (r / "B").mkdir()),
            "holds no images",
        ),
        (lambda r: _save(r / "A" / "1.png", np.zeros((9, 9), np.uint8)), "has no B/ folder"),
        (lambda r: _save(r / "odd.png", np.zeros((10, 21), np.uint8)), "needs an even width"),
        (
            lambda r: (
                _save(r / "A" / "1.png", np.zeros((9, 9), np.uint8)),
                _save(r / "A" / "1.jpg", np.zeros((9, 9), np.uint8)),
                _save(r / "B" / "1.png", np.zeros((9, 9), np.uint8)),
            ),
            "each name may appear once",
        ),
        (lambda r: (r / "nothing").mkdir(), "no images in"),
        (lambda r: _save(r / "small.png", np.zeros((4, 8), np.uint8)), "too small"),
        (lambda r: (r / "broken.png").write_bytes(b"no image"), "cannot read the image"),
    ],
    ids=[
        "names differ",
        "sizes differ",
        "empty B",
        "no B folder",
        "odd width",
        "duplicate name",
        "empty",
        "too small",
        "not an image",
    ],
)
def test_paired_mistakes_are_one_line(tmp_path: Path, make, message: str) -> None:
    make(tmp_path)
    with pytest.raises(GanforgeError, match=message) as exc:
        load_translation_data(f"paired:{tmp_path}", TC)
    assert "\n" not in str(exc.value)


def test_unpaired_domains_and_their_mistakes(tmp_path: Path) -> None:
    for name, count in (("trainA", 3), ("trainB", 5), ("testA", 2), ("testB", 1)):
        for i in range(count):
            _save(tmp_path / name / f"{i}.png", np.full((16, 16, 3), 40 * i, np.uint8))
    data = load_translation_data(f"unpaired:{tmp_path}", TC)
    assert not data.paired and not data.test_paired
    assert (len(data.train_a), len(data.train_b), len(data.test_a), len(data.test_b)) == (
        3,
        5,
        2,
        1,
    )
    assert data.train_a.shape[1:] == (1, 12, 12) and data.test_b.shape[1:] == (3, 8, 8)
    (tmp_path / "testB" / "0.png").unlink()
    (tmp_path / "testB").rmdir()
    with pytest.raises(GanforgeError, match="has testA/ but no testB/"):
        load_translation_data(f"unpaired:{tmp_path}", TC)
    for name in ("trainB", "testA"):
        for path in (tmp_path / name).iterdir():
            path.unlink()
    (tmp_path / "testA").rmdir()
    with pytest.raises(GanforgeError, match="trainB holds no images"):
        load_translation_data(f"unpaired:{tmp_path}", TC)
    with pytest.raises(GanforgeError, match="has no trainA/ folder"):
        load_translation_data(f"unpaired:{tmp_path / 'trainA'}", TC)


def test_specs() -> None:
    with pytest.raises(GanforgeError, match="unknown translation data 'digits'"):
        load_translation_data("digits", TC)
    with pytest.raises(GanforgeError, match="unknown demo task 'cats'"):
        load_translation_data("demo:cats", TC)
    with pytest.raises(GanforgeError, match="does not exist"):
        load_translation_data("paired:/no/such/folder", TC)


def test_demo_renderings() -> None:
    digits, labels = demos.digits_at(32)
    assert digits.shape == (1797, 1, 32, 32) and labels.shape == (1797,)
    outline = demos.edges(digits)
    assert set(outline.unique().tolist()) == {0, 255}
    ink = digits > demos.INK_THRESHOLD
    assert bool((outline == 0)[~ink].all())  # outlines lie on the ink ...
    assert int((outline > 0).sum()) < int(ink.sum())  # ... and are thinner than it
    assert bool((demos.thick(digits) >= digits).all())
    assert int(demos.thick(digits).float().mean()) > int(digits.float().mean())
    assert torch.equal(demos.inverted(digits), 255 - digits)


def test_demo_split_and_unpaired_domains_hold_different_digits() -> None:
    train, test = demos.split()
    assert len(test) == demos.TEST_DIGITS and len(train) + len(test) == 1797
    assert not set(train.tolist()) & set(test.tolist())
    tc = TranslationConfig(channels_a=1, channels_b=1, load_size=36, crop_size=32)
    paired = load_translation_data("demo:edges2digits", tc)
    assert paired.paired and len(paired.train_a) == len(paired.train_b) == 1497
    assert paired.train_a.shape[1:] == (1, 36, 36) and paired.test_a.shape[1:] == (1, 32, 32)
    unpaired = load_translation_data("demo:digits2thick", tc)
    assert not unpaired.paired and unpaired.test_paired
    assert (len(unpaired.train_a), len(unpaired.train_b)) == (748, 749)
    normal = load_translation_data("demo:digits2inverted", tc)
    # no training digit of domain A appears (inverted) in domain B
    a = {bytes(x.numpy()) for x in normal.train_a}
    b = {bytes((255 - x).numpy()) for x in normal.train_b}
    assert not a & b
    assert unpaired.test_labels.tolist()[:3] == paired.test_labels.tolist()[:3]


def test_jitter_crops_windows_and_flips_about_half() -> None:
    gen = torch.Generator().manual_seed(0)
    images = torch.arange(10 * 10, dtype=torch.uint8).view(1, 1, 10, 10).repeat(400, 1, 1, 1)
    out = random_jitter(images, 6, flip=True, generator=gen)
    assert out.shape == (400, 1, 6, 6)
    flipped = 0
    for crop in out[:, 0]:
        if crop[0, 0] > crop[0, -1]:  # values rise left to right unless mirrored
            crop = crop.flip(-1)
            flipped += 1
        top, left = divmod(int(crop[0, 0]), 10)
        assert torch.equal(crop, images[0, 0, top : top + 6, left : left + 6])
    assert 150 < flipped < 250
    plain = random_jitter(images, 6, False, gen)
    assert bool((plain[:, 0, 0, 0] < plain[:, 0, 0, -1]).all())  # no flips when off


def test_paired_stream_keeps_pairs_aligned_and_unpaired_draws_independently() -> None:
    gen = torch.Generator().manual_seed(1)
    a = torch.randint(0, 200, (20, 1, 12, 12), generator=gen, dtype=torch.uint8)
    stream = TranslationStream(a, a + 7, paired=True, batch_size=4, crop=8, flip=True, seed=0)
    for _ in range(10):
        x, y = stream.next()
        assert x.shape == y.shape == (4, 1, 8, 8)
        assert torch.equal(y, x + 7)  # same crop and flip for both halves of a pair
    unpaired = TranslationStream(a, a + 7, paired=False, batch_size=4, crop=8, flip=False, seed=0)
    x, y = unpaired.next()
    assert not torch.equal(y, x + 7)
    state = unpaired.state_dict()
    expected = unpaired.next()
    unpaired.load_state_dict(state)
    assert all(torch.equal(p, q) for p, q in zip(unpaired.next(), expected, strict=True))
