"""`--data SPEC` -> a dataset. In memory: digits | mnist:DIR | cifar10:DIR | folder:DIR |
hf:NAME[:split]; captioned (text-to-image): captioned-digits | captions:DIR |
coco:FILE.json[:IMAGES] | cub:DIR; layouts (layout-to-image): digit-layouts | layout:DIR_OR_JSON; read from disk as training goes: prepared:DIR | hdf5:FILE |
stream:DIR."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import torch

from ganforge.config import DataConfig
from ganforge.data.dataset import ImageDataset, balanced_subset
from ganforge.data.streamed import StreamedDataset
from ganforge.errors import GanforgeError

SPEC_FORMS = ("digits, mnist:DIR, cifar10:DIR, folder:DIR, hf:NAME_OR_PATH[:split], "
              "captioned-digits, captions:DIR, coco:FILE.json[:IMAGES_DIR], cub:DIR, "
              "digit-layouts, layout:DIR_OR_JSON, "
              "prepared:DIR (or prepared:URL), hdf5:FILE, stream:DIR")
STREAMED_KINDS = ("prepared", "hdf5", "stream")
MATERIALISE_BATCH = 1024

Dataset = ImageDataset | StreamedDataset


def _path_loader(kind: str) -> Callable[[Path, int, int], ImageDataset]:
    if kind in ("captions", "cub"):
        from ganforge.data.captions import load_cub_captions, load_jsonl_captions

        return load_jsonl_captions if kind == "captions" else load_cub_captions
    if kind == "mnist":
        from ganforge.data.mnist import load_mnist_dataset

        return load_mnist_dataset
    if kind == "cifar10":
        from ganforge.data.cifar import load_cifar10_dataset

        return load_cifar10_dataset
    from ganforge.data.folder import load_folder_dataset

    return load_folder_dataset


def _existing(rest: str, spec: str, directory: bool) -> Path:
    path = Path(rest).expanduser()
    if not path.exists():
        raise GanforgeError(f"data path '{path}' does not exist (from --data {spec})")
    if directory and not path.is_dir():
        raise GanforgeError(f"data path '{path}' is not a directory (from --data {spec})")
    if not directory and not path.is_file():
        raise GanforgeError(f"data path '{path}' is not a file (from --data {spec})")
    return path


def _open_streamed(kind: str, path: Path, resolution: int, channels: int,
                   workers: int) -> StreamedDataset:
    if kind == "prepared":
        from ganforge.data.prepared import open_prepared

        return open_prepared(path, resolution, channels, workers)
    if kind == "hdf5":
        from ganforge.data.hdf5 import open_hdf5

        return open_hdf5(path, resolution, channels, workers)
    from ganforge.data.stream import open_folder_stream

    return open_folder_stream(path, resolution, channels, workers)


def open_dataset(spec: str, resolution: int, channels: int, workers: int = 2,
                 cache: str = "") -> Dataset:
    """The dataset a spec names: prepared:, hdf5: and stream: stay on disk, the rest in memory.

    `prepared:URL` (s3://, gs://, https:// ...) is read remotely with ranged reads, or through
    a verified local copy in `cache` when given."""
    spec = spec.strip()
    if spec == "digits":
        from ganforge.data.digits import load_digits_dataset

        return load_digits_dataset(resolution, channels)
    if spec == "captioned-digits":
        from ganforge.data.captioned_digits import load_captioned_digits

        return load_captioned_digits(resolution, channels)
    if spec == "digit-layouts":
        from ganforge.data.layout_digits import load_layout_digits

        return load_layout_digits(resolution, channels)
    kind, sep, rest = spec.partition(":")
    if kind == "layout" and rest:
        from ganforge.data.layouts import load_layout_dataset

        return load_layout_dataset(Path(rest).expanduser(), resolution, channels)
    if not sep or not rest:
        raise GanforgeError(f"unknown data spec '{spec}'; use one of: {SPEC_FORMS}")
    if kind == "hf":
        from ganforge.data.huggingface import load_hf_dataset

        name, _, split = rest.partition(":")
        return load_hf_dataset(name, split or "train", resolution, channels)
    if kind == "prepared" and "://" in rest:
        from ganforge.data.remote import open_remote_prepared

        return open_remote_prepared(rest, resolution, channels, workers, cache)
    if kind in STREAMED_KINDS:
        path = _existing(rest, spec, directory=kind != "hdf5")
        return _open_streamed(kind, path, resolution, channels, workers)
    if kind == "coco":
        from ganforge.data.captions import load_coco_captions

        file, _, images = rest.partition(":")
        return load_coco_captions(Path(file).expanduser(), Path(images).expanduser() if images else None,
                                  resolution, channels)
    if kind not in ("mnist", "cifar10", "folder", "captions", "cub"):
        raise GanforgeError(f"unknown data source '{kind}' in '{spec}'; use one of: {SPEC_FORMS}")
    return _path_loader(kind)(_existing(rest, spec, directory=True), resolution, channels)


def materialise(dataset: StreamedDataset) -> ImageDataset:
    """Every image of a streamed dataset in memory (for evaluation's reference images)."""
    parts = [dataset.read(torch.arange(start, min(start + MATERIALISE_BATCH, len(dataset))))
             for start in range(0, len(dataset), MATERIALISE_BATCH)]
    return ImageDataset(torch.cat(parts), dataset.labels, dataset.class_names, dataset.source)


def load_dataset(spec: str, resolution: int, channels: int) -> ImageDataset:
    """Load a dataset described by a spec string into memory, at the model's size and channels."""
    dataset = open_dataset(spec, resolution, channels)
    return materialise(dataset) if isinstance(dataset, StreamedDataset) else dataset


def load_training_data(data: DataConfig, resolution: int, channels: int) -> Dataset:
    """The images a run trains on: `data.source`, reduced to `data.limit` when set."""
    dataset = open_dataset(data.source, resolution, channels, data.workers, data.cache)
    if data.limit < 0:
        raise GanforgeError(f"data.limit must be >= 0 (0: all images), got {data.limit}")
    return balanced_subset(dataset, data.limit, data.limit_seed) if data.limit else dataset
