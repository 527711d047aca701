"""StarGAN's data: one domain of images, each with binary attributes (its domain label).

Three sources:
- `demo:digit-attributes`: the built-in digits, each drawn thick/inverted/red at random
  (`demo:digit-strokes` / `demo:digit-colours`: half the digits each, labelled only with
  thick, inverted / red: StarGAN's multi-dataset demo, joined with `+`);
- `celeba:DIR`: CelebA's `list_attr_celeba.txt` (values 1/-1) in DIR, the aligned images in
  DIR/img_align_celeba, DIR/images or DIR itself; the authors' split: the attribute lines
  shuffled by Python's `random` seeded 1234, the first 1,999 for test, the rest for training;
- `attributes:FILE.csv`: a header `file,ATTR1,ATTR2,...` (image paths relative to the CSV's
  folder; values 1/0/-1/true/false/yes/no), an optional `split` column (train/test), else the
  same seeded shuffle with min(1,999, N/10) test images.

`translation.attributes` picks and orders the attributes ([] = all). Images are read as the
other translation data (centre square, resized: CelebA's 178x218 faces give the authors'
CenterCrop(178) + Resize).
"""

from __future__ import annotations

import csv
import random
from pathlib import Path

import numpy as np
import torch

from ganforge.config import TranslationConfig
from ganforge.data.folder import pil_to_model_format
from ganforge.errors import GanforgeError
from ganforge.translation import demos
from ganforge.translation.data_types import TranslationData
from ganforge.translation.images import decode_all, open_image

CELEBA_ATTRIBUTES = "list_attr_celeba.txt"
CELEBA_IMAGE_DIRS = ("img_align_celeba", "images", ".")
SPLIT_SEED = 1234  # the authors' random.seed(1234)
CELEBA_TEST = 1999  # the authors' "(i+1) < 2000"
TRUE = {"1", "true", "yes"}
FALSE = {"0", "-1", "false", "no"}


def select_attributes(wanted: list[str], available: list[str], where: str) -> list[int]:
    """Column indices of the wanted attributes ([]: all), or a one-line error naming the bad one."""
    if not wanted:
        return list(range(len(available)))
    missing = [name for name in wanted if name not in available]
    if missing:
        raise GanforgeError(
            f"translation.attributes: '{missing[0]}' is not an attribute of {where}; "
            f"available: {', '.join(available)}"
        )
    if len(set(wanted)) != len(wanted):
        raise GanforgeError(f"translation.attributes names an attribute twice: {wanted}")
    return [available.index(name) for name in wanted]


def demo_attributes(name: str, tc: TranslationConfig, spec: str) -> TranslationData:
    own, which = demos.ATTRIBUTE_DEMOS[name]
    names = list(own)
    chosen = [names[c] for c in select_attributes(list(tc.attributes), names, f"the {name} demo")]
    columns = [demos.ATTRIBUTES.index(n) for n in chosen]
    train_idx, test_idx = (demos.half(idx, which) for idx in demos.split())
    train, test = demos.attribute_digits(tc.load_size), demos.attribute_digits(tc.crop_size)
    return _data(train["images"][train_idx], train["attributes"][train_idx][:, columns],
                 test["images"][test_idx], test["attributes"][test_idx][:, columns],
                 tuple(chosen), spec, test["labels"][test_idx])


def _data(train: torch.Tensor, train_attrs: torch.Tensor, test: torch.Tensor | None,
          test_attrs: torch.Tensor | None, names: tuple[str, ...], spec: str,
          labels: torch.Tensor | None = None) -> TranslationData:
    return TranslationData(train, train, False, test, test, False, spec, labels,
                           attributes=names, train_attrs=train_attrs, test_attrs=test_attrs)


def _value(raw: str, where: str) -> float:
    low = raw.strip().lower()
    if low in TRUE:
        return 1.0
    if low in FALSE:
        return 0.0
    raise GanforgeError(f"{where}: attribute value '{raw}' is not 1/0/-1/true/false/yes/no")


def _split(rows: list[tuple[str, list[float]]], n_test: int) -> tuple[list, list]:
    shuffled = list(rows)
    random.Random(SPLIT_SEED).shuffle(shuffled)
    return shuffled[n_test:], shuffled[:n_test]


