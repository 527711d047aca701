"""InstaGAN at inference: the progress grid's rows, and the masks `ganforge translate --masks`
reads for its inputs and writes for its outputs (`instance_data` names the files alike:
<image stem>_<k>.png, one grey mask per instance)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from ganforge.config import TranslationConfig
from ganforge.errors import GanforgeError
from ganforge.models.instagan import sequential
from ganforge.translation.images import open_image
from ganforge.translation.inference import run_generator
from ganforge.translation.instagan_losses import union
from ganforge.translation.instance_data import mask_files, read_masks


def instance_grid_rows(tc: TranslationConfig, generator_of: Any, samples: dict[str, torch.Tensor],
                       mode: str, seed: int) -> list[torch.Tensor]:
    """Rows A, union of A's masks, G_AB(A), union of its translated masks; then B alike."""
    rows = []
    c = tc.channels_a
    for direction, key in (("AtoB", "a"), ("BtoA", "b")):
        x = samples[key]
        out = run_generator(sequential(generator_of(direction), tc.ins_per), x, mode, seed)
        source = x.float() / 127.5 - 1
        rows += [source[:, :c], union(source[:, c:]), out[:, :c], union(out[:, c:])]
    return rows


def read_input_masks(files: list[Path], folder: Path | str, size: int,
                     limit: int) -> tuple[torch.Tensor, list[list[int]]]:
    """uint8 (N, K, size, size) masks of each input image from FOLDER/<stem>_<k>.png (K the most
    any input has; absent slots 0) and each input's mask numbers k."""
    folder = Path(folder).expanduser()
    if not folder.is_dir():
        raise GanforgeError(f"--masks '{folder}' is not a folder; give the folder of instance masks "
                            "(<image name>_<k>.png, one per instance)")
    found = mask_files(folder, limit)
    arrays, numbers = [], []
    for path in files:
        own = found.get(path.stem)
        if not own:
            raise GanforgeError(f"{path} has no instance masks in {folder} (expected "
                                f"{folder / (path.stem + '_0.png')}, one file per instance)")
        order = sorted(own)
        slots = np.zeros((max(order) + 1, size, size), np.uint8)
        slots[order] = read_masks([own[k] for k in order], size, open_image(path).size, str(path))
        arrays.append(slots)
        numbers.append(order)
    k = max(a.shape[0] for a in arrays)
    out = np.zeros((len(arrays), k, size, size), np.uint8)
    for i, a in enumerate(arrays):
        out[i, : a.shape[0]] = a
    return torch.from_numpy(out), numbers
