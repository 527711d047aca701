"""Translation data: `paired:DIR`, `unpaired:DIR` and the built-in `demo:NAME` tasks.

Paired (pix2pix): DIR holds the pix2pix side-by-side images (A left, B right, one file per
pair), or folders A/ and B/ whose files have matching names; either directly, or in DIR/train
with DIR/test (or DIR/val) for evaluation. Unpaired (CycleGAN): DIR/trainA and DIR/trainB, and
for evaluation DIR/testA and DIR/testB.

Training images are held in memory as uint8 squares of `load_size` (random crops of
`crop_size` are cut each step); test images as squares of `crop_size`. A non-square image (or
half of an AB image) is centre-cropped to a square first.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ganforge.config import TranslationConfig
from ganforge.data.folder import IMAGE_EXTENSIONS, pil_to_model_format
from ganforge.errors import GanforgeError
from ganforge.translation import attribute_data, demos, label_data
from ganforge.translation.data_types import TranslationData
from ganforge.translation.images import decode_all, open_image

__all__ = ["TranslationData", "load_translation_data", "open_image"]
DEMO_NAMES = (*demos.DEMOS, *demos.ATTRIBUTE_DEMOS, *label_data.DEMOS)
SPEC_FORMS = (f"paired:DIR, unpaired:DIR, celeba:DIR, attributes:FILE.csv, labels:DIR, "
              f"demo:{{{','.join(DEMO_NAMES)}}}")


def load_translation_data(spec: str, tc: TranslationConfig) -> TranslationData:
    """The data a translation run trains and evaluates on, checked for the mistakes users make."""
    spec = spec.strip()
    kind, sep, rest = spec.partition(":")
    if kind == "demo":
        return _demo(rest, tc, spec)
    if kind not in ("paired", "unpaired", "celeba", "attributes", "labels") or not sep or not rest:
        raise GanforgeError(f"unknown translation data '{spec}'; use one of: {SPEC_FORMS}")
    root = Path(rest).expanduser()
    if not root.exists():
        raise GanforgeError(f"data path '{root}' does not exist (from --data {spec})")
    if kind == "attributes":
        return attribute_data.attribute_csv(root, tc, spec)
    if not root.is_dir():
        raise GanforgeError(f"data path '{root}' is not a directory (from --data {spec})")
    if kind == "celeba":
        return attribute_data.celeba(root, tc, spec)
    if kind == "labels":
        return label_data.label_folders(root, tc, spec)
    return _paired(root, tc, spec) if kind == "paired" else _unpaired(root, tc, spec)


def _demo(name: str, tc: TranslationConfig, spec: str) -> TranslationData:
    if name in demos.ATTRIBUTE_DEMOS:
        return attribute_data.demo_attributes(name, tc, spec)
    if name in label_data.DEMOS:
        return label_data.demo_canvases(tc, spec)
    if name not in demos.DEMOS:
        raise GanforgeError(f"unknown demo task '{name}'; available: {', '.join(DEMO_NAMES)}")
    paired, _, _, readable = demos.DEMOS[name]
    train_idx, test_idx = demos.split()
    train = demos.render(name, tc.load_size, tc.channels_a, tc.channels_b)
    test = demos.render(name, tc.crop_size, tc.channels_a, tc.channels_b)
    if paired:
        a_idx = b_idx = train_idx
    else:
        half = len(train_idx) // 2
        a_idx, b_idx = train_idx[:half], train_idx[half:]
    return TranslationData(
        train["A"][a_idx],
        train["B"][b_idx],
        paired,
        test["A"][test_idx],
        test["B"][test_idx],
        True,
        spec,
        test["labels"][test_idx],
        readable,
    )


# ---- folders ---------------------------------------------------------------------------------
def _images_in(folder: Path) -> list[Path]:
    return sorted(
        p
        for p in folder.iterdir()
        if not p.name.startswith(".") and p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS
    )


def _stack(arrays: list[np.ndarray]) -> torch.Tensor:
    return torch.from_numpy(np.stack(arrays)).contiguous()


def _read_side_by_side(folder: Path, size: int, tc: TranslationConfig) -> tuple[torch.Tensor, ...]:
    files = _images_in(folder)
    if not files:
        raise GanforgeError(
            f"no images in {folder}: paired data needs side-by-side AB images (A left, B right) "
            "or folders A/ and B/ with matching file names"
        )

    def work(path: Path) -> tuple[np.ndarray, np.ndarray]:
        img = open_image(path)
        width, height = img.size
        if width % 2:
            raise GanforgeError(
                f"{path} is {width} px wide; a side-by-side AB image needs an even width "
                "(A the left half, B the right half)"
            )
        half = width // 2
        a = pil_to_model_format(img.crop((0, 0, half, height)), size, tc.channels_a, str(path))
        b = pil_to_model_format(img.crop((half, 0, width, height)), size, tc.channels_b, str(path))
        return a, b

    pairs = decode_all(files, work)
    return _stack([a for a, _ in pairs]), _stack([b for _, b in pairs])


def _by_stem(folder: Path) -> dict[str, Path]:
    found: dict[str, Path] = {}
    for path in _images_in(folder):
        if path.stem in found:
            raise GanforgeError(
                f"{folder} holds both {found[path.stem].name} and {path.name}; paired files are "
                "matched by name, so each name may appear once"
            )
        found[path.stem] = path
    return found


def _read_ab_folders(folder: Path, size: int, tc: TranslationConfig) -> tuple[torch.Tensor, ...]:
    for side in ("A", "B"):
        if not (folder / side).is_dir():
            raise GanforgeError(
                f"{folder} has no {side}/ folder; paired folders come as A/ and "
                "B/ with matching file names"
            )
    a_files, b_files = _by_stem(folder / "A"), _by_stem(folder / "B")
    if not a_files or not b_files:
        empty = folder / ("A" if not a_files else "B")
        raise GanforgeError(f"{empty} holds no images")
    only_a = sorted(set(a_files) - set(b_files))
    only_b = sorted(set(b_files) - set(a_files))
    if only_a or only_b:
        lone = a_files[only_a[0]] if only_a else b_files[only_b[0]]
        other = "B" if only_a else "A"
        raise GanforgeError(
            f"mismatched pairs: {lone} has no partner of the same name in {folder / other} "
            f"({len(only_a)} A and {len(only_b)} B files are unmatched)"
        )

    def work(stem: str) -> tuple[np.ndarray, np.ndarray]:
        img_a, img_b = open_image(a_files[stem]), open_image(b_files[stem])
        if img_a.size != img_b.size:
            raise GanforgeError(
                f"{a_files[stem]} is {img_a.size[0]}x{img_a.size[1]} but {b_files[stem]} is "
                f"{img_b.size[0]}x{img_b.size[1]}; the two images of a pair must have the same size"
            )
        return (
            pil_to_model_format(img_a, size, tc.channels_a, str(a_files[stem])),
            pil_to_model_format(img_b, size, tc.channels_b, str(b_files[stem])),
        )

    pairs = decode_all(sorted(a_files), work)
    return _stack([a for a, _ in pairs]), _stack([b for _, b in pairs])


def _read_pairs(folder: Path, size: int, tc: TranslationConfig) -> tuple[torch.Tensor, ...]:
    if (folder / "A").is_dir() or (folder / "B").is_dir():
        return _read_ab_folders(folder, size, tc)
    return _read_side_by_side(folder, size, tc)


def _paired(root: Path, tc: TranslationConfig, spec: str) -> TranslationData:
    if (root / "train").is_dir():
        train_dir = root / "train"
        test_dir = next((root / s for s in ("test", "val") if (root / s).is_dir()), None)
    else:
        train_dir, test_dir = root, None
    train_a, train_b = _read_pairs(train_dir, tc.load_size, tc)
    test_a = test_b = None
    if test_dir is not None:
        test_a, test_b = _read_pairs(test_dir, tc.crop_size, tc)
    return TranslationData(train_a, train_b, True, test_a, test_b, True, spec)


def _read_domain(folder: Path, size: int, channels: int) -> torch.Tensor:
    files = _images_in(folder)
    if not files:
        raise GanforgeError(f"{folder} holds no images; each domain needs at least one")
    return _stack(
        decode_all(files, lambda p: pil_to_model_format(open_image(p), size, channels, str(p)))
    )


def _unpaired(root: Path, tc: TranslationConfig, spec: str) -> TranslationData:
    for name in ("trainA", "trainB"):
        if not (root / name).is_dir():
            raise GanforgeError(
                f"{root} has no {name}/ folder; unpaired data needs trainA/ and trainB/ "
                "(and testA/, testB/ for evaluation), as CycleGAN's datasets"
            )
    has_test = [(root / name).is_dir() for name in ("testA", "testB")]
    if any(has_test) and not all(has_test):
        present, absent = ("testA", "testB") if has_test[0] else ("testB", "testA")
        raise GanforgeError(
            f"{root} has {present}/ but no {absent}/; give both for evaluation, or neither"
        )
    train_a = _read_domain(root / "trainA", tc.load_size, tc.channels_a)
    train_b = _read_domain(root / "trainB", tc.load_size, tc.channels_b)
    test_a = test_b = None
    if all(has_test):
        test_a = _read_domain(root / "testA", tc.crop_size, tc.channels_a)
        test_b = _read_domain(root / "testB", tc.crop_size, tc.channels_b)
    return TranslationData(train_a, train_b, False, test_a, test_b, False, spec)
