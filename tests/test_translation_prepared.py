"""Translation folders prepared on disk (`ganforge prepare paired:/unpaired:`, `--data
prepared:DIR`): the same test images and the same training batches as in memory (pix2pix pairs
from side-by-side images and from A/B folders, CycleGAN domains, CycleGAN drawing prepared pairs
unpaired), each rank reading only its share, and 2 steps + resume equal to memory's 2 steps."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from ganforge.cli import main
from ganforge.config import TranslationConfig
from ganforge.data.spec import open_dataset
from ganforge.data.streamed import StreamedDataset
from ganforge.errors import GanforgeError
from ganforge.training.checkpoint import load_checkpoint
from ganforge.translation.data import load_translation_data
from ganforge.translation.prepare import prepare_translation
from ganforge.translation.streams import TranslationStream

LOAD, CROP = 18, 16
TC = TranslationConfig(channels_a=1, channels_b=3, load_size=LOAD, crop_size=CROP)


@pytest.fixture(autouse=True)
def _one_thread() -> None:
    torch.set_num_threads(1)


def _save(path: Path, array: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path)


def _noise(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    return rng.integers(0, 256, (h, w, 3), dtype=np.uint8)


def _side_by_side(root: Path) -> Path:
    """pix2pix's layout: train/ with 7 AB images of mixed sizes, val/ with 3."""
    rng = np.random.default_rng(0)
    for split, n in (("train", 7), ("val", 3)):
        for i in range(n):
            side = int(rng.integers(14, 30))
            suffix = "jpg" if i % 3 == 0 else "png"
            _save(root / split / f"{i:02d}.{suffix}", _noise(rng, side + i % 2, 2 * side))
    return root


def _ab_folders(root: Path) -> Path:
    rng = np.random.default_rng(1)
    for i, name in enumerate(("b", "a", "d", "c", "e", "f")):
        h, w = int(rng.integers(16, 30)), int(rng.integers(16, 30))
        _save(root / "A" / f"{name}.png", _noise(rng, h, w)[..., 0])
        _save(root / "B" / f"{name}.{'jpg' if i % 2 else 'png'}", _noise(rng, h, w))
    return root


def _unpaired(root: Path) -> Path:
    """CycleGAN's layout: trainA (7), trainB (5), testA (2), testB (3)."""
    rng = np.random.default_rng(2)
    for name, n in (("trainA", 7), ("trainB", 5), ("testA", 2), ("testB", 3)):
        for i in range(n):
            _save(root / name / f"{i}.png", _noise(rng, int(rng.integers(16, 30)), 20))
    return root


def _prepared(spec: str, out: Path, **kw: object) -> Path:
    prepare_translation(spec, out, LOAD, CROP, 1, 3, shard_size=3, progress=False, **kw)
    return out


def _batches(data: object, paired: bool, n: int, shard: tuple[int, int] = (0, 1),
             prefetch: int = 0) -> list[tuple[torch.Tensor, torch.Tensor]]:
    stream = TranslationStream(data.train_a, data.train_b, paired, 4, CROP, True, 5, shard,
                               pairs=data.train_pairs if paired else None, prefetch=prefetch)
    try:
        return [stream.next() for _ in range(n)]
    finally:
        stream.close()


def _same(a: list, b: list) -> None:
    assert len(a) == len(b)
    for i, ((x, y), (u, v)) in enumerate(zip(a, b, strict=True)):
        assert torch.equal(x, u) and torch.equal(y, v), f"batch {i} differs"


@pytest.mark.parametrize("layout", ["side_by_side", "ab_folders", "unpaired"])
def test_prepared_translation_gives_the_batches_of_memory(layout: str, tmp_path: Path) -> None:
    make = {"side_by_side": _side_by_side, "ab_folders": _ab_folders, "unpaired": _unpaired}
    kind = "unpaired" if layout == "unpaired" else "paired"
    spec = f"{kind}:{make[layout](tmp_path / 'raw')}"
    memory = load_translation_data(spec, TC)
    disk = load_translation_data(f"prepared:{_prepared(spec, tmp_path / 'p')}", TC)
    assert isinstance(disk.train_a, StreamedDataset) and disk.paired == memory.paired
    assert len(disk.train_a) == len(memory.train_a) and len(disk.train_b) == len(memory.train_b)
    assert disk.has_test == memory.has_test == (layout != "ab_folders")
    if memory.has_test:
        assert torch.equal(disk.test_a, memory.test_a) and torch.equal(disk.test_b, memory.test_b)
    # 6 batches of 4 from 5-7 items: across epochs; CycleGAN draws the pairs unpaired too
    for paired in {memory.paired, False}:
        expected = _batches(memory, paired, 6)
        _same(expected, _batches(disk, paired, 6, prefetch=2))
    if kind == "paired":  # each rank reads only its half and crops it as one rank would
        whole = _batches(disk, True, 4)
        halves = [_batches(disk, True, 4, shard=(rank, 2)) for rank in range(2)]
        for i, (a, b) in enumerate(whole):
            assert torch.equal(torch.cat([h[i][0] for h in halves]), a)
            assert torch.equal(torch.cat([h[i][1] for h in halves]), b)


def test_each_rank_reads_a_disjoint_share_from_disk(tmp_path: Path) -> None:
    spec = f"unpaired:{_unpaired(tmp_path / 'raw')}"
    disk = load_translation_data(f"prepared:{_prepared(spec, tmp_path / 'p')}", TC)
    seen: dict[int, list[list[int]]] = {}
    for rank in range(2):
        seen[rank] = []
        for domain in (disk.train_a, disk.train_b):
            real = domain.reader.read

            def record(indices: np.ndarray, out: np.ndarray, real=real, log=seen[rank]) -> None:
                log.append(indices.tolist())
                real(indices, out)

            domain.reader.read = record
        _batches(disk, False, 3, shard=(rank, 2))
        for domain in (disk.train_a, disk.train_b):
            del domain.reader.read
    assert len(seen[0]) == len(seen[1]) == 6  # A and B of 3 batches, 2 images each
    for mine, theirs in zip(seen[0], seen[1], strict=True):
        assert len(mine) == len(theirs) == 2 and not set(mine) & set(theirs)


