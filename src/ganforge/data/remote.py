"""`prepared:URL`: a prepared dataset in an object store or on a web server, read with fsspec.

Any URL fsspec knows works (s3://, gs://, az://, https://, ... with the store's package
installed: s3fs, gcsfs, adlfs, aiohttp). Exercised here: `memory://`, `file://` and `http://`
(a local server answering Range requests); s3:// and gs:// were not reachable to test.
Two ways to read, both verified:
- ranged reads (default): each batch is one `cat_ranges` call (one ranged GET per image, run
  concurrently by the asynchronous stores); every image is checked against its BLAKE2b-128
  digest, whose file is checked against the manifest's SHA-256 when the dataset is opened.
- `data.cache=DIR`: the shards are downloaded once into DIR (resumable: finished files are
  kept), their SHA-256 verified, and read from local disk from then on.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ganforge.data.files import TEMP_SUFFIX, read_json, write_json_atomic
from ganforge.data.prepared import (
    DIGEST_BYTES,
    MANIFEST,
    open_prepared,
    parse_manifest,
    shard_files,
    verify_checksums,
)
from ganforge.data.streamed import StreamedDataset, check_format
from ganforge.errors import GanforgeError

DOWNLOAD_THREADS = 8
FETCHED = ".fetched.json"  # cache: the SHA-256 each local file was downloaded as
LOCK = ".lock"


def is_url(location: str) -> bool:
    return "://" in location


def open_filesystem(url: str) -> tuple[Any, str]:
    """The fsspec filesystem of `url` and the path in it; one line when it cannot be opened."""
    try:
        import fsspec
    except ImportError as exc:
        raise GanforgeError("prepared:URL data needs fsspec: pip install ganforge[remote] (plus "
                            "s3fs for s3://, gcsfs for gs://, aiohttp for https://)") from exc
    try:
        fs, path = fsspec.core.url_to_fs(url)
    except (ImportError, ValueError) as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise GanforgeError(f"{url}: cannot open this URL ({reason})") from exc
    return fs, path.rstrip("/")


def _fetch(fs: Any, path: str, url: str) -> bytes:
    try:
        return fs.cat_file(path)
    except FileNotFoundError:
        raise GanforgeError(f"{url}: {path.rsplit('/', 1)[-1]} is missing; upload the whole folder "
                            "`ganforge prepare` wrote") from None
    except OSError as exc:
        raise GanforgeError(f"{url}: cannot read {path} ({exc})") from exc


def _sha256_check(data: bytes, expected: str, where: str) -> None:
    found = hashlib.sha256(data).hexdigest()
    if found != expected:
        raise GanforgeError(f"{where}: checksum mismatch (SHA-256 {found[:12]}..., the manifest says "
                            f"{expected[:12]}...): the file is corrupt or was changed; upload "
                            "it again or prepare the dataset again")


class RemoteReader:
    """Images read by ranged requests, each verified against its digest (thread-safe)."""

    def __init__(self, fs: Any, root: str, url: str, manifest: dict[str, Any],
                 digests: list[bytes]) -> None:
        c, r = int(manifest["channels"]), int(manifest["resolution"])
        self.fs, self.url = fs, url
        self.shape = (c, r, r)
        self.image_bytes = c * r * r
        self.names = [shard["images"] for shard in manifest["shards"]]
        self.paths = [f"{root}/{name}" for name in self.names]
        counts = np.array([shard["count"] for shard in manifest["shards"]], dtype=np.int64)
        self.ends = np.cumsum(counts)
        self.starts = self.ends - counts
        self.digests = [np.frombuffer(d, dtype=np.uint8).reshape(-1, DIGEST_BYTES)
                        for d in digests]
        self.slow_hint = ("the object store is the bottleneck: raise data.workers (more batches "
                          "in flight), or keep a verified local copy with data.cache=DIR")

    def __len__(self) -> int:
        return int(self.ends[-1]) if len(self.ends) else 0

    def read(self, indices: np.ndarray, out: np.ndarray) -> None:
        shards = np.searchsorted(self.ends, indices, side="right")
        local = indices - self.starts[shards]
        offsets = (local * self.image_bytes).tolist()
        paths = [self.paths[s] for s in shards.tolist()]
        try:
            blobs = self.fs.cat_ranges(paths, offsets, [o + self.image_bytes for o in offsets])
        except OSError as exc:
            raise GanforgeError(f"{self.url}: reading a batch failed ({exc})") from exc
        for i, blob in enumerate(blobs):
            where = f"{self.url}/{self.names[shards[i]]} image {int(local[i])}"
            if isinstance(blob, BaseException):
                raise GanforgeError(f"{where}: read failed ({blob})")
            if len(blob) != self.image_bytes:
                raise GanforgeError(f"{where}: truncated (got {len(blob)} of {self.image_bytes} "
                                    "bytes); upload the shard again")
            digest = hashlib.blake2b(blob, digest_size=DIGEST_BYTES).digest()
            if digest != self.digests[shards[i]][local[i]].tobytes():
                raise GanforgeError(f"{where}: checksum mismatch (BLAKE2b of the image differs "
                                    "from the prepared digest); upload the shard again")
            out[i] = np.frombuffer(blob, dtype=np.uint8).reshape(self.shape)


def _sizes(fs: Any, root: str, manifest: dict[str, Any]) -> dict[str, int]:
    """Sizes of the shard files: one listing (object stores), and for what it does not show
    (a web server without directory listings) one request per file."""
    try:
        listing = fs.ls(f"{root}/shards", detail=True)
    except (FileNotFoundError, NotImplementedError, ValueError):
        listing = []
    sizes = {str(entry["name"]).rstrip("/").rsplit("/", 1)[-1]: int(entry.get("size") or 0)
             for entry in listing if entry.get("size") is not None}
    for shard in manifest["shards"]:
        for key in shard_files(shard):
            name = shard[key].rsplit("/", 1)[-1]
            if name not in sizes:
                try:
                    sizes[name] = int(fs.size(f"{root}/{shard[key]}"))
                except FileNotFoundError:
                    pass
    return sizes


def _check_sizes(manifest: dict[str, Any], sizes: dict[str, int], url: str) -> None:
    c, r = int(manifest["channels"]), int(manifest["resolution"])
    per_item = {"images": c * r * r, "labels": 8, "digests": DIGEST_BYTES}
    for shard in manifest["shards"]:
        for key in shard_files(shard):
            name = shard[key].rsplit("/", 1)[-1]
            expected = shard["count"] * per_item[key]
            if name not in sizes:
                raise GanforgeError(f"{url}/{shard[key]}: shard missing from the prepared dataset; "
                                    "upload it again")
            if sizes[name] != expected:
                state = "truncated" if sizes[name] < expected else "longer than the manifest says"
                raise GanforgeError(f"{url}/{shard[key]}: {state} ({sizes[name]} bytes, the "
                                    f"manifest says {expected}); upload it again")


def open_remote_prepared(url: str, resolution: int, channels: int, workers: int = 2,
                         cache: str = "") -> StreamedDataset:
    """A prepared dataset at `url`, checked like a local one before any batch is read."""
    fs, root = open_filesystem(url)
    manifest = parse_manifest(_fetch(fs, f"{root}/{MANIFEST}", url), f"{url}/{MANIFEST}")
    source = f"prepared:{url}"
    shape = (int(manifest["channels"]), int(manifest["resolution"]), int(manifest["resolution"]))
    check_format(source, shape, resolution, channels,
                 f"prepare it again with --resolution {resolution} --channels {channels}")
    _check_sizes(manifest, _sizes(fs, root, manifest), url)
    if cache:
        local = download(fs, root, url, manifest, Path(cache).expanduser())
        dataset = open_prepared(local, resolution, channels, workers)
        dataset.source = source
        return dataset
    if not all("digests" in shard for shard in manifest["shards"]):
        raise GanforgeError(f"{url} was prepared without per-image digests (an older ganforge), so "
                            "ranged reads cannot be verified; set data.cache=DIR (whole shards, "
                            "SHA-256 verified) or prepare it again")
    small = [f"{root}/{shard[key]}" for shard in manifest["shards"] for key in ("labels", "digests")]
    try:
        found = fs.cat(small)
    except OSError as exc:
        raise GanforgeError(f"{url}: cannot read the labels and digests ({exc})") from exc
    labels, digests = [], []
    for shard in manifest["shards"]:
        for key, into in (("labels", labels), ("digests", digests)):
            data = found[f"{root}/{shard[key]}"]
            _sha256_check(data, shard[f"{key}_sha256"], f"{url}/{shard[key]}")
            into.append(data)
    label_array = np.frombuffer(b"".join(labels), dtype="<i8").astype(np.int64)
    return StreamedDataset(RemoteReader(fs, root, url, manifest, digests),
                           torch.from_numpy(label_array), list(manifest["class_names"]), source,
                           workers=workers)


def download(fs: Any, root: str, url: str, manifest: dict[str, Any], cache: Path) -> Path:
    """The dataset's files in `cache`/<hash of url>/ (what is there and current is kept)."""
    local = cache / hashlib.sha256(url.encode()).hexdigest()[:16]
    (local / "shards").mkdir(parents=True, exist_ok=True)
    with open(local / LOCK, "a") as lock:  # torchrun ranks on one node: one downloads, all wait
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            _download(fs, root, url, manifest, local)
            try:
                verify_checksums(local, manifest)  # once, under the lock: other ranks reuse it
            except GanforgeError:  # a damaged local copy: fetch everything again, once
                (local / FETCHED).unlink(missing_ok=True)
                _download(fs, root, url, manifest, local)
                verify_checksums(local, manifest)
            return local
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _download(fs: Any, root: str, url: str, manifest: dict[str, Any], local: Path) -> None:
    fetched = read_json(local / FETCHED) or {}
    todo = [(shard[key], shard[f"{key}_sha256"]) for shard in manifest["shards"]
            for key in shard_files(shard)
            if fetched.get(shard[key]) != shard[f"{key}_sha256"] or not (local / shard[key]).is_file()]
    if todo:
        print(f"caching {len(todo)} files of {url} in {local}", file=sys.stderr)

    def get(item: tuple[str, str]) -> tuple[str, str]:
        name, sha = item
        temporary = local / f"{name}.{os.getpid()}{TEMP_SUFFIX}"
        try:
            fs.get_file(f"{root}/{name}", str(temporary))
            os.replace(temporary, local / name)
        except BaseException:
            temporary.unlink(missing_ok=True)
            raise
        return name, sha

    try:
        with ThreadPoolExecutor(DOWNLOAD_THREADS) as pool:
            for name, sha in pool.map(get, todo):
                fetched[name] = sha
                write_json_atomic(local / FETCHED, fetched)  # a resumed download keeps these
    except OSError as exc:
        raise GanforgeError(f"{url}: caching into {local} failed ({exc}); finished files are "
                            "kept, run again to continue") from exc
    write_json_atomic(local / MANIFEST, manifest)
    (local / "source.txt").write_text(url + "\n", encoding="utf-8")
