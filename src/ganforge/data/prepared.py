"""`prepared:DIR`: a dataset written by `ganforge prepare`, read from its shards on demand.

Layout: `manifest.json` (written last: its presence means the prepare finished) names the
source, size, channels, resize method and class names, and each shard's two files: raw uint8
images (N, C, R, R) and little-endian int64 labels, each with its SHA-256. Raw arrays need no
decoding, so a batch is one positioned read per image (`os.preadv`, which releases the GIL);
the page cache, not this process, holds what the disk already gave.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ganforge.data.files import read_json, write_json_atomic
from ganforge.data.streamed import StreamedDataset, check_format
from ganforge.errors import GanforgeError

FORMAT = "ganforge-prepared"
VERSION = 1
MANIFEST = "manifest.json"
PLAN = "plan.json"
VERIFIED = ".verified.json"  # size, mtime and hash of files already checked in full
HASH_THREADS = 4
HASH_BLOCK = 8 << 20


SHARD_FILES = ("images", "labels", "digests")  # digests: BLAKE2b-128 of each image (remote reads)
DIGEST_BYTES = 16


def image_digests(images: np.ndarray) -> bytes:
    """BLAKE2b-128 of each image's bytes, concatenated: lets a ranged read verify one image."""
    return b"".join(hashlib.blake2b(image.tobytes(), digest_size=DIGEST_BYTES).digest()
                    for image in images)


def shard_files(shard: dict[str, Any]) -> tuple[str, ...]:
    """The files of one manifest entry (datasets prepared before digests have two)."""
    return tuple(key for key in SHARD_FILES if key in shard)


def shard_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(HASH_BLOCK), b""):
            digest.update(block)
    return digest.hexdigest()


def read_manifest(root: Path) -> dict[str, Any]:
    """The manifest of a finished prepare; a one-line error for anything else."""
    path = root / MANIFEST
    if not root.is_dir():
        raise GanforgeError(f"prepared dataset '{root}' does not exist (or is not a directory)")
    if not path.is_file():
        if (root / "translation.json").is_file():
            raise GanforgeError(f"{root} holds prepared translation data (pairs or domains); train "
                                "on it with a translation recipe (--recipe pix2pix, cyclegan ...)")
        if (root / PLAN).is_file():
            raise GanforgeError(f"{root}: the prepare did not finish (no {MANIFEST}); run the same "
                                "`ganforge prepare` command again to resume it")
        raise GanforgeError(f"{root} is not a prepared dataset (no {MANIFEST}); make one with "
                            f"`ganforge prepare SOURCE {root} --resolution R`")
    try:
        text = path.read_bytes()
    except OSError as exc:
        raise GanforgeError(f"{path}: not readable ({exc}); prepare the dataset again") from exc
    return parse_manifest(text, str(path))


def parse_manifest(text: bytes, where: str) -> dict[str, Any]:
    """A manifest's JSON, checked to be one this ganforge reads (`where` names it in errors)."""
    try:
        manifest = json.loads(text.decode("utf-8"))
    except ValueError as exc:
        raise GanforgeError(f"{where}: not readable JSON ({exc}); prepare the dataset again") from exc
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise GanforgeError(f"{where}: not a ganforge prepared-dataset manifest")
    if manifest.get("version") != VERSION:
        raise GanforgeError(f"{where}: format version {manifest.get('version')}, this ganforge "
                            f"reads version {VERSION}; prepare the dataset again")
    return manifest


def _check_sizes(root: Path, manifest: dict[str, Any], image_bytes: int) -> None:
    """Every shard present with exactly the bytes its count needs (cheap: no reading)."""
    per_item_of = {"images": image_bytes, "labels": 8, "digests": DIGEST_BYTES}
    for shard in manifest["shards"]:
        for key in shard_files(shard):
            path, per_item = root / shard[key], per_item_of[key]
            if not path.is_file():
                raise GanforgeError(f"{path}: shard missing from the prepared dataset; restore it "
                                    "or prepare the dataset again")
            size, expected = path.stat().st_size, shard["count"] * per_item
            if size != expected:
                state = "truncated" if size < expected else "longer than the manifest says"
                raise GanforgeError(f"{path}: {state} ({size} bytes, the manifest says "
                                    f"{expected}); restore it or prepare the dataset again")


def _stamp(path: Path) -> list[int]:
    stat = path.stat()
    return [stat.st_size, stat.st_mtime_ns]


