"""Metrics by name: adding one is one decorated function.

    @register("sharpness", keys=["sharpness"], protocol={"sharpness_kernel": "laplacian 3x3"})
    def sharpness(x: MetricInputs) -> dict[str, Any]:
        return {"sharpness": float(...)}

`ganforge eval`, `sweep`, the evaluation during training (eval.metrics, eval.best_metric) and the
result JSON's protocol all read this registry. A function returns its values (nested dicts are
flattened to `name_sub` keys), adds caveats to `x.warnings` and the choices it made for these
inputs (e.g. the split count actually used) to `x.protocol`, and raises `Unavailable(reason)`
when it cannot be computed (the result lists it under `missing` with the reason).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

from ganforge.errors import GanforgeError
from ganforge.metrics.features import Features


class Unavailable(Exception):  # noqa: N818 - it is an outcome, not a failure of the code
    """The metric cannot be computed for these inputs; the message says why."""


@dataclass
class MetricInputs:
    """What every metric may use: features of the generated and reference images, the labels the
    images were meant to have, and the domain classifier with its logits of the images."""

    generated: Features
    reference: Features
    labels: torch.Tensor | None
    classifier: nn.Module | None
    class_logits: np.ndarray | None
    class_count: int
    seed: int
    warnings: list[str] = field(default_factory=list)
    text: Any = None  # text-to-image runs: metrics.text_metrics.TextInputs (captions, encoder, CLIP)
    layout: Any = None  # layout-to-image runs: metrics.layout.LayoutInputs (images, layouts)
    protocol: dict[str, Any] = field(default_factory=dict)  # choices made for these inputs
    _shared: dict[str, Any] = field(default_factory=dict)

    def shared(self, key: str, compute: Callable[[], Any]) -> Any:
        """One computation shared by several metrics (precision/recall and density/coverage)."""
        if key not in self._shared:
            self._shared[key] = compute()
        return self._shared[key]


@dataclass(frozen=True)
class Metric:
    name: str
    compute: Callable[[MetricInputs], dict[str, Any]]
    keys: tuple[str, ...]  # the flattened result keys it produces (eval.best_metric candidates)
    lower_is_better: tuple[str, ...] = ()
    protocol: Mapping[str, Any] = field(default_factory=dict)  # fixed choices, for the result JSON
    needs_classifier: bool = False  # judged by the domain classifier (digits, MNIST)


REGISTRY: dict[str, Metric] = {}


def register(
    name: str, keys: list[str], lower_is_better: list[str] | None = None,
    protocol: dict[str, Any] | None = None, needs_classifier: bool = False,
) -> Callable[[Callable[[MetricInputs], dict[str, Any]]], Callable[[MetricInputs], dict[str, Any]]]:
    """Register the decorated function as metric `name` (replacing one of the same name)."""
    lower = tuple(lower_is_better or ())
    if not set(lower) <= set(keys):
        raise ValueError(f"metric {name}: lower_is_better {lower} must be among its keys {keys}")

    def decorate(fn: Callable[[MetricInputs], dict[str, Any]]) -> Callable[[MetricInputs], dict[str, Any]]:
        REGISTRY[name] = Metric(name, fn, tuple(keys), lower, dict(protocol or {}), needs_classifier)
        return fn

    return decorate


def unregister(name: str) -> None:
    REGISTRY.pop(name, None)


def parse_metrics(text: str | list[str]) -> list[str]:
    """'fid,is' or ['fid', 'is'] -> validated names."""
    names = [m.strip() for m in (text.split(",") if isinstance(text, str) else text) if m.strip()]
    unknown = [m for m in names if m not in REGISTRY]
    if unknown or not names:
        raise GanforgeError(
            f"unknown metric '{unknown[0] if unknown else text}'; choose from {', '.join(REGISTRY)}"
        )
    return names


def compute(
    names: list[str], inputs: MetricInputs
) -> tuple[dict[str, Any], dict[str, str], list[str]]:
    """(values, missing reasons, warnings) of the named metrics, in registration order."""
    values: dict[str, Any] = {}
    missing: dict[str, str] = {}
    for metric in REGISTRY.values():
        if metric.name in names:
            try:
                values.update(metric.compute(inputs))
            except Unavailable as exc:
                missing[metric.name] = str(exc)
    return values, missing, sorted(set(inputs.warnings))


def protocol(names: list[str]) -> dict[str, Any]:
    """The fixed choices of the named metrics (kernel, k, splits, ...)."""
    out: dict[str, Any] = {}
    for metric in REGISTRY.values():
        if metric.name in names:
            out.update(metric.protocol)
    return out


class MetricKeys(Mapping[str, list[str]]):
    """Live view: metric name -> the result keys it produces."""

    def __getitem__(self, name: str) -> list[str]:
        return list(REGISTRY[name].keys)

    def __iter__(self) -> Iterator[str]:
        return iter(REGISTRY)

    def __len__(self) -> int:
        return len(REGISTRY)


class LowerIsBetter:
    """Live view: the result keys for which lower is better (`key in LOWER_IS_BETTER`)."""

    def __contains__(self, key: object) -> bool:
        return any(key in m.lower_is_better for m in REGISTRY.values())

    def __iter__(self) -> Iterator[str]:
        return (k for m in REGISTRY.values() for k in m.lower_is_better)

    def __repr__(self) -> str:
        return repr(tuple(self))
