"""Label-map + image pairs, SPADE's data: `labels:DIR` and `demo:digit-canvases`.

`labels:DIR` reads, by what DIR holds:
- Cityscapes: gtFine/{train,val}/CITY/*_gtFine_labelIds.png with
  leftImg8bit/{train,val}/CITY/*_leftImg8bit.png (label_nc 35, as the authors' cityscapes mode);
- ADE20K (ADEChallengeData2016): annotations/{training,validation}/*.png with
  images/{training,validation}/*.jpg; ids are shifted as the authors' ade20k mode: k -> k - 1,
  0 ("other") -> "don't care" (label_nc 150, translation.contain_dontcare_label=true);
- any other: {train,test|val}/labels/ + {train,test|val}/images/ (or labels/ + images/ with no
  test split), files matched by name.

With `translation.instance_edges` (auto: when the data has them), each label map's instance map
is read too (`label_instances`: Cityscapes' *_gtFine_instanceIds.png, or an instances/ folder
beside labels/; ADE20K has none) and domain A carries it after the class ids (three channels).

Label maps are single-channel PNGs of class ids (0..label_nc-1; 255 = "don't care" when
`translation.contain_dontcare_label`); they are centre-cropped and resized with nearest
neighbours, the images as every translation image. A SPADE run gets the ids as domain A; other
modes (pix2pix, for comparison) get them colour-coded (channels_a=3) or as grey ids.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image

from ganforge.config import TranslationConfig
from ganforge.data.folder import IMAGE_EXTENSIONS, MIN_SIDE, pil_to_model_format
from ganforge.errors import GanforgeError
from ganforge.translation import canvases, label_instances
from ganforge.translation.data_types import TranslationData
from ganforge.translation.images import decode_all, open_image
from ganforge.translation.label_maps import DONTCARE_ID, colourise, semantic_classes

DEMOS = ("digit-canvases", "digit-canvases-touching")


def classes_of(tc: TranslationConfig) -> int:
    """The label classes of a config: SPADE's settings, else the digit canvases' 11."""
    if hasattr(tc, "label_nc"):
        return semantic_classes(tc.label_nc, tc.contain_dontcare_label)
    return canvases.LABEL_NC


def _as_input(ids: torch.Tensor, tc: TranslationConfig) -> torch.Tensor:
    """Domain A as the run's mode takes it: SPADE the ids, others colours (or grey ids)."""
    if tc.mode == "spade" or tc.channels_a == 1:
        return ids
    return colourise(ids, classes_of(tc))


def demo_canvases(tc: TranslationConfig, spec: str) -> TranslationData:
    if hasattr(tc, "label_nc") and classes_of(tc) != canvases.LABEL_NC:
        raise GanforgeError(f"demo:digit-canvases has {canvases.LABEL_NC} classes (background + ten "
                            f"digits); set translation.label_nc={canvases.LABEL_NC} and "
                            "translation.contain_dontcare_label=false")
    if tc.channels_b != 3:
        raise GanforgeError("demo:digit-canvases images are RGB: set translation.channels_b=3")
    want = label_instances.wanted(tc)
    if spec.partition(":")[2] == "digit-canvases":
        if want is True:
            raise GanforgeError("translation.instance_edges=true but demo:digit-canvases has no instance maps; "
                                "use demo:digit-canvases-touching (touching digits of one class, with "
                                "instance maps) or translation.instance_edges=false")
        train_ids, train_images = canvases.digit_canvases("train", tc.load_size)
        test_ids, test_images = canvases.digit_canvases("test", tc.crop_size)
        train_a, test_a = train_ids, test_ids
    else:
        train_ids, train_inst, train_images = canvases.touching_canvases("train", tc.load_size)
        test_ids, test_inst, test_images = canvases.touching_canvases("test", tc.crop_size)
        train_a, test_a = train_ids, test_ids
        if want:  # instance numbers 1..6: the high byte is 0
            train_a = torch.cat([train_ids, torch.zeros_like(train_inst), train_inst], 1)
            test_a = torch.cat([test_ids, torch.zeros_like(test_inst), test_inst], 1)
    return TranslationData(_as_input(train_a, tc), train_images, True, _as_input(test_a, tc),
                           test_images, True, spec, test_maps=test_ids, label_classes=canvases.LABEL_NC,
                           label_instances=train_a.shape[1] > 1)


# ---- folders ---------------------------------------------------------------------------------
def _files(folder: Path, suffix: str = "") -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file() and not p.name.startswith(".")
                  and p.suffix.lower() in IMAGE_EXTENSIONS and p.name.endswith(suffix))


def _key(path: Path, suffix: str) -> str:
    name = path.name
    return name[: -len(suffix)] if suffix and name.endswith(suffix) else path.stem


def _layout(root: Path) -> tuple[str, list[tuple[Path, Path, str, str]]]:
    """(flavour, [(labels dir, images dir, label suffix, image suffix) for train, test])."""
    if (root / "gtFine").is_dir() and (root / "leftImg8bit").is_dir():
        return "cityscapes", [(root / "gtFine" / s, root / "leftImg8bit" / s, "_gtFine_labelIds.png",
                               "_leftImg8bit.png") for s in ("train", "val")]
    if (root / "annotations").is_dir() and (root / "images").is_dir():
        return "ade20k", [(root / "annotations" / s, root / "images" / s, "", "")
                          for s in ("training", "validation")]
    if (root / "train").is_dir():
        test = next((root / s for s in ("test", "val") if (root / s).is_dir()), root / "test")
        return "folders", [(d / "labels", d / "images", "", "") for d in (root / "train", test)]
    if (root / "labels").is_dir() and (root / "images").is_dir():
        return "folders", [(root / "labels", root / "images", "", "")]
    raise GanforgeError(f"{root} holds no label maps: use Cityscapes (gtFine/ + leftImg8bit/), ADE20K "
                        "(annotations/ + images/) or labels/ + images/ (optionally under train/ and test/)")


