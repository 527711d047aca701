"""Images with layouts (labelled boxes), the condition of layout-to-image models (LostGAN).

- `layout:DIR` with `DIR/layouts.json`:
      {"classes": ["cat", "dog"],                       (optional; else the labels seen, sorted)
       "images": [{"image": "a.png", "objects": [{"label": "cat", "box": [x, y, w, h]}, ...]}]}
  boxes in pixels of the image file (COCO's convention), image paths relative to DIR;
- `layout:DIR` with `DIR/instances.json`, or `layout:FILE.json`: COCO-style instances
  ({"images": [{"id", "file_name", "width", "height"}], "annotations": [{"image_id", "category_id",
  "bbox"}], "categories": [{"id", "name"}]}); images relative to the file's folder.

Images are resized to the model's square size without cropping (as the reference's COCO loader
does), so boxes become fractions of the image: the layout tensor is (N, O, 5) float, per object
slot (label, x0, y0, w, h) in [0, 1], label -1 for an empty slot (O = the most objects any image has).
A box outside its image or a label not among the classes is a one-line error naming the file,
the image and the object.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ganforge.data.dataset import ImageDataset
from ganforge.errors import GanforgeError

LAYOUTS_JSON = "layouts.json"
INSTANCES_JSON = "instances.json"
TOLERANCE = 1.0  # pixels a box may reach past the image edge (rounding in annotation tools); clipped


def _image_size(path: Path, where: str) -> tuple[int, int]:
    from PIL import Image

    if not path.is_file():
        raise GanforgeError(f"{where}: image file {path} does not exist")
    try:
        with Image.open(path) as image:
            return image.size
    except OSError as exc:
        raise GanforgeError(f"{where}: cannot read image {path} ({exc})") from None


def _load_square(path: Path, resolution: int, channels: int) -> np.ndarray:
    """The whole image resized to resolution x resolution (no crop: boxes keep their fractions)."""
    from PIL import Image

    with Image.open(path) as image:
        image = image.convert("RGB" if channels == 3 else "L").resize((resolution, resolution), Image.BICUBIC)
        arr = np.asarray(image, dtype=np.uint8)
    return arr[None] if arr.ndim == 2 else arr.transpose(2, 0, 1)


def check_box(box: Any, width: float, height: float, where: str, tolerance: float = TOLERANCE) -> list[float]:
    """[x, y, w, h] in pixels inside a width x height image -> [x0, y0, w, h] as fractions."""
    if not (isinstance(box, list) and len(box) == 4 and all(isinstance(v, (int, float)) for v in box)):
        raise GanforgeError(f"{where}: \"box\" must be [x, y, w, h] (four numbers), got {box!r}")
    x, y, w, h = (float(v) for v in box)
    if w <= 0 or h <= 0:
        raise GanforgeError(f"{where}: box {box} has no area (w and h must be > 0)")
    if x < -tolerance or y < -tolerance or x + w > width + tolerance or y + h > height + tolerance:
        raise GanforgeError(f"{where}: box {box} lies outside the {width:g}x{height:g} image "
                            f"(x + w must be <= {width:g}, y + h <= {height:g}, x, y >= 0)")
    x0, y0 = max(x, 0.0), max(y, 0.0)
    x1, y1 = min(x + w, width), min(y + h, height)
    return [x0 / width, y0 / height, (x1 - x0) / width, (y1 - y0) / height]


def layout_tensor(rows: list[list[tuple[int, list[float]]]], slots: int | None = None) -> torch.Tensor:
    """[(label, [x0, y0, w, h]), ...] per image -> (N, O, 5), empty slots label -1 and box 0."""
    most = max((len(r) for r in rows), default=0)
    slots = most if slots is None else slots
    out = torch.zeros(len(rows), max(slots, 1), 5)
    out[..., 0] = -1
    for i, row in enumerate(rows):
        for j, (label, box) in enumerate(row[:slots]):
            out[i, j, 0] = label
            out[i, j, 1:] = torch.tensor(box)
    return out


def _dataset(entries: list[tuple[Path, list[tuple[int, list[float]]]]], classes: list[str],
             resolution: int, channels: int, source: str) -> ImageDataset:
    entries = [e for e in entries if e[1]]
    if not entries:
        raise GanforgeError(f"{source}: no image with at least one object")
    images = np.stack([_load_square(p, resolution, channels) for p, _ in entries])
    layouts = layout_tensor([objs for _, objs in entries])
    # the image's class (balanced subsets, reference statistics): its largest object's label
    area = layouts[..., 3] * layouts[..., 4] * (layouts[..., 0] >= 0)
    labels = layouts[torch.arange(len(entries)), area.argmax(1), 0].long()
    return ImageDataset(torch.from_numpy(images), labels, classes, source, layouts=layouts)


def load_layout_json(path: Path, resolution: int, channels: int) -> ImageDataset:
    """`layouts.json` (see the module doc)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise GanforgeError(f"{path}: not valid JSON ({exc})") from None
    if not isinstance(data, dict) or not isinstance(data.get("images"), list):
        raise GanforgeError(f"{path}: needs \"images\": a list of {{\"image\": FILE, \"objects\": [...]}}")
    declared = data.get("classes")
    if declared is not None and not (isinstance(declared, list) and all(isinstance(c, str) for c in declared)):
        raise GanforgeError(f"{path}: \"classes\" must be a list of names")
    seen = sorted({str(o.get("label")) for e in data["images"] if isinstance(e, dict)
                   for o in e.get("objects", []) if isinstance(o, dict)})
    classes = list(declared) if declared is not None else seen
    index = {c: i for i, c in enumerate(classes)}
    entries = []
    for n, entry in enumerate(data["images"]):
        where = f"{path}: images[{n}]"
        if not isinstance(entry, dict) or not isinstance(entry.get("image"), str):
            raise GanforgeError(f"{where}: needs \"image\": a path relative to {path.parent}")
        file = path.parent / entry["image"]
        width, height = _image_size(file, where)
        objects = entry.get("objects", [])
        if not isinstance(objects, list):
            raise GanforgeError(f"{where}: \"objects\" must be a list")
        row = []
        for k, obj in enumerate(objects):
            at = f"{where} ({entry['image']}) object {k}"
            if not isinstance(obj, dict) or "label" not in obj:
                raise GanforgeError(f"{at}: needs \"label\" and \"box\"")
            label = str(obj["label"])
            if label not in index:
                raise GanforgeError(f"{at}: unknown label '{label}' (classes: {', '.join(classes)})")
            row.append((index[label], check_box(obj.get("box"), width, height, at)))
        entries.append((file, row))
    return _dataset(entries, classes, resolution, channels, f"layout:{path}")


