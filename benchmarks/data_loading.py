"""Data at scale (issue 19): loader throughput, memory while streaming, `prepare` speed, and the
proof that `prepared:` trains on the same batches as memory.

    python benchmarks/data_loading.py throughput --resolution 128 --n 4000
    python benchmarks/data_loading.py rss --gigabytes 3 30
    python benchmarks/data_loading.py prepare --source /work/shared/data/cifar10-test
    python benchmarks/data_loading.py identity
    python benchmarks/data_loading.py translation --n 400 --batches 8
    python benchmarks/data_loading.py remote --resolution 128 --n 4000 --batches 16

Each writes JSON to benchmarks/results/data_loading_<what>.json. Work files go under --work
(default /tmp/ganforge-data-bench) and are deleted at the end unless --keep.
"""

from __future__ import annotations

import argparse
import functools
import hashlib
import io
import json
import os
import resource
import shutil
import subprocess
import sys
import tarfile
import threading
import time
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

sys.path.insert(0, str(Path(__file__).parent))
from _report import provenance, write_result  # noqa: E402
from ganforge.data.batches import BatchStream  # noqa: E402
from ganforge.data.prepare import prepare_dataset  # noqa: E402
from ganforge.data.prepare_sources import PrepareSource  # noqa: E402
from ganforge.data.prepared import read_manifest  # noqa: E402
from ganforge.data.spec import materialise, open_dataset  # noqa: E402
from ganforge.data.streamed import StreamedDataset  # noqa: E402

RESULTS = Path(__file__).parent / "results"
BATCH = 256  # BigGAN's batch size


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def current_rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


# ---- synthetic inputs ---------------------------------------------------------------------
def make_jpeg_folder(root: Path, n: int, resolution: int, classes: int = 10) -> Path:
    """n photo-like JPEGs (smooth colour fields plus noise) of 1.5R x 1.25R: crop + resize."""
    if root.is_dir() and sum(1 for _ in root.rglob("*.jpg")) == n:
        return root
    shutil.rmtree(root, ignore_errors=True)
    rng = np.random.default_rng(0)
    w, h = int(1.5 * resolution), int(1.25 * resolution)
    for i in range(n):
        folder = root / f"class{i % classes:02d}"
        folder.mkdir(parents=True, exist_ok=True)
        coarse = Image.fromarray(rng.integers(0, 256, (6, 6, 3), dtype=np.uint8))
        smooth = np.asarray(coarse.resize((w, h), Image.Resampling.BICUBIC), dtype=np.int16)
        noisy = (smooth + rng.integers(-20, 21, smooth.shape)).clip(0, 255).astype(np.uint8)
        Image.fromarray(noisy).save(folder / f"{i:06d}.jpg", quality=90)
    return root


def write_bgp_hdf5(dataset: StreamedDataset, path: Path, compression: str | None) -> Path:
    """BigGAN-PyTorch's make_hdf5.py layout: imgs uint8 NCHW in chunks of 500, labels int64."""
    import h5py

    c, r, _ = dataset.shape
    with h5py.File(path, "w") as f:
        imgs = f.create_dataset("imgs", (len(dataset), c, r, r), dtype="uint8",
                                chunks=(500, c, r, r), compression=compression)
        for start in range(0, len(dataset), 500):
            idx = torch.arange(start, min(start + 500, len(dataset)))
            imgs[start:start + len(idx)] = dataset.read(idx).numpy()
        f.create_dataset("labels", data=dataset.labels.numpy(), chunks=(500,),
                         compression=compression)
    return path


class SyntheticSource(PrepareSource):
    """Random uint8 images made on the fly (a pool of 64 with the index stamped in)."""

    def __init__(self, n: int, resolution: int) -> None:
        self.spec, self.resize = f"synthetic:{n}x{resolution}", "none (synthetic)"
        self.labels = (np.arange(n) % 1000).astype(np.int64)
        self.class_names = [str(i) for i in range(1000)]
        self.pool = np.random.default_rng(0).integers(0, 256, (64, 3, resolution, resolution),
                                                      dtype=np.uint8)

    def fingerprint(self) -> str:
        return self.spec

    def load(self, i: int) -> tuple[np.ndarray, str]:
        image = self.pool[i % 64].copy()
        image.reshape(-1)[:8] = np.frombuffer(np.int64(i).tobytes(), dtype=np.uint8)
        return image, ""


