"""`ganforge prepare paired:DIR | unpaired:DIR OUT`: translation folders -> prepared shards.

The same files, in the same order, decoded by the same functions as `--data paired:` and
`unpaired:` load them into memory, so `--data prepared:OUT` trains on identical batches.
Each split is an ordinary prepared dataset in its own sub-folder (resumable, checksummed,
decoded on worker processes): paired data as one image per pair whose channels are A's then
B's (a pair is read with one positioned read, as the in-memory path crops it as one), unpaired
data as one dataset per domain. `translation.json`, written last, says what is where.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ganforge.data.files import read_json, write_atomic, write_json_atomic
from ganforge.data.prepare import REPORT, PrepareResult, prepare_dataset
from ganforge.data.prepare_sources import CROPS, PIL_RESIZE, PrepareSource, SkipImage, odd_note
from ganforge.errors import GanforgeError
from ganforge.translation import data as folders

FORMAT = "ganforge-prepared-translation"
VERSION = 1
MANIFEST = "translation.json"
PLAN = "translation-plan.json"
KINDS = ("paired", "unpaired")
SETTINGS = ("format", "version", "source", "paired", "load_size", "crop_size", "channels_a",
            "channels_b", "crop")


class _Source(PrepareSource):
    """Numbered translation items (a pair, or one domain's image) with label 0."""

    parallel = True

    def __init__(self, spec: str, jobs: list[Any], root: Path, size: int, channels: tuple[int, int],
                 crop: str) -> None:
        self.spec, self.jobs, self.root, self.size = spec, jobs, root, size
        self.channels, self.crop = channels, crop
        self.labels = np.zeros(len(jobs), dtype=np.int64)
        self.class_names = ["images"]
        self.resize = PIL_RESIZE.split(";")[0] + (
            "; centre square crop" if crop == "center" else "; no crop")

    def _name(self, path: Path) -> str:
        return str(path.relative_to(self.root))

    def fingerprint(self) -> str:
        digest = hashlib.sha256()
        for i in range(len(self)):
            digest.update(self.item(i).encode("utf-8", "surrogateescape") + b"\n")
        return digest.hexdigest()

    def load(self, i: int) -> tuple[np.ndarray, str]:
        try:
            return self._decode(i)
        except GanforgeError as exc:  # the report names the item; the reason follows it
            raise SkipImage(str(exc).split(": ", 1)[-1]) from None


class PairSource(_Source):
    """Pairs: one side-by-side AB file, or A/NAME and B/NAME; stored as A's channels then B's."""

    def item(self, i: int) -> str:
        job = self.jobs[i]
        return " + ".join(self._name(p) for p in job) if isinstance(job, tuple) else self._name(job)

    def _decode(self, i: int) -> tuple[np.ndarray, str]:
        job, crop = self.jobs[i], self.crop == "center"
        if isinstance(job, tuple):
            a, b = folders.decode_ab_pair(job, self.size, *self.channels, crop)
            note = ""
        else:
            a, b = folders.decode_side_by_side(job, self.size, *self.channels, crop)
            from PIL import Image

            with Image.open(job) as img:  # the header only: the note is about each half
                width, height = img.size
            note = odd_note(width // 2, height, self.size)
        return np.concatenate([a, b]), note


class DomainSource(_Source):
    """One domain's images (trainA/, testB/ ...)."""

    def item(self, i: int) -> str:
        return self._name(self.jobs[i])

    def _decode(self, i: int) -> tuple[np.ndarray, str]:
        return folders.decode_domain_image(self.jobs[i], self.size, self.channels[0],
                                           self.crop == "center"), ""


@dataclass
class Part:
    """One split to prepare: its sub-folder, source and image size."""

    name: str
    source: PrepareSource
    resolution: int
    channels: int


def translation_parts(kind: str, root: Path, load_size: int, crop_size: int, channels_a: int,
                      channels_b: int, crop: str) -> tuple[list[Part], bool]:
    """The splits of `kind` data in `root` (training at load_size, test at crop_size)."""
    spec = f"{kind}:{root}"
    if kind == "paired":
        train_dir, test_dir = folders.paired_splits(root)
        parts = []
        for name, folder, size in (("train", train_dir, load_size), ("test", test_dir, crop_size)):
            if folder is None:
                continue
            jobs: list[Any] = folders.ab_folder_pairs(folder) if folders.has_ab_folders(folder) \
                else folders.side_by_side_files(folder)
            source = PairSource(f"{spec} ({folder.name})", jobs, root, size,
                                (channels_a, channels_b), crop)
            parts.append(Part(name, source, size, channels_a + channels_b))
        return parts, len(parts) == 2
    has_test = folders.unpaired_has_test(root)
    names = ("trainA", "trainB", "testA", "testB") if has_test else ("trainA", "trainB")
    parts = []
    for name in names:
        size = load_size if name.startswith("train") else crop_size
        channels = channels_a if name.endswith("A") else channels_b
        source = DomainSource(f"{spec} ({name})", folders.domain_files(root / name), root, size,
                              (channels, channels), crop)
        parts.append(Part(name, source, size, channels))
    return parts, has_test


def _claim(out: Path, plan: dict[str, Any]) -> bool:
    """Whether OUT holds this finished prepare already; refuse OUT holding anything else."""
    for name, state in ((MANIFEST, "a prepared translation dataset"),
                        (PLAN, "an unfinished translation prepare")):
        found = read_json(out / name)
        if (out / name).exists():
            differs = ", ".join(f"{k} {(found or {}).get(k)!r} (now {plan[k]!r})"
                                for k in SETTINGS if (found or {}).get(k) != plan[k])
            if differs:
                raise GanforgeError(f"{out} holds {state} with other settings ({differs}); "
                                    "choose another OUT or delete it")
            return name == MANIFEST
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise GanforgeError(f"{out} exists and is not a prepared dataset; give a new or empty "
                            "folder as OUT")
    out.mkdir(parents=True, exist_ok=True)
    write_json_atomic(out / PLAN, plan)
    return False


def prepare_translation(spec: str, out: Path, load_size: int, crop_size: int | None = None,
                        channels_a: int = 3, channels_b: int | None = None, crop: str = "center",
                        workers: int = 1, shard_size: int | None = None,
                        progress: bool = True) -> tuple[PrepareResult, dict[str, Any]]:
    """Prepare `paired:DIR` / `unpaired:DIR` into OUT: training images at `load_size` (the
    recipe's translation.load_size), test images at `crop_size` (translation.crop_size)."""
    kind, _, rest = spec.strip().partition(":")
    if kind not in KINDS or not rest:
        raise GanforgeError(f"'{spec}' is not translation data; use paired:DIR or unpaired:DIR")
    if crop not in CROPS:
        raise GanforgeError(f"--crop must be one of {', '.join(CROPS)}, got '{crop}'")
    for name, value in (("--channels", channels_a), ("--channels-b", channels_b)):
        if value is not None and value not in (1, 3):
            raise GanforgeError(f"{name} must be 1 or 3, got {value}")
    crop_size = crop_size or load_size
    channels_b = channels_b or channels_a
    if crop_size > load_size:
        raise GanforgeError(f"--test-resolution {crop_size} is larger than --resolution "
                            f"{load_size} (the training images are cropped to the former)")
    root = Path(rest).expanduser()
    if not root.is_dir():
        raise GanforgeError(f"data path '{root}' is not a directory (from {spec})")
    out = Path(out).expanduser()
    parts, test_paired = translation_parts(kind, root, load_size, crop_size, channels_a,
                                           channels_b, crop)
    plan = {"format": FORMAT, "version": VERSION, "source": f"{kind}:{root}",
            "paired": kind == "paired", "test_paired": test_paired and kind == "paired",
            "load_size": load_size, "crop_size": crop_size, "channels_a": channels_a,
            "channels_b": channels_b, "crop": crop}
    if _claim(out, plan):
        manifest = read_json(out / MANIFEST)
        results = {name: PrepareResult(out / name, p["n_images"], p["skipped"], p["odd"],
                                       p["shards"], p["shards"], 0.0, True)
                   for name, p in manifest["parts"].items()}
        return _total(out, results, True), manifest
    results = {}
    for part in parts:
        results[part.name] = prepare_dataset(part.source, out / part.name, part.resolution,
                                             part.channels, crop, workers, shard_size, progress)
    manifest = {**plan, "parts": {
        name: {"folder": name, "resolution": part.resolution, "channels": part.channels,
               "n_images": r.n_images, "skipped": r.skipped, "odd": r.odd, "shards": r.shards}
        for part, (name, r) in zip(parts, results.items(), strict=True)}}
    reports = [f"[{name}]\n" + (out / name / REPORT).read_text(encoding="utf-8")
               for name in results if (out / name / REPORT).is_file()]
    write_atomic(out / REPORT, "".join(reports).encode("utf-8"))  # every split's, in one place
    write_json_atomic(out / MANIFEST, manifest)
    return _total(out, results, False), manifest


def _total(out: Path, results: dict[str, PrepareResult], done: bool) -> PrepareResult:
    values = list(results.values())
    return PrepareResult(out, sum(r.n_images for r in values), sum(r.skipped for r in values),
                         sum(r.odd for r in values), sum(r.shards for r in values),
                         sum(r.resumed_shards for r in values), sum(r.seconds for r in values),
                         already_done=done)
