"""Training methods: how a D step and a G step compute their losses (`method.name`).

Every module of this package is imported here, and each registers its method class
(`@method`) and its settings (`@register`) by name: adding a method is adding one file.
"""

from __future__ import annotations

import importlib
import pkgutil

from ganforge.errors import GanforgeError
from ganforge.training.context import StepContext
from ganforge.training.methods.adversarial import Adversarial, DLoss
from ganforge.training.methods.registry import METHODS, method

for _module in sorted(m.name for m in pkgutil.iter_modules(__path__)):
    importlib.import_module(f"{__name__}.{_module}")


def build_method(ctx: StepContext) -> Adversarial:
    """The method `method.name` names, on `ctx` (its needs were checked by `validate_config`)."""
    name = ctx.config.method.name
    if name not in METHODS:  # settings registered without a method class
        raise GanforgeError(f"method.name={name} has settings but no registered method class")
    cls = METHODS[name]
    ctx.read_heads = cls.uses_heads
    try:
        return cls(ctx)
    except ValueError as exc:
        raise GanforgeError(str(exc)) from None


__all__ = ["METHODS", "Adversarial", "DLoss", "build_method", "method"]
