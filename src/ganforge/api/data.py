"""Preparing datasets on disk (`ganforge prepare`): any `--data` source -> `prepared:OUT`.

Named `prepare_data` because `api.evaluation.prepare` (an evaluation's setup) and the training
methods' `prepare_dataset` hook already exist and mean other things.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ganforge.data.prepare import prepare_dataset


def prepare_data(source: str, out: Path | str, resolution: int, channels: int = 3,
                 crop: str = "center", workers: int = 1, shard_size: int | None = None,
                 progress: bool = True) -> dict[str, Any]:
    """Convert `source` (a `--data` spec or a folder) into shards at `resolution` in `out`;
    resumes an interrupted prepare of the same settings. Returns a summary."""
    result = prepare_dataset(source, Path(out), resolution, channels=channels, crop=crop,
                             workers=workers, shard_size=shard_size, progress=progress)
    seconds = result.seconds
    return {
        "out": str(result.out), "data": f"prepared:{result.out}", "images": result.n_images,
        "skipped": result.skipped, "odd": result.odd, "shards": result.shards,
        "resumed_shards": result.resumed_shards, "already_done": result.already_done,
        "seconds": round(seconds, 3),
        "images_per_s": round(result.n_images / seconds, 1) if seconds > 0 else None,
    }
