"""Query strings -> validated requests. Every mistake is a GanforgeError naming the parameter,
so the page can show the server's one-line message as it is."""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass

from ganforge.errors import GanforgeError
from ganforge.generator import Generator
from ganforge.latents import MODES
from ganforge.serve.limits import MAX_SEED, Limits

SAMPLE_KEYS = ("class", "n", "truncation", "seed", "download")
INTERPOLATE_KEYS = ("mode", "class_a", "class_b", "seed_a", "seed_b", "steps", "truncation",
                    "download")
DEFAULT_N = 8
DEFAULT_STEPS = 8
_INT = re.compile(r"[+-]?[0-9]+")
_FLOAT = re.compile(r"[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+)?")


@dataclass(frozen=True)
class SampleRequest:
    class_id: int | None  # None: unconditional generator
    n: int
    truncation: float | None
    seed: int
    download: bool


@dataclass(frozen=True)
class InterpolateRequest:
    mode: str
    class_a: int | None
    class_b: int | None
    seed_a: int
    seed_b: int
    steps: int
    truncation: float | None
    download: bool


@dataclass(frozen=True)
class TruncationRange:
    low: float
    high: float
    none_allowed: bool  # ganforge generators sample without truncation; BigGAN-deep always truncates


def truncation_range(g: Generator, limits: Limits) -> TruncationRange:
    high = min(limits.max_truncation, 1.0) if g.takes_truncation else limits.max_truncation
    return TruncationRange(min(limits.min_truncation, high), high, not g.takes_truncation)


def parse_sample(
    items: Sequence[tuple[str, str]], g: Generator, limits: Limits
) -> SampleRequest:
    q = _single(items, SAMPLE_KEYS, "/api/sample")
    return SampleRequest(
        class_id=_class(q, "class", g, required=True),
        n=_int(q, "n", min(DEFAULT_N, limits.max_n), 1, limits.max_n),
        truncation=_truncation(q, g, limits),
        seed=_int(q, "seed", 0, 0, MAX_SEED),
        download=_flag(q, "download"),
    )


def parse_interpolate(
    items: Sequence[tuple[str, str]], g: Generator, limits: Limits
) -> InterpolateRequest:
    q = _single(items, INTERPOLATE_KEYS, "/api/interpolate")
    mode = q.get("mode", "z").strip().lower()
    if mode not in MODES:
        raise GanforgeError(f"mode must be one of {', '.join(MODES)}, got {_show(q['mode'])}")
    one_class = mode in ("z", "w")  # w: seed A's styles to seed B's (StyleGAN generators)
    if mode == "w" and not g.style_based:
        raise GanforgeError("mode w interpolates styles in W: this generator has no mapping network; "
                            "interpolate with mode z")
    if not one_class and g.n_classes == 0:
        raise GanforgeError("this generator is unconditional: interpolate with mode z (seed A to B)")
    if not one_class and not g.soft_classes:
        raise GanforgeError("this generator takes class ids only, so it cannot mix classes: "
                            "interpolate with mode z")
    return InterpolateRequest(
        mode=mode,
        class_a=_class(q, "class_a", g, required=True),
        class_b=_class(q, "class_b", g, required=not one_class),
        seed_a=_int(q, "seed_a", 0, 0, MAX_SEED),
        seed_b=_int(q, "seed_b", 1, 0, MAX_SEED),
        steps=_int(q, "steps", min(DEFAULT_STEPS, limits.max_steps), 2, limits.max_steps),
        truncation=_truncation(q, g, limits),
        download=_flag(q, "download"),
    )


# ---- one parameter each ---------------------------------------------------------------------------
def _single(items: Sequence[tuple[str, str]], allowed: Sequence[str], endpoint: str) -> dict[str, str]:
    """Known keys, each at most once: a typo (`trunc=`) is an error, not a silent default."""
    out: dict[str, str] = {}
    for key, value in items:
        if key not in allowed:
            raise GanforgeError(f"unknown parameter {_show(key)}; {endpoint} takes "
                                f"{', '.join(allowed)}")
        if key in out:
            raise GanforgeError(f"parameter '{key}' is given more than once")
        out[key] = value
    return out


def _int(q: dict[str, str], key: str, default: int, low: int, high: int) -> int:
    if key not in q:
        return default
    text = q[key].strip()
    if not _INT.fullmatch(text):
        raise GanforgeError(f"{key} must be a whole number from {low} to {high}, got {_show(q[key])}")
    if len(text.lstrip("+-")) > 12 or not low <= int(text) <= high:
        shown = text if len(text) <= 20 else text[:17] + "..."
        raise GanforgeError(f"{key} must be from {low} to {high}, got {shown}")
    return int(text)


def _truncation(q: dict[str, str], g: Generator, limits: Limits) -> float | None:
    allowed = truncation_range(g, limits)
    span = f"from {allowed.low:g} to {allowed.high:g}" + (" (or 'none')" if allowed.none_allowed else "")
    if "truncation" not in q:
        return None  # the generator's own default: none for ganforge, 1 for BigGAN-deep
    text = q["truncation"].strip()
    if text.lower() == "none":
        if not allowed.none_allowed:
            raise GanforgeError(f"BigGAN-deep always truncates: give a truncation {span}")
        return None
    if not _FLOAT.fullmatch(text) or not math.isfinite(float(text)):
        raise GanforgeError(f"truncation must be a number {span}, got {_show(q['truncation'])}")
    value = float(text)
    if not allowed.low <= value <= allowed.high:
        raise GanforgeError(f"truncation must be {span}, got {value:g}")
    return value


def _class(q: dict[str, str], key: str, g: Generator, required: bool) -> int | None:
    text = q.get(key, "").strip()
    if g.n_classes == 0:
        if text:
            raise GanforgeError(f"{key}: this generator is unconditional; it takes no classes")
        return None
    if not text:
        if required:
            raise GanforgeError(f"{key} is required: give a class name or an id "
                                f"from 0 to {g.n_classes - 1}")
        return None
    try:
        return g.class_ids([text])[0]
    except GanforgeError as exc:
        raise GanforgeError(str(exc) if key == "class" else f"{key}: {exc}") from None


def _flag(q: dict[str, str], key: str) -> bool:
    text = q.get(key, "0").strip().lower()
    if text not in ("0", "1", "true", "false"):
        raise GanforgeError(f"{key} must be 0 or 1, got {_show(q[key])}")
    return text in ("1", "true")


def _show(text: str) -> str:
    """A value quoted for a message, cut short: messages stay one readable line."""
    text = text if len(text) <= 40 else text[:37] + "..."
    return repr(text)
