"""Preparing datasets on disk (`ganforge prepare`): any `--data` source -> `prepared:OUT`.

Named `prepare_data` because `api.evaluation.prepare` (an evaluation's setup) and the training
methods' `prepare_dataset` hook already exist and mean other things.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ganforge.data.prepare import prepare_dataset
from ganforge.errors import GanforgeError
from ganforge.translation.prepare import KINDS as TRANSLATION_KINDS
from ganforge.translation.prepare import prepare_translation


def prepare_data(source: str, out: Path | str, resolution: int, channels: int = 3,
                 crop: str = "center", workers: int = 1, shard_size: int | None = None,
                 progress: bool = True, test_resolution: int | None = None,
                 channels_b: int | None = None) -> dict[str, Any]:
    """Convert `source` (a `--data` spec or a folder) into shards at `resolution` in `out`;
    resumes an interrupted prepare of the same settings. Returns a summary.

    Translation folders (`paired:DIR`, `unpaired:DIR`): `resolution` is the recipe's
    translation.load_size, `test_resolution` its crop_size (the test split's size), `channels`
    domain A's and `channels_b` domain B's channels (default: `channels`)."""
    kind = source.strip().partition(":")[0]
    translation = kind in TRANSLATION_KINDS
    if not translation and (test_resolution is not None or channels_b is not None):
        raise GanforgeError("--test-resolution and --channels-b are for translation data "
                            "(paired:DIR or unpaired:DIR)")
    if translation:
        result, _ = prepare_translation(source, Path(out), resolution, test_resolution, channels,
                                        channels_b, crop, workers, shard_size, progress)
    else:
        result = prepare_dataset(source, Path(out), resolution, channels=channels, crop=crop,
                                 workers=workers, shard_size=shard_size, progress=progress)
    seconds = result.seconds
    return {
        "out": str(result.out), "data": f"prepared:{result.out}", "images": result.n_images,
        "skipped": result.skipped, "odd": result.odd, "shards": result.shards,
        "resumed_shards": result.resumed_shards, "already_done": result.already_done,
        "seconds": round(seconds, 3), "translation": translation,
        "images_per_s": round(result.n_images / seconds, 1) if seconds > 0 else None,
    }
