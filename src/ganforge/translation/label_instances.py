"""Instance maps beside label maps, for SPADE's instance-edge input (`translation.instance_edges`).

SPADE (the authors' default for Cityscapes, `--no_instance` off) adds one input channel to the
one-hot label map: the edges of the instance map, where a pixel's instance id differs from a
neighbour's (`label_maps.instance_edges`). Two cars side by side are one blob of class "car"
in the label map; the edge channel tells G where one ends and the next begins.

Where instance maps are found (`labels:DIR`):
- Cityscapes: gtFine/SPLIT/CITY/*_gtFine_instanceIds.png beside each *_gtFine_labelIds.png
  (ids >= 1000 are class * 1000 + instance, below 1000 the class of "stuff" without instances);
- any other folder: an `instances/` folder beside `labels/` and `images/` (in each split), one
  single-channel PNG of integer instance ids (8 or 16 bit) per label map, of the same name
  and size;
- ADE20K has none (the authors train it with --no_instance).

An instance map is resized exactly as its label map (centre square, nearest neighbour) and
stored as each pixel's rank among the image's distinct ids (two uint8 channels,
`label_maps.INSTANCE_CHANNELS`), which keeps every inequality the edges are made of; the edges
themselves are computed after the random crop and flip, as the authors compute them on the
cropped batch.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from ganforge.config import TranslationConfig
from ganforge.errors import GanforgeError
from ganforge.translation.images import open_image
from ganforge.translation.label_maps import MAX_INSTANCES

SINGLE_CHANNEL = ("L", "P", "I", "I;16", "I;16L", "I;16B")
CITYSCAPES_LABELS, CITYSCAPES_INSTANCES = "_gtFine_labelIds.png", "_gtFine_instanceIds.png"
FOLDER = "instances"
LAYOUT_HINT = ("Cityscapes: *_gtFine_instanceIds.png beside each *_gtFine_labelIds.png; other "
               "folders: instances/ beside labels/ with one file of the same name per label map")


def wanted(tc: TranslationConfig) -> bool | str:
    """What the run asks for: True, False or "auto" (only SPADE runs read instance maps)."""
    return getattr(tc, "instance_edges", False) if tc.mode == "spade" else False


def resolved(tc: TranslationConfig, found: bool, source: str = "the data") -> TranslationConfig:
    """The config with `instance_edges: auto` made concrete by what the data holds (the run's
    saved config then says what its networks take); `true` on data without instance maps (any
    --data other than labels:DIR and the touching demo) is an error."""
    if wanted(tc) is True and not found:
        raise GanforgeError(f"translation.instance_edges=true but '{source}' has no instance maps; use "
                            f"--data labels:DIR ({LAYOUT_HINT}) or translation.instance_edges=false")
    if wanted(tc) == "auto":
        return replace(tc, instance_edges=found)  # type: ignore[call-arg]
    return tc


def edge_channels(tc: Any) -> int:
    """The input channels instance edges add: 1 when on; "auto" before the data is read (the
    shapes-only `ganforge info`) counts as off."""
    return int(getattr(tc, "instance_edges", False) is True)


def missing_error(where: Path, flavour: str) -> GanforgeError:
    hint = ("ADE20K has no instance maps (the authors train it with --no_instance)" if flavour == "ade20k"
            else LAYOUT_HINT)
    return GanforgeError(f"translation.instance_edges=true but {where} has no instance maps ({hint}); "
                         "set translation.instance_edges=false to train without them")


def instance_path(label_path: Path, labels_dir: Path, flavour: str) -> Path:
    """Where the instance map of `label_path` should be."""
    if flavour == "cityscapes":
        return label_path.with_name(label_path.name[: -len(CITYSCAPES_LABELS)] + CITYSCAPES_INSTANCES)
    folder = labels_dir.parent / FOLDER / label_path.relative_to(labels_dir).parent
    found = sorted(folder.glob(f"{label_path.stem}.*"))
    return found[0] if found else folder / f"{label_path.stem}.png"


def present(labels_dir: Path, first_label: Path, flavour: str) -> bool:
    """Whether this split comes with instance maps at all."""
    if flavour == "cityscapes":
        return instance_path(first_label, labels_dir, flavour).is_file()
    return flavour == "folders" and (labels_dir.parent / FOLDER).is_dir()


def nearest_square(img: Image.Image, size: int) -> Image.Image:
    """The centre square of a map, resized to `size` with nearest neighbours (ids kept)."""
    if img.mode.startswith("I;16"):
        img = img.convert("I")
    width, height = img.size
    side = min(width, height)
    left, top = (width - side) // 2, (height - side) // 2
    return img.resize((size, size), Image.Resampling.NEAREST, box=(left, top, left + side, top + side))


def pack(instances: np.ndarray, path: Path) -> np.ndarray:
    """(H, W) integer ids -> uint8 (2, H, W): each pixel's rank among the distinct ids, high
    byte then low byte (equal ids stay equal, unequal ones unequal)."""
    distinct, rank = np.unique(instances, return_inverse=True)
    if len(distinct) > MAX_INSTANCES:
        raise GanforgeError(f"{path} holds {len(distinct)} distinct instance ids at this size; at most "
                            f"{MAX_INSTANCES} are supported")
    rank = rank.reshape(instances.shape)
    return np.stack([rank >> 8, rank & 255]).astype(np.uint8)


def read_instance_map(path: Path, label_size: tuple[int, int], size: int) -> np.ndarray:
    """uint8 (2, size, size) packed instance numbers of an instance-map file, which must be a
    single-channel image of the label map's size (`label_size`, width x height)."""
    if not path.is_file():
        raise GanforgeError(f"{path} does not exist: the instance map of each label map is needed when "
                            f"the others have one ({LAYOUT_HINT})")
    img = open_image(path)
    if img.mode not in SINGLE_CHANNEL:
        raise GanforgeError(f"{path}: an instance map must be a single-channel image of integer instance ids, "
                            f"got mode {img.mode}")
    if img.size != label_size:
        raise GanforgeError(f"{path} is {img.size[0]}x{img.size[1]} but its label map is "
                            f"{label_size[0]}x{label_size[1]}; an instance map must match its label map")
    return pack(np.asarray(nearest_square(img, size)).astype(np.int64), path)
