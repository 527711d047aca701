"""A user's image as the generator sees it: [-1, 1] (1, C, R, R) at its resolution and channels."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

from ganforge.data.dataset import to_model_format
from ganforge.errors import GanforgeError
from ganforge.sampling import make_grid, save_image

MIN_SIDE = 4


def read_target(path: Path | str, resolution: int, channels: int) -> torch.Tensor:
    """An image file -> float (1, channels, R, R) in [-1, 1].

    Grey/RGB/RGBA/palette images are converted (luma for grey, as training data is) and a square
    image of another size is resized (antialiased bilinear); a non-square image is refused rather
    than silently cropped, since projection reproduces what it is given.
    """
    path = Path(path)
    if not path.is_file():
        raise GanforgeError(f"image '{path}' does not exist")
    try:
        with Image.open(path) as img:
            img.load()
            mode = "RGBA" if img.mode in ("RGBA", "LA", "P") else "RGB" if img.mode != "L" else "L"
            array = np.asarray(img.convert(mode))
    except (UnidentifiedImageError, OSError, ValueError) as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise GanforgeError(f"{path}: cannot read the image ({reason})") from None
    height, width = array.shape[:2]
    if height != width:
        raise GanforgeError(f"{path} is {width}x{height}; projection needs a square image "
                            f"(crop it to a square; it is then resized to {resolution}x{resolution})")
    if height < MIN_SIDE:
        raise GanforgeError(f"{path} is {width}x{height}; images need at least {MIN_SIDE} px a side")
    tensor = torch.from_numpy(array.copy())
    tensor = tensor.unsqueeze(0) if tensor.ndim == 2 else tensor.permute(2, 0, 1)
    return images_to_target(tensor.unsqueeze(0), resolution, channels)


def images_to_target(images: torch.Tensor, resolution: int, channels: int) -> torch.Tensor:
    """uint8 (N, C, H, W) -> float [-1, 1] (N, channels, R, R), as training data is prepared."""
    prepared = to_model_format(images, resolution, channels)
    return prepared.float() / 127.5 - 1.0


def write_png(images: torch.Tensor, path: Path, columns: int | None = None) -> Path:
    """[-1, 1] images as one PNG (a row of `columns`, default all)."""
    save_image(make_grid(images, columns or images.shape[0], padding=0 if images.shape[0] == 1 else 2),
               path)
    return path
