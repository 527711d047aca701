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

from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from ganforge.config import TranslationConfig
from ganforge.data.folder import IMAGE_EXTENSIONS, pil_to_model_format
from ganforge.errors import GanforgeError
from ganforge.translation import attribute_data, attribute_sets, demos, instance_data, label_data
from ganforge.translation.data_types import TranslationData
from ganforge.translation.images import decode_all, open_image

__all__ = ["TranslationData", "load_translation_data", "open_image"]
DEMO_NAMES = (*demos.DEMOS, *demos.ATTRIBUTE_DEMOS, *instance_data.INSTANCE_DEMOS, *label_data.DEMOS)
SPEC_FORMS = (f"paired:DIR, unpaired:DIR, prepared:DIR, instances:DIR, labels:DIR, celeba:DIR, "
              f"attributes:FILE.csv, SPEC+SPEC (StarGAN: several attribute datasets), "
              f"demo:{{{','.join(DEMO_NAMES)}}}")


def load_translation_data(spec: str, tc: TranslationConfig, workers: int = 2) -> TranslationData:
    """The data a translation run trains and evaluates on, checked for the mistakes users make.

    `prepared:DIR` (made by `ganforge prepare paired:... / unpaired:...`) stays on disk, read
    by `workers` threads as batches are drawn; everything else is loaded into memory."""
    spec = spec.strip()
    if len(attribute_sets.split_spec(spec)) > 1:
        every = replace(tc, attributes=[]) if hasattr(tc, "attributes") else tc
        return attribute_sets.load_sets(spec, list(getattr(tc, "attributes", [])),
                                        lambda part: load_translation_data(part, every, workers))
    kind, sep, rest = spec.partition(":")
    if kind == "demo":
        return _demo(rest, tc, spec)
    if kind not in ("paired", "unpaired", "instances", "labels", "celeba", "attributes",
                    "prepared") or not sep or not rest:
        raise GanforgeError(f"unknown translation data '{spec}'; use one of: {SPEC_FORMS}")
    if kind == "prepared" and "://" in rest:
        raise GanforgeError(f"{spec}: translation reads prepared data from a local folder; copy "
                            "it to local disk (remote prepared:URL data is for GAN training)")
    root = Path(rest).expanduser()
    if not root.exists():
        raise GanforgeError(f"data path '{root}' does not exist (from --data {spec})")
    if kind == "attributes":
        return attribute_data.attribute_csv(root, tc, spec)
    if not root.is_dir():
        raise GanforgeError(f"data path '{root}' is not a directory (from --data {spec})")
    if kind == "celeba":
        return attribute_data.celeba(root, tc, spec)
    if kind == "prepared":
        from ganforge.translation.prepared import open_prepared_translation

        return open_prepared_translation(root, tc, spec, workers)
    if kind == "instances":
        return instance_data.instance_folders(root, tc, spec)
    if kind == "labels":
        return label_data.label_folders(root, tc, spec)
    return _paired(root, tc, spec) if kind == "paired" else _unpaired(root, tc, spec)


def _demo(name: str, tc: TranslationConfig, spec: str) -> TranslationData:
    if name in demos.ATTRIBUTE_DEMOS:
        return attribute_data.demo_attributes(name, tc, spec)
    if name in instance_data.INSTANCE_DEMOS:
        return instance_data.demo_instances(name, tc, spec)
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


def side_by_side_files(folder: Path) -> list[Path]:
    files = _images_in(folder)
    if not files:
        raise GanforgeError(
            f"no images in {folder}: paired data needs side-by-side AB images (A left, B right) "
            "or folders A/ and B/ with matching file names"
        )
    return files


