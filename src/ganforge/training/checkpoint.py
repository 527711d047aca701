"""Atomic, verifiable checkpoints: written to a temp file, fsynced, renamed, with a SHA-256.

Loading uses `torch.load(weights_only=True)`, so a checkpoint can never run code.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import torch

from ganforge.checksums import file_sha256
from ganforge.errors import GanforgeError

CHECKPOINT_RE = re.compile(r"^step_(\d+)\.pt$")


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_torch_save(obj: Any, path: Path) -> str:
    """Save so that `path` is either the old file or the complete new one; returns the SHA-256."""
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        with tmp.open("wb") as fh:
            torch.save(obj, fh)
            fh.flush()
            os.fsync(fh.fileno())
        digest = file_sha256(tmp)
        tmp.replace(path)
        _fsync_dir(path.parent)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return digest


def write_checksum_sidecar(path: Path, digest: str) -> Path:
    """`<file>.sha256` holding the file's digest, itself written atomically."""
    sidecar = path.with_name(path.name + ".sha256")
    tmp = sidecar.with_name(f".{sidecar.name}.tmp")
    tmp.write_text(digest + "\n", encoding="utf-8")
    tmp.replace(sidecar)
    return sidecar


def save_named_checkpoint(state: dict[str, Any], path: Path) -> Path:
    """Write `path` atomically plus its `.sha256` sidecar."""
    path.parent.mkdir(parents=True, exist_ok=True)
    write_checksum_sidecar(path, atomic_torch_save(state, path))
    return path


def save_checkpoint(state: dict[str, Any], directory: Path, step: int, keep: int) -> Path:
    """Write `step_XXXXXXXX.pt` plus its `.sha256`, then prune to the newest `keep`."""
    path = save_named_checkpoint(state, directory / f"step_{step:08d}.pt")
    for old in list_checkpoints(directory)[:-keep] if keep > 0 else []:
        old.unlink(missing_ok=True)
        old.with_name(old.name + ".sha256").unlink(missing_ok=True)
    return path


def list_checkpoints(directory: Path) -> list[Path]:
    """Checkpoints in step order, oldest first."""
    if not directory.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in directory.iterdir() if (m := CHECKPOINT_RE.match(p.name))]
    return [p for _, p in sorted(found)]


def remove_stale_temporaries(directory: Path) -> list[Path]:
    """Delete `.*.tmp` files a killed process left mid-write (never a finished checkpoint)."""
    if not directory.is_dir():
        return []
    stale = [p for p in directory.iterdir() if p.name.startswith(".") and p.name.endswith(".tmp")]
    for path in stale:
        path.unlink(missing_ok=True)
    return stale


def verify_checkpoint(path: Path) -> str | None:
    """None if the file matches its recorded checksum, else the reason it does not."""
    sidecar = path.with_name(path.name + ".sha256")
    if not sidecar.is_file():
        return "its .sha256 file is missing"
    expected = sidecar.read_text(encoding="utf-8").strip()
    if file_sha256(path) != expected:
        return "its contents do not match the recorded SHA-256 (truncated or corrupted)"
    return None


def load_checkpoint(path: Path) -> dict[str, Any]:
    """Load one checkpoint after verifying it, refusing anything but tensors and plain data."""
    problem = verify_checkpoint(path)
    if problem:
        raise GanforgeError(f"checkpoint '{path}' is unusable: {problem}")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any unpickling failure means an unusable file
        raise GanforgeError(f"checkpoint '{path}' could not be read: {exc}") from None


def load_latest_checkpoint(
    directory: Path, quarantine: bool = False
) -> tuple[Path, dict[str, Any], list[str]]:
    """The newest checkpoint that verifies and loads; earlier ones are tried in turn.

    Returns (path, state, warnings about skipped files). With `quarantine`, a skipped file is
    renamed to `*.corrupt` (kept as evidence, no longer counted or pruned as a checkpoint).
    """
    warnings = []
    for path in reversed(list_checkpoints(directory)):
        try:
            return path, load_checkpoint(path), warnings
        except GanforgeError as exc:
            message = str(exc)
            if quarantine:
                path.replace(path.with_name(path.name + ".corrupt"))
                message += f"; moved aside to {path.name}.corrupt"
            warnings.append(message)
    detail = f" ({'; '.join(warnings)})" if warnings else ""
    raise GanforgeError(f"no usable checkpoint in '{directory}'{detail}")
