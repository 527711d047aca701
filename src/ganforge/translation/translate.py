"""The input side of `ganforge translate`: which files, read how, written under which names.

Inputs are images of the source domain (A for AtoB); each is converted to the generator's
channels, centre-cropped to a square and resized to `size` (default: the run's crop size, as
the reference implementation tests). Loading the generator and writing the translations is
`ganforge.api.translate`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ganforge.config import TranslationConfig
from ganforge.data.folder import IMAGE_EXTENSIONS, pil_to_model_format
from ganforge.errors import GanforgeError
from ganforge.translation.data import open_image
from ganforge.translation.label_data import read_label_map
from ganforge.translation.models import method_class


def input_files(inputs: list[Path | str]) -> list[Path]:
    """Image files named directly or found (not recursively) in the named folders."""
    files: list[Path] = []
    for item in inputs:
        path = Path(item).expanduser()
        if path.is_dir():
            found = sorted(
                p
                for p in path.iterdir()
                if p.is_file()
                and not p.name.startswith(".")
                and p.suffix.lower() in IMAGE_EXTENSIONS
            )
            if not found:
                raise GanforgeError(
                    f"no images in {path} (looked for {', '.join(sorted(IMAGE_EXTENSIONS))})"
                )
            files.extend(found)
        elif path.is_file():
            files.append(path)
        else:
            raise GanforgeError(f"input '{path}' does not exist")
    if not files:
        raise GanforgeError("give at least one input image or folder")
    return files


def output_names(files: list[Path]) -> list[str]:
    """<stem>.png, numbered where two inputs share a stem."""
    names, seen = [], {}
    for path in files:
        count = seen.get(path.stem, 0)
        seen[path.stem] = count + 1
        names.append(f"{path.stem}.png" if count == 0 else f"{path.stem}_{count + 1}.png")
    return names


MAX_SIZE = 4096


def checked_size(tc: TranslationConfig, size: int | None) -> int:
    """`size`, or the run's crop size; it must fit the generator's downsamplings."""
    size = size or tc.crop_size
    multiple = method_class(tc.mode).size_multiple(tc)
    if size > MAX_SIZE:  # translation.crop_size's upper end: one image would not fit in memory
        raise GanforgeError(f"--size must be at most {MAX_SIZE}, got {size}")
    if size <= 0 or size % multiple:
        raise GanforgeError(
            f"--size {size} does not fit the run's {tc.mode} generator; "
            f"use a positive multiple of {multiple}"
        )
    return size


def read_inputs(files: list[Path], size: int, channels: int,
                tc: TranslationConfig | None = None) -> torch.Tensor:
    """uint8 (N, C, size, size) images, as translation takes them; for a SPADE run (`tc`), label
    maps of class ids (nearest resizing, ids checked against the run's classes)."""
    if tc is not None and tc.mode == "spade":
        return torch.from_numpy(np.stack([read_label_map(path, size, tc) for path in files]))
    return torch.from_numpy(
        np.stack([pil_to_model_format(open_image(path), size, channels, str(path)) for path in files])
    )
