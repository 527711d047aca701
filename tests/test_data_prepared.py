"""Prepared datasets (`ganforge prepare`, `--data prepared:DIR`), BigGAN-PyTorch HDF5 files and
streamed folders: the same batches as the in-memory path for the same seed, exact resume of
training and of an interrupted prepare, each rank reading only its share, and a one-line
error (or a reported skip) for every kind of bad input."""

from __future__ import annotations

import errno
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from ganforge.cli import main
from ganforge.data import prepare as prepare_module
from ganforge.data.batches import BatchStream
from ganforge.data.prepare import prepare_dataset
from ganforge.data.spec import load_dataset, open_dataset
from ganforge.data.streamed import StreamedDataset
from ganforge.errors import GanforgeError
from ganforge.training.checkpoint import load_checkpoint

RES = 16
CLASSES = ("cat", "dog", "owl")
PER_CLASS = 7
SHARD = 5  # 21 images -> 5 shards, the last one short


@pytest.fixture(autouse=True)
def _one_thread() -> None:
    torch.set_num_threads(1)


def _folder(root: Path, seed: int = 0) -> Path:
    """3 classes of 7 small images of mixed sizes and formats (a JPEG, a wide one, a grey PNG)."""
    rng = np.random.default_rng(seed)
    for c, name in enumerate(CLASSES):
        (root / name).mkdir(parents=True)
        for i in range(PER_CLASS):
            w, h = (40, 12) if i == 3 else (int(rng.integers(16, 40)), int(rng.integers(16, 40)))
            pixels = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
            pixels[..., c] = 255
            img = Image.fromarray(pixels)
            if i == 5:
                img.convert("L").save(root / name / f"{i:02d}.png")
            else:
                img.save(root / name / f"{i:02d}.{'jpg' if i % 2 else 'png'}")
    return root


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _folder(tmp_path_factory.mktemp("raw") / "images")


