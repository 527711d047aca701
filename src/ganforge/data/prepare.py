"""`ganforge prepare`: any `--data` source -> shards of uint8 images at one size, on disk.

Work is split into shards of consecutive items; each shard is decoded and written by one
worker process (files fsynced and renamed, then a small record written last), so an interrupted
or failed prepare keeps every finished shard and the same command resumes after verifying them.
Unreadable images are skipped and listed in `report.txt`; `manifest.json` is written last.
"""

from __future__ import annotations

import multiprocessing
import sys
import time
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ganforge.data.files import read_json, remove_temporaries, write_atomic, write_json_atomic
from ganforge.data.prepare_sources import PrepareSource, SkipImage, make_source
from ganforge.data.prepared import (
    FORMAT,
    MANIFEST,
    PLAN,
    SHARD_FILES,
    VERSION,
    image_digests,
    shard_sha256,
)
from ganforge.errors import GanforgeError, check_count

SHARD_BYTES = 256 << 20  # at most this much image data per shard ...
SHARD_IMAGES = 2048  # ... and at most this many images (work units and resume granularity)
COUNT_EVERY = 16  # workers report progress every this many images
REPORT = "report.txt"
REPORT_JSON = "report.json"
SETTINGS = ("format", "version", "source", "resolution", "channels", "crop", "resize",
            "shard_size", "n_items", "fingerprint")


@dataclass
class PrepareResult:
    out: Path
    n_images: int
    skipped: int
    odd: int
    shards: int
    resumed_shards: int
    seconds: float
    already_done: bool = False


def _shard_name(k: int, kind: str) -> str:
    suffix = {"images": ".u8", "labels": ".i64", "digests": ".b2", "record": ".json"}[kind]
    return f"shards/{kind}-{k:05d}{suffix}"


# ---- one shard (runs in a worker process, or in this one) ------------------------------------
_SOURCE: PrepareSource | None = None
_COUNTER: Any = None


def _init_worker(source: PrepareSource, counter: Any) -> None:
    global _SOURCE, _COUNTER
    _SOURCE, _COUNTER = source, counter


def _count(n: int) -> None:
    if _COUNTER is not None:
        with _COUNTER.get_lock():
            _COUNTER.value += n


def write_shard(out: Path, k: int, start: int, stop: int, shape: tuple[int, int, int],
                source: PrepareSource | None = None) -> dict[str, Any]:
    """Decode items start..stop-1 and write shard k; returns its record (also on disk)."""
    source = source or _SOURCE
    assert source is not None
    images = np.empty((stop - start, *shape), dtype=np.uint8)
    labels, skipped, odd, n, pending = [], [], [], 0, 0
    for i in range(start, stop):
        try:
            arr, note = source.load(i)
        except SkipImage as exc:
            skipped.append({"item": source.item(i), "reason": str(exc)})
        else:
            if arr.shape != shape:  # a source bug, never a silently wrong image
                raise GanforgeError(f"{source.item(i)}: decoded to {arr.shape}, expected {shape}")
            images[n] = arr
            labels.append(int(source.labels[i]))
            n += 1
            if note:
                odd.append({"item": source.item(i), "note": note})
        pending += 1
        if pending == COUNT_EVERY:
            _count(pending)
            pending = 0
    _count(pending)
    images_sha = write_atomic(out / _shard_name(k, "images"), memoryview(images[:n]).cast("B"))
    labels_sha = write_atomic(out / _shard_name(k, "labels"),
                              np.asarray(labels, dtype="<i8").tobytes())
    digests_sha = write_atomic(out / _shard_name(k, "digests"), image_digests(images[:n]))
    record = {"shard": k, "start": start, "stop": stop, "count": n,
              "images": _shard_name(k, "images"), "images_sha256": images_sha,
              "labels": _shard_name(k, "labels"), "labels_sha256": labels_sha,
              "digests": _shard_name(k, "digests"), "digests_sha256": digests_sha,
              "skipped": skipped, "odd": odd}
    write_json_atomic(out / _shard_name(k, "record"), record)
    return record


def _worker_task(out: Path, k: int, start: int, stop: int,
                 shape: tuple[int, int, int]) -> dict[str, Any]:
    return write_shard(out, k, start, stop, shape)


