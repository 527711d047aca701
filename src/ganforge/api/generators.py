"""The Python API for generators: load, sample, share and explore them."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ganforge import latents
from ganforge.config import Config
from ganforge.errors import GanforgeError, check_count
from ganforge.generator import Generator
from ganforge.generators import load
from ganforge.generators.biggan_pytorch import PRESETS as BGP_PRESETS
from ganforge.generators.biggan_pytorch import convert_biggan_pytorch
from ganforge.generators.convert import convert_biggan_deep
from ganforge.generators.export import export_generator
from ganforge.generators.stylegan2_ada import convert_stylegan2_ada
from ganforge.generators.stylegan2_ada_run import write_stylegan2_ada_run
from ganforge.generators.tfhub_biggan import convert_tfhub_biggan
from ganforge.models.common import set_codes
from ganforge.sampling import DEFAULT_CONVENTION, draw_latents, make_grid, save_image, to_uint8


def load_generator(
    source: Path | str, ema: bool = True, checkpoint: Path | str | None = None,
    device: str | torch.device = "cpu",
) -> tuple[nn.Module, Config | None, list[str]]:
    """(network in eval mode, config, class names): `load(...)` taken apart, for code that
    drives the bare network."""
    g = load(source, device=device, ema=ema, checkpoint=checkpoint)
    return g.generator, g.config, g.class_names


def sample(
    source: Path | str,
    out: Path | str,
    classes: list[int | str] | None = None,
    n: int = 8,
    truncation: float | None = None,
    seed: int = 0,
    individual: bool = False,
    code: str | None = None,
    save_latents: bool = False,
    truncation_convention: str | None = None,
    bn: str | None = None,
    cutoff: int | None = None,
    texts: list[str] | None = None,
    layout: str | Path | dict | list | None = None,
    upsampler: Path | str | None = None,
) -> dict[str, Any]:
    """A grid with one row per requested class (n images each); same seed, same images.

    `layout` (layout-to-image runs): a layout JSON file (or its parsed content): one row per layout.

    `texts` (text-to-image runs): one row per sentence instead of per class; `upsampler` (a
    gigagan-upsampler run or export) super-resolves each image with its sentence (same seed).

    `save_latents` writes OUT.latents.safetensors (z and labels of sample i = row i // n,
    column i % n) for latent arithmetic on chosen samples.

    `code` (InfoGAN): "catI" or "contJ" varies that code along each row (all k values of a
    categorical code, n values from -1 to 1 of a continuous one) with the rest of z fixed.

    `truncation_convention` (resample | scale | tfhub) and `bn` (running | batch[:B] |
    standing:N[xB]) default to the generator's own; the result names both. A StyleGAN
    generator's own convention is psi (`truncation` is psi in W), `cutoff` its truncated styles.
    """
    check_count("--n", n, latents.MAX_IMAGES)
    if truncation is not None and not truncation > 0:
        raise GanforgeError(f"--truncation must be a positive number, got {truncation}")
    pretrained = _drawing_generator(source, "sample", truncation_convention, bn).use_cutoff(cutoff)
    names = pretrained.class_names
    if layout is not None or pretrained.takes_layout:
        from ganforge.api.layouts import sample_layout

        return sample_layout(pretrained, out, layout, n, truncation, seed, individual)
    if texts or pretrained.takes_text:
        return _sample_text(pretrained, out, texts or [], classes, n, truncation, seed, individual, code,
                            save_latents, upsampler)
    if upsampler is not None:
        raise GanforgeError("--upsampler chains a text-conditioned upsampler after a text-to-image run; "
                            f"'{source}' draws from class labels")
    ids = pretrained.class_ids(classes)
    if code is None:
        labels = torch.tensor(ids).repeat_interleave(n)
        z = pretrained.latents(labels.shape[0], truncation, seed)
        images = pretrained.generate(z, labels, truncation)
    else:
        if pretrained.config is None:
            raise GanforgeError("--code needs an InfoGAN generator trained with ganforge")
        z, n = code_sweep(code, pretrained.config, pretrained.dim_z, len(ids), n, truncation, seed,
                          pretrained.truncation_convention)
        labels = torch.tensor(ids).repeat_interleave(n)
        images = pretrained.generate(z, labels)
    out_path = Path(out)
    if out_path.suffix.lower() != ".png":
        raise GanforgeError(f"--out '{out}' must be a .png file")
    save_image(make_grid(images, n), out_path)
    written = [str(out_path)]
    if individual:
        folder = out_path.with_suffix("")
        for i, (array, label) in enumerate(zip(to_uint8(images), labels.tolist(), strict=True)):
            name = names[label] if label < len(names) else "sample"
            path = folder / f"{i:04d}_{re.sub(r'[^A-Za-z0-9_.-]+', '-', name)}.png"
            save_image(array, path)
            written.append(str(path))
    if save_latents:
        path = out_path.with_suffix(".latents.safetensors")
        latents.save_latents(path, latents.LatentSet(z, labels, truncation, seed, str(source)))
        written.append(str(path))
    return {"grid": str(out_path), "files": written, "classes": ids, "n": n,
            "truncation": pretrained.check_truncation(truncation), "seed": seed, "code": code,
            "truncation_convention": pretrained.truncation_convention,
            "truncation_cutoff": pretrained.truncation_cutoff, "bn": pretrained.bn_mode.name}


def _sample_text(g: Generator, out: Path | str, texts: list[str], classes: list[int | str] | None,
                 n: int, truncation: float | None, seed: int, individual: bool, code: str | None,
                 save_latents: bool, upsampler: Path | str | None = None) -> dict[str, Any]:
    """One row of n images per sentence, from a text-to-image generator."""
    if not texts:
        raise GanforgeError("this generator draws from text: give one or more --text \"SENTENCE\"")
    if classes or code or save_latents:
        flag = "--class" if classes else "--code" if code else "--save-latents"
        raise GanforgeError(f"{flag} does not apply to text-to-image sampling; use --text")
    out_path = Path(out)
    if out_path.suffix.lower() != ".png":
        raise GanforgeError(f"--out '{out}' must be a .png file")
    images = g.sample_text(texts, n, truncation, seed)
    if upsampler is not None:
        up = load(upsampler, device=g.device)
        if not up.upsamples:
            raise GanforgeError(f"--upsampler '{upsampler}' is not a text-conditioned upsampler "
                                "(train one with --recipe gigagan-upsampler)")
        images = up.upsample(images, [t for t in texts for _ in range(n)], seed=seed)
    save_image(make_grid(images, n), out_path)
    written = [str(out_path)]
    if individual:
        for i, array in enumerate(to_uint8(images)):
            slug = re.sub(r"[^A-Za-z0-9_.-]+", "-", texts[i // n])[:60]
            path = out_path.with_suffix("") / f"{i:04d}_{slug}.png"
            save_image(array, path)
            written.append(str(path))
    return {"grid": str(out_path), "files": written, "texts": list(texts), "n": n,
            "upsampler": None if upsampler is None else str(upsampler),
            "truncation": g.check_truncation(truncation), "seed": seed,
            "truncation_convention": g.truncation_convention, "bn": g.bn_mode.name}


def code_sweep(code: str, config: Config, dim_z: int, rows: int, n: int,
               truncation: float | None, seed: int,
               convention: str = DEFAULT_CONVENTION) -> tuple[torch.Tensor, int]:
    """Latents whose rows hold one z each and vary one InfoGAN code along the columns."""
    mc = config.model
    match = re.fullmatch(r"(cat|cont)(\d+)", code.strip())
    if not (mc.codes_cat or mc.codes_cont):
        raise GanforgeError("--code needs an InfoGAN generator (model.codes_cat / codes_cont); "
                            "this one has no codes")
    available = [f"cat{i}" for i in range(len(mc.codes_cat))] + [f"cont{j}" for j in range(mc.codes_cont)]
    if match is None or code.strip() not in available:
        raise GanforgeError(f"unknown --code '{code}'; this generator has: {', '.join(available)}")
    kind, index = match.group(1), int(match.group(2))
    values = torch.arange(mc.codes_cat[index]) if kind == "cat" else torch.linspace(-1, 1, n)
    columns = len(values)
    base = draw_latents((rows, dim_z), truncation, convention, torch.Generator().manual_seed(seed))
    z = base.repeat_interleave(columns, 0)
    chosen = {index: values.repeat(rows)}
    z = set_codes(z, mc, chosen if kind == "cat" else None, chosen if kind == "cont" else None)
    return z, columns


# ---- sharing and exploring generators --------------------------------------------------------------
def export(source: Path | str, out: Path | str, ema: bool = True,
           checkpoint: Path | str | None = None) -> dict[str, Any]:
    """A run's generator as a folder (model.safetensors, config.json, README.md model card) or,
    for `out` ending in .safetensors, a single file. Translation runs export their generator(s)
    the same way."""
    return export_generator(source, out, ema=ema, checkpoint=checkpoint)


CONVERT_KINDS = ("biggan-deep", "biggan-pytorch", "tfhub-biggan", "stylegan2-ada")
BIGGAN_PYTORCH_PRESETS = tuple(BGP_PRESETS)


def convert(kind: str, directory: Path | str, out: Path | str,
            class_names: Path | str | None = None, *, overrides: list[str] | None = None,
            flags: dict[str, Any] | None = None, preset: str | None = None, run: bool = False,
            data: str | None = None, ema: bool = True) -> dict[str, Any]:
    """A published checkpoint folder -> a ganforge export folder (or, biggan-pytorch with
    `run`, a run directory that `resume` continues).

    biggan-deep: pytorch_model.bin + config.json. biggan-pytorch: BigGAN-PyTorch's weights
    folder; `flags` (BGP names: resolution, G_ch, D_ch, G_attn, D_attn, SN_eps, BN_eps) and
    `preset` (a launch script) are checked against the weights or fill what they lack; `data`
    is what a converted run trains on. tfhub-biggan: an unpacked TF-Hub module biggan-128/256/
    512, EMA weights unless `ema` is false. stylegan2-ada: a stylegan2-ada-pytorch network
    pickle (`directory` is the .pkl file), read without running its embedded code; with `run`,
    a training snapshot as a run directory (G, D, G_ema, ADA p, step; fresh optimizers).
    `overrides`: dotted config settings."""
    if kind not in CONVERT_KINDS:
        raise GanforgeError(f"unknown checkpoint kind '{kind}'; available: {', '.join(CONVERT_KINDS)}")
    if kind == "stylegan2-ada":
        if run:
            return write_stylegan2_ada_run(directory, out, overrides, data)
        if data is not None:
            raise GanforgeError("--data is for --run (the data a converted run continues on)")
        return convert_stylegan2_ada(directory, out, class_names, overrides)
    if not Path(directory).is_dir():
        raise GanforgeError(f"'{directory}' is not a folder (a {kind} checkpoint folder)")
    if kind == "biggan-deep":
        if overrides:
            raise GanforgeError("biggan-deep conversion takes no KEY=VALUE settings")
        return convert_biggan_deep(directory, out, class_names)
    if kind == "biggan-pytorch":
        return convert_biggan_pytorch(directory, out, flags, preset, class_names, overrides, run, data)
    return convert_tfhub_biggan(directory, out, class_names, ema, overrides)


def _write_png(images: torch.Tensor, columns: int, out: Path | str) -> Path:
    out_path = Path(out)
    if out_path.suffix.lower() != ".png":
        raise GanforgeError(f"--out '{out}' must be a .png file")
    save_image(make_grid(images, columns), out_path)
    return out_path


def interpolate(
    source: Path | str, out: Path | str, mode: str = "z",
    seeds: list[tuple[int, int]] | None = None, classes: list[int | str] | None = None,
    steps: int = 8, truncation: float | None = None, spherical: bool = False,
    gif: Path | str | None = None, truncation_convention: str | None = None,
    texts: list[str] | None = None, cutoff: int | None = None,
) -> dict[str, Any]:
    """An interpolation sheet (one row per seed pair) and optionally an animated GIF;
    `texts` (two sentences) for mode "text"; mode "w" moves in W (style-based generators),
    `cutoff` truncates the first N styles only."""
    seeds = seeds or [(0, 1)]
    g = _drawing_generator(source, "interpolate", truncation_convention).use_cutoff(cutoff)
    images = latents.interpolate(g, mode, seeds, classes or [], steps, truncation, spherical, texts or [])
    written = [str(_write_png(images, steps, out))]
    if gif is not None:
        if Path(gif).suffix.lower() != ".gif":
            raise GanforgeError(f"--gif '{gif}' must be a .gif file")
        latents.save_gif(latents.gif_frames(images, rows=len(seeds)), Path(gif))
        written.append(str(gif))
    return {"files": written, "mode": mode, "rows": len(seeds), "steps": steps}


def arithmetic(
    source: Path | str, latents_file: Path | str, a: list[int], b: list[int], c: list[int],
    out: Path | str, label: int | str | None = None, n: int = 8, noise: float = 0.25, seed: int = 0,
) -> dict[str, Any]:
    """mean z(a) - mean z(b) + mean z(c) on samples saved with `sample(..., save_latents=True)`."""
    check_count("--n", n, latents.MAX_IMAGES)
    g = _drawing_generator(source, "arithmetic")
    saved = latents.load_latents(latents_file, g.dim_z)
    images, result = latents.arithmetic(g, saved, a, b, c, label, n, noise, seed)
    path = _write_png(images, max(4, n // 2 if n > 4 else n), out)
    return {"grid": str(path), "result_norm": float(result.norm())}


def explore(
    source: Path | str, out: Path | str, label: int | str | None = None, seed: int = 0,
    n: int = 15, radius: float = 0.3, truncation: float | None = None,
    truncation_convention: str | None = None, cutoff: int | None = None,
) -> dict[str, Any]:
    """The sample of `seed` (top left) and n neighbours at distance ~radius in z."""
    g = _drawing_generator(source, "explore", truncation_convention).use_cutoff(cutoff)
    images = latents.explore(g, label, seed, n, radius, truncation)
    return {"grid": str(_write_png(images, 4 if n + 1 <= 16 else 8, out)), "n": n}


def mix(
    source: Path | str, out: Path | str, rows: list[int], cols: list[int], layers: str = "0-3",
    label: int | str | None = None, truncation: float | None = None, cutoff: int | None = None,
    truncation_convention: str | None = None,
) -> dict[str, Any]:
    """The style-mixing grid of a style-based generator (StyleGAN2, StyleGAN): column seeds on
    top, row seeds on the left, each cell the row's styles with `layers` ("0-3", "coarse",
    "middle", "fine", "4,5") from the column's. `truncation` is psi (its own convention)."""
    g = _drawing_generator(source, "mix", truncation_convention)
    latents.style_generator(g, "mix")
    images, picked = latents.style_mix(g.use_cutoff(cutoff), rows, cols, layers, label, truncation)
    return {"grid": str(_write_png(images, len(cols) + 1, out)), "layers": picked,
            "num_ws": int(g.generator.num_ws)}


def _drawing_generator(
    source: Path | str, command: str, truncation_convention: str | None = None, bn: str | None = None,
) -> Generator:
    """The generator of `source`, which must draw from latents (not a translation generator),
    set to the given truncation convention and BN mode (None: its own)."""
    g = load(source)
    if g.is_translator:
        raise GanforgeError(
            f"'{source}' is an image-to-image translation generator; {command} draws from a GAN's "
            f"generator; translate images with: ganforge translate {source} INPUT --out DIR"
        )
    return g.use_truncation_convention(truncation_convention).use_bn(bn)