@pytest.fixture(scope="module")
def prepared(folder: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("prep") / "p"
    prepare_dataset(f"folder:{folder}", out, RES, shard_size=SHARD, progress=False)
    return out


def _batches(dataset: object, n: int, seed: int = 0, batch: int = 6, **kw: object) -> list:
    stream = BatchStream(dataset, batch, seed, **kw)
    try:
        return [stream.next() for _ in range(n)]
    finally:
        stream.close()


def _same(a: list, b: list) -> None:
    assert len(a) == len(b)
    for i, ((x, y), (u, v)) in enumerate(zip(a, b, strict=True)):
        assert torch.equal(x, u) and torch.equal(y, v), f"batch {i} differs"


# ---- the same batches as in memory ---------------------------------------------------------
def test_prepared_stream_and_memory_give_identical_batches(folder: Path, prepared: Path) -> None:
    memory = open_dataset(f"folder:{folder}", RES, 3)
    disk = open_dataset(f"prepared:{prepared}", RES, 3)
    raw = open_dataset(f"stream:{folder}", RES, 3)
    assert isinstance(disk, StreamedDataset) and isinstance(raw, StreamedDataset)
    assert disk.class_names == raw.class_names == memory.class_names == list(CLASSES)
    expected = _batches(memory, 12)  # 12 batches of 6 from 21 images: 4 epochs, reshuffled
    _same(expected, _batches(disk, 12, prefetch=3))
    _same(expected, _batches(disk, 12, prefetch=0))
    _same(expected, _batches(raw, 12, prefetch=2))
    manifest = json.loads((prepared / "manifest.json").read_text())
    assert manifest["n_images"] == 21 and len(manifest["shards"]) == 5
    assert manifest["source"] == f"folder:{folder}" and "bilinear" in manifest["resize"]
    assert all(len(s["images_sha256"]) == 64 for s in manifest["shards"])
    assert "aspect 40x12" in (prepared / "report.txt").read_text()  # odd, kept


def test_a_resumed_stream_prefetches_the_same_batches(prepared: Path) -> None:
    disk = open_dataset(f"prepared:{prepared}", RES, 3)
    expected = _batches(disk, 10, prefetch=0)
    stream = BatchStream(disk, 6, 0, prefetch=4)
    for _ in range(3):
        stream.next()
    state = stream.state_dict()
    again = BatchStream(disk, 6, 0, prefetch=4)
    again.load_state_dict(state)
    _same(expected[3:], [again.next() for _ in range(7)])
    stream.close()
    again.close()


def test_training_from_prepared_equals_memory_and_resumes_exactly(tmp_path: Path) -> None:
    """Prepare -> train 2 steps -> resume: equal to 2 steps at once, and to memory's 2 steps."""
    data = tmp_path / "digits"
    assert main(["prepare", "digits", str(data), "--resolution", "32", "--channels", "1",
                 "--no-progress"]) == 0
    args = ["--no-progress", "model.ch=8", "model.shared_dim=8", "train.batch_size=8",
            "train.log_every=1", "train.sample_every=1000", "train.checkpoint_every=1000",
            "monitor.plot=false", "train.device=cpu", "eval.every=0"]
    runs = {name: tmp_path / name for name in ("memory", "straight", "resumed")}
    assert main(["train", "--out", str(runs["memory"]), "--data", "digits", "--steps", "2",
                 *args]) == 0
    assert main(["train", "--out", str(runs["straight"]), "--data", f"prepared:{data}",
                 "--steps", "2", *args]) == 0
    assert main(["train", "--out", str(runs["resumed"]), "--data", f"prepared:{data}",
                 "--steps", "1", *args]) == 0
    assert main(["train", "--resume", str(runs["resumed"]), "--steps", "2", "--no-progress"]) == 0
    states = {k: load_checkpoint(v / "checkpoints" / "step_00000002.pt") for k, v in runs.items()}
    for net in ("G", "D", "G_ema"):
        for key, value in states["memory"][net].items():
            assert torch.equal(value, states["straight"][net][key]), (net, key)
            assert torch.equal(value, states["resumed"][net][key]), (net, key)


def test_two_gloo_ranks_read_disjoint_shares_that_make_the_global_batch(
        prepared: Path, tmp_path: Path) -> None:
    out = tmp_path / "ranks.pt"
    worker = Path(__file__).with_name("data_rank_worker.py")
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--standalone",
           str(worker), "--data", f"prepared:{prepared}", "--out", str(out)]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore"}
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    ranks = torch.load(out, weights_only=False)
    single = open_dataset(f"prepared:{prepared}", RES, 3)
    stream = BatchStream(single, 8, seed=3)
    for i in range(5):  # 5 global batches of 8 from 21 images: across epochs
        position = stream.position if stream.position + 8 <= 21 else 0
        images, labels = stream.next()
        global_batch = stream.order[position:position + 8].tolist()
        mine = [set(r["read"][i]) for r in ranks]  # what each rank read from disk for batch i
        assert len(mine[0]) == len(mine[1]) == 4 and not mine[0] & mine[1]
        assert mine[0] | mine[1] == set(global_batch)
        assert torch.equal(torch.cat([r["images"][i] for r in ranks]), images)
        assert torch.equal(torch.cat([r["labels"][i] for r in ranks]), labels)
    assert all(len(r["read"]) == 5 for r in ranks)  # nothing else was read


# ---- an interrupted prepare resumes --------------------------------------------------------
def _shard_files(out: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted((out / "shards").iterdir())}