# ---- the plan, resuming and the manifest -----------------------------------------------------
def _plan(source: PrepareSource, resolution: int, channels: int, crop: str,
          shard_size: int) -> dict[str, Any]:
    return {"format": FORMAT, "version": VERSION, "source": source.spec,
            "resolution": resolution, "channels": channels, "crop": crop,
            "resize": source.resize, "shard_size": shard_size, "n_items": len(source),
            "fingerprint": source.fingerprint(), "class_names": list(source.class_names)}


def _differences(found: dict[str, Any], plan: dict[str, Any]) -> str:
    return ", ".join(f"{k} {found.get(k)!r} (now {plan[k]!r})" for k in SETTINGS
                     if found.get(k) != plan[k])


def _claim(out: Path, plan: dict[str, Any]) -> bool:
    """Whether OUT already holds this finished prepare; refuse OUT holding anything else."""
    manifest, started = read_json(out / MANIFEST), read_json(out / PLAN)
    if (out / MANIFEST).exists():
        differs = _differences(manifest or {}, plan)
        if differs:
            raise GanforgeError(f"{out} already holds a prepared dataset with other settings "
                                f"({differs}); choose another OUT or delete it")
        return True
    if (out / PLAN).exists():
        differs = _differences(started or {}, plan)
        if differs:
            raise GanforgeError(f"{out} holds an unfinished prepare with other settings "
                                f"({differs}); finish it with its own command, or delete it")
        return False
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise GanforgeError(f"{out} exists and is not a prepared dataset; give a new or empty "
                            "folder as OUT")
    (out / "shards").mkdir(parents=True, exist_ok=True)
    write_json_atomic(out / PLAN, plan)
    return False


def _finished_shards(out: Path, bounds: list[tuple[int, int]]) -> dict[int, dict[str, Any]]:
    """Records of shards a previous run completed whose files still match their checksums."""
    done = {}
    for k, (start, stop) in enumerate(bounds):
        record = read_json(out / _shard_name(k, "record"))
        if not record or (record.get("start"), record.get("stop")) != (start, stop):
            continue
        if all(key in record and (out / record[key]).is_file()
               and shard_sha256(out / record[key]) == record[f"{key}_sha256"]
               for key in SHARD_FILES):
            done[k] = record
    return done


def _write_report(out: Path, records: list[dict[str, Any]]) -> tuple[int, int]:
    skipped = [entry for r in records for entry in r["skipped"]]
    odd = [entry for r in records for entry in r["odd"]]
    lines = [f"skipped (unreadable): {len(skipped)}"]
    lines += [f"  {e['item']}: {e['reason']}" for e in skipped]
    lines += [f"kept but odd: {len(odd)}"] + [f"  {e['item']}: {e['note']}" for e in odd]
    write_atomic(out / REPORT, ("\n".join(lines) + "\n").encode("utf-8"))
    write_json_atomic(out / REPORT_JSON, {"skipped": skipped, "odd": odd})
    return len(skipped), len(odd)


