"""`ganforge eval --data prepared:DIR | hdf5:FILE`: reference images streamed in batches (never
all in memory), with the same content order, subset, dataset hash, features and metrics as the
in-memory path, to the bit."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from ganforge import api
from ganforge.data import spec as spec_module
from ganforge.data.prepare import prepare_dataset
from ganforge.data.spec import load_dataset
from ganforge.data.streamed import StreamedDataset
from ganforge.metrics.evaluate import reference_features
from ganforge.metrics.features import get_extractor
from ganforge.metrics.streamed_reference import READ_BATCH

RES = 32


@pytest.fixture(autouse=True)
def _one_thread() -> None:
    torch.set_num_threads(1)


@pytest.fixture(scope="module")
def prepared(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("eval") / "digits"
    prepare_dataset("digits", out, RES, channels=3, shard_size=300, progress=False)
    return out


@pytest.fixture
def never_whole(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Fails a test that materialises a streamed dataset; records the size of every read."""
    sizes: list[int] = []
    real = StreamedDataset.read

    def read(self: StreamedDataset, indices: torch.Tensor, pin: bool = False) -> torch.Tensor:
        sizes.append(len(indices))
        return real(self, indices, pin)

    def refuse(dataset: StreamedDataset) -> None:
        raise AssertionError("the reference was materialised")

    monkeypatch.setattr(StreamedDataset, "read", read)
    monkeypatch.setattr(spec_module, "materialise", refuse)
    return sizes


def test_streamed_reference_features_equal_memory_to_the_bit(
        prepared: Path, never_whole: list[int]) -> None:
    """A seeded subset (the whole set: the next test, through `api.evaluate`)."""
    extractor, n_ref = get_extractor("digits"), 700
    memory = reference_features("digits", RES, 3, extractor, n_ref, use_cache=False)
    disk = reference_features(f"prepared:{prepared}", RES, 3, extractor, n_ref, use_cache=False)
    assert memory.sha256 == disk.sha256 and memory.n == disk.n == n_ref
    assert np.array_equal(memory.features.features, disk.features.features)
    assert np.array_equal(memory.features.logits, disk.features.logits)
    assert never_whole and max(never_whole) <= READ_BATCH


def test_hdf5_reference_streams_too(prepared: Path, tmp_path: Path, never_whole: list[int]) -> None:
    h5py = pytest.importorskip("h5py", reason="h5py is an optional extra (ganforge[hdf5])")
    data = load_dataset("digits", RES, 3)
    path = tmp_path / "digits.hdf5"
    order = torch.randperm(len(data), generator=torch.Generator().manual_seed(1))  # other order
    with h5py.File(path, "w") as f:
        f.create_dataset("imgs", data=data.images[order].numpy(), chunks=(100, 3, RES, RES))
        f.create_dataset("labels", data=data.labels[order].numpy())
    extractor = get_extractor("digits")
    memory = reference_features("digits", RES, 3, extractor, 500, use_cache=False)
    disk = reference_features(f"hdf5:{path}", RES, 3, extractor, 500, use_cache=False)
    assert memory.sha256 == disk.sha256
    assert np.array_equal(memory.features.features, disk.features.features)


def test_eval_against_a_prepared_reference_gives_the_numbers_of_memory(
        prepared: Path, tmp_path: Path, never_whole: list[int],
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GANFORGE_CACHE", str(tmp_path / "cache"))
    images = load_dataset("digits", RES, 3)
    fake = tmp_path / "fake.npz"  # 300 "generated" images: shifted digits
    np.savez(fake, images=torch.roll(images.images[:300], 2, -1).numpy(),
             labels=images.labels[:300].numpy())
    kw = {"metrics": "fid,kid,pr,dc", "features": "digits", "n": 300, "use_cache": False}
    memory = api.evaluate(str(fake), data="digits", **kw)
    disk = api.evaluate(str(fake), data=f"prepared:{prepared}", **kw)
    assert memory["metrics"] == disk["metrics"] and memory["metrics"]["fid"] > 0
    assert memory["protocol"]["reference"]["sha256"] == disk["protocol"]["reference"]["sha256"]


def test_a_prepared_reference_keeps_the_default_extractor_of_its_source(prepared: Path) -> None:
    from ganforge.metrics.features import default_extractor

    assert default_extractor(f"prepared:{prepared}") == "digits"  # prepared from `digits`
    assert default_extractor(f"prepared:{prepared.parent / 'nothing'}") == "inception"
    assert default_extractor("prepared:s3://bucket/set") == "inception"
