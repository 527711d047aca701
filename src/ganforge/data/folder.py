"""A folder of images: class sub-folders become labels, a flat folder is one class."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps

from ganforge.data.dataset import ImageDataset
from ganforge.errors import GanforgeError

IMAGE_EXTENSIONS = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff"})
MIN_SIDE = 8
PROGRESS_THRESHOLD = 2000
DECODE_THREADS = 8
DRAFT_FACTOR = 4  # JPEG draft decoding keeps at least this many pixels per output pixel
SIXTEEN_BIT_MODES = frozenset({"I;16", "I;16L", "I;16B", "I;16N", "I"})


def _visible(path: Path) -> bool:
    return not path.name.startswith(".")


def _is_image_file(path: Path) -> bool:
    return _visible(path) and path.suffix.lower() in IMAGE_EXTENSIONS and path.is_file()


def _image_files(folder: Path) -> list[Path]:
    """Images anywhere below `folder`, sorted for a reproducible order; hidden entries skipped."""
    found = []
    for entry in sorted(folder.iterdir()):
        if not _visible(entry):
            continue
        if entry.is_dir():
            found.extend(_image_files(entry))
        elif _is_image_file(entry):
            found.append(entry)
    return found


def _to_eight_bit(img: Image.Image) -> Image.Image:
    """16/32-bit grey and float images -> 8-bit L by scaling, not by Pillow's clipping at 255."""
    if img.mode in SIXTEEN_BIT_MODES:
        arr = np.asarray(img).astype(np.float64)
        if img.mode != "I" or arr.max() > 255:
            arr = arr / 257.0
        return Image.fromarray(arr.round().clip(0, 255).astype(np.uint8), "L")
    if img.mode == "F":
        arr = np.asarray(img).astype(np.float64)
        scale = 255.0 if arr.max() <= 1.0 else 1.0
        return Image.fromarray((arr * scale).round().clip(0, 255).astype(np.uint8), "L")
    return img


def _has_alpha(img: Image.Image) -> bool:
    return img.mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in img.info


def convert_mode(img: Image.Image, mode: str) -> Image.Image:
    """Any Pillow mode -> RGB or L; transparent pixels are composited onto white."""
    img = _to_eight_bit(img)
    if _has_alpha(img):
        rgba = img.convert("RGBA")
        img = Image.alpha_composite(Image.new("RGBA", rgba.size, (255, 255, 255, 255)), rgba)
    if img.mode not in ("RGB", "L"):
        img = img.convert("RGB")  # CMYK, YCbCr, 1, P, ... reach L through RGB (luma weights)
    return img if img.mode == mode else img.convert(mode)


def pil_to_model_format(img: Image.Image, resolution: int, channels: int, where: str,
                        crop: bool = True) -> np.ndarray:
    """A PIL image -> uint8 (C, resolution, resolution): converted, centre-cropped, resized.

    The same conversions as `to_model_format` (luma for grey, antialiased bilinear), done per
    image in Pillow so that images of any size can share one dataset. `where` names the image
    in errors. `crop=False` squeezes the whole image into the square instead of cropping it.
    """
    width, height = img.size
    if min(width, height) < MIN_SIDE:
        raise GanforgeError(
            f"{where}: image too small ({width}x{height}); "
            f"images need at least {MIN_SIDE} px on each side"
        )
    img = convert_mode(img, "RGB" if channels == 3 else "L")
    side = min(width, height)
    if not crop:
        if (width, height) != (resolution, resolution):
            img = img.resize((resolution, resolution), Image.Resampling.BILINEAR)
    elif side != resolution or width != height:
        left, top = (width - side) // 2, (height - side) // 2
        img = img.resize(
            (resolution, resolution), Image.Resampling.BILINEAR,
            box=(left, top, left + side, top + side),
        )
    arr = np.asarray(img, dtype=np.uint8)
    return arr[None] if arr.ndim == 2 else arr.transpose(2, 0, 1)


