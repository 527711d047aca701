"""Training methods by name: `@method("name")` on the class registers it beside its code, as
`@register("name")` registers its settings; `ganforge.training.methods` imports every module of
this package, so a new method is one new file (plus a recipe that names it)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T", bound=type)

METHODS: dict[str, type] = {}


def method(name: str) -> Callable[[T], T]:
    def add(cls: T) -> T:
        if name in METHODS:
            raise ValueError(f"method '{name}' is registered twice ({METHODS[name].__name__}, {cls.__name__})")
        METHODS[name] = cls
        return cls

    return add
