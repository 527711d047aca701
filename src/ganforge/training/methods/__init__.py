"""Training methods: how a D step and a G step compute their losses (`method.name`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ganforge.errors import GanforgeError
from ganforge.training.methods.acgan import ACGAN
from ganforge.training.methods.adversarial import Adversarial, DLoss
from ganforge.training.methods.began import BEGAN
from ganforge.training.methods.infogan import InfoGAN
from ganforge.training.methods.lapgan import LapGAN
from ganforge.training.methods.sgan import SemiSupervised

if TYPE_CHECKING:
    from ganforge.training.trainer import Trainer

METHODS: dict[str, type[Adversarial]] = {
    "adversarial": Adversarial, "acgan": ACGAN, "sgan": SemiSupervised, "infogan": InfoGAN,
    "began": BEGAN, "lapgan": LapGAN,
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
    for paired in ("began", "lapgan"):
        if (name == paired) != (trainer.config.model.arch == paired):
            raise GanforgeError(f"method.name={paired} and model.arch={paired} go together: their "
                                "D is trained only by their own method")
    try:
        return cls(trainer)
    except ValueError as exc:
        raise GanforgeError(str(exc)) from None


__all__ = ["METHODS", "Adversarial", "DLoss", "build_method"]