# ---- readers compared against ours --------------------------------------------------------
class MemmapReader:
    """The baseline the issue names: np.memmap per shard, fancy indexing."""

    def __init__(self, root: Path) -> None:
        manifest = read_manifest(root)
        c, r = manifest["channels"], manifest["resolution"]
        self.shape = (c, r, r)
        self.maps = [np.memmap(root / s["images"], dtype=np.uint8, mode="r",
                               shape=(s["count"], c, r, r)) for s in manifest["shards"]]
        counts = np.array([s["count"] for s in manifest["shards"]])
        self.ends = np.cumsum(counts)
        self.starts = self.ends - counts
        self.slow_hint = ""

    def __len__(self) -> int:
        return int(self.ends[-1])

    def read(self, indices: np.ndarray, out: np.ndarray) -> None:
        shards = np.searchsorted(self.ends, indices, side="right")
        for s in np.unique(shards):
            mine = np.nonzero(shards == s)[0]
            out[mine] = self.maps[s][indices[mine] - self.starts[s]]


def loader_rate(dataset: Any, batches: int, workers: int = 2, prefetch: int = 4) -> dict:
    """images/s of BatchStream.next() over `batches` batches after 3 warm-up batches."""
    if isinstance(dataset, StreamedDataset):
        dataset.workers = workers
    stream = BatchStream(dataset, min(BATCH, len(dataset)), seed=0, prefetch=prefetch)
    for _ in range(3):
        stream.next()
    began = time.perf_counter()
    for _ in range(batches):
        stream.next()
    seconds = time.perf_counter() - began
    stream.close()
    n = batches * stream.batch_size
    return {"images_per_s": round(n / seconds, 1), "images": n, "seconds": round(seconds, 3)}


def webdataset_rate(root: Path, tar: Path, batches: int) -> dict:
    """webdataset: tar shards read in sequence (it has no random access, so no global order)."""
    import webdataset as wds

    data = open_dataset(f"prepared:{root}", read_manifest(root)["resolution"], 3)
    if not tar.exists():
        with tarfile.open(tar, "w") as archive:
            for start in range(0, len(data), 1024):
                idx = torch.arange(start, min(start + 1024, len(data)))
                images = data.read(idx).numpy()
                for i, image in zip(idx.tolist(), images, strict=True):
                    for ext, payload in (("u8", image.tobytes()),
                                         ("cls", str(int(data.labels[i])).encode())):
                        info = tarfile.TarInfo(f"{i:08d}.{ext}")
                        info.size = len(payload)
                        archive.addfile(info, io.BytesIO(payload))
    shape = data.shape
    pipeline = wds.WebDataset(str(tar), shardshuffle=False).shuffle(1000)
    began, n = None, 0
    batch = []
    while n < (batches + 3) * BATCH:
        for sample in pipeline:
            batch.append(np.frombuffer(sample["u8"], dtype=np.uint8).reshape(shape))
            if len(batch) == BATCH:
                np.stack(batch)
                batch = []
                n += BATCH
                if n == 3 * BATCH:
                    began = time.perf_counter()
                if n >= (batches + 3) * BATCH:
                    break
    seconds = time.perf_counter() - began
    return {"images_per_s": round(batches * BATCH / seconds, 1), "images": batches * BATCH,
            "seconds": round(seconds, 3), "note": "sequential tar with a 1000-sample shuffle "
            "buffer, 1 process: cannot reproduce the global order"}


