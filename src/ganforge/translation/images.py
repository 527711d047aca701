"""Reading image files for translation data: one decoding with one-line errors, and a thread
pool that stops at the first bad file."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

from PIL import Image, ImageOps

from ganforge.errors import GanforgeError

DECODE_THREADS = 8
T = TypeVar("T")
R = TypeVar("R")


def open_image(path: Path) -> Image.Image:
    """A decoded, EXIF-upright image; any decoding failure is one line naming the file."""
    try:
        with Image.open(path) as img:
            img.load()
            return ImageOps.exif_transpose(img)
    except (OSError, ValueError, SyntaxError, EOFError, Image.DecompressionBombError) as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise GanforgeError(f"{path}: cannot read the image ({reason})") from None


def decode_all(jobs: list[T], work: Callable[[T], R]) -> list[R]:
    pool = ThreadPoolExecutor(max_workers=DECODE_THREADS)
    try:
        return list(pool.map(work, jobs))
    finally:  # on the first bad file, drop the queued rest instead of decoding it
        pool.shutdown(wait=True, cancel_futures=True)
