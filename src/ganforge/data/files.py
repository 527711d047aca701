"""Atomic writes for prepared datasets: a file is either absent or whole, never half-written."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

TEMP_SUFFIX = ".tmp"


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:  # some filesystems cannot open a directory; the rename is still atomic
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_atomic(path: Path, data: bytes | memoryview) -> str:
    """Write `data` to `path` via a fsynced temporary file and a rename; returns its SHA-256.

    An interruption (or a full disk) leaves at most a `*.tmp` file, which resuming removes.
    """
    temporary = path.with_name(f"{path.name}.{os.getpid()}{TEMP_SUFFIX}")  # one per process
    try:
        with open(temporary, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)
    return hashlib.sha256(data).hexdigest()


def write_json_atomic(path: Path, value: Any) -> None:
    write_atomic(path, (json.dumps(value, indent=1) + "\n").encode("utf-8"))


def read_json(path: Path) -> Any:
    """A JSON file, or None when it is missing or unreadable (a torn write is not trusted)."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def remove_temporaries(folder: Path) -> None:
    for leftover in folder.glob(f"*{TEMP_SUFFIX}"):
        leftover.unlink(missing_ok=True)