def litdata_rate(root: Path, out: Path, batches: int) -> dict:
    """litdata: optimize() the same images into its chunks, then random access by index."""
    import litdata

    data = open_dataset(f"prepared:{root}", read_manifest(root)["resolution"], 3)
    if not out.exists():
        litdata.optimize(fn=_litdata_item, inputs=[(str(root), i) for i in range(len(data))],
                         output_dir=str(out), chunk_bytes="64MB", num_workers=1)
    ds = litdata.StreamingDataset(str(out))
    order = torch.randperm(len(ds), generator=torch.Generator().manual_seed(0)).tolist()
    for i in order[:3 * BATCH]:
        ds[i]
    began = time.perf_counter()
    n = 0
    for b in range(batches):
        np.stack([ds[i]["image"] for i in order[(b * BATCH) % len(order):][:BATCH]])
        n += BATCH
    seconds = time.perf_counter() - began
    return {"images_per_s": round(n / seconds, 1), "images": n, "seconds": round(seconds, 3),
            "note": "StreamingDataset.__getitem__ in the global order, 1 thread"}


_LIT_CACHE: dict[str, StreamedDataset] = {}


def _litdata_item(item: tuple[str, int]) -> dict:
    root, i = item
    if root not in _LIT_CACHE:
        _LIT_CACHE[root] = open_dataset(f"prepared:{root}", read_manifest(Path(root))["resolution"], 3)
    data = _LIT_CACHE[root]
    return {"image": data.read(torch.tensor([i])).numpy()[0], "label": int(data.labels[i])}