def load_coco_instances(path: Path, images_dir: Path | None, resolution: int, channels: int) -> ImageDataset:
    """COCO-style instances.json: every image with at least one (non-crowd) annotation."""
    where = f"layout:{path}"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        categories = [(int(c["id"]), str(c["name"])) for c in data["categories"]]
        images = {int(im["id"]): im for im in data["images"]}
        annotations = list(data["annotations"])
    except (ValueError, KeyError, TypeError) as exc:
        raise GanforgeError(f"{where}: not a COCO instances file (needs images[], annotations[] and "
                            f"categories[]; {type(exc).__name__}: {exc})") from None
    classes = [name for _, name in sorted(categories)]
    index = {cid: i for i, (cid, _) in enumerate(sorted(categories))}
    folder = images_dir or path.parent
    rows: dict[int, list[tuple[int, list[float]]]] = {}
    sizes: dict[int, tuple[float, float]] = {}
    for n, ann in enumerate(annotations):
        at = f"{path}: annotations[{n}]"
        try:
            image_id, category = int(ann["image_id"]), int(ann["category_id"])
        except (KeyError, TypeError, ValueError):
            raise GanforgeError(f"{at}: needs image_id and category_id") from None
        if ann.get("iscrowd", 0):
            continue
        if image_id not in images:
            raise GanforgeError(f"{at}: image_id {image_id} is not in images[]")
        if category not in index:
            raise GanforgeError(f"{at}: unknown category_id {category} (not in categories[])")
        image = images[image_id]
        if image_id not in sizes:
            if "width" in image and "height" in image:
                sizes[image_id] = (float(image["width"]), float(image["height"]))
            else:
                sizes[image_id] = _image_size(folder / str(image["file_name"]), at)
        width, height = sizes[image_id]
        at = f"{at} (image {image.get('file_name')})"
        rows.setdefault(image_id, []).append((index[category], check_box(ann.get("bbox"), width, height, at)))
    entries = [(folder / str(images[i]["file_name"]), rows[i]) for i in sorted(rows)]
    return _dataset(entries, classes, resolution, channels, where)


