"""`--data SPEC` -> ImageDataset. Forms: digits | mnist:DIR | cifar10:DIR | folder:DIR | hf:NAME[:split];
captioned (text-to-image): captioned-digits | captions:DIR | coco:FILE.json[:IMAGES] | cub:DIR."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from ganforge.config import DataConfig
from ganforge.data.dataset import ImageDataset, balanced_subset
from ganforge.errors import GanforgeError

SPEC_FORMS = ("digits, mnist:DIR, cifar10:DIR, folder:DIR, hf:NAME_OR_PATH[:split], captioned-digits, "
              "captions:DIR, coco:FILE.json[:IMAGES_DIR], cub:DIR")


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


def load_dataset(spec: str, resolution: int, channels: int) -> ImageDataset:
    """Load a dataset described by a spec string, converted to the model's size and channels."""
    spec = spec.strip()
    if spec == "digits":
        from ganforge.data.digits import load_digits_dataset

        return load_digits_dataset(resolution, channels)
    if spec == "captioned-digits":
        from ganforge.data.captioned_digits import load_captioned_digits

        return load_captioned_digits(resolution, channels)
    kind, sep, rest = spec.partition(":")
    if not sep or not rest:
        raise GanforgeError(f"unknown data spec '{spec}'; use one of: {SPEC_FORMS}")
    if kind == "hf":
        from ganforge.data.huggingface import load_hf_dataset

        name, _, split = rest.partition(":")
        return load_hf_dataset(name, split or "train", resolution, channels)
    if kind == "coco":
        from ganforge.data.captions import load_coco_captions

        file, _, images = rest.partition(":")
        return load_coco_captions(Path(file).expanduser(), Path(images).expanduser() if images else None,
                                  resolution, channels)
    if kind not in ("mnist", "cifar10", "folder", "captions", "cub"):
        raise GanforgeError(f"unknown data source '{kind}' in '{spec}'; use one of: {SPEC_FORMS}")
    path = Path(rest).expanduser()
    if not path.exists():
        raise GanforgeError(f"data path '{path}' does not exist (from --data {spec})")
    if not path.is_dir():
        raise GanforgeError(f"data path '{path}' is not a directory (from --data {spec})")
    return _path_loader(kind)(path, resolution, channels)


def load_training_data(data: DataConfig, resolution: int, channels: int) -> ImageDataset:
    """The images a run trains on: `data.source`, reduced to `data.limit` when set."""
    dataset = load_dataset(data.source, resolution, channels)
    if data.limit < 0:
        raise GanforgeError(f"data.limit must be >= 0 (0: all images), got {data.limit}")
    return balanced_subset(dataset, data.limit, data.limit_seed) if data.limit else dataset