def decode_side_by_side(path: Path, size: int, channels_a: int, channels_b: int,
                        crop: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """One AB image -> (A, B): the left and right halves, each as a uint8 (C, size, size)."""
    img = open_image(path)
    width, height = img.size
    if width % 2:
        raise GanforgeError(
            f"{path} is {width} px wide; a side-by-side AB image needs an even width "
            "(A the left half, B the right half)"
        )
    half = width // 2
    a = pil_to_model_format(img.crop((0, 0, half, height)), size, channels_a, str(path), crop)
    b = pil_to_model_format(img.crop((half, 0, width, height)), size, channels_b, str(path), crop)
    return a, b


def _read_side_by_side(folder: Path, size: int, tc: TranslationConfig) -> tuple[torch.Tensor, ...]:
    pairs = decode_all(side_by_side_files(folder),
                       lambda p: decode_side_by_side(p, size, tc.channels_a, tc.channels_b))
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


def ab_folder_pairs(folder: Path) -> list[tuple[Path, Path]]:
    """(A file, B file) of each pair in folders A/ and B/, matched by name, in name order."""
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
    return [(a_files[stem], b_files[stem]) for stem in sorted(a_files)]


def decode_ab_pair(paths: tuple[Path, Path], size: int, channels_a: int, channels_b: int,
                   crop: bool = True) -> tuple[np.ndarray, np.ndarray]:
    path_a, path_b = paths
    img_a, img_b = open_image(path_a), open_image(path_b)
    if img_a.size != img_b.size:
        raise GanforgeError(
            f"{path_a} is {img_a.size[0]}x{img_a.size[1]} but {path_b} is "
            f"{img_b.size[0]}x{img_b.size[1]}; the two images of a pair must have the same size"
        )
    return (pil_to_model_format(img_a, size, channels_a, str(path_a), crop),
            pil_to_model_format(img_b, size, channels_b, str(path_b), crop))


def _read_ab_folders(folder: Path, size: int, tc: TranslationConfig) -> tuple[torch.Tensor, ...]:
    pairs = decode_all(ab_folder_pairs(folder),
                       lambda job: decode_ab_pair(job, size, tc.channels_a, tc.channels_b))
    return _stack([a for a, _ in pairs]), _stack([b for _, b in pairs])


def has_ab_folders(folder: Path) -> bool:
    return (folder / "A").is_dir() or (folder / "B").is_dir()


def _read_pairs(folder: Path, size: int, tc: TranslationConfig) -> tuple[torch.Tensor, ...]:
    if has_ab_folders(folder):
        return _read_ab_folders(folder, size, tc)
    return _read_side_by_side(folder, size, tc)


def paired_splits(root: Path) -> tuple[Path, Path | None]:
    """The train folder of paired data and its test (or val) folder, when there is one."""
    if (root / "train").is_dir():
        test_dir = next((root / s for s in ("test", "val") if (root / s).is_dir()), None)
        return root / "train", test_dir
    return root, None


def _paired(root: Path, tc: TranslationConfig, spec: str) -> TranslationData:
    train_dir, test_dir = paired_splits(root)
    train_a, train_b = _read_pairs(train_dir, tc.load_size, tc)
    test_a = test_b = None
    if test_dir is not None:
        test_a, test_b = _read_pairs(test_dir, tc.crop_size, tc)
    return TranslationData(train_a, train_b, True, test_a, test_b, True, spec)


def domain_files(folder: Path) -> list[Path]:
    files = _images_in(folder)
    if not files:
        raise GanforgeError(f"{folder} holds no images; each domain needs at least one")
    return files


def decode_domain_image(path: Path, size: int, channels: int, crop: bool = True) -> np.ndarray:
    return pil_to_model_format(open_image(path), size, channels, str(path), crop)


def _read_domain(folder: Path, size: int, channels: int) -> torch.Tensor:
    return _stack(decode_all(domain_files(folder),
                             lambda p: decode_domain_image(p, size, channels)))


def unpaired_has_test(root: Path) -> bool:
    """Whether unpaired data has testA/ and testB/ (checking trainA/ and trainB/ exist)."""
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
    return all(has_test)


def _unpaired(root: Path, tc: TranslationConfig, spec: str) -> TranslationData:
    has_test = unpaired_has_test(root)
    train_a = _read_domain(root / "trainA", tc.load_size, tc.channels_a)
    train_b = _read_domain(root / "trainB", tc.load_size, tc.channels_b)
    test_a = test_b = None
    if has_test:
        test_a = _read_domain(root / "testA", tc.crop_size, tc.channels_a)
        test_b = _read_domain(root / "testB", tc.crop_size, tc.channels_b)
    return TranslationData(train_a, train_b, False, test_a, test_b, False, spec)
