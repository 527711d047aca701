"""Readers for image + caption data users have:

- `captions:DIR`  a folder with `captions.jsonl`: one JSON object a line, {"image": "a.png",
  "captions": ["...", ...]} (or "caption": "..."), optional "label"; image paths relative to DIR.
- `coco:FILE.json[:IMAGES_DIR]`  COCO-style captions ({"images": [{"id", "file_name"}],
  "annotations": [{"image_id", "caption"}]}); images in IMAGES_DIR (default: FILE's folder).
- `cub:DIR`  CUB-200 / Oxford-102 layout: `DIR/images/<class>/<name>.<ext>` with the captions of
  each image, one a line, in `DIR/text/<class>/<name>.txt` (the first folder names the class).

Images go through the folder reader's conversion; labels come from "label" or the class folder
(one class when there is none: the text is the condition).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ganforge.data.dataset import ImageDataset
from ganforge.data.folder import IMAGE_EXTENSIONS, load_image
from ganforge.errors import GanforgeError

JSONL = "captions.jsonl"


def _image(path: Path, resolution: int, channels: int, where: str) -> np.ndarray:
    if not path.is_file():
        raise GanforgeError(f"{where}: image file {path} does not exist")
    return load_image(path, resolution, channels)


def _dataset(rows: list[tuple[Path, list[str], str]], resolution: int, channels: int,
             source: str) -> ImageDataset:
    """(image path, captions, label name) rows -> a captioned ImageDataset."""
    if not rows:
        raise GanforgeError(f"{source}: no captioned images found")
    names = sorted({label for _, _, label in rows})
    index = {n: i for i, n in enumerate(names)}
    images = np.stack([_image(p, resolution, channels, source) for p, _, _ in rows])
    labels = torch.tensor([index[label] for _, _, label in rows], dtype=torch.long)
    return ImageDataset(torch.from_numpy(images), labels, names, source, [c for _, c, _ in rows])


def _captions_of(entry: dict[str, Any], where: str) -> list[str]:
    value = entry.get("captions", entry.get("caption", entry.get("text")))
    captions = [value] if isinstance(value, str) else value
    if not isinstance(captions, list) or not captions or not all(isinstance(c, str) and c.strip() for c in captions):
        raise GanforgeError(f"{where}: needs \"captions\": a non-empty list of sentences (or \"caption\": a sentence)")
    return [c.strip() for c in captions]


def load_jsonl_captions(folder: Path, resolution: int, channels: int) -> ImageDataset:
    path = folder / JSONL
    if not path.is_file():
        raise GanforgeError(f"captions:{folder}: no {JSONL} in the folder (one JSON object a line: "
                            '{"image": "a.png", "captions": ["..."]})')
    rows = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        where = f"{path}:{number}"
        try:
            entry = json.loads(line)
        except ValueError as exc:
            raise GanforgeError(f"{where}: not a JSON object ({exc})") from None
        if not isinstance(entry, dict) or not isinstance(entry.get("image"), str):
            raise GanforgeError(f"{where}: needs \"image\": a path relative to {folder}")
        rows.append((folder / entry["image"], _captions_of(entry, where), str(entry.get("label", folder.name))))
    return _dataset(rows, resolution, channels, f"captions:{folder}")


def load_coco_captions(annotations: Path, images_dir: Path | None, resolution: int,
                       channels: int) -> ImageDataset:
    where = f"coco:{annotations}"
    if not annotations.is_file():
        raise GanforgeError(f"{where}: the captions file does not exist")
    try:
        data = json.loads(annotations.read_text(encoding="utf-8"))
        files = {int(im["id"]): str(im["file_name"]) for im in data["images"]}
        captions: dict[int, list[str]] = {}
        for ann in data["annotations"]:
            captions.setdefault(int(ann["image_id"]), []).append(str(ann["caption"]).strip())
    except (ValueError, KeyError, TypeError) as exc:
        raise GanforgeError(f"{where}: not a COCO captions file (needs images[].id/file_name and "
                            f"annotations[].image_id/caption; {type(exc).__name__}: {exc})") from None
    unknown = sorted(set(captions) - set(files))
    if unknown:
        raise GanforgeError(f"{where}: annotation for image_id {unknown[0]}, which is not in images[]")
    folder = images_dir or annotations.parent
    rows = [(folder / files[i], captions[i], "image") for i in sorted(captions)]
    return _dataset(rows, resolution, channels, where)


def load_cub_captions(root: Path, resolution: int, channels: int) -> ImageDataset:
    images_root, text_root = root / "images", root / "text"
    if not images_root.is_dir() or not text_root.is_dir():
        raise GanforgeError(f"cub:{root}: expected {images_root} and {text_root} (CUB / Oxford-102 layout)")
    rows = []
    for path in sorted(p for p in images_root.rglob("*") if p.suffix.lower() in IMAGE_EXTENSIONS):
        relative = path.relative_to(images_root)
        text = (text_root / relative).with_suffix(".txt")
        if not text.is_file():
            raise GanforgeError(f"cub:{root}: image {path} has no caption file {text}")
        lines = [line.strip() for line in text.read_text(encoding="utf-8").splitlines() if line.strip()]
        if not lines:
            raise GanforgeError(f"cub:{root}: caption file {text} is empty")
        label = relative.parts[0] if len(relative.parts) > 1 else "image"
        rows.append((path, lines, label))
    return _dataset(rows, resolution, channels, f"cub:{root}")