# ---- subcommands ------------------------------------------------------------------------
def cmd_throughput(args: argparse.Namespace) -> dict:
    work = args.work / f"tp{args.resolution}"
    work.mkdir(parents=True, exist_ok=True)
    folder = make_jpeg_folder(work / "jpeg", args.n, args.resolution)
    prepared = work / "prepared"
    if not (prepared / "manifest.json").exists():
        shutil.rmtree(prepared, ignore_errors=True)
        began = time.perf_counter()
        prepare_dataset(str(folder), prepared, args.resolution, workers=2, progress=False)
        prepare_seconds = time.perf_counter() - began
    else:
        prepare_seconds = float("nan")
    r = args.resolution
    streamed = open_dataset(f"prepared:{prepared}", r, 3)
    results: dict[str, Any] = {
        "resolution": r, "images": len(streamed), "batch": BATCH, "workers": 2, "prefetch": 4,
        "cache": "warm (files just written, in the page cache)",
        "prepare_images_per_s_2_workers": round(args.n / prepare_seconds, 1),
        "dataset_bytes": int(len(streamed) * 3 * r * r),
    }
    rates: dict[str, Any] = {}
    rates["prepared (pread, ganforge)"] = loader_rate(streamed, args.batches)
    mm = StreamedDataset(MemmapReader(prepared), streamed.labels, streamed.class_names,
                         "memmap", workers=2)
    rates["prepared via np.memmap (baseline)"] = loader_rate(mm, args.batches)
    rates["raw JPEG folder (stream:)"] = loader_rate(open_dataset(f"stream:{folder}", r, 3),
                                                     max(4, args.batches // 4))
    try:
        h5 = write_bgp_hdf5(streamed, work / "bgp.hdf5", None)
        rates["BGP HDF5, uncompressed (hdf5:)"] = loader_rate(open_dataset(f"hdf5:{h5}", r, 3),
                                                             args.batches)
        h5z = write_bgp_hdf5(streamed, work / "bgp-lzf.hdf5", "lzf")
        rates["BGP HDF5, LZF (hdf5:)"] = loader_rate(open_dataset(f"hdf5:{h5z}", r, 3),
                                                    max(2, args.batches // 8))
    except ImportError as exc:
        rates["BGP HDF5"] = {"missing": str(exc)}
    rates["in memory"] = loader_rate(materialise(streamed), args.batches)
    for name, fn in (("webdataset", lambda: webdataset_rate(prepared, work / "wds.tar",
                                                             args.batches)),
                     ("litdata", lambda: litdata_rate(prepared, work / "litdata",
                                                      max(2, args.batches // 4)))):
        try:
            rates[name] = fn()
        except Exception as exc:  # noqa: BLE001 - a candidate that does not run is reported
            rates[name] = {"missing": f"{type(exc).__name__}: {str(exc)[:200]}"}
    results["loaders"] = rates
    return results


def _synthetic(work: Path, gigabytes: float, resolution: int) -> Path:
    n = int(gigabytes * 1e9 // (3 * resolution * resolution))
    out = work / f"synthetic-{gigabytes:g}GB"
    if not (out / "manifest.json").exists():
        prepare_dataset(SyntheticSource(n, resolution), out, resolution, progress=False)
    return out


def _child(code: str) -> dict:
    """Run `code` in a fresh interpreter (PYTHONPATH as ours); it prints one JSON line."""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env={**os.environ, "PYTHONWARNINGS": "ignore"}, timeout=3600)
    if done.returncode:
        raise RuntimeError(done.stderr[-2000:])
    return json.loads(done.stdout.strip().splitlines()[-1])


RSS_LOADER = """
import json, resource, sys, time, torch
sys.path.insert(0, {bench!r})
from data_loading import MemmapReader, current_rss_mib
from ganforge.data.batches import BatchStream
from ganforge.data.spec import open_dataset
from ganforge.data.streamed import StreamedDataset
data = open_dataset("prepared:{root}", {res}, 3)
if {memmap}:
    data = StreamedDataset(MemmapReader(__import__("pathlib").Path("{root}")), data.labels,
                           data.class_names, "memmap")
stream = BatchStream(data, 256, 0, prefetch=4)
began, batches = time.perf_counter(), {batches}
for _ in range(batches):
    stream.next()
seconds = time.perf_counter() - began
print(json.dumps({{"peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "rss_at_end_mib": current_rss_mib(), "images_read": batches * 256,
                  "images_per_s": round(batches * 256 / seconds, 1)}}))
"""

RSS_TRAIN = """
import json, resource, sys
from ganforge.cli import main
code = main(["train", "--recipe", "dcgan", "--data", "prepared:{root}", "--out", "{out}",
             "--steps", "{steps}", "--batch-size", "64", "--no-progress", "--overwrite",
             "model.resolution=128", "model.img_channels=3", "model.ch=8", "eval.every=0",
             "train.sample_every=100000",
             "train.checkpoint_every=100000", "monitor.plot=false", "train.log_every=5",
             "train.device=cpu"])
print(json.dumps({{"exit": code, "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}}))
"""


def cmd_rss(args: argparse.Namespace) -> dict:
    bench = str(Path(__file__).parent)
    rows = []
    for gb in args.gigabytes:
        began = time.perf_counter()
        root = _synthetic(args.work, gb, 128)
        made = time.perf_counter() - began
        n = read_manifest(root)["n_images"]
        row: dict[str, Any] = {"gigabytes": gb, "images": n, "write_seconds": round(made, 1)}
        full = n // 256  # one whole epoch: every image read once
        row["loader_pread_full_epoch"] = _child(RSS_LOADER.format(
            bench=bench, root=root, res=128, memmap=False, batches=full))
        if gb <= args.memmap_up_to:  # mapped pages count as RSS: it would fill the RAM
            row["loader_memmap_full_epoch"] = _child(RSS_LOADER.format(
                bench=bench, root=root, res=128, memmap=True, batches=full))
        row["train_dcgan128_ch8_batch64"] = {"steps": args.steps, **_child(RSS_TRAIN.format(
            root=root, out=args.work / "rss-run", steps=args.steps))}
        rows.append(row)
        print(json.dumps(row), flush=True)
        if not args.keep:
            shutil.rmtree(root)
    return {"resolution": 128, "rows": rows,
            "ram_gib": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1)}


def cmd_prepare(args: argparse.Namespace) -> dict:
    rows = []
    for workers in (1, 2):
        out = args.work / f"prep-w{workers}"
        shutil.rmtree(out, ignore_errors=True)
        began = time.perf_counter()
        result = prepare_dataset(str(args.source), out, 32, workers=workers, progress=False)
        seconds = time.perf_counter() - began
        rows.append({"workers": workers, "images": result.n_images,
                     "seconds": round(seconds, 2),
                     "images_per_s": round(result.n_images / seconds, 1)})
        shutil.rmtree(out)
    return {"source": str(args.source), "resolution": 32, "rows": rows,
            "note": "wall time including worker start-up (spawned processes import torch)"}


def _photo(rng: np.random.Generator, w: int, h: int) -> Image.Image:
    """A photo-like image: a smooth colour field plus noise (JPEG-compressible like photos)."""
    coarse = Image.fromarray(rng.integers(0, 256, (6, 6, 3), dtype=np.uint8))
    smooth = np.asarray(coarse.resize((w, h), Image.Resampling.BICUBIC), dtype=np.int16)
    return Image.fromarray((smooth + rng.integers(-20, 21, smooth.shape)).clip(0, 255)
                           .astype(np.uint8))


def make_translation_folders(root: Path, n: int, side: int) -> tuple[Path, Path]:
    """pix2pix's layout (n side-by-side AB JPEGs of 2*side x side in train/) and CycleGAN's
    (n/2 JPEGs of side x side in each of trainA/, trainB/)."""
    rng = np.random.default_rng(0)
    paired, unpaired = root / "paired", root / "unpaired"
    for i in range(n):
        (paired / "train").mkdir(parents=True, exist_ok=True)
        _photo(rng, 2 * side, side).save(paired / "train" / f"{i:06d}.jpg", quality=90)
        domain = unpaired / ("trainA" if i % 2 else "trainB")
        domain.mkdir(parents=True, exist_ok=True)
        _photo(rng, side, side).save(domain / f"{i:06d}.jpg", quality=90)
    return paired, unpaired


def translation_rate(data: Any, paired: bool, crop: int, batches: int, batch: int) -> dict:
    """(A, B) pairs/s of TranslationStream.next() (crops and flips included), after 3 warm-up."""
    from ganforge.translation.streams import TranslationStream

    stream = TranslationStream(data.train_a, data.train_b, paired, batch, crop, True, 0,
                               pairs=data.train_pairs if paired else None, prefetch=4)
    for _ in range(3):
        stream.next()
    began = time.perf_counter()
    for _ in range(batches):
        stream.next()
    seconds = time.perf_counter() - began
    stream.close()
    return {"pairs_per_s": round(batches * batch / seconds, 1), "pairs": batches * batch,
            "seconds": round(seconds, 3)}


def cmd_translation(args: argparse.Namespace) -> dict:
    """`ganforge prepare paired:/unpaired:` speed, against loading the folder into memory, and
    the training stream's speed from memory and from the prepared shards."""
    from ganforge.config import TranslationConfig
    from ganforge.translation.data import load_translation_data
    from ganforge.translation.prepare import prepare_translation

    side, load, crop = 256, 286, 256  # facades-like pairs, pix2pix's jitter (286 -> 256)
    paired, unpaired = make_translation_folders(args.work / "translation", args.n, side)
    tc = TranslationConfig(load_size=load, crop_size=crop)
    rows = []
    for kind, folder in (("paired", paired), ("unpaired", unpaired)):
        spec = f"{kind}:{folder}"
        began = time.perf_counter()
        memory = load_translation_data(spec, tc)
        row: dict[str, Any] = {"data": kind, "items": args.n,
                               "load_into_memory_seconds": round(time.perf_counter() - began, 2)}
        for workers in (1, 2):
            out = args.work / f"tr-{kind}-w{workers}"
            shutil.rmtree(out, ignore_errors=True)
            began = time.perf_counter()
            result, _ = prepare_translation(spec, out, load, crop, workers=workers,
                                            shard_size=args.shard_size, progress=False)
            seconds = time.perf_counter() - began
            row[f"prepare_{workers}_workers"] = {
                "seconds": round(seconds, 2), "images": result.n_images,
                "images_per_s": round(result.n_images / seconds, 1)}
        disk = load_translation_data(f"prepared:{out}", tc)
        is_paired = kind == "paired"
        row["stream_from_memory"] = translation_rate(memory, is_paired, crop, args.batches, 16)
        row["stream_from_prepared"] = translation_rate(disk, is_paired, crop, args.batches, 16)
        rows.append(row)
    return {"image_side": side, "load_size": load, "crop_size": crop, "stream_batch": 16,
            "shard_size": args.shard_size,
            "rows": rows, "note": "paired items are AB files (one pair each, decoded once); "
            "unpaired items are single images, half in each domain; in-memory loading uses 8 "
            "decoding threads; wall times include worker start-up"}


def _upload(local: Path, url: str) -> None:
    import fsspec

    fs = fsspec.filesystem(url.split("://", 1)[0])
    for path in sorted(local.rglob("*")):
        if path.is_file() and not path.name.startswith("."):
            fs.pipe_file(f"{url}/{path.relative_to(local)}", path.read_bytes())


class RangeHandler(SimpleHTTPRequestHandler):
    """A static file server answering Range requests (206), as object stores and CDNs do, with
    keep-alive connections (HTTP/1.1)."""

    protocol_version = "HTTP/1.1"

    def log_message(self, *args: Any) -> None:
        pass

    def send_head(self) -> Any:
        ranged = self.headers.get("Range")
        path = Path(self.translate_path(self.path))
        if not ranged or not path.is_file():
            return super().send_head()
        start, _, end = ranged.removeprefix("bytes=").partition("-")
        size = path.stat().st_size
        first, last = int(start), min(int(end) if end else size - 1, size - 1)
        with open(path, "rb") as fh:
            fh.seek(first)
            body = fh.read(last - first + 1)
        self.send_response(206)
        self.send_header("Content-Range", f"bytes {first}-{last}/{size}")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        return io.BytesIO(body)


def _http_rate(local: Path, r: int, batches: int) -> dict:
    """prepared:http://127.0.0.1/... served by a threaded local server in this process."""
    ThreadingHTTPServer.request_queue_size = 1024  # a batch opens many connections at once
    server = ThreadingHTTPServer(("127.0.0.1", 0),
                                 functools.partial(RangeHandler, directory=str(local.parent)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        began = time.perf_counter()
        dataset = open_dataset(f"prepared:http://127.0.0.1:{server.server_address[1]}/"
                               f"{local.name}", r, 3, 2)
        opened = time.perf_counter() - began
        return {"open_seconds": round(opened, 3), **loader_rate(dataset, batches),
                "note": "the server runs in the same 2-vCPU process group (it competes for CPU)"}
    finally:
        server.shutdown()


def cmd_remote(args: argparse.Namespace) -> dict:
    """prepared:URL through fsspec: memory:// (no network: the cost of ganforge's ranged-read
    path itself, cat_ranges + a BLAKE2b check per image) and file://, against local shards."""
    r = args.resolution
    local = args.work / "remote-src"
    shutil.rmtree(local, ignore_errors=True)
    prepare_dataset(SyntheticSource(args.n, r), local, r, progress=False)
    url = "memory://bench/prepared"
    _upload(local, url)
    rates: dict[str, Any] = {}
    for name, spec, cache in (
            ("local shards (prepared:DIR)", f"prepared:{local}", ""),
            ("memory:// ranged reads, digests checked", f"prepared:{url}", ""),
            ("file:// ranged reads, digests checked", f"prepared:file://{local}", ""),
            ("memory:// with data.cache (download + SHA-256, then local)", f"prepared:{url}",
             str(args.work / "cache"))):
        began = time.perf_counter()
        dataset = open_dataset(spec, r, 3, 2, cache)
        opened = time.perf_counter() - began
        rates[name] = {"open_seconds": round(opened, 3), **loader_rate(dataset, args.batches)}
    try:
        import aiohttp  # noqa: F401 - fsspec's http:// needs it
    except ImportError as exc:
        rates["http:// ranged reads"] = {"missing": f"aiohttp not installed ({exc})"}
    else:
        rates["http:// ranged reads (local server, Range requests), digests checked"] = \
            _http_rate(local, r, args.batches)
    return {"resolution": r, "images": args.n, "batch": BATCH, "workers": 2, "prefetch": 4,
            "dataset_bytes": args.n * 3 * r * r, "loaders": rates,
            "note": "no object store was reachable: memory:// measures ganforge's remote path "
            "without network latency; a real S3/GCS bucket was not exercised"}


def _batch_hashes(dataset: Any, n: int, batch: int, seed: int) -> list[str]:
    stream = BatchStream(dataset, batch, seed, prefetch=4)
    out = []
    for _ in range(n):
        images, labels = stream.next()
        out.append(hashlib.sha256(images.numpy().tobytes() + labels.numpy().tobytes()).hexdigest())
    stream.close()
    return out


def _losses(run: Path) -> list[dict]:
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    return [{k: v for k, v in r.items() if k.startswith("loss")} for r in rows
            if r.get("kind") == "train"]


def cmd_identity(args: argparse.Namespace) -> dict:
    from ganforge import api
    from ganforge.cli import main
    from ganforge.training.checkpoint import load_checkpoint

    config = api.make_config("biggan-digits")
    res, ch = config.model.resolution, config.model.img_channels
    batch, seed = config.train.batch_size, config.train.seed
    prepared = args.work / "digits"
    shutil.rmtree(prepared, ignore_errors=True)
    prepare_dataset("digits", prepared, res, channels=ch, progress=False)
    memory = _batch_hashes(open_dataset("digits", res, ch), 100, batch, seed)
    disk = _batch_hashes(open_dataset(f"prepared:{prepared}", res, ch), 100, batch, seed)
    runs = {}
    for name, data in (("memory", "digits"), ("prepared", f"prepared:{prepared}")):
        out = args.work / f"run-{name}"
        shutil.rmtree(out, ignore_errors=True)
        began = time.perf_counter()
        assert main(["train", "--data", data, "--out", str(out), "--steps", str(args.steps),
                     "--checkpoint-every", str(args.steps), "--no-progress", "eval.every=0",
                     "train.log_every=1", "monitor.plot=false"]) == 0
        runs[name] = {"dir": out, "seconds": round(time.perf_counter() - began, 1)}
    ckpt = f"checkpoints/step_{args.steps:08d}.pt"
    a, b = (load_checkpoint(runs[k]["dir"] / ckpt) for k in ("memory", "prepared"))
    same_weights = all(torch.equal(a[n][k], b[n][k]) for n in ("G", "D", "G_ema") for k in a[n])
    return {
        "recipe": "biggan-digits (the default)", "resolution": res, "channels": ch,
        "batch": batch, "seed": seed, "batches_hashed": 100,
        "identical_batches": memory == disk,
        "hash_of_100_batch_hashes": hashlib.sha256("".join(memory).encode()).hexdigest(),
        "train_steps": args.steps,
        "identical_losses": _losses(runs["memory"]["dir"]) == _losses(runs["prepared"]["dir"]),
        "identical_weights_G_D_G_ema": same_weights,
        "train_seconds": {k: v["seconds"] for k, v in runs.items()},
        "note": "a full 1000-step run (~8 min each) was not repeated: identical batches and "
        f"bit-identical weights after {args.steps} steps imply identical accuracy",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("what", choices=("throughput", "rss", "prepare", "identity",
                                         "translation", "remote"))
    parser.add_argument("--work", type=Path, default=Path("/tmp/ganforge-data-bench"))
    parser.add_argument("--keep", action="store_true", help="keep the work files")
    parser.add_argument("--resolution", type=int, default=128)
    parser.add_argument("--n", type=int, default=4000, help="images (throughput)")
    parser.add_argument("--batches", type=int, default=32, help="batches of 256 timed")
    parser.add_argument("--gigabytes", type=float, nargs="+", default=[3.0, 30.0])
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--shard-size", type=int, default=50,
                        help="items per shard (translation): the unit of work of a process")
    parser.add_argument("--memmap-up-to", type=float, default=4.0,
                        help="also read sets up to this many GB through np.memmap (rss)")
    parser.add_argument("--source", type=Path, default=Path("/work/shared/data/cifar10-test"))
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    try:
        result = {"benchmark": f"data_loading {args.what}", "command": " ".join(sys.argv),
                  **provenance(), "load_average_before": os.getloadavg(),
                  **globals()[f"cmd_{args.what}"](args)}
    finally:
        if not args.keep:
            shutil.rmtree(args.work, ignore_errors=True)
    suffix = f"_{args.resolution}" if args.what in ("throughput", "remote") else ""
    write_result(result, args.out or RESULTS / f"data_loading_{args.what}{suffix}.json")


if __name__ == "__main__":
    main()