def test_prepare_resumes_refuses_other_settings_and_explains_mismatches(tmp_path: Path) -> None:
    spec = f"paired:{_side_by_side(tmp_path / 'raw')}"
    out = _prepared(spec, tmp_path / "p")
    result, manifest = prepare_translation(spec, out, LOAD, CROP, 1, 3, shard_size=3,
                                           progress=False)
    assert result.already_done and manifest["parts"]["train"]["n_images"] == 7
    assert manifest["parts"]["test"]["channels"] == 4 and manifest["test_paired"]
    with pytest.raises(GanforgeError, match="other settings.*load_size 18 \\(now 20\\)"):
        prepare_translation(spec, out, 20, CROP, 1, 3, progress=False)
    with pytest.raises(GanforgeError, match="crop_size 16 but the run has translation.crop_size"
                                            "=12; set translation.crop_size=16"):
        load_translation_data(f"prepared:{out}", TranslationConfig(
            channels_a=1, channels_b=3, load_size=LOAD, crop_size=12))
    with pytest.raises(GanforgeError, match="holds prepared translation data"):
        open_dataset(f"prepared:{out}", LOAD, 3)
    assert main(["prepare", "digits", str(tmp_path / "d"), "--resolution", "16",
                 "--channels-b", "3"]) == 2  # translation-only options on GAN data: one line
    (out / "translation.json").unlink()  # as if interrupted before the end
    with pytest.raises(GanforgeError, match="did not finish"):
        load_translation_data(f"prepared:{out}", TC)
    again, _ = prepare_translation(spec, out, LOAD, CROP, 1, 3, shard_size=3, progress=False)
    assert again.resumed_shards == again.shards == 4  # 3 + 1 shards, all kept


TRAIN = [
    "translation.ngf=4", "translation.ndf=4", "translation.discriminator=n_layers",
    "translation.n_layers_d=1", "translation.channels_a=1", "translation.channels_b=3",
    f"translation.load_size={LOAD}", f"translation.crop_size={CROP}", "translation.features=none",
    "translation.eval_every=0", "train.batch_size=2", "train.device=cpu", "train.log_every=1",
    "train.sample_every=100", "train.checkpoint_every=100", "monitor.plot=false",
    "demo_overrides=[]", "--no-progress",
]
MODES = {"pix2pix": ["translation.generator=unet_16"],
         "cyclegan": ["translation.generator=resnet_1blocks", "translation.pool_size=3",
                      "translation.lambda_identity=0"]}


@pytest.mark.parametrize("mode", ["pix2pix", "cyclegan"])
def test_training_from_prepared_folders_equals_memory_and_resumes_exactly(
        mode: str, tmp_path: Path) -> None:
    raw = _side_by_side(tmp_path / "raw") if mode == "pix2pix" else _unpaired(tmp_path / "raw")
    spec = f"{'paired' if mode == 'pix2pix' else 'unpaired'}:{raw}"
    out = tmp_path / "prepared"
    assert main(["prepare", spec, str(out), "--resolution", str(LOAD), "--test-resolution",
                 str(CROP), "--channels", "1", "--channels-b", "3", "--no-progress"]) == 0
    args = ["--recipe", mode, *MODES[mode], *TRAIN]
    memory, resumed = tmp_path / "memory", tmp_path / "resumed"
    assert main(["train", "--out", str(memory), "--data", spec, "--steps", "2", *args]) == 0
    assert main(["train", "--out", str(resumed), "--data", f"prepared:{out}", "--steps", "1",
                 *args]) == 0
    assert main(["train", "--resume", str(resumed), "--steps", "2", "--no-progress"]) == 0
    a = load_checkpoint(memory / "checkpoints" / "step_00000002.pt")
    b = load_checkpoint(resumed / "checkpoints" / "step_00000002.pt")
    nets_a, nets_b = a["networks"], b["networks"]
    assert set(nets_a) == ({"G", "D"} if mode == "pix2pix" else {"G_AB", "G_BA", "D_A", "D_B"})
    for net, weights in nets_a.items():
        for key, value in weights.items():
            assert torch.equal(value, nets_b[net][key]), (net, key)


def test_unreadable_pairs_are_skipped_reported_and_the_rest_stay_aligned(tmp_path: Path) -> None:
    raw = _ab_folders(tmp_path / "raw")
    (raw / "B" / "d.png").write_bytes(b"not an image")  # d's B half (a JPEG or a PNG)
    for old in (raw / "B").glob("d.jpg"):
        old.unlink()
    out = tmp_path / "p"
    result, _ = prepare_translation(f"paired:{raw}", out, LOAD, CROP, 1, 3, progress=False)
    assert result.n_images == 5 and result.skipped == 1
    report = (out / "report.txt").read_text()
    assert "[train]" in report and "A/d.png + B/d.png: cannot read the image" in report
    disk = load_translation_data(f"prepared:{out}", TC)
    (raw / "B" / "d.png").unlink()
    (raw / "A" / "d.png").unlink()
    memory = load_translation_data(f"paired:{raw}", TC)  # the same pairs without d
    assert torch.equal(disk.train_a.read(torch.arange(5)), memory.train_a)
    assert torch.equal(disk.train_b.read(torch.arange(5)), memory.train_b)
