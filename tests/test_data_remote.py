"""`prepared:URL` through fsspec (no object store is reachable here: `memory://` and `file://`
stand in for s3:// and gs://): the same batches as local shards, by ranged reads (every image
checked against its digest) or through a verified local cache, and one-line errors for a
corrupt image, a tampered label file, a missing or truncated shard, and an old dataset."""

from __future__ import annotations

import functools
import io
import json
import shutil
import threading
import uuid
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import torch

from ganforge.cli import main
from ganforge.data.batches import BatchStream
from ganforge.data.prepare import prepare_dataset
from ganforge.data.spec import open_dataset
from ganforge.errors import GanforgeError

fsspec = pytest.importorskip("fsspec", reason="prepared:URL needs fsspec (ganforge[remote])")
RES = 16


@pytest.fixture(autouse=True)
def _one_thread() -> None:
    torch.set_num_threads(1)


@pytest.fixture(scope="module")
def local(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("remote") / "digits"
    prepare_dataset("digits", out, RES, channels=1, shard_size=400, progress=False)
    return out


def _upload(local: Path) -> tuple[object, str]:
    """A fresh copy in the process's in-memory filesystem, as if uploaded to a bucket."""
    fs = fsspec.filesystem("memory")
    url = f"memory://bucket-{uuid.uuid4().hex[:8]}/digits"
    for path in sorted(local.rglob("*")):
        if path.is_file() and not path.name.startswith("."):
            fs.pipe_file(f"{url}/{path.relative_to(local)}", path.read_bytes())
    return fs, url


def _batches(dataset: object, n: int = 8) -> list:
    stream = BatchStream(dataset, 64, 0, prefetch=2)
    try:
        return [stream.next() for _ in range(n)]
    finally:
        stream.close()


def _same(a: list, b: list) -> None:
    for i, ((x, y), (u, v)) in enumerate(zip(a, b, strict=True)):
        assert torch.equal(x, u) and torch.equal(y, v), f"batch {i} differs"


def test_remote_reads_give_the_batches_of_local_shards(local: Path, tmp_path: Path) -> None:
    _, url = _upload(local)
    expected = _batches(open_dataset(f"prepared:{local}", RES, 1))
    ranged = open_dataset(f"prepared:{url}", RES, 1)
    assert len(ranged) == 1797 and ranged.source == f"prepared:{url}"
    _same(expected, _batches(ranged))
    _same(expected, _batches(open_dataset(f"prepared:file://{local}", RES, 1)))
    cached = open_dataset(f"prepared:{url}", RES, 1, cache=str(tmp_path / "cache"))
    _same(expected, _batches(cached))
    copy = next((tmp_path / "cache").iterdir())
    assert (copy / "source.txt").read_text().strip() == url
    assert sorted(p.name for p in (copy / "shards").iterdir()) == sorted(
        p.name for p in (local / "shards").iterdir() if p.suffix != ".json")
    fsspec.filesystem("memory").rm(f"{url}/shards/images-00001.u8")  # cached: kept locally
    with pytest.raises(GanforgeError, match="images-00001.u8: shard missing"):
        open_dataset(f"prepared:{url}", RES, 1, cache=str(tmp_path / "cache"))


def test_a_corrupt_image_fails_its_batch_with_one_line(local: Path) -> None:
    fs, url = _upload(local)
    shard = f"{url}/shards/images-00000.u8"
    data = bytearray(fs.cat_file(shard))
    data[RES * RES * 5 + 3] ^= 0xFF  # image 5, same length: only its digest can tell
    fs.pipe_file(shard, bytes(data))
    dataset = open_dataset(f"prepared:{url}", RES, 1)
    dataset.read(torch.tensor([4, 6, 1796]))
    with pytest.raises(GanforgeError, match="images-00000.u8 image 5: checksum mismatch"):
        dataset.read(torch.tensor([3, 5]))


@pytest.mark.parametrize("damage", ["labels", "truncated", "missing", "no_manifest"])
def test_damaged_remote_datasets_are_one_line_errors(local: Path, damage: str) -> None:
    fs, url = _upload(local)
    if damage == "labels":
        path = f"{url}/shards/labels-00002.i64"
        data = bytearray(fs.cat_file(path))
        data[0] ^= 1
        fs.pipe_file(path, bytes(data))
        message = "labels-00002.i64: checksum mismatch"
    elif damage == "truncated":
        path = f"{url}/shards/images-00003.u8"
        fs.pipe_file(path, fs.cat_file(path)[:-7])
        message = "images-00003.u8: truncated"
    elif damage == "missing":
        fs.rm(f"{url}/shards/digests-00004.b2")
        message = "digests-00004.b2: shard missing"
    else:
        fs.rm(f"{url}/manifest.json")
        message = "manifest.json is missing; upload the whole folder"
    with pytest.raises(GanforgeError, match=message) as info:
        open_dataset(f"prepared:{url}", RES, 1)
    assert "\n" not in str(info.value)


def test_a_dataset_without_digests_needs_the_cache(local: Path, tmp_path: Path) -> None:
    old = Path(shutil.copytree(local, tmp_path / "old"))
    manifest = json.loads((old / "manifest.json").read_text())
    for shard in manifest["shards"]:  # as an earlier ganforge wrote it
        (old / shard.pop("digests")).unlink()
        del shard["digests_sha256"]
    (old / "manifest.json").write_text(json.dumps(manifest))
    _, url = _upload(old)
    with pytest.raises(GanforgeError, match="without per-image digests.*data.cache=DIR"):
        open_dataset(f"prepared:{url}", RES, 1)
    cached = open_dataset(f"prepared:{url}", RES, 1, cache=str(tmp_path / "cache"))
    _same(_batches(open_dataset(f"prepared:{local}", RES, 1), 3), _batches(cached, 3))


def test_train_reads_a_remote_dataset_from_the_cli(local: Path, tmp_path: Path) -> None:
    _, url = _upload(local)
    run = tmp_path / "run"
    assert main(["train", "--recipe", "dcgan", "--out", str(run), "--data", f"prepared:{url}",
                 "--steps", "1", "--no-progress", "model.resolution=16", "model.img_channels=1",
                 "model.ch=4", "train.batch_size=8", "train.sample_every=1000",
                 "train.checkpoint_every=1000", "monitor.plot=false", "train.device=cpu",
                 "eval.every=0", f"data.cache={tmp_path / 'cache'}"]) == 0
    assert (run / "checkpoints" / "step_00000001.pt").is_file()
    assert any((tmp_path / "cache").iterdir())


def test_a_damaged_cached_copy_is_fetched_again(local: Path, tmp_path: Path) -> None:
    _, url = _upload(local)
    open_dataset(f"prepared:{url}", RES, 1, cache=str(tmp_path / "cache"))
    copy = next((tmp_path / "cache").iterdir())
    shard = copy / "shards" / "images-00002.u8"
    shard.write_bytes(b"\0" * shard.stat().st_size)  # same size, other bytes
    again = open_dataset(f"prepared:{url}", RES, 1, cache=str(tmp_path / "cache"))
    _same(_batches(open_dataset(f"prepared:{local}", RES, 1), 3), _batches(again, 3))


class _RangeHandler(SimpleHTTPRequestHandler):
    """A static file server that answers Range requests (206), as object stores and CDNs do."""

    def log_message(self, *args: object) -> None:
        pass

    def send_head(self):  # noqa: ANN201 - http.server's own signature
        ranged = self.headers.get("Range")
        path = Path(self.translate_path(self.path))
        if not ranged or not path.is_file():
            return super().send_head()
        start, _, end = ranged.removeprefix("bytes=").partition("-")
        data = path.read_bytes()
        first = int(start)
        last = min(int(end) if end else len(data) - 1, len(data) - 1)
        body = data[first : last + 1]
        self.send_response(206)
        self.send_header("Content-Range", f"bytes {first}-{last}/{len(data)}")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        return io.BytesIO(body)


def test_http_ranged_reads_against_a_local_web_server(local: Path) -> None:
    """https:// as a user would serve it (run once with aiohttp installed; skipped without)."""
    pytest.importorskip("aiohttp", reason="fsspec's http:// needs aiohttp")
    handler = functools.partial(_RangeHandler, directory=str(local.parent))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/{local.name}"
        remote = open_dataset(f"prepared:{url}", RES, 1)
        _same(_batches(open_dataset(f"prepared:{local}", RES, 1), 3), _batches(remote, 3))
    finally:
        server.shutdown()
