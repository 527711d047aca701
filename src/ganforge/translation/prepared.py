"""`--data prepared:OUT` for translation: training images stay on disk, read batch by batch.

Paired data is one prepared dataset whose images hold A's channels then B's, so a pair is one
read; a model that draws paired data unpaired (CycleGAN) reads A and B through channel views
of it. The test split is small (it is evaluated whole) and is loaded into memory.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ganforge.config import TranslationConfig
from ganforge.data.prepared import open_prepared
from ganforge.data.spec import materialise
from ganforge.data.streamed import StreamedDataset
from ganforge.errors import GanforgeError
from ganforge.translation.data_types import TranslationData
from ganforge.translation.prepare import FORMAT, MANIFEST, PLAN, VERSION


class ChannelView:
    """The channels lo..hi-1 of another reader's images (A or B of prepared pairs)."""

    def __init__(self, reader: Any, lo: int, hi: int) -> None:
        self.inner, self.lo, self.hi = reader, lo, hi
        c, r, _ = reader.shape
        self.shape = (hi - lo, r, r)
        self.slow_hint = reader.slow_hint

    def __len__(self) -> int:
        return len(self.inner)

    def read(self, indices: np.ndarray, out: np.ndarray) -> None:
        whole = np.empty((len(indices), *self.inner.shape), dtype=np.uint8)
        self.inner.read(indices, whole)
        out[:] = whole[:, self.lo : self.hi]


def channel_view(dataset: StreamedDataset, lo: int, hi: int, what: str) -> StreamedDataset:
    return StreamedDataset(ChannelView(dataset.reader, lo, hi), dataset.labels,
                           dataset.class_names, f"{dataset.source} ({what})", dataset.index,
                           dataset.workers)


def read_translation_manifest(root: Path) -> dict[str, Any]:
    path = root / MANIFEST
    if not path.is_file():
        if (root / PLAN).is_file():
            raise GanforgeError(f"{root}: the prepare did not finish (no {MANIFEST}); run the same "
                                "`ganforge prepare` command again to resume it")
        if (root / "manifest.json").is_file():
            raise GanforgeError(f"{root} holds images for a GAN (not translation pairs or "
                                "domains); prepare paired:DIR or unpaired:DIR data for translation")
        raise GanforgeError(f"{root} is not a prepared translation dataset (no {MANIFEST}); make "
                            f"one with `ganforge prepare paired:DIR {root} --resolution "
                            "LOAD_SIZE --test-resolution CROP_SIZE` (or unpaired:DIR)")
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise GanforgeError(f"{path}: not readable JSON ({exc}); prepare the dataset again") from exc
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise GanforgeError(f"{path}: not a ganforge prepared translation manifest")
    if manifest.get("version") != VERSION:
        raise GanforgeError(f"{path}: format version {manifest.get('version')}, this ganforge "
                            f"reads version {VERSION}; prepare the dataset again")
    return manifest


def _check_settings(root: Path, manifest: dict[str, Any], tc: TranslationConfig) -> None:
    """The prepared sizes and channels must be the run's (a one-line error saying how)."""
    checks = (("load_size", "--resolution"), ("crop_size", "--test-resolution"),
              ("channels_a", "--channels"), ("channels_b", "--channels-b"))
    has_test = any(name.startswith("test") for name in manifest["parts"])
    for key, flag in checks:
        if key == "crop_size" and not has_test:  # only the test split is stored at crop_size
            continue
        found, wanted = manifest[key], getattr(tc, key)
        if found != wanted:
            raise GanforgeError(
                f"prepared:{root} was prepared with {key} {found} but the run has "
                f"translation.{key}={wanted}; set translation.{key}={found}, or prepare again "
                f"with {flag} {wanted}"
            )


def open_prepared_translation(root: Path, tc: TranslationConfig, spec: str,
                              workers: int = 2) -> TranslationData:
    """Training images read from disk as they are drawn, the test split in memory."""
    manifest = read_translation_manifest(root)
    _check_settings(root, manifest, tc)
    ca, cb = tc.channels_a, tc.channels_b
    parts = manifest["parts"]

    def part(name: str) -> StreamedDataset:
        info = parts[name]
        return open_prepared(root / info["folder"], int(info["resolution"]),
                             int(info["channels"]), workers)

    def split(images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return images[:, :ca].contiguous(), images[:, ca:].contiguous()

    test_a = test_b = None
    if manifest["paired"]:
        pairs = part("train")
        if "test" in parts:
            test_a, test_b = split(materialise(part("test")).images)
        return TranslationData(channel_view(pairs, 0, ca, "A"), channel_view(pairs, ca, ca + cb, "B"),
                               True, test_a, test_b, True, spec, train_pairs=pairs)
    if "testA" in parts:
        test_a, test_b = (materialise(part(name)).images for name in ("testA", "testB"))
    return TranslationData(part("trainA"), part("trainB"), False, test_a, test_b, False, spec)