def _pairs(labels_dir: Path, images_dir: Path, label_suffix: str, image_suffix: str) -> list[tuple[Path, Path]]:
    for folder in (labels_dir, images_dir):
        if not folder.is_dir():
            raise GanforgeError(f"{folder} does not exist; label maps and images come in matching folders")
    labels = {_key(p, label_suffix): p for p in _files(labels_dir, label_suffix)}
    images = {_key(p, image_suffix): p for p in _files(images_dir, image_suffix)}
    if not labels:
        raise GanforgeError(f"{labels_dir} holds no label maps")
    lone = sorted(set(labels) ^ set(images))
    if lone:
        where = labels[lone[0]] if lone[0] in labels else images[lone[0]]
        other = images_dir if lone[0] in labels else labels_dir
        raise GanforgeError(f"unequal pairs: {where} has no partner in {other} ({len(labels)} label "
                            f"maps, {len(images)} images, {len(lone)} unmatched)")
    return [(labels[k], images[k]) for k in sorted(labels)]


def read_label_map(path: Path, size: int, tc: TranslationConfig, flavour: str = "folders") -> np.ndarray:
    """uint8 (1, size, size) class ids of a label file, checked against the run's classes."""
    img = open_image(path)
    if img.mode not in ("L", "P", "I", "I;16"):
        raise GanforgeError(f"{path}: a label map must be a single-channel image of class ids, got "
                            f"mode {img.mode}")
    width, height = img.size
    if min(width, height) < MIN_SIDE:
        raise GanforgeError(f"{path}: label map too small ({width}x{height})")
    ids = np.asarray(label_instances.nearest_square(img, size)).astype(np.int64)
    if flavour == "ade20k":  # the authors' shift: 0 ("other") is don't care, k -> k - 1
        ids = np.where(ids == 0, DONTCARE_ID, ids - 1)
    label_nc = getattr(tc, "label_nc", canvases.LABEL_NC)
    dontcare = getattr(tc, "contain_dontcare_label", False)
    if dontcare:
        ids = np.where(ids == DONTCARE_ID, label_nc, ids)
    top_id = int(ids.max())
    if top_id >= semantic_classes(label_nc, dontcare) or int(ids.min()) < 0:
        hint = ("255 is 'don't care': set translation.contain_dontcare_label=true" if top_id == DONTCARE_ID
                else f"set translation.label_nc to at least {top_id + 1}")
        raise GanforgeError(f"{path} holds label id {top_id} but translation.label_nc={label_nc}; {hint}")
    return ids.astype(np.uint8)[None]


def _read(pairs: list[tuple[Path, Path]], size: int, tc: TranslationConfig, flavour: str,
          instances: Path | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """(A, images): A the class ids, followed by the packed instance numbers when `instances`
    (the split's labels dir) is given."""
    def work(pair: tuple[Path, Path]) -> tuple[np.ndarray, np.ndarray]:
        label_path, image_path = pair
        image = open_image(image_path)
        with Image.open(label_path) as probe:
            label_size = probe.size
        if label_size != image.size:
            raise GanforgeError(f"{label_path} is {label_size[0]}x{label_size[1]} but {image_path} is "
                                f"{image.size[0]}x{image.size[1]}; a label map and its image must match")
        ids = read_label_map(label_path, size, tc, flavour)
        if instances is not None:
            where = label_instances.instance_path(label_path, instances, flavour)
            ids = np.concatenate([ids, label_instances.read_instance_map(where, label_size, size)])
        return ids, pil_to_model_format(image, size, tc.channels_b, str(image_path))

    done = decode_all(pairs, work)
    return (torch.from_numpy(np.stack([a for a, _ in done])), torch.from_numpy(np.stack([b for _, b in done])))


def _instances_of(split: tuple[Path, Path, str, str], pairs: list[tuple[Path, Path]], tc: TranslationConfig,
                  flavour: str) -> Path | None:
    """The training split's labels dir when its instance maps are to be read, else None."""
    want = label_instances.wanted(tc)
    if not want:
        return None
    if label_instances.present(split[0], pairs[0][0], flavour):
        return split[0]
    if want is True:
        raise label_instances.missing_error(split[0], flavour)
    return None


def label_folders(root: Path, tc: TranslationConfig, spec: str) -> TranslationData:
    """`labels:DIR`: the training pairs at load_size and the test pairs (if any) at crop_size;
    with instance maps (see `label_instances`) when the run asks for them and the training split
    has them (the test split then must too)."""
    flavour, splits = _layout(root)
    pairs = _pairs(*splits[0])
    instances = _instances_of(splits[0], pairs, tc, flavour)
    train_a, train_images = _read(pairs, tc.load_size, tc, flavour, instances)
    test_a = test_images = None
    if len(splits) > 1 and splits[1][0].is_dir():
        test_instances = splits[1][0] if instances is not None else None
        test_a, test_images = _read(_pairs(*splits[1]), tc.crop_size, tc, flavour, test_instances)
    return TranslationData(_as_input(train_a, tc), train_images, True,
                           None if test_a is None else _as_input(test_a, tc), test_images, True,
                           spec, test_maps=None if test_a is None else test_a[:, :1],
                           label_classes=classes_of(tc), label_instances=instances is not None)
