"""Shared by the fuzz tests: run the CLI in-process and classify the outcome.

An outcome is fine when `main` returns 0, or returns 2 (or argparse exits 2) with a one-line
`error:`; anything else -- a traceback, another exit status, a half-written output -- is a
failure that the tests report with the argv that caused it.
"""

from __future__ import annotations

import contextlib
import io
import traceback
from pathlib import Path

from ganforge.cli import main


def run_cli(argv: list[str]) -> tuple[int, str]:
    """(exit status, stderr) of `ganforge ARGV`; an escaping exception becomes status -1 and
    its traceback, so that a test can show it instead of crashing the whole run."""
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        try:
            status = main(argv)
        except SystemExit as exc:  # argparse: usage line + "ganforge X: error: ..."
            status = exc.code if isinstance(exc.code, int) else -1
        except BaseException:  # noqa: BLE001  a traceback is exactly what the fuzz looks for
            return -1, "Traceback (most recent call last):\n" + traceback.format_exc()
    return status, err.getvalue()


def error_line(status: int, err: str, argv: list[str]) -> str | None:
    """The one-line message of a refused command (None for success); asserts the contract."""
    assert "Traceback" not in err, f"ganforge {' '.join(argv)}\n{err}"
    assert isinstance(status, int) and status in (0, 2), f"status {status}: ganforge {' '.join(argv)}\n{err}"
    if status == 0:
        return None
    lines = [line for line in err.strip().splitlines() if line.strip()]
    last = lines[-1] if lines else ""
    if last.startswith("ganforge") and ": error: " in last:  # argparse: after its usage lines
        return "argparse: " + last.split("error: ", 1)[-1][:60]
    assert len(lines) == 1 and last.startswith("error: "), f"ganforge {' '.join(argv)}\n{err}"
    return last


def empty_or_absent(path: Path) -> bool:
    return not path.exists() or (path.is_dir() and not any(path.iterdir()))


def untouched_or_resumable(run: Path) -> bool:
    """After a refused `train`: nothing written, or (a run stopped by its guard) a whole run
    directory with its config and a checkpoint to resume from -- never a half-written one."""
    if empty_or_absent(run):
        return True
    return (run / "config.yaml").is_file() and any((run / "checkpoints").glob("step_*.pt"))


def key_of(message: str) -> str:
    """A message without its values, so that distinct messages count distinct cases."""
    return message.split(", got")[0].split(" got ")[0][:90]
