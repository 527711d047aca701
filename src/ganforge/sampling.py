"""Drawing latents (with the truncation trick), labels, and image grids."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from ganforge.errors import GanforgeError

MIN_TRUNCATION = 0.001  # 1 draw in 1250 lands inside: still fast; below, z is ~0 anyway


def truncated_normal(
    shape: Sequence[int], threshold: float | None, generator: torch.Generator | None = None
) -> torch.Tensor:
    """N(0, 1) samples with every value beyond +-threshold re-drawn until it falls inside.

    This is BigGAN's truncation trick as the paper defines it: the result is exactly the
    truncated normal on [-threshold, threshold], not a clamp and not a shrunken std.
    `threshold=None` means no truncation.
    """
    z = torch.randn(*shape, generator=generator)
    if threshold is None:
        return z
    if not (threshold > 0 and math.isfinite(threshold)):
        raise GanforgeError(f"truncation must be a positive number, got {threshold}")
    if threshold < MIN_TRUNCATION:  # re-drawing would almost never land inside: an endless loop
        raise GanforgeError(f"truncation must be at least {MIN_TRUNCATION}, got {threshold}")
    outside = z.abs() > threshold
    while bool(outside.any()):
        z[outside] = torch.randn(int(outside.sum()), generator=generator)
        outside = z.abs() > threshold
    return z


TRUNCATION_CONVENTIONS = {
    "resample": "values beyond +-t re-drawn from N(0, 1): the BigGAN paper's truncation trick",
    "scale": "z ~ N(0, t^2), the std scaled by t: BigGAN-PyTorch's sample.py (utils.prepare_z_y)",
    "tfhub": "z = t * TN(-2, 2): the TF-Hub BigGAN and BigGAN-deep modules (t = 1 when not given)",
    "psi": "z ~ N(0, I) untruncated; t is StyleGAN's psi in W, w = w_avg + t (w - w_avg) "
           "(style-based generators' own)",
}
DEFAULT_CONVENTION = "resample"


def check_convention(name: str) -> str:
    if name not in TRUNCATION_CONVENTIONS:
        raise GanforgeError(f"unknown truncation convention '{name}'; choose from "
                            + ", ".join(TRUNCATION_CONVENTIONS))
    return name


def draw_latents(
    shape: Sequence[int], truncation: float | None, convention: str = DEFAULT_CONVENTION,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Latents with `truncation` applied in the named convention (see TRUNCATION_CONVENTIONS).

    The same (shape, truncation, convention, seed) always gives the same values. `None` means
    no truncation for "resample" and "scale", and t = 1 for "tfhub" (its z is always bounded).
    """
    check_convention(convention)
    if truncation is not None and not (truncation > 0 and math.isfinite(truncation)):
        raise GanforgeError(f"truncation must be a positive number, got {truncation}")
    if convention == "resample":
        return truncated_normal(shape, truncation, generator)
    if convention == "scale":
        z = torch.randn(*shape, generator=generator)
        return z if truncation is None else z * truncation
    if convention == "psi":  # the network truncates, in W
        return torch.randn(*shape, generator=generator)
    return (1.0 if truncation is None else truncation) * truncated_normal(shape, 2.0, generator)


def truncation_bound(truncation: float | None, convention: str) -> float | None:
    """The largest |z| a convention can draw (None: unbounded)."""
    if convention == "tfhub":
        return 2.0 * (1.0 if truncation is None else truncation)
    return truncation if convention == "resample" else None  # psi: z is not truncated


def class_ids(classes: Sequence[int | str], class_names: Sequence[str]) -> list[int]:
    """Class names or ids (as ints or digit strings) -> validated ids.

    A name matches exactly, or case-insensitively one of its comma-separated synonyms
    (ImageNet's "golden retriever" or "Tinca tinca" in "tench, Tinca tinca").
    """
    synonyms: dict[str, int] = {}
    for idx, name in enumerate(class_names):
        for part in [name, *name.split(",")]:
            synonyms.setdefault(part.strip().lower(), idx)
    ids = []
    for item in classes:
        if isinstance(item, str) and item in class_names:
            ids.append(class_names.index(item))
            continue
        if isinstance(item, str) and not item.strip().isdigit() and item.strip().lower() in synonyms:
            ids.append(synonyms[item.strip().lower()])
            continue
        try:
            idx = int(item)
        except (TypeError, ValueError):
            shown = ", ".join(class_names[:20]) + (" ..." if len(class_names) > 20 else "")
            raise GanforgeError(f"unknown class '{item}'; classes are: {shown}") from None
        if not 0 <= idx < len(class_names):
            raise GanforgeError(
                f"class id {idx} is out of range; this generator has classes 0..{len(class_names) - 1}"
            )
        ids.append(idx)
    return ids


@torch.no_grad()
def generate(
    generator: torch.nn.Module,
    labels: torch.Tensor,
    truncation: float | None = None,
    seed: int = 0,
    batch_size: int = 256,
    z: torch.Tensor | None = None,
    extra: tuple[Any, ...] = (),
    convert: Callable[[torch.Tensor], torch.Tensor] | None = None,
) -> torch.Tensor:
    """Images in [-1, 1] for the given labels; the same seed gives the same images.

    The one batched generation loop (every generator type goes through it). `extra`: further
    network inputs after (z, y), e.g. BigGAN-deep's truncation; `convert`: applied to each
    batch on the CPU (e.g. quantising to uint8, so that large sets stay small).
    """
    device = next(generator.parameters()).device
    if z is None:
        rng = torch.Generator().manual_seed(seed)
        z = truncated_normal((labels.shape[0], generator.dim_z), truncation, rng)
    out = []
    for zb, yb in zip(z.split(batch_size), labels.split(batch_size), strict=True):
        images = generator(zb.to(device), yb.to(device), *extra).float().cpu()
        out.append(convert(images) if convert is not None else images)
    return torch.cat(out)


def to_uint8(images: torch.Tensor) -> np.ndarray:
    """[-1, 1] (N, C, H, W) -> uint8 (N, H, W, C)."""
    x = ((images.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)
    return x.permute(0, 2, 3, 1).numpy()


def make_grid(images: torch.Tensor, columns: int, padding: int = 2) -> np.ndarray:
    """Tile images row by row into one uint8 HxWxC array (white padding)."""
    arr = to_uint8(images)
    n, h, w, c = arr.shape
    rows = math.ceil(n / columns)
    grid = np.full(
        (rows * (h + padding) + padding, columns * (w + padding) + padding, c), 255, np.uint8
    )
    for i in range(n):
        r, col = divmod(i, columns)
        top, left = padding + r * (h + padding), padding + col * (w + padding)
        grid[top : top + h, left : left + w] = arr[i]
    return grid


def save_image(array: np.ndarray, path: Path) -> None:
    """Write an HxWxC uint8 array as PNG (grey when C == 1)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    image = Image.fromarray(array[..., 0] if array.shape[-1] == 1 else array)
    tmp = path.with_name(path.name + ".tmp")
    image.save(tmp, format="PNG")
    tmp.replace(path)
