"""The shipped domain classifiers: integrity, input handling, reproducible held-out accuracy."""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from sklearn.model_selection import train_test_split

from ganforge.data import ImageDataset, load_dataset
from ganforge.errors import GanforgeError
from ganforge.metrics.classifiers import (
    WEIGHTS_DIR,
    ClassifierExtractor,
    available_classifiers,
    class_accuracy,
    class_coverage,
    load_classifier,
)

NAMES = ["digits", "mnist"]
MNIST_DIR = Path(__file__).resolve().parents[2] / "shared" / "data" / "mnist"


def metadata(name: str) -> dict:
    return json.loads((WEIGHTS_DIR / f"{name}.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def classifiers() -> dict[str, ClassifierExtractor]:
    return {name: load_classifier(name) for name in NAMES}


@pytest.fixture(scope="module")
def digits() -> ImageDataset:
    return load_dataset("digits", 32, 1)


@torch.no_grad()
def held_out_accuracy(extractor: ClassifierExtractor, spec: str, meta: dict) -> float:
    """Recreate the split the json describes (independently of the training code) and score it."""
    data = load_dataset(spec, 32, 1)
    split = meta["split"]
    assert len(data) == meta["data"]["n_images"]
    labels = data.labels.numpy()
    _, held = train_test_split(
        np.arange(len(labels)), test_size=split["test_size"], random_state=split["seed"],
        stratify=labels,
    )
    assert len(held) == split["n_held_out"]
    assert hashlib.sha256(held.astype("<i8").tobytes()).hexdigest() == split["held_out_indices_sha256"]
    logits = torch.cat([extractor(chunk)[1] for chunk in data.images[held].split(500)])
    return class_accuracy(logits, data.labels[held])


def test_both_classifiers_ship_and_load(classifiers: dict[str, ClassifierExtractor]) -> None:
    assert set(NAMES) <= set(available_classifiers())
    for name, extractor in classifiers.items():
        assert extractor.name == name
        assert extractor.class_names == [str(i) for i in range(10)]
        assert "32x32" in extractor.resize and "antialiased bilinear" in extractor.resize
        assert extractor.held_out_accuracy == metadata(name)["held_out_accuracy"]
        assert not extractor.training


@pytest.mark.parametrize("name", NAMES)
def test_weights_file_matches_recorded_sha256_and_is_small(
    name: str, classifiers: dict[str, ClassifierExtractor]
) -> None:
    path = WEIGHTS_DIR / f"{name}.safetensors"
    meta = metadata(name)
    assert hashlib.sha256(path.read_bytes()).hexdigest() == meta["weights_sha256"]
    assert classifiers[name].weights_sha256 == meta["weights_sha256"]
    assert path.stat().st_size < 1_000_000
    for key in ("held_out_accuracy", "data", "split", "training", "date", "command", "class_names"):
        assert key in meta


@pytest.mark.parametrize("name", NAMES)
def test_output_shapes_and_dtypes(name: str, classifiers: dict[str, ClassifierExtractor]) -> None:
    images = torch.rand(5, 1, 32, 32) * 2 - 1
    features, logits = classifiers[name](images)
    assert features.shape == (5, 128) and features.dtype == torch.float32
    assert logits.shape == (5, 10) and logits.dtype == torch.float32


def test_digits_held_out_accuracy_reproduces(classifiers: dict[str, ClassifierExtractor]) -> None:
    meta = metadata("digits")
    accuracy = held_out_accuracy(classifiers["digits"], "digits", meta)
    assert accuracy == pytest.approx(meta["held_out_accuracy"], abs=1e-9)
    assert accuracy >= 0.97


def test_mnist_held_out_accuracy_reproduces(classifiers: dict[str, ClassifierExtractor]) -> None:
    if not MNIST_DIR.is_dir():
        pytest.skip(f"MNIST idx files not found at {MNIST_DIR}")
    meta = metadata("mnist")
    accuracy = held_out_accuracy(classifiers["mnist"], f"mnist:{MNIST_DIR}", meta)
    assert accuracy == pytest.approx(meta["held_out_accuracy"], abs=1e-9)
    assert accuracy >= 0.98


@pytest.mark.parametrize("name", NAMES)
def test_rgb_input_equals_grey_replicated(
    name: str, classifiers: dict[str, ClassifierExtractor], digits: ImageDataset
) -> None:
    grey = digits.images[:16].float() / 127.5 - 1
    f1, l1 = classifiers[name](grey)
    f3, l3 = classifiers[name](grey.expand(-1, 3, -1, -1))
    torch.testing.assert_close(f3, f1, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(l3, l1, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("name", NAMES)
def test_uint8_input_equals_float_input(
    name: str, classifiers: dict[str, ClassifierExtractor], digits: ImageDataset
) -> None:
    images = digits.images[:16]
    f_u, l_u = classifiers[name](images)
    f_f, l_f = classifiers[name](images.float() / 127.5 - 1)
    torch.testing.assert_close(f_f, f_u, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(l_f, l_u, atol=1e-5, rtol=1e-5)


def test_other_sizes_are_resized_to_native(
    classifiers: dict[str, ClassifierExtractor], digits: ImageDataset
) -> None:
    """A 64x64 (and a non-square) rendering of real digits is still read correctly."""
    images = digits.images[:200].float() / 127.5 - 1
    big = F.interpolate(images, size=(64, 64), mode="bilinear", align_corners=False)
    features, logits = classifiers["digits"](big)
    assert features.shape == (200, 128) and logits.shape == (200, 10)
    assert class_accuracy(logits, digits.labels[:200]) >= 0.95
    wide = F.pad(big, (8, 8, 0, 0), value=-1.0)  # 64x80: centre-cropped back to 64x64
    torch.testing.assert_close(classifiers["digits"](wide)[1], logits, atol=1e-5, rtol=1e-5)


def test_eval_is_deterministic_and_stays_eval(classifiers: dict[str, ClassifierExtractor]) -> None:
    extractor = classifiers["digits"]
    images = torch.rand(8, 1, 32, 32) * 2 - 1
    extractor.train()
    assert not extractor.training and not extractor.model.training
    a, b = extractor(images), extractor(images)
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])


def test_class_accuracy_on_hand_made_logits() -> None:
    logits = torch.eye(4)[[0, 1, 2, 3, 0]]
    assert class_accuracy(logits, torch.tensor([0, 1, 2, 3, 1])) == pytest.approx(0.8)
    assert class_accuracy(logits.numpy(), [0, 1, 2, 3, 0]) == 1.0


def test_class_coverage_collapse_and_uniform() -> None:
    collapsed = torch.zeros(50, 10)
    collapsed[:, 0] = 1.0
    result = class_coverage(collapsed, 10)
    assert result["classes_produced"] == 1
    assert result["kl_to_uniform"] == pytest.approx(math.log(10), abs=1e-12)
    assert result["histogram"] == [50] + [0] * 9

    uniform = torch.eye(10).repeat(3, 1)
    result = class_coverage(uniform, 10)
    assert result["classes_produced"] == 10
    assert result["kl_to_uniform"] == 0.0
    assert result["histogram"] == [3] * 10

    half = torch.eye(10)[[0, 1] * 5]  # two classes equally: KL = log(10 / 2)
    assert class_coverage(half, 10)["kl_to_uniform"] == pytest.approx(math.log(5), abs=1e-12)


def test_unknown_name_lists_available() -> None:
    with pytest.raises(GanforgeError, match="available: digit_attributes, digits, mnist"):
        load_classifier("cifar10")
