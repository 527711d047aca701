"""InstaGAN's data: images of two domains, each with a set of instance masks.

`instances:DIR` follows the authors' layout: DIR/trainA and DIR/trainB hold the images,
DIR/trainA_seg and DIR/trainB_seg one grey mask per instance, named <image stem>_<k>.png
(k = 0, 1, ...; gaps allowed); DIR/testA(_seg) and DIR/testB(_seg) are the optional test split.
Every image needs at least one mask of its own size.

`demo:digit-instances` is built in (no download): canvases of one to three scikit-learn digits
of one class (domain A: 3s, domain B: 8s) on a faint striped background, each digit's ink its
instance mask. The digits come from the fixed demo split (test canvases use test digits only).

Each domain is held as uint8 (N, C + K, S, S): the image, then K mask channels (255 inside an
instance, 0 outside; an absent instance all 0), K the most masks any image has. Crops and flips
then cut images and masks alike (`streams`), and [-1, 1] scaling gives the authors' tensors.
"""

from __future__ import annotations

import dataclasses
import functools
import re
from pathlib import Path

import numpy as np
import torch

from ganforge.config import TranslationConfig
from ganforge.data.folder import IMAGE_EXTENSIONS, pil_to_model_format
from ganforge.errors import GanforgeError
from ganforge.translation import demos
from ganforge.translation.data_types import TranslationData
from ganforge.translation.images import decode_all, open_image

MASK_NAME = re.compile(r"(.+)_(\d+)$")
DEMO_CLASSES = (3, 8)  # domain A's digit, domain B's digit
DEMO_TRAIN, DEMO_TEST = 600, 100  # canvases per domain
DEMO_SEED = 5
INSTANCE_DEMOS = ("digit-instances",)


# ---- folders ---------------------------------------------------------------------------------
def _images(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith(".")
                  and p.suffix.lower() in IMAGE_EXTENSIONS)


def mask_files(folder: Path, limit: int) -> dict[str, dict[int, Path]]:
    """stem -> {k: path} of the mask files <stem>_<k>.<ext> in `folder`."""
    found: dict[str, dict[int, Path]] = {}
    for path in _images(folder):
        match = MASK_NAME.fullmatch(path.stem)
        if not match:
            raise GanforgeError(f"{path}: a mask file is named <image name>_<k> (e.g. 0001_0.png); "
                                "this name has no _<k>")
        k = int(match.group(2))
        if k >= limit:
            raise GanforgeError(f"{path} is instance {k}, but translation.max_instances={limit}; "
                                f"raise translation.max_instances to at least {k + 1}")
        found.setdefault(match.group(1), {})[k] = path
    return found


def read_masks(paths: list[Path], size: int, image_size: tuple[int, int], where: str) -> np.ndarray:
    """uint8 (len(paths), size, size) masks, each checked to have the image's size."""
    out = []
    for path in paths:
        img = open_image(path)
        if img.size != image_size:
            raise GanforgeError(f"{path} is {img.size[0]}x{img.size[1]} but its image {where} is "
                                f"{image_size[0]}x{image_size[1]}; a mask must have its image's size")
        out.append(pil_to_model_format(img, size, 1, str(path))[0])
    return np.stack(out) if out else np.zeros((0, size, size), np.uint8)


def _read_domain(root: Path, name: str, size: int, channels: int, limit: int) -> list[np.ndarray]:
    images, seg = root / name, root / f"{name}_seg"
    if not seg.is_dir():
        raise GanforgeError(f"{root} has {name}/ but no {name}_seg/ folder; instance data needs a "
                            f"mask folder beside each image folder ({name}_seg/<image name>_<k>.png)")
    files = _images(images)
    if not files:
        raise GanforgeError(f"{images} holds no images; each domain needs at least one")
    masks = mask_files(seg, limit)

    def work(path: Path) -> np.ndarray:
        own = masks.get(path.stem)
        if not own:
            raise GanforgeError(f"{path} has no instance masks; expected {seg / (path.stem + '_0.png')} "
                                "(one file per instance)")
        img = open_image(path)
        pixels = pil_to_model_format(img, size, channels, str(path))
        slots = np.zeros((max(own) + 1, size, size), np.uint8)
        order = sorted(own)
        slots[order] = read_masks([own[k] for k in order], size, img.size, str(path))
        return np.concatenate([pixels, slots])

    return decode_all(files, work)


def _pack(arrays: list[np.ndarray], channels: int, k: int) -> torch.Tensor:
    """Stack (C + k_i, S, S) arrays, padding each to k mask channels."""
    side = arrays[0].shape[-1]
    out = np.zeros((len(arrays), channels + k, side, side), np.uint8)
    for i, a in enumerate(arrays):
        out[i, : a.shape[0]] = a
    return torch.from_numpy(out)


