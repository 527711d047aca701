"""A metric is one registered function: registering it makes eval, the result JSON, its
protocol, eval.best_metric's keys and the lower-is-better rule pick it up."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from ganforge import api
from ganforge.data import load_dataset
from ganforge.errors import GanforgeError
from ganforge.metrics.evaluate import LOWER_IS_BETTER, METRIC_KEYS, parse_metrics
from ganforge.metrics.registry import MetricInputs, Unavailable, register, unregister


@pytest.fixture
def images(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("GANFORGE_CACHE", str(tmp_path / "cache"))
    data = load_dataset("digits", 32, 1)
    np.savez(tmp_path / "real.npz", images=data.images[:120].numpy(), labels=data.labels[:120].numpy())
    return tmp_path / "real.npz"


@pytest.fixture
def toy() -> Any:
    @register("spread", keys=["spread_ratio"], lower_is_better=["spread_ratio"],
              protocol={"spread_norm": "mean feature std, generated / reference"})
    def spread(x: MetricInputs) -> dict[str, Any]:
        ratio = float(x.generated.features.std(0).mean() / x.reference.features.std(0).mean())
        x.warnings.append("spread is a toy")
        return {"spread": {"ratio": ratio}}

    @register("never", keys=["never"])
    def never(x: MetricInputs) -> dict[str, Any]:
        raise Unavailable("a toy that cannot be computed")

    yield spread
    unregister("spread")
    unregister("never")


def test_a_registered_metric_is_evaluated_and_reported(images: Path, toy: Any) -> None:
    result = api.evaluate(images, "fid,spread,never", n=100, data="digits", features="digits",
                          n_ref=200)
    assert result["metrics"]["spread"]["ratio"] > 0 and result["metrics"]["fid"] >= 0
    assert result["missing"] == {"never": "a toy that cannot be computed"}
    assert "spread is a toy" in result["warnings"]
    assert result["protocol"]["spread_norm"].startswith("mean feature std")
    assert "pr_k" not in result["protocol"]  # only the requested metrics' choices
    assert METRIC_KEYS["spread"] == ["spread_ratio"] and "spread_ratio" in LOWER_IS_BETTER
    assert parse_metrics("spread,fid") == ["spread", "fid"]


def test_an_unregistered_metric_is_a_one_line_error(images: Path) -> None:
    with pytest.raises(GanforgeError, match="unknown metric 'spread'; choose from fid, is, kid"):
        api.evaluate(images, "spread", n=10, data="digits", features="digits")
    assert "spread_ratio" not in LOWER_IS_BETTER and "spread" not in METRIC_KEYS


def test_the_shipped_registry_keeps_its_keys() -> None:
    assert dict(METRIC_KEYS) == {
        "fid": ["fid"], "is": ["is_mean", "is_std"], "kid": ["kid_mean", "kid_std"],
        "pr": ["precision", "recall"], "dc": ["density", "coverage"],
        "acc": ["class_accuracy", "class_coverage_classes_produced", "class_coverage_kl_to_uniform"],
        "rprec": ["r_precision"],  # text-to-image (metrics/text_metrics.py)
        "caption_acc": ["caption_all_acc", "caption_digit_acc", "caption_colour_acc", "caption_size_acc",
                        "caption_position_acc"],
        "clip_score": ["clip_score"],
        "obj_acc": ["obj_acc"], "box_iou": ["box_iou", "ink_in_boxes"],  # layout-to-image (metrics/layout.py)
    }
    assert sorted(LOWER_IS_BETTER) == ["fid", "kid_mean"]
