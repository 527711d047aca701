"""Run the web app with uvicorn: `ganforge serve SOURCE` is `run_server(SOURCE, host, port)`."""

from __future__ import annotations

import socket
from typing import TYPE_CHECKING, Any

from ganforge.errors import GanforgeError
from ganforge.generator import Generator
from ganforge.generators import load
from ganforge.serve.limits import Limits

if TYPE_CHECKING:
    import uvicorn


def run_server(
    source: str, host: str = "127.0.0.1", port: int = 7860, device: str = "cpu",
    directions: str | None = None, cutoff: int | None = None, **limits: Any
) -> None:
    """Load `source` (run dir, exported folder, BigGAN-deep folder or Hub id) and serve it until
    Ctrl-C. `cutoff`: StyleGAN's psi truncation on the first `cutoff` styles only. `limits` are
    `Limits` fields (max_n, max_steps, max_request_bytes, ...)."""
    checked = Limits.from_options(**limits)  # before the slow load, so a typo fails at once
    _require_serve_extra()
    g = load(source, device=device).use_cutoff(cutoff)
    if g.is_translator and g.config.translation.mode != "spade":  # SPADE: the label-map page
        raise GanforgeError(f"'{source}' is an image-to-image translation generator; the page draws "
                            f"from latents; translate images with: ganforge translate {source} INPUT")
    server, sock = build_server(g, host, port, checked, log_level="info", access_log=True,
                                directions=directions)
    bound = sock.getsockname()[1]
    print(f"ganforge: serving {source} at http://{_url_host(host)}:{bound}/ (Ctrl-C to stop)")
    if host not in ("127.0.0.1", "localhost", "::1"):
        print("ganforge: the page has no login; anyone who can reach this address can use it")
    server.run(sockets=[sock])


def build_server(
    g: Generator, host: str, port: int, limits: Limits | None = None,
    log_level: str = "warning", access_log: bool = False, directions: str | None = None,
) -> tuple[uvicorn.Server, socket.socket]:
    """A uvicorn server for `g` and its already-bound socket (port 0: any free port).

    Binding here, not inside uvicorn, turns "address in use" into a one-line error instead of
    uvicorn's log line and exit; tests use it to serve on a free port from a thread.
    """
    _require_serve_extra()
    import uvicorn

    from ganforge.serve.app import create_app
    from ganforge.serve.labels_app import create_label_app

    sock = bind_socket(host, port)
    app = create_label_app(g) if g.is_translator else create_app(g, limits, directions)
    config = uvicorn.Config(app, log_level=log_level,
                            access_log=access_log)
    return uvicorn.Server(config), sock


def bind_socket(host: str, port: int) -> socket.socket:
    if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port <= 65535:
        raise GanforgeError(f"port must be a number from 0 to 65535, got {port!r}")
    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    except (socket.gaierror, UnicodeError) as exc:
        raise GanforgeError(f"cannot resolve host '{host}' ({exc})") from None
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(address)
    except OSError as exc:
        sock.close()
        raise GanforgeError(f"cannot listen on {host}:{port} ({exc.strerror}); is another server "
                            "using that port? pick another with --port") from None
    return sock


def _require_serve_extra() -> None:
    try:
        import fastapi  # noqa: F401
        import uvicorn  # noqa: F401
    except ImportError as exc:
        raise GanforgeError(f"serving needs fastapi and uvicorn: pip install 'ganforge[serve]' "
                            f"({exc})") from None


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host