# ---- the whole prepare ---------------------------------------------------------------------
def default_shard_size(resolution: int, channels: int) -> int:
    return max(1, min(SHARD_IMAGES, SHARD_BYTES // (channels * resolution * resolution)))


def prepare_dataset(spec: str | PrepareSource, out: Path, resolution: int, channels: int = 3,
                    crop: str = "center", workers: int = 1, shard_size: int | None = None,
                    progress: bool = True) -> PrepareResult:
    """Write `spec`'s images at `resolution` x `resolution` x `channels` into OUT (resumable).

    `spec` is a `--data` spec or folder, or a `PrepareSource` of one's own (any numbered images
    with labels: its `load(i)` must return them at the given size already)."""
    check_count("--resolution", resolution, 4096, least=8)
    check_count("--workers", workers, 256)
    own = isinstance(spec, PrepareSource)  # e.g. translation pairs: A's channels then B's
    if channels not in (1, 3) and not (own and 1 <= channels <= 64):
        raise GanforgeError(f"--channels must be 1 or 3, got {channels}")
    shard_size = shard_size or default_shard_size(resolution, channels)
    check_count("--shard-size", shard_size, 1 << 24)
    began = time.perf_counter()
    out = Path(out).expanduser()
    source = spec if own else make_source(spec, resolution, channels, crop)
    plan = _plan(source, resolution, channels, crop, shard_size)
    bounds = [(s, min(s + shard_size, len(source))) for s in range(0, len(source), shard_size)]
    if _claim(out, plan):
        manifest = read_json(out / MANIFEST)
        return PrepareResult(out, manifest["n_images"], manifest["skipped"], manifest["odd"],
                             len(manifest["shards"]), len(bounds), 0.0, already_done=True)
    (out / "shards").mkdir(exist_ok=True)
    remove_temporaries(out / "shards")
    records = _finished_shards(out, bounds)
    resumed = len(records)
    if resumed and progress:
        print(f"resuming: {resumed} of {len(bounds)} shards already written and verified",
              file=sys.stderr)
    todo = [k for k in range(len(bounds)) if k not in records]
    shape = (channels, resolution, resolution)
    _run(source, out, bounds, todo, shape, workers, records, progress)
    ordered = [records[k] for k in range(len(bounds))]
    n_images = sum(r["count"] for r in ordered)
    if n_images == 0:
        raise GanforgeError(f"{source.spec}: no readable image (see {out / REPORT})")
    skipped, odd = _write_report(out, ordered)
    manifest = {k: v for k, v in plan.items()}
    manifest.update({
        "n_images": n_images, "skipped": skipped, "odd": odd, "report": REPORT,
        "shards": [{key: r[key] for key in (*SHARD_FILES, *(f"{f}_sha256" for f in SHARD_FILES),
                                            "count")} for r in ordered if r["count"]],
    })
    write_json_atomic(out / MANIFEST, manifest)
    return PrepareResult(out, n_images, skipped, odd, len(manifest["shards"]), resumed,
                         time.perf_counter() - began)


def _worker_context() -> multiprocessing.context.BaseContext:
    """Workers forked from a server that imported this module and ran nothing: each starts in
    milliseconds, and none inherits threads that torch may have started here (fork-unsafe)."""
    if "forkserver" in multiprocessing.get_all_start_methods():
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload([__name__])
        return context
    return multiprocessing.get_context("spawn")


def _run(source: PrepareSource, out: Path, bounds: list[tuple[int, int]], todo: list[int],
         shape: tuple[int, int, int], workers: int, records: dict[int, dict[str, Any]],
         progress: bool) -> None:
    """Write the shards in `todo` (on worker processes when decoding is worth it)."""
    from tqdm import tqdm

    done_items = sum(stop - start for k, (start, stop) in enumerate(bounds) if k in records)
    bar = tqdm(total=len(source), initial=done_items, unit="img", unit_scale=True,
               desc=f"prepare {out.name}", disable=None if progress else True, smoothing=0.1)
    current = -1
    try:
        if workers == 1 or not source.parallel or len(todo) <= 1:
            for current in todo:
                records[current] = write_shard(out, current, *bounds[current], shape, source)
                bar.update(bounds[current][1] - bounds[current][0])
            return
        context = _worker_context()
        counter = context.Value("q", 0)
        with ProcessPoolExecutor(workers, mp_context=context, initializer=_init_worker,
                                 initargs=(source, counter)) as pool:
            futures: dict[Future[dict[str, Any]], int] = {
                pool.submit(_worker_task, out, k, *bounds[k], shape): k for k in todo}
            try:
                while futures:
                    finished, _ = wait(futures, timeout=0.5, return_when=FIRST_COMPLETED)
                    bar.n = done_items + counter.value
                    bar.refresh()
                    for future in finished:
                        current = futures.pop(future)
                        records[current] = future.result()
            except BaseException:
                for future in futures:
                    future.cancel()
                raise
    except OSError as exc:  # a full disk, a vanished folder: finished shards stay valid
        reason = exc.strerror or str(exc)
        where = f" ({exc.filename})" if exc.filename else ""
        raise GanforgeError(
            f"{out}: {reason}{where} while writing shard {current}; the {len(records)} finished "
            "shards are kept: fix it (e.g. free disk space) and run the same command to resume"
        ) from exc
    finally:
        bar.close()
