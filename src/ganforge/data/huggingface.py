"""Hugging Face `datasets`: a saved dataset, a folder of data files, or a cached hub dataset."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from ganforge.data.dataset import ImageDataset
from ganforge.data.folder import PROGRESS_THRESHOLD, pil_to_model_format
from ganforge.errors import GanforgeError

IMAGE_COLUMN_NAMES = ("image", "img")
LABEL_COLUMN_NAMES = ("label", "labels", "fine_label")
BATCH_ROWS = 256


def _import_datasets() -> Any:
    """`datasets` is an optional extra; import it only when an hf: spec asks for it."""
    try:
        import datasets
    except ImportError as exc:
        raise GanforgeError(
            "hf: data needs the Hugging Face datasets library: pip install datasets "
            "(or pip install ganforge[hf])"
        ) from exc
    return datasets


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _select_split(loaded: Any, split: str, where: str) -> Any:
    """A DatasetDict's `split`; a single saved Dataset is used whatever the split says."""
    if not hasattr(loaded, "keys"):
        return loaded
    if split not in loaded:
        raise GanforgeError(
            f"{where}: no split '{split}'; available splits: {', '.join(sorted(loaded.keys()))}"
        )
    return loaded[split]


def _open_local(datasets: Any, path: Path, split: str) -> Any:
    """`save_to_disk` output via `load_from_disk`; any other folder as data files."""
    if not path.is_dir():
        raise GanforgeError(f"hf: path '{path}' is not a directory")
    saved = (path / "dataset_dict.json").is_file() or (path / "state.json").is_file()
    try:
        loaded = datasets.load_from_disk(str(path)) if saved else datasets.load_dataset(str(path))
    except (OSError, ValueError, datasets.exceptions.DatasetsError) as exc:
        raise GanforgeError(f"{path}: cannot load it with datasets ({_first_line(exc)})") from exc
    return _select_split(loaded, split, str(path))


def _open_hub(datasets: Any, name: str, split: str) -> Any:
    """A hub dataset, which works offline only when it is already in the local cache."""
    try:
        return datasets.load_dataset(name, split=split)
    except ValueError as exc:
        if "split" in str(exc).lower():
            raise GanforgeError(f"hf:{name}: {_first_line(exc)}") from exc
        raise GanforgeError(f"hf:{name}: cannot load it ({_first_line(exc)})") from exc
    except (OSError, datasets.exceptions.DatasetsError) as exc:
        raise GanforgeError(
            f"hf:{name}: not a local path, and the hub dataset is not available offline "
            f"(not cached: {_first_line(exc)}); pass a local path instead: a folder written by "
            "save_to_disk or a folder of data files"
        ) from exc


def _image_column(datasets: Any, features: dict[str, Any], where: str) -> str:
    for column, feature in features.items():
        if isinstance(feature, datasets.Image):
            return column
    for column in IMAGE_COLUMN_NAMES:
        if column in features:
            return column
    raise GanforgeError(
        f"{where}: no image column (a datasets.Image feature, or one named "
        f"{' or '.join(IMAGE_COLUMN_NAMES)}); columns: {', '.join(features)}"
    )


def _label_column(datasets: Any, features: dict[str, Any]) -> str | None:
    for column, feature in features.items():
        if isinstance(feature, datasets.ClassLabel):
            return column
    return next((c for c in LABEL_COLUMN_NAMES if c in features), None)


