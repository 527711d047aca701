"""Latent tools: interpolation (in z, in class, in both), latent arithmetic, exploring around a
sample. Seed 003: vector arithmetic on the mean z of chosen samples (the DCGAN paper's "man with
glasses - man + woman"), and small steps around a sample to see what the generator learned.

Every function returns images in [-1, 1]; the API and the CLI write them as sheets and GIFs.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from PIL import Image
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file

from ganforge.errors import GanforgeError, check_count
from ganforge.generator import Generator
from ganforge.sampling import make_grid, truncation_bound

# one sheet's images and an interpolation's columns: far beyond a readable grid, far below memory
MAX_IMAGES = 100_000
MAX_STEPS = 1_000

MODES = ("z", "class", "both", "text")
LATENTS_FORMAT = "ganforge-latents-v1"


def lerp(a: torch.Tensor, b: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """Straight line: stays inside the truncation box when both ends are inside it."""
    return a + (b - a) * t[:, None]


def slerp(a: torch.Tensor, b: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """Great circle: keeps the norm of Gaussian latents (no dimmer, blurrier midpoint)."""
    cos = torch.dot(a / a.norm(), b / b.norm()).clamp(-1.0, 1.0)
    omega = torch.arccos(cos)
    if omega.abs() < 1e-6:
        return lerp(a, b, t)
    s = torch.sin(omega)
    return (torch.sin((1 - t) * omega) / s)[:, None] * a + (torch.sin(t * omega) / s)[:, None] * b


def interpolate(
    g: Generator,
    mode: str,
    seeds: Sequence[tuple[int, int]],
    classes: Sequence[int | str | None],
    steps: int = 8,
    truncation: float | None = None,
    spherical: bool = False,
    texts: Sequence[str] = (),
) -> torch.Tensor:
    """Rows of `steps` images, one row per seed pair (a, b).

    mode "text" (GAN-CLS): seed a's latent, the sentence embedding from texts[0] to texts[1].

    mode "z": class classes[0], z from seed a's latent to seed b's; "class": seed a's latent,
    class from classes[0] to classes[1] (class vectors mixed linearly, as BigGAN's shared
    embedding allows); "both": z and class move together.
    """
    if mode not in MODES:
        raise GanforgeError(f"unknown interpolation mode '{mode}'; choose one of {', '.join(MODES)}")
    check_count("--steps", steps, MAX_STEPS, least=2)
    if not seeds:
        raise GanforgeError("give at least one seed (or seed pair a:b) to interpolate")
    t = torch.linspace(0, 1, steps)
    if mode == "text":
        if len(texts) != 2:
            raise GanforgeError("--mode text interpolates between two sentences: give --text A --text B")
        start, end = g.text_embeddings(texts)
        zs = [g.latents(1, truncation, a)[0].expand(steps, -1) for a, _ in seeds]
        return g.generate(torch.cat(zs), lerp(start, end, t).repeat(len(seeds), 1), truncation)
    path = slerp if spherical else lerp
    ids = _class_pair(g, classes, need_two=mode != "z")
    zs = []
    for a, b in seeds:
        za = g.latents(1, truncation, a)[0]
        zb = g.latents(1, truncation, b)[0]
        zs.append(za.expand(steps, -1) if mode == "class" else path(za, zb, t))
    rows = len(seeds)
    if mode == "z":
        y = torch.full((rows * steps,), ids[0], dtype=torch.long)
    else:  # class vectors mixed linearly, as BigGAN's shared embedding allows
        start, end = g.class_vectors(ids)
        y = lerp(start, end, t).repeat(rows, 1)
    return g.generate(torch.cat(zs), y, truncation)


def _class_pair(
    g: Generator, classes: Sequence[int | str | None], need_two: bool
) -> list[int]:
    """Validated (start, end) class ids; unconditional generators have the single class 0."""
    if g.n_classes == 0:
        if need_two:
            raise GanforgeError("this generator is unconditional: interpolate in z (--mode z)")
        return [0, 0]
    if need_two and not g.soft_classes:
        raise GanforgeError("class interpolation needs a generator that mixes class vectors "
                            "(BigGAN, DCGAN/MLP conditional, BigGAN-deep)")
    given = [c for c in classes if c is not None]
    if need_two and len(given) < 2:
        raise GanforgeError("class interpolation needs two classes: --class A --class B")
    ids = g.class_ids(given[:2]) if given else [0]
    return [ids[0], ids[-1]]


def gif_frames(images: torch.Tensor, rows: int, padding: int = 2) -> list[Image.Image]:
    """One frame per interpolation step showing every row at that step (a column of the sheet)."""
    steps = images.shape[0] // rows
    frames = []
    for k in range(steps):
        column = images[k::steps]
        array = make_grid(column, columns=rows, padding=padding)
        frames.append(Image.fromarray(array[..., 0] if array.shape[-1] == 1 else array))
    return frames


def save_gif(frames: list[Image.Image], path: Path, frame_ms: int = 120) -> None:
    """Forward then backward (a seamless loop), written atomically."""
    sequence = frames + frames[-2:0:-1]
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    sequence[0].save(tmp, format="GIF", save_all=True, append_images=sequence[1:],
                     duration=frame_ms, loop=0)
    tmp.replace(path)


# ---- saved sample sets and arithmetic ------------------------------------------------------------
@dataclass
class LatentSet:
    """Latents and labels of a sample grid, so samples can be picked by index afterwards."""

    z: torch.Tensor
    labels: torch.Tensor
    truncation: float | None
    seed: int
    source: str


def save_latents(path: Path, latents: LatentSet) -> None:
    meta = {"format": LATENTS_FORMAT, "truncation": json.dumps(latents.truncation),
            "seed": str(latents.seed), "source": latents.source}
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    save_file({"z": latents.z.contiguous(), "labels": latents.labels.contiguous()}, str(tmp),
              metadata=meta)
    tmp.replace(path)


def load_latents(path: Path | str, dim_z: int | None = None) -> LatentSet:
    path = Path(path)
    if not path.is_file():
        raise GanforgeError(f"latents file '{path}' does not exist; write one with "
                            "`ganforge sample ... --save-latents`")
    try:
        with safe_open(str(path), framework="pt") as fh:
            meta = fh.metadata() or {}
            z, labels = fh.get_tensor("z"), fh.get_tensor("labels")
    except (SafetensorError, OSError, ValueError, KeyError) as exc:
        raise GanforgeError(f"'{path}' is not a ganforge latents file ({exc})") from None
    if meta.get("format") != LATENTS_FORMAT:
        raise GanforgeError(f"'{path}' is not a ganforge latents file (format {meta.get('format')!r})")
    if dim_z is not None and z.shape[1] != dim_z:
        raise GanforgeError(f"'{path}' holds {z.shape[1]}-d latents; this generator takes {dim_z}-d")
    return LatentSet(z, labels, json.loads(meta.get("truncation", "null")),
                     int(meta.get("seed", 0)), meta.get("source", ""))


def pick(latents: LatentSet, indices: Sequence[int], group: str) -> torch.Tensor:
    if not indices:
        raise GanforgeError(f"--{group} needs at least one sample index")
    bad = [i for i in indices if not 0 <= i < latents.z.shape[0]]
    if bad:
        raise GanforgeError(f"--{group}: sample index {bad[0]} is out of range; the latents file "
                            f"holds samples 0..{latents.z.shape[0] - 1}")
    return latents.z[list(indices)]


def arithmetic(
    g: Generator,
    latents: LatentSet,
    a: Sequence[int],
    b: Sequence[int],
    c: Sequence[int],
    label: int | str | None = None,
    n: int = 8,
    noise: float = 0.25,
    seed: int = 0,
) -> tuple[torch.Tensor, torch.Tensor]:
    """mean(a) - mean(b) + mean(c), as the DCGAN paper's face arithmetic.

    Returns (images, result z): row 1 shows the means of a, b, c and the result; row 2 the result
    with small uniform noise (+-`noise`, the paper's 0.25) for n variants.
    """
    means = [pick(latents, group, name).mean(0) for group, name in ((a, "a"), (b, "b"), (c, "c"))]
    result = means[0] - means[1] + means[2]
    if label is None:  # the class of the c group (the "woman" whose glasses we add)
        y = int(latents.labels[list(c)].mode().values) if g.n_classes else 0
    else:
        y = g.class_ids([label])[0]
    rng = torch.Generator().manual_seed(seed)
    jitter = (torch.rand(n, result.shape[0], generator=rng) * 2 - 1) * noise
    z = torch.cat([torch.stack(means + [result]), result + jitter])
    labels = torch.full((z.shape[0],), y, dtype=torch.long)
    return g.generate(z, labels, latents.truncation), result


def explore(
    g: Generator,
    label: int | str | None,
    seed: int,
    n: int = 15,
    radius: float = 0.3,
    truncation: float | None = None,
) -> torch.Tensor:
    """The sample of `seed` first, then n neighbours z + radius * N(0, I) (kept inside the
    truncation range where there is one)."""
    if not radius > 0:
        raise GanforgeError(f"--radius must be a positive number, got {radius}")
    check_count("--n", n, MAX_IMAGES)
    centre = g.latents(1, truncation, seed)
    rng = torch.Generator().manual_seed(seed + 1)
    neighbours = centre + radius * torch.randn(n, centre.shape[1], generator=rng)
    bound = _truncation_bound(g, truncation)
    if bound is not None:
        neighbours = neighbours.clamp(-bound, bound)
    y = g.class_ids([label] if label is not None else None)[0]
    z = torch.cat([centre, neighbours])
    return g.generate(z, torch.full((z.shape[0],), y, dtype=torch.long), truncation)


def _truncation_bound(g: Generator, truncation: float | None) -> float | None:
    return truncation_bound(g.check_truncation(truncation), g.truncation_convention)
