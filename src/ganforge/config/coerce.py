"""Nested dicts -> typed sections, checking every key, type, choice and range on the way: a
typo, a wrong type, an unknown choice or a value out of range is a one-line `GanforgeError`
naming the key, the value and what is valid, before anything is built."""

from __future__ import annotations

import dataclasses
import functools
import math
import types
import typing
from typing import Any, Literal

from ganforge.config.fields import check_field
from ganforge.config.registry import component, field_names, is_dispatched
from ganforge.errors import GanforgeError


@functools.cache
def type_hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def unknown_key_error(key: str, valid: list[str], section: str, picked_by: str = "") -> GanforgeError:
    """`picked_by` ("model.arch=biggan") when the valid keys depend on a chosen component."""
    if picked_by:
        return GanforgeError(f"unknown config key '{key}' for {picked_by}; valid keys: {', '.join(valid)}")
    where = f" in {section!r}" if section else ""
    return GanforgeError(f"unknown config key '{key}'; valid keys{where}: {', '.join(valid)}")


def settings_class(cls: type, data: dict[str, Any], prefix: str) -> tuple[type, str]:
    """The class a section's dict builds, and for a dispatched section "model.arch=NAME"."""
    if not is_dispatched(cls):
        return cls, ""
    name = data.get(cls.key, cls.__dataclass_fields__[cls.key].default)
    return component(cls, name, prefix), f"{prefix}{cls.key}={name}"


def build(cls: type, data: Any, prefix: str) -> Any:
    if not isinstance(data, dict):
        raise GanforgeError(f"config section '{prefix.rstrip('.') or 'root'}' must be a mapping")
    cls, picked_by = settings_class(cls, data, prefix)
    hints = type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    kwargs: dict[str, Any] = {}
    for key, value in data.items():
        if key not in fields:
            raise unknown_key_error(f"{prefix}{key}", field_names(cls), prefix.rstrip("."), picked_by)
        kwargs[key] = coerce(value, hints[key], f"{prefix}{key}")
        check_field(f"{prefix}{key}", kwargs[key], fields[key].metadata)
    return cls(**kwargs)


def _type_name(hint: Any) -> str:
    return getattr(hint, "__name__", None) or str(hint).replace("typing.", "")


def _choices(hint: Any) -> str:
    return ", ".join(str(a) for a in typing.get_args(hint))


def coerce(value: Any, hint: Any, key: str) -> Any:
    """Check `value` against a type hint, converting only where it is lossless and obvious."""
    if dataclasses.is_dataclass(hint):
        return build(hint, value, key + ".")
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin is Literal:
        if value in args and isinstance(value, str):
            return value
        raise GanforgeError(f"unknown {key} {value!r}; available: {_choices(hint)}")
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return coerce(value, arg, key)
            except GanforgeError as exc:
                errors.append(str(exc))
        raise GanforgeError(errors[0] if errors else f"config key '{key}' has an invalid value")
    if origin is list:
        return _coerce_list(value, args[0], key)
    if hint is bool:
        if isinstance(value, bool):
            return value
        raise GanforgeError(f"config key '{key}' must be true or false, got {value!r}")
    if hint is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise GanforgeError(f"config key '{key}' must be an integer, got {value!r}")
    if hint is float:
        return _coerce_float(value, key)
    if hint is str:
        if isinstance(value, str):
            return value
        raise GanforgeError(f"config key '{key}' must be a string, got {value!r}")
    raise GanforgeError(f"config key '{key}' has an unsupported type {_type_name(hint)}")


def _coerce_list(value: Any, item: Any, key: str) -> list[Any]:
    if not isinstance(value, (list, tuple)):
        raise GanforgeError(f"config key '{key}' must be a list of {_type_name(item)}, got {value!r}")
    if typing.get_origin(item) is Literal:  # name every unknown entry at once
        unknown = [v for v in value if not (isinstance(v, str) and v in typing.get_args(item))]
        if unknown:
            raise GanforgeError(f"unknown {key} {unknown}; available: {_choices(item)}")
        return list(value)
    return [coerce(v, item, f"{key}[{i}]") for i, v in enumerate(value)]


def _coerce_float(value: Any, key: str) -> float:
    number: float | None = None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        try:
            number = float(value)
        except OverflowError:  # an integer beyond float's range
            number = math.inf
    elif isinstance(value, str):  # YAML 1.1 reads "1e-4" as a string
        try:
            number = float(value)
        except ValueError:
            pass
    if number is None:
        raise GanforgeError(f"config key '{key}' must be a number, got {value!r}")
    if not math.isfinite(number):
        raise GanforgeError(f"config key '{key}' must be a finite number, got {value!r}")
    return number
