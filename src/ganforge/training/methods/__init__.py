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


def method_class(name: str) -> type[Adversarial]:
    if name not in METHODS:
        raise GanforgeError(f"unknown method.name '{name}'; available: {', '.join(METHODS)}")
    return METHODS[name]


def check_method(name: str, arch: str, d_heads: list[str], world: int = 1) -> type[Adversarial]:
    """What a method declares it needs (D heads, an architecture) and supports (ranks)."""
    cls = method_class(name)
    missing = [h for h in cls.required_heads if h not in d_heads]
    if missing:
        raise GanforgeError(
            f"method.name={name} needs D heads {missing}: add them to model.d_heads "
            f"(with model.arch=dcgan or mlp)"
        )
    owners = {c.required_arch: n for n, c in METHODS.items() if c.required_arch}
    if cls.required_arch not in (None, arch) or (arch in owners and cls.required_arch != arch):
        paired = cls.required_arch or arch
        raise GanforgeError(f"method.name={paired} and model.arch={paired} go together: their "
                            "D is trained only by their own method")
    if world > 1 and not cls.supports_distributed:
        raise GanforgeError(
            f"method.name={name} trains on one process only; "
            "run it without torchrun (or with --nproc_per_node 1)"
        )
    return cls


def build_method(ctx: StepContext) -> Adversarial:
    cfg = ctx.config
    cls = check_method(cfg.method.name, cfg.model.arch, cfg.model.d_heads)
    ctx.read_heads = cls.uses_heads
    try:
        return cls(ctx)
    except ValueError as exc:
        raise GanforgeError(str(exc)) from None


__all__ = ["METHODS", "Adversarial", "DLoss", "build_method", "check_method", "method_class"]
