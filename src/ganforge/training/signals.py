"""Graceful stop on SIGINT/SIGTERM (preemption): finish the step, checkpoint, exit cleanly.

The first signal only sets a flag that the training loop checks after each step, so the
checkpoint is written from a consistent state. A second signal raises KeyboardInterrupt at
once; every file is written atomically, so stopping mid-write corrupts nothing.
"""

from __future__ import annotations

import signal
import threading
from types import FrameType
from typing import Any

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class GracefulStop:
    """Context manager: `.requested` names the first signal received, else None."""

    def __init__(self) -> None:
        self.requested: str | None = None
        self._previous: dict[int, Any] = {}

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.requested is None:
            self.requested = signal.Signals(signum).name
            return
        raise KeyboardInterrupt(f"second signal ({signal.Signals(signum).name}): stopping at once")

    def __enter__(self) -> GracefulStop:
        if threading.current_thread() is threading.main_thread():  # handlers only work there
            for sig in STOP_SIGNALS:
                self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        self._previous.clear()