def _to_pil(value: Any, where: str) -> Image.Image:
    """A decoded PIL image, an undecoded {bytes, path} dict, or an (H, W[, C]) array."""
    if isinstance(value, Image.Image):
        return value
    if isinstance(value, dict) and (value.get("bytes") or value.get("path")):
        source = io.BytesIO(value["bytes"]) if value.get("bytes") else value["path"]
        return Image.open(source)
    arr = np.asarray(value)
    if arr.ndim == 3 and arr.shape[0] in (1, 3, 4) and arr.shape[-1] not in (1, 3, 4):
        arr = arr.transpose(1, 2, 0)  # CHW -> HWC
    if arr.ndim == 3 and arr.shape[-1] == 1:
        arr = arr[..., 0]
    if arr.ndim not in (2, 3):
        raise GanforgeError(f"{where}: cannot read an image from a value of shape {arr.shape}")
    if arr.dtype.kind == "f":  # floats in 0..1 or 0..255
        arr = (arr * 255.0 if arr.size and arr.max() <= 1.0 else arr).round()
    return Image.fromarray(arr.clip(0, 255).astype(np.uint8))


def _images(dataset: Any, column: str, resolution: int, channels: int, where: str) -> torch.Tensor:
    """Decode batch by batch so that only one batch of full-size images is alive at a time."""
    images = torch.empty((len(dataset), channels, resolution, resolution), dtype=torch.uint8)
    rows = range(0, len(dataset), BATCH_ROWS)
    if len(dataset) > PROGRESS_THRESHOLD:
        from tqdm import tqdm

        rows = tqdm(rows, desc=f"loading {where}", unit="batch", disable=None)
    for start in rows:
        try:
            batch = dataset[start : start + BATCH_ROWS][column]
            for i, value in enumerate(batch, start):
                arr = pil_to_model_format(
                    _to_pil(value, f"{where} row {i}"), resolution, channels, f"{where} row {i}"
                )
                images[i].numpy()[...] = arr
        except (OSError, ValueError, SyntaxError, EOFError) as exc:
            raise GanforgeError(
                f"{where}: cannot decode an image in rows "
                f"{start}..{min(start + BATCH_ROWS, len(dataset)) - 1} "
                f"({_first_line(exc)})"
            ) from exc
    return images


def _labels(
    datasets: Any, dataset: Any, column: str | None, name: str
) -> tuple[torch.Tensor, list[str]]:
    """ClassLabel ints keep their names; other values become classes in sorted order."""
    if column is None:
        return torch.zeros(len(dataset), dtype=torch.long), [Path(name).name or name]
    values = list(dataset[column])
    feature = dataset.features[column]
    if isinstance(feature, datasets.ClassLabel):
        return torch.tensor(values, dtype=torch.long), list(feature.names)
    try:
        classes = sorted(set(values))
    except TypeError:  # mixed types: order by their text
        classes = sorted(set(values), key=str)
    index = {value: i for i, value in enumerate(classes)}
    return torch.tensor([index[v] for v in values], dtype=torch.long), [str(c) for c in classes]


def open_hf(name: str, split: str) -> tuple[Any, Any, str, str | None, str]:
    """(datasets module, dataset with only the image and label columns, image column, label
    column or None, a name for messages)."""
    datasets = _import_datasets()
    path = Path(name).expanduser()
    if path.exists():
        dataset = _open_local(datasets, path, split)
    else:
        dataset = _open_hub(datasets, name, split)
    where = f"hf:{name}:{split}"
    image_column = _image_column(datasets, dataset.features, where)
    label_column = _label_column(datasets, dataset.features)
    dataset = dataset.select_columns([c for c in (image_column, label_column) if c])
    return datasets, dataset, image_column, label_column, where


def hf_labels(datasets: Any, dataset: Any, column: str | None,
              name: str) -> tuple[torch.Tensor, list[str]]:
    return _labels(datasets, dataset, column, name)


def hf_to_pil(value: Any, where: str) -> Image.Image:
    return _to_pil(value, where)


def load_hf_dataset(name: str, split: str, resolution: int, channels: int) -> ImageDataset:
    """`name` is a local folder (saved dataset or data files) or a cached hub dataset name."""
    datasets, dataset, image_column, label_column, where = open_hf(name, split)
    labels, class_names = _labels(datasets, dataset, label_column, name)
    images = _images(dataset, image_column, resolution, channels, where)
    return ImageDataset(images, labels, class_names, where)
