"""Readers for MNIST idx, CIFAR-10 pickles, image folders and HF datasets, on real small files."""

from __future__ import annotations

import gzip
import os
import pickle
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from PIL import Image

from ganforge.data import load_dataset
from ganforge.errors import GanforgeError

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


# --- MNIST -------------------------------------------------------------------------------------


def write_idx(path: Path, magic: int, arr: np.ndarray, *, gz: bool = False, cut: int = 0) -> Path:
    """An idx file as MNIST ships it: big-endian magic and dims, then the bytes; `cut` truncates."""
    raw = magic.to_bytes(4, "big") + b"".join(d.to_bytes(4, "big") for d in arr.shape)
    raw = (raw + arr.astype(np.uint8).tobytes())[: -cut or None]
    if gz:
        path = path.with_name(path.name + ".gz")
        path.write_bytes(gzip.compress(raw))
    else:
        path.write_bytes(raw)
    return path


def write_mnist_split(folder: Path, prefix: str, n: int, *, gz: bool, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
    labels = rng.integers(0, 10, n, dtype=np.uint8)
    write_idx(folder / f"{prefix}-images-idx3-ubyte", 2051, images, gz=gz)
    write_idx(folder / f"{prefix}-labels-idx1-ubyte", 2049, labels, gz=gz)
    return labels


@pytest.mark.parametrize("gz", [True, False])
def test_mnist_reads_all_splits_train_first(tmp_path: Path, gz: bool) -> None:
    train = write_mnist_split(tmp_path, "train", 7, gz=gz, seed=0)
    test = write_mnist_split(tmp_path, "t10k", 5, gz=gz, seed=1)
    grey = load_dataset(f"mnist:{tmp_path}", 32, 1)
    assert grey.images.shape == (12, 1, 32, 32) and grey.images.dtype == torch.uint8
    assert grey.labels.tolist() == train.tolist() + test.tolist()
    assert grey.class_names == [str(i) for i in range(10)]
    rgb = load_dataset(f"mnist:{tmp_path}", 32, 3)
    assert rgb.images.shape == (12, 3, 32, 32)
    assert torch.equal(rgb.images[:, 0], rgb.images[:, 2])


def test_mnist_native_size_keeps_pixels_and_one_split_is_enough(tmp_path: Path) -> None:
    rng = np.random.default_rng(2)
    images = rng.integers(0, 256, (3, 28, 28), dtype=np.uint8)
    write_idx(tmp_path / "t10k-images-idx3-ubyte", 2051, images, gz=True)
    write_idx(tmp_path / "t10k-labels-idx1-ubyte", 2049, np.array([9, 0, 4]))
    (tmp_path / "classes.txt").write_text("\n".join(f"c{i}" for i in range(10)) + "\n")
    ds = load_dataset(f"mnist:{tmp_path}", 28, 1)
    assert np.array_equal(ds.images[:, 0].numpy(), images)
    assert ds.labels.tolist() == [9, 0, 4] and ds.class_names[9] == "c9"


@pytest.mark.parametrize("gz", [True, False])
def test_mnist_truncated_file_is_named(tmp_path: Path, gz: bool) -> None:
    write_mnist_split(tmp_path, "train", 4, gz=gz, seed=0)
    bad = write_idx(
        tmp_path / "train-images-idx3-ubyte", 2051, np.zeros((4, 28, 28)), gz=gz, cut=100
    )
    with pytest.raises(GanforgeError, match="truncated") as err:
        load_dataset(f"mnist:{tmp_path}", 32, 1)
    assert str(bad) in str(err.value)


def test_mnist_truncated_gzip_stream_is_named(tmp_path: Path) -> None:
    write_mnist_split(tmp_path, "train", 4, gz=True, seed=0)
    path = tmp_path / "train-images-idx3-ubyte.gz"
    path.write_bytes(path.read_bytes()[:-30])
    with pytest.raises(GanforgeError) as err:
        load_dataset(f"mnist:{tmp_path}", 32, 1)
    assert str(path) in str(err.value)


def test_mnist_wrong_magic_is_named(tmp_path: Path) -> None:
    write_mnist_split(tmp_path, "train", 4, gz=False, seed=0)
    bad = write_idx(tmp_path / "train-labels-idx1-ubyte", 2051, np.zeros((4, 1, 1)))
    with pytest.raises(GanforgeError, match="magic number 2051, expected 2049") as err:
        load_dataset(f"mnist:{tmp_path}", 32, 1)
    assert str(bad) in str(err.value)


def test_mnist_label_count_mismatch_names_both_files(tmp_path: Path) -> None:
    images = write_idx(tmp_path / "train-images-idx3-ubyte", 2051, np.zeros((4, 28, 28)))
    labels = write_idx(tmp_path / "train-labels-idx1-ubyte", 2049, np.zeros(3))
    with pytest.raises(GanforgeError, match="4 images but .* 3 labels") as err:
        load_dataset(f"mnist:{tmp_path}", 32, 1)
    assert str(images) in str(err.value) and str(labels) in str(err.value)


def test_mnist_missing_label_file_is_named(tmp_path: Path) -> None:
    write_idx(tmp_path / "t10k-images-idx3-ubyte", 2051, np.zeros((2, 28, 28)), gz=True)
    with pytest.raises(GanforgeError, match="t10k-labels-idx1-ubyte") as err:
        load_dataset(f"mnist:{tmp_path}", 32, 1)
    assert str(tmp_path) in str(err.value)


def test_mnist_without_idx_files_names_folder_and_expected_files(tmp_path: Path) -> None:
    with pytest.raises(GanforgeError, match="train-images-idx3-ubyte") as err:
        load_dataset(f"mnist:{tmp_path}", 32, 1)
    assert str(tmp_path) in str(err.value) and "t10k-labels-idx1-ubyte" in str(err.value)


@pytest.mark.skipif(not (SHARED_DATA / "mnist").is_dir(), reason="shared MNIST data not present")
def test_shared_mnist_test_split() -> None:
    ds = load_dataset(f"mnist:{SHARED_DATA / 'mnist'}", 32, 1)
    assert len(ds) == 10_000 and ds.n_classes == 10
    assert ds.images.shape == (10_000, 1, 32, 32)
    assert min(ds.class_counts()) > 800


# --- CIFAR-10 ----------------------------------------------------------------------------------

CIFAR_NAMES = "airplane automobile bird cat deer dog frog horse ship truck".split()


def dump(obj: object, path: Path, protocol: int, *, numpy1_names: bool = False) -> None:
    """Pickle like CIFAR's files; `numpy1_names` spells globals as numpy 1.x (and CIFAR) did."""
    data = pickle.dumps(obj, protocol=protocol)
    if numpy1_names:
        assert protocol <= 2, "GLOBAL opcodes hold names as newline-terminated text only below 3"
        data = data.replace(b"numpy._core.multiarray\n", b"numpy.core.multiarray\n")
    path.write_bytes(data)


def write_cifar(folder: Path, protocol: int = 2, **kw: bool) -> dict[str, np.ndarray]:
    """data_batch_1, data_batch_2 and test_batch (3, 2, 4 images) plus batches.meta."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    labels = {}
    for name, n in (("data_batch_1", 3), ("data_batch_2", 2), ("test_batch", 4)):
        data = rng.integers(0, 256, (n, 3072), dtype=np.uint8)
        labels[name] = rng.integers(0, 10, n)
        batch = {
            b"batch_label": name.encode(), b"labels": labels[name].tolist(), b"data": data,
            b"filenames": [f"img_{i}.png".encode() for i in range(n)],
        }
        if name == "data_batch_1":  # first image's top-left pixel: R=11, G=22, B=33
            data[0, [0, 1024, 2048]] = [11, 22, 33]
        dump(batch, folder / name, protocol, **kw)
    meta = {b"label_names": [n.encode() for n in CIFAR_NAMES], b"num_vis": 3072}
    dump(meta, folder / "batches.meta", protocol, **kw)
    return labels


@pytest.mark.parametrize("protocol", [2, 4, 5])
@pytest.mark.parametrize("parent", [True, False])
def test_cifar_batches_load_in_order_with_names(
    tmp_path: Path, protocol: int, parent: bool
) -> None:
    labels = write_cifar(tmp_path / "cifar-10-batches-py", protocol)
    root = tmp_path if parent else tmp_path / "cifar-10-batches-py"
    ds = load_dataset(f"cifar10:{root}", 32, 3)
    assert ds.images.shape == (9, 3, 32, 32)
    expected = [*labels["data_batch_1"], *labels["data_batch_2"], *labels["test_batch"]]
    assert ds.labels.tolist() == expected
    assert ds.class_names == CIFAR_NAMES
    assert ds.images[0, :, 0, 0].tolist() == [11, 22, 33]


def test_cifar_numpy1_pickles_load(tmp_path: Path) -> None:
    write_cifar(tmp_path, 2, numpy1_names=True)
    ds = load_dataset(f"cifar10:{tmp_path}", 16, 1)
    assert ds.images.shape == (9, 1, 16, 16) and ds.n_classes == 10


class Pwn:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return os.system, (f"echo pwned > {self.marker}",)


class PwnEval(Pwn):
    def __reduce__(self) -> tuple[object, tuple[str]]:
        return eval, (f"open({str(self.marker)!r}, 'w').write('pwned')",)


@pytest.mark.parametrize("payload", [Pwn, PwnEval])
@pytest.mark.parametrize("target", ["data_batch_1", "batches.meta"])
def test_cifar_malicious_pickle_is_refused(tmp_path: Path, payload: type, target: str) -> None:
    write_cifar(tmp_path)
    marker = tmp_path / "pwned.txt"
    dump({b"data": payload(marker), b"labels": [], b"label_names": []}, tmp_path / target, 2)
    with pytest.raises(GanforgeError, match="refusing to unpickle") as err:
        load_dataset(f"cifar10:{tmp_path}", 32, 3)
    assert str(tmp_path / target) in str(err.value)
    assert not marker.exists()


def test_cifar_corrupt_pickle_is_named(tmp_path: Path) -> None:
    write_cifar(tmp_path)
    bad = tmp_path / "data_batch_2"
    bad.write_bytes(bad.read_bytes()[:500])
    with pytest.raises(GanforgeError) as err:
        load_dataset(f"cifar10:{tmp_path}", 32, 3)
    assert str(bad) in str(err.value)


def test_cifar_missing_batches_names_folder_and_files(tmp_path: Path) -> None:
    with pytest.raises(GanforgeError, match="data_batch_1") as err:
        load_dataset(f"cifar10:{tmp_path}", 32, 3)
    assert str(tmp_path) in str(err.value) and "test_batch" in str(err.value)


# --- image folders -----------------------------------------------------------------------------


def save(img: Image.Image, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    img.save(path)
    return path


def rgb(w: int, h: int, seed: int = 0) -> Image.Image:
    return Image.fromarray(np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8))


def test_folder_classes_and_mixed_modes(tmp_path: Path) -> None:
    save(Image.new("L", (20, 20), 100), tmp_path / "cats" / "a_grey.png")
    save(Image.new("RGBA", (40, 30), (10, 20, 30, 0)), tmp_path / "cats" / "b_clear.PNG")
    save(rgb(64, 64).convert("P"), tmp_path / "cats" / "c_palette.png")
    save(rgb(33, 50, seed=1), tmp_path / "dogs" / "x.jpg")
    save(Image.fromarray(np.full((12, 12), 128 * 257, np.uint16)), tmp_path / "dogs" / "y16.png")
    save(rgb(16, 16, seed=2), tmp_path / "dogs" / "nested" / "z.bmp")
    (tmp_path / "dogs" / "notes.txt").write_text("not an image")
    (tmp_path / "dogs" / ".hidden.png").write_bytes(b"garbage")
    ds = load_dataset(f"folder:{tmp_path}", 32, 3)  # dogs in sorted order: nested/z, x, y16
    assert ds.class_names == ["cats", "dogs"]
    assert ds.labels.tolist() == [0, 0, 0, 1, 1, 1]
    assert ds.images.shape == (6, 3, 32, 32)
    assert (ds.images[0] == 100).all()  # grey repeated into R, G, B
    assert (ds.images[1] == 255).all()  # fully transparent RGBA: composited onto white
    assert (ds.images[5] == 128).all()  # 16-bit grey scaled to 8 bits, not clipped at 255
    grey = load_dataset(f"folder:{tmp_path}", 16, 1)
    assert grey.images.shape == (6, 1, 16, 16)


def test_flat_folder_is_one_class_named_after_it(tmp_path: Path) -> None:
    folder = tmp_path / "faces"
    for i in range(3):
        save(rgb(24, 24, seed=i), folder / f"{i}.webp")
    ds = load_dataset(f"folder:{folder}", 32, 3)
    assert ds.class_names == ["faces"] and ds.labels.tolist() == [0, 0, 0]


def test_empty_folder_is_named(tmp_path: Path) -> None:
    (tmp_path / "readme.txt").write_text("no images here")
    with pytest.raises(GanforgeError, match="no images") as err:
        load_dataset(f"folder:{tmp_path}", 32, 3)
    assert str(tmp_path) in str(err.value)


def test_empty_class_folder_is_named(tmp_path: Path) -> None:
    save(rgb(16, 16), tmp_path / "a" / "0.png")
    (tmp_path / "b").mkdir()
    with pytest.raises(GanforgeError, match="holds no images") as err:
        load_dataset(f"folder:{tmp_path}", 32, 3)
    assert str(tmp_path / "b") in str(err.value)


def test_garbage_png_is_named(tmp_path: Path) -> None:
    save(rgb(16, 16), tmp_path / "a" / "0.png")
    bad = tmp_path / "a" / "1.png"
    bad.write_bytes(b"this is not a png at all")
    with pytest.raises(GanforgeError, match="cannot read the image") as err:
        load_dataset(f"folder:{tmp_path}", 32, 3)
    assert str(bad) in str(err.value) and "\n" not in str(err.value)


def test_truncated_jpeg_is_named(tmp_path: Path) -> None:
    bad = save(rgb(64, 64), tmp_path / "a" / "0.jpg")
    bad.write_bytes(bad.read_bytes()[:400])
    with pytest.raises(GanforgeError, match="cannot read the image") as err:
        load_dataset(f"folder:{tmp_path}", 32, 3)
    assert str(bad) in str(err.value)


def test_tiny_image_is_named(tmp_path: Path) -> None:
    save(rgb(16, 16), tmp_path / "0.png")
    tiny = save(rgb(4, 4), tmp_path / "1.png")
    with pytest.raises(GanforgeError, match="too small") as err:
        load_dataset(f"folder:{tmp_path}", 32, 3)
    assert str(tiny) in str(err.value)


def test_images_beside_class_folders_are_refused(tmp_path: Path) -> None:
    save(rgb(16, 16), tmp_path / "a" / "0.png")
    save(rgb(16, 16), tmp_path / "stray.png")
    with pytest.raises(GanforgeError, match="both images") as err:
        load_dataset(f"folder:{tmp_path}", 32, 3)
    assert str(tmp_path) in str(err.value)


@pytest.mark.skipif(
    not (SHARED_DATA / "cifar10-test").is_dir(), reason="shared CIFAR-10 folder not present"
)
def test_shared_cifar10_test_folder() -> None:
    ds = load_dataset(f"folder:{SHARED_DATA / 'cifar10-test'}", 32, 3)
    assert len(ds) == 10_000 and ds.n_classes == 10
    assert ds.class_counts() == [1000] * 10 and ds.class_names[0] == "airplane"


# --- Hugging Face datasets ---------------------------------------------------------------------

@pytest.fixture
def datasets() -> Any:
    """The optional `datasets` library; its tests skip where it is not installed."""
    return pytest.importorskip("datasets")


def hf_dataset(datasets: Any, n: int, names: list[str], seed: int = 0) -> Any:
    label = datasets.ClassLabel(names=names)
    features = datasets.Features({"image": datasets.Image(), "label": label})
    images = [rgb(20 + i, 24, seed + i) for i in range(n)]
    labels = [i % len(names) for i in range(n)]
    return datasets.Dataset.from_dict({"image": images, "label": labels}, features=features)


def test_hf_saved_dataset(tmp_path: Path, datasets: Any) -> None:
    hf_dataset(datasets, 5, ["cat", "dog", "fox"]).save_to_disk(str(tmp_path / "saved"))
    ds = load_dataset(f"hf:{tmp_path / 'saved'}", 32, 3)
    assert ds.images.shape == (5, 3, 32, 32)
    assert ds.labels.tolist() == [0, 1, 2, 0, 1]
    assert ds.class_names == ["cat", "dog", "fox"]


def test_hf_saved_dataset_dict_selects_split(tmp_path: Path, datasets: Any) -> None:
    folder = tmp_path / "dd"
    train, test = hf_dataset(datasets, 4, ["a", "b"]), hf_dataset(datasets, 3, ["a", "b"], 9)
    datasets.DatasetDict(train=train, test=test).save_to_disk(str(folder))
    assert len(load_dataset(f"hf:{folder}", 32, 3)) == 4
    loaded = load_dataset(f"hf:{folder}:test", 16, 1)
    assert loaded.images.shape == (3, 1, 16, 16) and loaded.labels.tolist() == [0, 1, 0]
    with pytest.raises(GanforgeError, match="no split 'valid'; available splits: test, tr") as err:
        load_dataset(f"hf:{folder}:valid", 32, 3)
    assert str(folder) in str(err.value)


def test_hf_folder_of_data_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, datasets: Any
) -> None:
    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", tmp_path / "cache")
    for cls in ("bird", "ant"):
        for i in range(2):
            save(rgb(18, 18, i), tmp_path / "files" / "train" / cls / f"{i}.png")
    ds = load_dataset(f"hf:{tmp_path / 'files'}:train", 32, 3)
    assert ds.class_names == ["ant", "bird"] and sorted(ds.labels.tolist()) == [0, 0, 1, 1]


def test_hf_plain_label_values_become_sorted_classes(tmp_path: Path, datasets: Any) -> None:
    images = [rgb(16, 16, i) for i in range(4)]
    features = datasets.Features({"img": datasets.Image(), "labels": datasets.Value("string")})
    data = {"img": images, "labels": ["z", "b", "z", "m"]}
    datasets.Dataset.from_dict(data, features=features).save_to_disk(str(tmp_path))
    ds = load_dataset(f"hf:{tmp_path}", 32, 3)
    assert ds.class_names == ["b", "m", "z"] and ds.labels.tolist() == [2, 0, 2, 1]


def test_hf_without_image_column_lists_columns(tmp_path: Path, datasets: Any) -> None:
    datasets.Dataset.from_dict({"text": ["a", "b"], "label": [0, 1]}).save_to_disk(str(tmp_path))
    with pytest.raises(GanforgeError, match="no image column.*columns: text, label"):
        load_dataset(f"hf:{tmp_path}", 32, 3)


def test_hf_hub_name_offline_says_so(monkeypatch: pytest.MonkeyPatch, datasets: Any) -> None:
    def offline(*args: object, **kwargs: object) -> None:
        raise ConnectionError("Couldn't reach 'someone/faces' on the Hub (LocalEntryNotFoundError)")

    monkeypatch.setattr(datasets, "load_dataset", offline)
    with pytest.raises(GanforgeError, match="not available offline.*local path") as err:
        load_dataset("hf:someone/faces", 32, 3)
    assert "someone/faces" in str(err.value)


def test_hf_without_datasets_library_says_how_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "datasets", None)
    with pytest.raises(GanforgeError, match=r"pip install datasets.*ganforge\[hf\]"):
        load_dataset("hf:someone/faces", 32, 3)
