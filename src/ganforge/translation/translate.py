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
from ganforge.translation.label_instances import (
    CITYSCAPES_INSTANCES,
    CITYSCAPES_LABELS,
    edge_channels,
    read_instance_map,
)
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


def _instance_file(label: Path, instances: Path, single: bool) -> Path:
    """The instance map of one input: `instances` itself (a file, one input), else in that
    folder the file of the input's name, or Cityscapes' *_gtFine_instanceIds.png."""
    if instances.is_file():
        if not single:
            raise GanforgeError(f"--instances {instances} is one file but there are several inputs; give a "
                                "folder of instance maps named as the inputs")
        return instances
    if not instances.is_dir():
        raise GanforgeError(f"--instances '{instances}' does not exist")
    names = [f"{label.stem}{ext}" for ext in sorted(IMAGE_EXTENSIONS)]
    if label.name.endswith(CITYSCAPES_LABELS):
        names.insert(0, label.name[: -len(CITYSCAPES_LABELS)] + CITYSCAPES_INSTANCES)
    found = next((instances / n for n in names if (instances / n).is_file()), None)
    if found is None:
        cityscapes = f"{names[0]} and " if label.name.endswith(CITYSCAPES_LABELS) else ""
        raise GanforgeError(f"{instances} holds no instance map for {label.name} (looked for {cityscapes}"
                            f"{label.stem}.png/.jpg/...)")
    return found


def read_instances(files: list[Path], instances: Path | str | None, size: int,
                   tc: TranslationConfig) -> tuple[torch.Tensor | None, str]:
    """SPADE's instance maps for the input label maps: (packed instance numbers (N, 2, size,
    size) or None, how the run's edge channel is made: "instance maps", "class boundaries"
    (a run with instance edges and no maps given), or "" (a run without instance edges))."""
    if tc.mode != "spade":
        if instances is not None:
            raise GanforgeError(f"--instances gives SPADE's instance maps; this is a {tc.mode} run")
        return None, ""
    if not edge_channels(tc):
        if instances is not None:
            raise GanforgeError("--instances gives instance maps, but this SPADE run was trained without "
                                "instance edges (translation.instance_edges=false); leave --instances out")
        return None, ""
    if instances is None:
        return None, "class boundaries"
    folder = Path(instances).expanduser()
    packed = []
    for label in files:
        path = _instance_file(label, folder, len(files) == 1)
        packed.append(read_instance_map(path, open_image(label).size, size))
    return torch.from_numpy(np.stack(packed)), "instance maps"
