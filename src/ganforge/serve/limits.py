"""What one request may ask of the server: the bounds that keep a public page from being a DoS."""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

from ganforge.errors import GanforgeError

MAX_SEED = 2**31 - 1  # torch.Generator takes any 64-bit seed; 31 bits survive every JS number path


@dataclass(frozen=True)
class Limits:
    """Server-side bounds, also sent to the page (GET /api/info) so its inputs show them.

    `min_truncation` is a floor because ganforge re-draws every value beyond the threshold: a
    threshold near 0 would loop for minutes. `max_truncation` bounds ganforge generators only;
    BigGAN-deep's truncation is capped at 1 by the model itself.
    """

    max_n: int = 64
    max_steps: int = 16
    max_request_bytes: int = 4096
    min_truncation: float = 0.05
    max_truncation: float = 2.0

    def __post_init__(self) -> None:
        for name in ("max_n", "max_steps", "max_request_bytes"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise GanforgeError(f"server limit {name} must be a positive integer, got {value!r}")
        if self.max_steps < 2:
            raise GanforgeError(f"server limit max_steps must be at least 2, got {self.max_steps}")
        lo, hi = self.min_truncation, self.max_truncation
        if not (isinstance(lo, int | float) and isinstance(hi, int | float) and 0 < lo <= hi < 1e3):
            raise GanforgeError(f"server truncation limits need 0 < min_truncation <= max_truncation, "
                                f"got {lo!r} and {hi!r}")

    @classmethod
    def from_options(cls, **options: Any) -> Limits:
        """Keyword options (from `run_server(**limits)`) -> Limits; unknown names are an error."""
        known = [f.name for f in fields(cls)]
        unknown = [k for k in options if k not in known]
        if unknown:
            raise GanforgeError(f"unknown server limit '{unknown[0]}'; known: {', '.join(known)}")
        return cls(**options)