def test_prepare_resumes_after_an_interruption(folder: Path, prepared: Path, tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "p"
    real, calls = prepare_module.write_shard, []

    def killed_after_two(*args: object, **kw: object) -> dict:
        if len(calls) == 2:
            raise KeyboardInterrupt
        calls.append(args[1])
        return real(*args, **kw)

    monkeypatch.setattr(prepare_module, "write_shard", killed_after_two)
    with pytest.raises(KeyboardInterrupt):
        prepare_dataset(f"folder:{folder}", out, RES, shard_size=SHARD, progress=False)
    assert not (out / "manifest.json").exists()
    with pytest.raises(GanforgeError, match="did not finish.*resume"):
        open_dataset(f"prepared:{out}", RES, 3)
    first = {p: (out / "shards" / p).stat().st_mtime_ns for p in ("images-00000.u8",
                                                                 "images-00001.u8")}
    monkeypatch.setattr(prepare_module, "write_shard", real)
    result = prepare_dataset(f"folder:{folder}", out, RES, shard_size=SHARD, progress=False)
    assert result.resumed_shards == 2 and result.n_images == 21
    assert {p: (out / "shards" / p).stat().st_mtime_ns for p in first} == first  # kept
    assert _shard_files(out) == _shard_files(prepared)
    again = prepare_dataset(f"folder:{folder}", out, RES, shard_size=SHARD, progress=False)
    assert again.already_done


def test_a_full_disk_keeps_earlier_shards_and_resume_continues(
        folder: Path, prepared: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "p"
    real = prepare_module.write_atomic

    def full_at_shard_two(path: Path, data: object) -> str:
        if path.name == "images-00002.u8":
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))
        return real(path, data)

    monkeypatch.setattr(prepare_module, "write_atomic", full_at_shard_two)
    with pytest.raises(GanforgeError, match="No space left.*2 finished shards are kept.*resume"):
        prepare_dataset(f"folder:{folder}", out, RES, shard_size=SHARD, progress=False)
    assert not list((out / "shards").glob("*.tmp"))
    monkeypatch.setattr(prepare_module, "write_atomic", real)
    assert prepare_dataset(f"folder:{folder}", out, RES, shard_size=SHARD,
                           progress=False).resumed_shards == 2
    assert _shard_files(out) == _shard_files(prepared)


def test_prepare_with_worker_processes_through_the_cli(folder: Path, prepared: Path,
                                                       tmp_path: Path) -> None:
    out = tmp_path / "p"
    assert main(["prepare", str(folder), str(out), "--resolution", str(RES), "--workers", "2",
                 "--shard-size", str(SHARD), "--no-progress"]) == 0
    assert _shard_files(out) == _shard_files(prepared)
    assert main(["prepare", str(folder), str(out), "--resolution", "32"]) == 2  # other settings


# ---- bad input -----------------------------------------------------------------------------
def _copy(prepared: Path, tmp_path: Path) -> Path:
    import shutil

    return Path(shutil.copytree(prepared, tmp_path / "copy"))


