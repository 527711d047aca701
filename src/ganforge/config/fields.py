"""`setting(...)`: a dataclass field that carries its valid range, so the range sits next to the
setting's declaration and `_coerce` refuses a value outside it before anything is built.

Ranges are written as intervals: "[0, 1]", "(0, inf)", "[1, inf)", "[0, 1)".
"""

from __future__ import annotations

import dataclasses
import functools
import math
import re
from collections.abc import Callable
from typing import Any

from ganforge.errors import GanforgeError

_INTERVAL = re.compile(r"^([\[(])\s*(-?inf|[-+0-9.e]+)\s*,\s*(-?inf|[-+0-9.e]+)\s*([\])])$")


def setting(
    default: Any = dataclasses.MISSING,
    *,
    factory: Callable[[], Any] | None = None,
    bounds: str | None = None,
    each: str | None = None,
    length: int | None = None,
    nonempty: bool = False,
    pattern: str | None = None,
    hint: str = "",
) -> Any:
    """A field with checks: `bounds` for a number, `each` for every number of a list, `length` or
    `nonempty` for a list, `pattern` (a full-match regex) for a string; `hint` is added to the
    message (what a special value means, or the accepted forms)."""
    for spec in (bounds, each):
        if spec is not None:
            interval(spec)  # a typo in a declaration fails at import, not at a user's mistake
    metadata = {"bounds": bounds, "each": each, "length": length, "nonempty": nonempty,
                "pattern": pattern, "hint": hint}
    metadata = {k: v for k, v in metadata.items() if v}
    if factory is not None:
        return dataclasses.field(default_factory=factory, metadata=metadata)
    return dataclasses.field(default=default, metadata=metadata)


@functools.cache
def interval(spec: str) -> tuple[bool, float, float, bool]:
    """(lower closed, lower, upper, upper closed) of an interval string."""
    match = _INTERVAL.match(spec.strip())
    if match is None:
        raise ValueError(f"bad range {spec!r}; write it like [0, 1] or (0, inf)")
    left, lo, hi, right = match.groups()
    return left == "[", float(lo), float(hi), right == "]"


def _number(x: float) -> str:
    return str(int(x)) if x.is_integer() else repr(x)


def check_number(key: str, value: float, spec: str, hint: str = "") -> None:
    """One-line error naming the key, the value and the range when `value` lies outside `spec`."""
    lo_closed, lo, hi, hi_closed = interval(spec)
    above = value >= lo if lo_closed else value > lo
    below = value <= hi if hi_closed else value < hi
    if above and below:
        return
    if math.isinf(hi):
        rule = f"must be {'>=' if lo_closed else '>'} {_number(lo)}"
    elif math.isinf(lo):
        rule = f"must be {'<=' if hi_closed else '<'} {_number(hi)}"
    else:
        rule = f"must lie in {spec}"
    raise GanforgeError(f"{key} {rule}{f' ({hint})' if hint else ''}, got {value}")


def check_field(key: str, value: Any, meta: Any) -> None:
    """Apply a field's declared checks to its coerced value (None passes: it means 'off')."""
    if value is None or not meta:
        return
    hint = meta.get("hint", "")
    if "pattern" in meta and not re.fullmatch(meta["pattern"], value):
        raise GanforgeError(f"unknown {key} '{value}'{'; ' + hint if hint else ''}")
    if "bounds" in meta:
        check_number(key, value, meta["bounds"], hint)
    if isinstance(value, list):
        if meta.get("nonempty") and not value:
            raise GanforgeError(f"{key} must not be empty{f' ({hint})' if hint else ''}")
        if "length" in meta and len(value) != meta["length"]:
            raise GanforgeError(f"{key} must have {meta['length']} values, got {value}")
        if "each" in meta:
            for i, item in enumerate(value):
                check_number(f"{key}[{i}]", item, meta["each"], hint)


def declared_range(f: dataclasses.Field) -> str | None:
    """The range a field declares (for listings and the count of ranged settings)."""
    return f.metadata.get("bounds") or f.metadata.get("each")