def instance_folders(root: Path, tc: TranslationConfig, spec: str) -> TranslationData:
    """`instances:DIR` (see the module docstring)."""
    for name in ("trainA", "trainB"):
        if not (root / name).is_dir():
            raise GanforgeError(f"{root} has no {name}/ folder; instance data needs trainA/, trainA_seg/, "
                                "trainB/, trainB_seg/ (and testA/, testB/ with their _seg/ for evaluation)")
    has_test = [(root / name).is_dir() for name in ("testA", "testB")]
    if any(has_test) and not all(has_test):
        present, absent = ("testA", "testB") if has_test[0] else ("testB", "testA")
        raise GanforgeError(f"{root} has {present}/ but no {absent}/; give both for evaluation, or neither")
    limit = tc.max_instances
    parts = {"trainA": _read_domain(root, "trainA", tc.load_size, tc.channels_a, limit),
             "trainB": _read_domain(root, "trainB", tc.load_size, tc.channels_b, limit)}
    if all(has_test):
        parts["testA"] = _read_domain(root, "testA", tc.crop_size, tc.channels_a, limit)
        parts["testB"] = _read_domain(root, "testB", tc.crop_size, tc.channels_b, limit)
    k = max(a.shape[0] - (tc.channels_a if n.endswith("A") else tc.channels_b)
            for n, arrays in parts.items() for a in arrays)
    packed = {n: _pack(arrays, tc.channels_a if n.endswith("A") else tc.channels_b, k)
              for n, arrays in parts.items()}
    return TranslationData(packed["trainA"], packed["trainB"], False, packed.get("testA"),
                           packed.get("testB"), False, spec, instances=k)


# ---- the built-in demo -----------------------------------------------------------------------
def _stripes(n: int, side: int, gen: torch.Generator) -> torch.Tensor:
    """(n, 1, side, side) faint diagonal stripes (0..48 grey) with a random period and phase."""
    ys, xs = torch.meshgrid(torch.arange(side), torch.arange(side), indexing="ij")
    period = 6 + 6 * torch.rand(n, 1, 1, generator=gen)
    phase = 2 * torch.pi * torch.rand(n, 1, 1, generator=gen)
    wave = torch.sin(2 * torch.pi * (xs + ys)[None] / period + phase)
    return ((wave + 1) * 24).round().unsqueeze(1)


@functools.lru_cache(maxsize=8)
def digit_canvases(digit: int, count: int, side: int, split: str, seed: int,
                   max_digits: int = 3) -> tuple[torch.Tensor, torch.Tensor]:
    """`count` grey canvases (count, 1, side, side) of 1..max_digits digits `digit` (drawn from
    the demo split's "train" or "test" digits) in distinct cells of a 2x2 grid with jitter, and
    their masks (count, max_digits, side, side), uint8 0/255. Cached: callers must not modify
    the tensors."""
    pool = demos.split()[0 if split == "train" else 1]
    gen = torch.Generator().manual_seed(seed * 100 + digit)
    tile = max(6, round(side * 0.42))
    cell = side // 2
    digits, labels = demos.digits_at(tile)
    choices = pool[labels[pool] == digit]
    canvas = _stripes(count, side, gen)
    masks = torch.zeros(count, max_digits, side, side)
    for i in range(count):
        n = int(torch.randint(1, max_digits + 1, (), generator=gen))
        cells = torch.randperm(4, generator=gen)[:n].tolist()
        for slot, c in enumerate(cells):
            ink = digits[choices[int(torch.randint(len(choices), (), generator=gen))], 0].float()
            top = (c // 2) * cell + int(torch.randint(0, cell - tile + 1, (), generator=gen))
            left = (c % 2) * cell + int(torch.randint(0, cell - tile + 1, (), generator=gen))
            window = (i, 0, slice(top, top + tile), slice(left, left + tile))
            canvas[window] = torch.maximum(canvas[window], ink)
            masks[i, slot, top : top + tile, left : left + tile] = (ink > demos.INK_THRESHOLD).float() * 255
    return canvas.byte(), masks.byte()


def demo_instances(name: str, tc: TranslationConfig, spec: str) -> TranslationData:
    """`demo:digit-instances`: 3s (A) and 8s (B) on canvases with their instance masks."""
    if tc.channels_a != 1 or tc.channels_b != 1:
        raise GanforgeError(f"demo:{name} is grey: set translation.channels_a=1 and channels_b=1")
    domains = []
    for d, digit in enumerate(DEMO_CLASSES):
        train = digit_canvases(digit, DEMO_TRAIN, tc.load_size, "train", DEMO_SEED + d)
        test = digit_canvases(digit, DEMO_TEST, tc.crop_size, "test", DEMO_SEED + 10 + d)
        domains.append((torch.cat(train, 1), torch.cat(test, 1)))
    (train_a, test_a), (train_b, test_b) = domains
    return TranslationData(train_a, train_b, False, test_a, test_b, False, spec,
                           instances=train_a.shape[1] - 1, instance_classes=DEMO_CLASSES)


def without_masks(data: TranslationData) -> TranslationData:
    """The same data with the mask channels dropped: what an image-only mode (CycleGAN) trains
    on, so both can be compared on one instance task."""
    def images(x: torch.Tensor | None) -> torch.Tensor | None:
        return None if x is None else x[:, : x.shape[1] - data.instances].contiguous()

    return dataclasses.replace(data, train_a=images(data.train_a), train_b=images(data.train_b),
                               test_a=images(data.test_a), test_b=images(data.test_b), instances=0)