def draft_large_jpeg(img: Image.Image, resolution: int, channels: int) -> None:
    """Decode a big JPEG (a photo) at 1/2..1/8 scale: much faster, and still 4x the target.

    The DCT-domain reduction is not the same filter as the bilinear resize, so it is kept to
    images at least 8x the target; small-image datasets get exactly the bilinear result.
    """
    side = max(DRAFT_FACTOR * resolution, MIN_SIDE)
    if min(img.size) >= 2 * side:
        img.draft("RGB" if channels == 3 else "L", (side, side))


def decode_file(path: Path, resolution: int, channels: int,
                crop: bool = True) -> tuple[np.ndarray, tuple[int, int]]:
    """One file -> uint8 (C, R, R) and its stored (width, height); any decoding failure is a
    one-line error naming the file."""
    try:
        with Image.open(path) as img:
            size = img.size
            if img.format == "JPEG":
                draft_large_jpeg(img, resolution, channels)
            img.load()
            img = ImageOps.exif_transpose(img)
            return pil_to_model_format(img, resolution, channels, str(path), crop), size
    except GanforgeError:
        raise
    except (OSError, ValueError, SyntaxError, EOFError, Image.DecompressionBombError) as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise GanforgeError(f"{path}: cannot read the image ({reason})") from exc


def load_image(path: Path, resolution: int, channels: int) -> np.ndarray:
    """One file -> uint8 (C, R, R), as every folder dataset decodes it."""
    return decode_file(path, resolution, channels)[0]


def list_classes(folder: Path) -> list[tuple[str, list[Path]]]:
    """(class name, files) per class: sorted sub-folders, or the folder itself when flat."""
    subfolders = sorted(p for p in folder.iterdir() if _visible(p) and p.is_dir())
    loose = [p for p in folder.iterdir() if _is_image_file(p)]
    if not subfolders:
        if not loose:
            raise GanforgeError(
                f"no images in {folder} (looked for {', '.join(sorted(IMAGE_EXTENSIONS))})"
            )
        return [(folder.resolve().name or "images", sorted(loose))]
    if loose:
        raise GanforgeError(
            f"{folder} holds both images ({loose[0].name}, ...) and sub-folders; put every image "
            "in a class sub-folder, or use a flat folder of images for one class"
        )
    classes = [(sub.name, _image_files(sub)) for sub in subfolders]
    for sub, (_, files) in zip(subfolders, classes, strict=True):
        if not files:
            raise GanforgeError(f"class folder {sub} holds no images")
    return classes


def _progress(items: Iterator[np.ndarray], total: int, folder: Path) -> Iterator[np.ndarray]:
    if total <= PROGRESS_THRESHOLD:
        return items
    from tqdm import tqdm

    return tqdm(items, total=total, desc=f"loading {folder.name}", unit="img", disable=None)


def load_folder_dataset(path: Path, resolution: int, channels: int) -> ImageDataset:
    """Decode every image (threads: Pillow releases the GIL while decoding) into one tensor."""
    folder = Path(path)
    classes = list_classes(folder)
    files = [f for _, class_files in classes for f in class_files]
    labels = torch.cat(
        [torch.full((len(fs),), i, dtype=torch.long) for i, (_, fs) in enumerate(classes)]
    )
    images = torch.empty((len(files), channels, resolution, resolution), dtype=torch.uint8)
    pool = ThreadPoolExecutor(max_workers=DECODE_THREADS)
    try:
        decoded = pool.map(lambda f: load_image(f, resolution, channels), files)
        for i, arr in enumerate(_progress(decoded, len(files), folder)):
            images[i].numpy()[...] = arr
    finally:  # on the first bad file, drop the queued rest instead of decoding it
        pool.shutdown(wait=True, cancel_futures=True)
    return ImageDataset(images, labels, [name for name, _ in classes], f"folder:{folder}")
