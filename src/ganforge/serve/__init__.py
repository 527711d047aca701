"""A web page to explore a generator: `ganforge serve SOURCE`, or in Python

    from ganforge.serve import create_app, run_server
    run_server("runs/biggan-digits", port=7860)            # blocks; Ctrl-C stops it
    app = create_app(ganforge.load("runs/biggan-digits"))  # any ASGI server

Importing this package needs no web libraries; `create_app` and `run_server` need the
`serve` extra (fastapi, uvicorn).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ganforge.serve.limits import Limits
from ganforge.serve.server import build_server, run_server

if TYPE_CHECKING:
    from ganforge.serve.app import create_app

__all__ = ["Limits", "build_server", "create_app", "run_server"]


def __getattr__(name: str) -> Any:
    if name == "create_app":  # imports fastapi, which only the serve extra installs
        from ganforge.serve.app import create_app

        return create_app
    raise AttributeError(f"module 'ganforge.serve' has no attribute '{name}'")
