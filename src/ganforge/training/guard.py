"""Divergence and collapse guard: notice a failing run while it can still be saved.

Users of BigGAN-PyTorch notice collapses days late. The guard reads the monitors at every log
and raises an event for: a loss or gradient that is not finite for many steps in a row
(divergence), a singular value that explodes (BigGAN's sigma_0 signal), D's loss pinned near zero
while G's keeps rising (D has won), and sample diversity on a fixed batch falling far below its
best (mode collapse). The trainer logs each event, warns, and with `guard.rollback=true` restores
the last healthy checkpoint and applies the remedy (lower learning rates, more augmentation).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from ganforge.config import GuardConfig
from ganforge.errors import GanforgeError


@dataclass
class GuardEvent:
    kind: str  # nonfinite | sigma_explosion | d_collapse | diversity_drop
    detail: str


@dataclass
class Guard:
    """Checks readings against the configured rules; its state travels with checkpoints."""

    config: GuardConfig
    d_loss_bounded: bool = True  # False for a WGAN critic: the D-loss floor rule does not apply
    nonfinite_skips: int = 0  # optimizer steps skipped since the run began
    consecutive_nonfinite: int = 0
    floor_streak: int = 0
    last_loss_g: float | None = None
    best_diversity: float | None = None
    rollbacks: int = 0
    lr_scale: float = 1.0  # cumulative remedy, re-applied after every load
    p_boost: float = 0.0
    pending: list[GuardEvent] = field(default_factory=list)

    def __post_init__(self) -> None:
        c = self.config
        for key in ("max_nonfinite", "floor_checks", "max_rollbacks"):
            if getattr(c, key) < 1:
                raise GanforgeError(f"guard.{key} must be a positive integer, got {getattr(c, key)}")
        if not 0 < c.lr_factor <= 1:
            raise GanforgeError(f"guard.lr_factor must be in (0, 1], got {c.lr_factor}")
        if c.diversity_after < 0:
            raise GanforgeError(f"guard.diversity_after must be >= 0, got {c.diversity_after}")
        if not 0 <= c.diversity_drop < 1:
            raise GanforgeError(f"guard.diversity_drop must be in [0, 1), got {c.diversity_drop}")
        if c.sigma_limit <= 0 or c.augment_p_boost < 0:
            raise GanforgeError("guard.sigma_limit must be positive and guard.augment_p_boost >= 0")

    # ---- per optimizer step ---------------------------------------------------------------
    def step_is_finite(self, loss: float, grad_norm: float) -> bool:
        """Whether an optimizer step may be taken; counts the ones that may not."""
        if math.isfinite(loss) and math.isfinite(grad_norm):
            self.consecutive_nonfinite = 0
            return True
        if not (self.config.enabled and self.config.skip_nonfinite):
            return True  # the user asked for the step to be taken regardless
        self.nonfinite_skips += 1
        self.consecutive_nonfinite += 1
        if self.consecutive_nonfinite == self.config.max_nonfinite:
            self.pending.append(GuardEvent(
                "nonfinite",
                f"{self.consecutive_nonfinite} optimizer steps in a row had a non-finite loss or "
                "gradient and were skipped",
            ))
        return False

    # ---- per monitor reading --------------------------------------------------------------
    def check(self, reading: dict[str, Any]) -> list[GuardEvent]:
        """Apply the collapse rules to one reading of the monitors; return (and clear) events."""
        c = self.config
        if not c.enabled:
            self.pending.clear()
            return []
        events, self.pending = self.pending, []
        sigma = max((v for k, v in reading.items() if k.startswith("sigma_max") and v is not None),
                    default=None)
        if sigma is not None and (not math.isfinite(sigma) or sigma > c.sigma_limit):
            events.append(GuardEvent(
                "sigma_explosion", f"largest singular value {sigma:.4g} > guard.sigma_limit {c.sigma_limit:g}"
            ))
        loss_d, loss_g = reading.get("loss_d"), reading.get("loss_g")
        if self.d_loss_bounded and loss_d is not None and loss_g is not None and math.isfinite(loss_d):
            rising = self.last_loss_g is not None and loss_g > self.last_loss_g
            self.floor_streak = self.floor_streak + 1 if loss_d <= c.d_loss_floor and rising else 0
            self.last_loss_g = loss_g
            if self.floor_streak == c.floor_checks:
                events.append(GuardEvent(
                    "d_collapse",
                    f"D loss <= {c.d_loss_floor:g} while G loss rose for {c.floor_checks} readings "
                    f"(D loss {loss_d:.4g}, G loss {loss_g:.4g})",
                ))
        diversity = reading.get("diversity")
        # in the opening neither an event nor a best to compare with later: G's blobs swing
        opening = reading.get("step", math.inf) < c.diversity_after
        if diversity is not None and not math.isfinite(diversity):
            events.append(GuardEvent("nonfinite", "the fixed-batch samples are not finite"))
        elif diversity is not None and not opening:
            best = self.best_diversity
            if best is not None and c.diversity_drop > 0 and diversity < c.diversity_drop * best:
                events.append(GuardEvent(
                    "diversity_drop",
                    f"fixed-batch diversity {diversity:.4g} < {c.diversity_drop:g} x best {best:.4g}",
                ))
            self.best_diversity = diversity if best is None else max(best, diversity)
        return events

    def after_rollback(self) -> None:
        """Record a rollback and compound the remedy; refuse once the budget is spent."""
        self.rollbacks += 1
        if self.rollbacks > self.config.max_rollbacks:
            raise GanforgeError(
                f"training failed again after {self.config.max_rollbacks} rollbacks "
                "(guard.max_rollbacks); lower train.lr_g/lr_d or raise augmentation, then resume "
                "from the last healthy checkpoint"
            )
        self.lr_scale *= self.config.lr_factor
        self.p_boost += self.config.augment_p_boost
        self.consecutive_nonfinite = self.floor_streak = 0
        self.last_loss_g = None

    def state_dict(self) -> dict[str, Any]:
        keys = ("nonfinite_skips", "consecutive_nonfinite", "floor_streak", "last_loss_g",
                "best_diversity", "rollbacks", "lr_scale", "p_boost")
        return {k: getattr(self, k) for k in keys}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        for key, value in state.items():
            setattr(self, key, value)