def verify_checksums(root: Path, manifest: dict[str, Any], progress: bool = True) -> None:
    """SHA-256 of every shard file against the manifest: in full the first time, and again
    whenever a file's size or modification time changed (remembered in `.verified.json`)."""
    verified = read_json(root / VERIFIED) or {}
    todo = []
    for shard in manifest["shards"]:
        for key in shard_files(shard):
            name, expected = shard[key], shard[f"{key}_sha256"]
            if verified.get(name) != [*_stamp(root / name), expected]:
                todo.append((name, expected))
    if not todo:
        return
    total = sum((root / name).stat().st_size for name, _ in todo)
    bar = None
    if progress and total > 1 << 30:
        from tqdm import tqdm

        bar = tqdm(total=total, unit="B", unit_scale=True, desc=f"verifying {root.name}",
                   disable=None)

    def check(item: tuple[str, str]) -> tuple[str, str, str]:
        name, expected = item
        found = shard_sha256(root / name)
        if bar is not None:
            bar.update((root / name).stat().st_size)
        return name, expected, found

    with ThreadPoolExecutor(HASH_THREADS) as pool:  # hashlib releases the GIL on large blocks
        results = list(pool.map(check, todo))
    if bar is not None:
        bar.close()
    for name, expected, found in results:
        if found != expected:
            raise GanforgeError(f"{root / name}: checksum mismatch (SHA-256 {found[:12]}..., the "
                                f"manifest says {expected[:12]}...): the shard is corrupt or was "
                                "changed; restore it or prepare the dataset again")
        verified[name] = [*_stamp(root / name), expected]
    try:
        write_json_atomic(root / VERIFIED, verified)
    except OSError:  # a read-only dataset is checked in full on each start instead
        pass


class PreparedReader:
    """Random access to the images of a prepared dataset's shards (thread-safe)."""

    def __init__(self, root: Path, manifest: dict[str, Any]) -> None:
        c, r = int(manifest["channels"]), int(manifest["resolution"])
        self.shape = (c, r, r)
        self.image_bytes = c * r * r
        self.paths = [root / shard["images"] for shard in manifest["shards"]]
        counts = np.array([shard["count"] for shard in manifest["shards"]], dtype=np.int64)
        self.ends = np.cumsum(counts)
        self.starts = self.ends - counts
        self.fds: list[int | None] = [None] * len(self.paths)
        self.lock = threading.Lock()
        self.slow_hint = ("the disk is the bottleneck: put the prepared dataset on a faster disk "
                          "(or in the page cache), or raise data.workers")

    def __len__(self) -> int:
        return int(self.ends[-1]) if len(self.ends) else 0

    def _fd(self, shard: int) -> int:
        fd = self.fds[shard]
        if fd is None:
            with self.lock:
                fd = self.fds[shard]
                if fd is None:
                    fd = self.fds[shard] = os.open(self.paths[shard], os.O_RDONLY)
        return fd

    def read(self, indices: np.ndarray, out: np.ndarray) -> None:
        shards = np.searchsorted(self.ends, indices, side="right")
        offsets = (indices - self.starts[shards]) * self.image_bytes
        for i in np.argsort(shards * (1 << 40) + offsets, kind="stable"):  # file order
            shard, offset = int(shards[i]), int(offsets[i])
            target = out[i]
            if hasattr(os, "preadv"):
                got = os.preadv(self._fd(shard), [target], offset)
            else:  # pragma: no cover - platforms without preadv
                data = os.pread(self._fd(shard), self.image_bytes, offset)
                got = len(data)
                target.reshape(-1)[:got] = np.frombuffer(data, dtype=np.uint8)
            if got != self.image_bytes:
                raise GanforgeError(f"{self.paths[shard]}: truncated while training (read {got} "
                                    f"of {self.image_bytes} bytes at {offset}); restore the shard")

    def close(self) -> None:
        for i, fd in enumerate(self.fds):
            if fd is not None:
                os.close(fd)
                self.fds[i] = None

    def __del__(self) -> None:
        try:
            self.close()
        except OSError:
            pass


def read_labels(root: Path, manifest: dict[str, Any]) -> torch.Tensor:
    parts = [np.fromfile(root / shard["labels"], dtype="<i8") for shard in manifest["shards"]]
    return torch.from_numpy(np.concatenate(parts).astype(np.int64)) if parts \
        else torch.zeros(0, dtype=torch.long)


def open_prepared(root: Path, resolution: int, channels: int, workers: int = 2,
                  verify: bool = True) -> StreamedDataset:
    """A prepared dataset, checked (format, size, every shard's length and SHA-256) before use."""
    root = Path(root)
    manifest = read_manifest(root)
    source = f"prepared:{root}"
    shape = (int(manifest["channels"]), int(manifest["resolution"]), int(manifest["resolution"]))
    check_format(source, shape, resolution, channels,
                 f"prepare it again with --resolution {resolution} --channels {channels}")
    _check_sizes(root, manifest, shape[0] * shape[1] * shape[2])
    if verify:
        verify_checksums(root, manifest)
    return StreamedDataset(PreparedReader(root, manifest), read_labels(root, manifest),
                           list(manifest["class_names"]), source, workers=workers)
