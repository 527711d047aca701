"""Training methods: how a D step and a G step compute their losses (`method.name`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ganforge.errors import GanforgeError
from ganforge.training.methods.acgan import ACGAN
from ganforge.training.methods.adversarial import Adversarial, DLoss
from ganforge.training.methods.began import BEGAN
from ganforge.training.methods.infogan import InfoGAN
from ganforge.training.methods.sgan import SemiSupervised

if TYPE_CHECKING:
    from ganforge.training.trainer import Trainer

METHODS: dict[str, type[Adversarial]] = {
    "adversarial": Adversarial, "acgan": ACGAN, "sgan": SemiSupervised, "infogan": InfoGAN,
    "began": BEGAN,
}


def build_method(trainer: Trainer) -> Adversarial:
    name = trainer.config.method.name
    if name not in METHODS:
        raise GanforgeError(f"unknown method.name '{name}'; available: {', '.join(METHODS)}")
    cls = METHODS[name]
    missing = [h for h in getattr(cls, "required_heads", ()) if h not in trainer.config.model.d_heads]
    if missing:
        raise GanforgeError(
            f"method.name={name} needs D heads {missing}: add them to model.d_heads "
            f"(with model.arch=dcgan or mlp)"
        )
    if (name == "began") != (trainer.config.model.arch == "began"):
        raise GanforgeError("method.name=began and model.arch=began go together: BEGAN's D is an "
                            "auto-encoder that only its own method can train")
    try:
        return cls(trainer)
    except ValueError as exc:
        raise GanforgeError(str(exc)) from None


__all__ = ["METHODS", "Adversarial", "DLoss", "build_method"]