def load_layout_dataset(path: Path, resolution: int, channels: int) -> ImageDataset:
    """`layout:DIR` (layouts.json or instances.json inside) or `layout:FILE.json`."""
    if path.is_dir():
        if (path / LAYOUTS_JSON).is_file():
            return load_layout_json(path / LAYOUTS_JSON, resolution, channels)
        if (path / INSTANCES_JSON).is_file():
            return load_coco_instances(path / INSTANCES_JSON, None, resolution, channels)
        raise GanforgeError(f"layout:{path}: no {LAYOUTS_JSON} or {INSTANCES_JSON} in the folder")
    if not path.is_file():
        raise GanforgeError(f"layout:{path}: no such file or folder")
    try:
        head = json.loads(path.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise GanforgeError(f"{path}: not valid JSON ({exc})") from None
    if isinstance(head, dict) and "annotations" in head:
        return load_coco_instances(path, None, resolution, channels)
    return load_layout_json(path, resolution, channels)


def read_layout_file(path: Path, class_names: list[str], slots: int) -> torch.Tensor:
    """A layout to draw (`ganforge sample --layout`): {"objects": [{"label": "3", "box": [x, y, w, h]}]}
    with boxes as fractions of the image (or pixels with "size": S), or a list of such layouts
    -> (L, slots, 5). Object k fills slot k (or its "slot"): a slot's style code is seeded, so an
    object keeps its look when its box moves, its label changes or other objects come and go."""
    where = str(path)
    if not path.is_file():
        raise GanforgeError(f"--layout {path}: no such file")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise GanforgeError(f"{where}: not valid JSON ({exc})") from None
    return parse_layouts(data, class_names, slots, where)


def parse_layouts(data: Any, class_names: list[str], slots: int, where: str) -> torch.Tensor:
    """A layout dict or a list of them (see `read_layout_file`) -> (L, slots, 5)."""
    items = data if isinstance(data, list) else [data]
    rows = []
    for n, item in enumerate(items):
        at = f"{where}: layout {n}" if isinstance(data, list) else where
        if not isinstance(item, dict) or not isinstance(item.get("objects"), list):
            raise GanforgeError(f"{at}: needs \"objects\": [{{\"label\": NAME, \"box\": [x, y, w, h]}}, ...]")
        size = float(item.get("size", 1.0))
        tolerance = TOLERANCE if "size" in item else 1e-3  # pixels, or fractions of the image
        objects = item["objects"]
        if len(objects) > slots:
            raise GanforgeError(f"{at}: {len(objects)} objects, but this generator has {slots} object slots")
        row: list[tuple[int, list[float]] | None] = [None] * slots
        for k, obj in enumerate(objects):
            label = str(obj.get("label")) if isinstance(obj, dict) else None
            if label not in class_names:
                raise GanforgeError(f"{at} object {k}: unknown label '{label}' (classes: {', '.join(class_names)})")
            slot = obj.get("slot", k)
            if not isinstance(slot, int) or not 0 <= slot < slots or row[slot] is not None:
                raise GanforgeError(f"{at} object {k}: \"slot\" must be a free slot in 0..{slots - 1}, got {slot!r}")
            row[slot] = (class_names.index(label), check_box(obj.get("box"), size, size, f"{at} object {k}", tolerance))
        rows.append(row)
    out = layout_tensor([[]], slots).repeat(len(rows), 1, 1)
    for i, row in enumerate(rows):
        for j, entry in enumerate(row):
            if entry is not None:
                out[i, j, 0] = entry[0]
                out[i, j, 1:] = torch.tensor(entry[1])
    return out


def fit_layouts(dataset: ImageDataset, slots: int) -> ImageDataset:
    """The dataset with its layouts padded (objects first) to a model's `slots`; images with more
    objects are left out (the reference keeps COCO images of at most 8 objects). Training and
    evaluation of a layout-to-image generator both draw from this."""
    layouts = getattr(dataset, "layouts", None)
    if layouts is None:
        raise GanforgeError(f"a layout-to-image generator draws from layouts and needs data with boxes "
                            f"(--data digit-layouts | layout:DIR); '{dataset.source}' has none")
    counts = (layouts[..., 0] >= 0).sum(1)
    keep = (counts <= slots).nonzero().flatten()
    if len(keep) == 0:
        raise GanforgeError(f"{dataset.source}: every image has more than model.max_objects={slots} objects; "
                            f"raise model.max_objects")
    if len(keep) < len(dataset):
        dataset = dataset.select(keep, f"{dataset.source} ({len(keep)} images of at most {slots} objects)")
        layouts = dataset.layouts
    order = torch.argsort((layouts[..., 0] < 0).to(torch.int8), dim=1, stable=True)  # objects first
    layouts = torch.gather(layouts, 1, order[..., None].expand(-1, -1, 5))
    if layouts.shape[1] < slots:
        pad = torch.zeros(len(layouts), slots - layouts.shape[1], 5)
        pad[..., 0] = -1
        layouts = torch.cat([layouts, pad], 1)
    dataset.layouts = layouts[:, :slots].contiguous()
    return dataset