def test_checksum_mismatch_is_one_line(prepared: Path, tmp_path: Path) -> None:
    copy = _copy(prepared, tmp_path)
    open_dataset(f"prepared:{copy}", RES, 3)  # verified once, remembered
    shard = copy / "shards" / "images-00001.u8"
    data = bytearray(shard.read_bytes())
    data[10] ^= 0xFF
    shard.write_bytes(bytes(data))
    os.utime(shard, ns=(1, 1))  # a changed time is enough to be checked again
    with pytest.raises(GanforgeError, match="images-00001.u8: checksum mismatch"):
        open_dataset(f"prepared:{copy}", RES, 3)
    manifest = json.loads((copy / "manifest.json").read_text())
    manifest["shards"][0]["labels_sha256"] = "0" * 64
    (copy / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(GanforgeError, match="checksum mismatch"):
        open_dataset(f"prepared:{copy}", RES, 3)


@pytest.mark.parametrize("damage", ["truncated", "missing", "resolution", "channels"])
def test_damaged_or_mismatched_prepared_data_is_one_line(prepared: Path, tmp_path: Path,
                                                         damage: str) -> None:
    copy = _copy(prepared, tmp_path)
    shard = copy / "shards" / "images-00003.u8"
    resolution, channels, message = RES, 3, ""
    if damage == "truncated":
        shard.write_bytes(shard.read_bytes()[:-100])
        message = "images-00003.u8: truncated"
    elif damage == "missing":
        shard.unlink()
        message = "images-00003.u8: shard missing"
    elif damage == "resolution":
        resolution, message = 32, "holds 16 px images but the recipe trains at 32 px"
    else:
        channels, message = 1, "holds 3-channel images but the recipe's model.img_channels is 1"
    with pytest.raises(GanforgeError, match=message) as info:
        open_dataset(f"prepared:{copy}", resolution, channels)
    assert "\n" not in str(info.value)


def test_a_corrupt_jpeg_is_skipped_and_reported(tmp_path: Path) -> None:
    folder = _folder(tmp_path / "images")
    bad = folder / "dog" / "01.jpg"
    bad.write_bytes(bad.read_bytes()[:200])  # truncated JPEG
    (folder / "owl" / "09.png").write_bytes(b"not an image at all")
    out = tmp_path / "p"
    result = prepare_dataset(f"folder:{folder}", out, RES, shard_size=SHARD, progress=False)
    assert result.n_images == 20 and result.skipped == 2  # of 22 files
    report = (out / "report.txt").read_text()
    assert "dog/01.jpg" in report and "owl/09.png" in report
    data = open_dataset(f"prepared:{out}", RES, 3)
    assert data.class_counts() == [7, 6, 7]
    with pytest.raises(GanforgeError, match="01.jpg: cannot read the image"):
        load_dataset(f"folder:{folder}", RES, 3)  # in memory: a one-line error, as before


def test_an_empty_class_folder_is_one_line(tmp_path: Path) -> None:
    folder = _folder(tmp_path / "images")
    (folder / "empty").mkdir()
    with pytest.raises(GanforgeError, match="class folder .*empty holds no images"):
        prepare_dataset(f"folder:{folder}", tmp_path / "p", RES, progress=False)


def test_a_folder_that_is_not_a_prepared_dataset(tmp_path: Path, folder: Path) -> None:
    with pytest.raises(GanforgeError, match="is not a prepared dataset"):
        open_dataset(f"prepared:{folder}", RES, 3)
    with pytest.raises(GanforgeError, match="is not a prepared dataset; give a new or empty"):
        prepare_dataset(f"folder:{folder}", folder, RES, progress=False)


# ---- BigGAN-PyTorch HDF5 -------------------------------------------------------------------
def test_biggan_pytorch_hdf5_reads_and_prepares(tmp_path: Path) -> None:
    h5py = pytest.importorskip("h5py", reason="h5py is an optional extra (ganforge[hdf5])")
    rng = np.random.default_rng(1)
    images = rng.integers(0, 256, (23, 3, RES, RES), dtype=np.uint8)
    labels = rng.integers(0, 4, 23).astype(np.int64)
    path = tmp_path / "ILSVRC16.hdf5"
    with h5py.File(path, "w") as f:  # make_hdf5.py's layout: chunks of images, LZF optional
        f.create_dataset("imgs", data=images, chunks=(5, 3, RES, RES), compression="lzf",
                         maxshape=(23, 3, RES, RES))
        f.create_dataset("labels", data=labels, chunks=(5,), maxshape=(23,))
    data = open_dataset(f"hdf5:{path}", RES, 3)
    assert len(data) == 23 and data.class_names == ["0", "1", "2", "3"]
    stream = BatchStream(data, 6, 0, prefetch=2)
    for _ in range(6):
        order_before = stream.order.clone()
        position = stream.position if stream.position + 6 <= 23 else None
        x, y = stream.next()
        if position is not None:
            idx = order_before[position:position + 6].numpy()
            assert np.array_equal(x.numpy(), images[idx]) and np.array_equal(y.numpy(), labels[idx])
    stream.close()
    _same(_batches(data, 8), _batches(open_dataset(
        f"prepared:{_prepare_hdf5(path, tmp_path)}", RES, 3), 8))
    with pytest.raises(GanforgeError, match="holds 16 px images but the recipe trains at 32 px"):
        open_dataset(f"hdf5:{path}", 32, 3)


def _prepare_hdf5(path: Path, tmp_path: Path) -> Path:
    prepare_dataset(f"hdf5:{path}", tmp_path / "from-h5", RES, shard_size=10, progress=False)
    return tmp_path / "from-h5"


def test_data_limit_picks_the_same_subset_from_disk(folder: Path, prepared: Path) -> None:
    from ganforge.data.dataset import balanced_subset

    memory = balanced_subset(open_dataset(f"folder:{folder}", RES, 3), 9, 0)
    disk = balanced_subset(open_dataset(f"prepared:{prepared}", RES, 3), 9, 0)
    assert isinstance(disk, StreamedDataset) and len(disk) == len(memory) == 9
    _same(_batches(memory, 5, batch=4), _batches(disk, 5, batch=4, prefetch=2))
