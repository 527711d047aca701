"""Training methods: how a D step and a G step compute their losses (`method.name`)."""

from __future__ import annotations

from ganforge.errors import GanforgeError
from ganforge.training.context import StepContext
from ganforge.training.methods.acgan import ACGAN
from ganforge.training.methods.adversarial import Adversarial, DLoss
from ganforge.training.methods.began import BEGAN
from ganforge.training.methods.infogan import InfoGAN
from ganforge.training.methods.lapgan import LapGAN
from ganforge.training.methods.sgan import SemiSupervised

METHODS: dict[str, type[Adversarial]] = {
    "adversarial": Adversarial, "acgan": ACGAN, "sgan": SemiSupervised, "infogan": InfoGAN,
    "began": BEGAN, "lapgan": LapGAN,
}


def build_method(ctx: StepContext) -> Adversarial:
    """The method `method.name` names, on `ctx` (its needs were checked by `validate_config`)."""
    cls = METHODS[ctx.config.method.name]
    ctx.read_heads = cls.uses_heads
    try:
        return cls(ctx)
    except ValueError as exc:
        raise GanforgeError(str(exc)) from None


__all__ = ["METHODS", "Adversarial", "DLoss", "build_method"]