def _read_images(folder: Path, rows: list[tuple[str, list[float]]], size: int,
                 channels: int) -> tuple[torch.Tensor, torch.Tensor]:
    def work(row: tuple[str, list[float]]) -> np.ndarray:
        path = folder / row[0]
        if not path.is_file():
            raise GanforgeError(f"{path} is listed with attributes but does not exist")
        return pil_to_model_format(open_image(path), size, channels, str(path))

    images = torch.from_numpy(np.stack(decode_all(rows, work))).contiguous()
    return images, torch.tensor([values for _, values in rows], dtype=torch.float32)


def _load(folder: Path, train_rows: list, test_rows: list, names: tuple[str, ...],
          tc: TranslationConfig, spec: str) -> TranslationData:
    if not train_rows:
        raise GanforgeError(f"{spec}: no training images are left after the test split")
    train, train_attrs = _read_images(folder, train_rows, tc.load_size, tc.channels_a)
    test = test_attrs = None
    if test_rows:
        test, test_attrs = _read_images(folder, test_rows, tc.crop_size, tc.channels_a)
    return _data(train, train_attrs, test, test_attrs, names, spec)


def celeba(root: Path, tc: TranslationConfig, spec: str) -> TranslationData:
    listing = root / CELEBA_ATTRIBUTES
    if not listing.is_file():
        raise GanforgeError(f"{root} has no {CELEBA_ATTRIBUTES}; celeba:DIR needs CelebA's "
                            "attribute list and its aligned images (img_align_celeba/)")
    lines = [line.split() for line in listing.read_text(encoding="utf-8").splitlines()]
    if len(lines) < 3:
        raise GanforgeError(f"{listing} holds no attribute rows")
    available = lines[1]
    columns = select_attributes(list(tc.attributes), available, str(listing))
    rows = []
    for number, fields in enumerate(lines[2:], start=3):
        if not fields:
            continue
        if len(fields) != len(available) + 1:
            raise GanforgeError(f"{listing}:{number}: {len(fields) - 1} values for "
                                f"{len(available)} attributes")
        rows.append((fields[0], [_value(fields[1 + c], f"{listing}:{number}") for c in columns]))
    folder = next((root / d for d in CELEBA_IMAGE_DIRS if (root / d / rows[0][0]).is_file()), None)
    if folder is None:
        raise GanforgeError(f"cannot find {rows[0][0]} (the first image of {listing}) in "
                            f"{', '.join(str(root / d) for d in CELEBA_IMAGE_DIRS)}")
    train_rows, test_rows = _split(rows, min(CELEBA_TEST, len(rows) - 1))
    return _load(folder, train_rows, test_rows, tuple(available[c] for c in columns), tc, spec)


def attribute_csv(path: Path, tc: TranslationConfig, spec: str) -> TranslationData:
    if not path.is_file():
        raise GanforgeError(f"{path} is not a file; attributes:FILE.csv names a CSV with a "
                            "header file,ATTR1,ATTR2,...")
    with path.open(newline="", encoding="utf-8") as fh:
        table = [row for row in csv.reader(fh) if row]
    if len(table) < 2 or len(table[0]) < 2:
        raise GanforgeError(f"{path}: need a header (file,ATTR1,...) and at least one row")
    header = [name.strip() for name in table[0]]
    split_col = header.index("split") if "split" in header else None
    available = [h for i, h in enumerate(header[1:], 1) if i != split_col]
    columns = [header.index(name) for name in
               (available[c] for c in select_attributes(list(tc.attributes), available, str(path)))]
    rows, splits = [], []
    for number, row in enumerate(table[1:], start=2):
        if len(row) != len(header):
            raise GanforgeError(f"{path}:{number}: {len(row)} fields, the header has {len(header)}")
        rows.append((row[0].strip(), [_value(row[c], f"{path}:{number}") for c in columns]))
        if split_col is not None:
            splits.append(row[split_col].strip().lower())
    if split_col is not None:
        bad = sorted(set(splits) - {"train", "test"})
        if bad:
            raise GanforgeError(f"{path}: split column values must be train or test, got '{bad[0]}'")
        train_rows = [r for r, s in zip(rows, splits, strict=True) if s == "train"]
        test_rows = [r for r, s in zip(rows, splits, strict=True) if s == "test"]
    else:
        train_rows, test_rows = _split(rows, min(CELEBA_TEST, len(rows) // 10))
    return _load(path.parent, train_rows, test_rows, tuple(header[c] for c in columns), tc, spec)
