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

MODES = ("z", "class", "both", "text", "w")
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
    mode "w" (style-based generators): class classes[0], the styles (truncated by psi and the
    cutoff) of seed a to those of seed b, linearly in W.

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
    ids = _class_pair(g, classes, need_two=mode not in ("z", "w"))
    if mode == "w":
        if spherical:
            raise GanforgeError("--slerp is for Gaussian z; W is interpolated linearly (drop --slerp)")
        style_generator(g, "interpolate --mode w")
        y = torch.tensor([ids[0], ids[0]])
        rows = []
        for a, b in seeds:
            z = torch.cat([g.latents(1, truncation, a), g.latents(1, truncation, b)])
            ws = mapped_styles(g, z, y, truncation)
            rows.append(lerp(ws[0].flatten(), ws[1].flatten(), t).view(steps, *ws.shape[1:]))
        return render_styles(g, torch.cat(rows))
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


# ---- style-based generators (StyleGAN2, StyleGAN): styles in W -----------------------------------
STYLE_GROUPS = {"coarse": (0, 4), "middle": (4, 8), "fine": (8, None)}  # Karras et al. 2019, 4x4-8x8,
# 16x16-32x32 and 64x64 up at 1024 px (two styles per resolution)


def style_generator(g: Generator, command: str) -> None:
    if not g.style_based:
        raise GanforgeError(f"{command} needs a style-based generator (StyleGAN2 or StyleGAN: a mapping "
                            "network with one style per layer); this one takes z directly")


def style_layers(text: str, num_ws: int) -> list[int]:
    """"0-3", "4,5,8-9", or coarse / middle / fine -> sorted style indices in [0, num_ws)."""
    chosen: set[int] = set()
    for part in (p.strip() for p in str(text).split(",") if p.strip()):
        if part in STYLE_GROUPS:
            lo, hi = STYLE_GROUPS[part]
            chosen.update(range(lo, num_ws if hi is None else min(hi, num_ws)))
            continue
        first, dash, last = part.partition("-")
        try:
            lo, hi = int(first), int(last) if dash else int(first)
        except ValueError:
            raise GanforgeError(f"--layers: expected style indices like 0-3 or 4,5 or coarse, middle, "
                                f"fine; got '{part}'") from None
        if not 0 <= lo <= hi < num_ws:
            raise GanforgeError(f"--layers {part}: this generator has styles 0-{num_ws - 1}")
        chosen.update(range(lo, hi + 1))
    if not chosen:
        raise GanforgeError(f"--layers '{text}' picks no style (this generator has styles 0-{num_ws - 1})")
    return sorted(chosen)


@torch.no_grad()
def mapped_styles(g: Generator, z: torch.Tensor, y: torch.Tensor, truncation: float | None) -> torch.Tensor:
    """(N, num_ws, w_dim) styles on the CPU; psi truncation (with the generator's cutoff) under
    the psi convention, z already truncated under the others."""
    psi, cutoff = g.network_extra(g.check_truncation(truncation)) or (1.0, None)
    net = g.generator
    return net.styles(z.to(g.device), y.to(g.device), psi, cutoff, update_w_avg=False).float().cpu()


@torch.no_grad()
def render_styles(g: Generator, ws: torch.Tensor, batch_size: int = 64) -> torch.Tensor:
    """Images in [-1, 1] (N, C, H, W) on the CPU for styles ws."""
    return torch.cat([g.generator.render(wb.to(g.device)).float().cpu() for wb in ws.split(batch_size)])


def style_mix(
    g: Generator, rows: Sequence[int], cols: Sequence[int], layers: str = "0-3",
    label: int | str | None = None, truncation: float | None = None,
) -> tuple[torch.Tensor, list[int]]:
    """The style-mixing grid of the StyleGAN papers (and official style_mixing.py): a blank
    corner, the column seeds' images across the top, the row seeds' images down the left, and
    at (row, col) the row seed's styles with those at `layers` taken from the column seed. Coarse
    styles (0-3) carry pose and shape, middle ones features, fine ones colour and texture.
    Returns the images, row by row ((len(rows) + 1) x (len(cols) + 1)), and the style indices."""
    style_generator(g, "mix")
    if not rows or not cols:
        raise GanforgeError("mix needs seeds for the rows and for the columns (--rows 1,2 --cols 3,4)")
    check_count("rows x columns", (len(rows) + 1) * (len(cols) + 1), MAX_IMAGES)
    picked = style_layers(layers, int(g.generator.num_ws))
    seeds = list(rows) + list(cols)
    y = g.class_ids([label] if label is not None else None)[0]
    z = torch.cat([g.latents(1, truncation, s) for s in seeds])
    ws = mapped_styles(g, z, torch.full((len(seeds),), y, dtype=torch.long), truncation)
    row_ws, col_ws = ws[: len(rows)], ws[len(rows):]
    mixed = row_ws[:, None].repeat(1, len(cols), 1, 1)  # (R, C, num_ws, w_dim)
    mixed[:, :, picked] = col_ws[None, :, picked]
    images = render_styles(g, torch.cat([col_ws, row_ws, mixed.flatten(0, 1)]))
    top, left, cells = images[: len(cols)], images[len(cols): len(seeds)], images[len(seeds):]
    blank = torch.ones_like(images[:1])
    grid = [blank, top]
    for r in range(len(rows)):
        grid += [left[r: r + 1], cells[r * len(cols): (r + 1) * len(cols)]]
    return torch.cat(grid), picked
