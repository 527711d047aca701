"""The Python API for generators: load, sample, share and explore them."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ganforge.api.runs import refuse_translation_run
from ganforge.config import Config, load_config_file
from ganforge.errors import GanforgeError
from ganforge.models import build_models
from ganforge.sampling import make_grid, save_image, to_uint8, truncated_normal
from ganforge.training.checkpoint import (
    load_checkpoint,
    load_latest_checkpoint,
)
from ganforge.training.run_dir import RunDir


def load_generator(
    source: Path | str, ema: bool = True, checkpoint: Path | str | None = None,
    device: str | torch.device = "cpu",
) -> tuple[nn.Module, Config, list[str]]:
    """(generator in eval mode, config, class names) from a run directory or exported file."""
    from ganforge.hub import is_exported_generator, load_exported_generator

    if is_exported_generator(source):
        return load_exported_generator(source, device=device)
    generator, config, names, _ = load_run_generator(source, ema, checkpoint)
    return generator.to(device), config, names


def load_run_generator(
    source: Path | str, ema: bool = True, checkpoint: Path | str | None = None
) -> tuple[nn.Module, Config, list[str], int]:
    """(generator in eval mode, config, class names, training step) from a run directory."""
    refuse_translation_run(source, "this command")
    run = RunDir(Path(source))
    if not run.config.is_file():
        raise GanforgeError(
            f"'{source}' is not a ganforge run directory (no config.yaml), an exported generator "
            "(folder with config.json, or .safetensors) nor a BigGAN-deep checkpoint folder"
        )
    config = load_config_file(run.config)
    if checkpoint is not None:
        state = load_checkpoint(Path(checkpoint))
    else:
        _, state, _ = load_latest_checkpoint(run.checkpoints)
    generator, _ = build_models(config.model)
    key = "G_ema" if ema else "G"
    try:
        generator.load_state_dict(state[key])
    except RuntimeError:
        raise GanforgeError(
            f"the checkpoint's generator does not match '{run.config}'; was the config edited?"
        ) from None
    names = run.read_classes() if run.classes.is_file() else list(state.get("class_names", []))
    return generator.eval().requires_grad_(False), config, names, int(state.get("step", 0))


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
) -> dict[str, Any]:
    """A grid with one row per requested class (n images each); same seed, same images.

    `save_latents` writes OUT.latents.safetensors (z and labels of sample i = row i // n,
    column i % n) for latent arithmetic on chosen samples.

    `code` (InfoGAN): "catI" or "contJ" varies that code along each row (all k values of a
    categorical code, n values from -1 to 1 of a continuous one) with the rest of z fixed.
    """
    from ganforge.pretrained import load

    if n <= 0:
        raise GanforgeError(f"--n must be a positive integer, got {n}")
    if truncation is not None and not truncation > 0:
        raise GanforgeError(f"--truncation must be a positive number, got {truncation}")
    refuse_translation_run(source, "sample")
    pretrained = load(source)
    names = pretrained.class_names
    ids = pretrained.class_ids(classes)
    if code is None:
        labels = torch.tensor(ids).repeat_interleave(n)
        z = pretrained.latents(labels.shape[0], truncation, seed)
        images = pretrained.generate(z, labels, truncation)
    else:
        if pretrained.config is None:
            raise GanforgeError("--code needs an InfoGAN generator trained with ganforge")
        z, n = code_sweep(code, pretrained.config, pretrained.dim_z, len(ids), n, truncation, seed)
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
        from ganforge.latents import LatentSet
        from ganforge.latents import save_latents as write_latents

        path = out_path.with_suffix(".latents.safetensors")
        write_latents(path, LatentSet(z, labels, truncation, seed, str(source)))
        written.append(str(path))
    return {"grid": str(out_path), "files": written, "classes": ids, "n": n,
            "truncation": truncation, "seed": seed, "code": code}


def code_sweep(code: str, config: Config, dim_z: int, rows: int, n: int,
               truncation: float | None, seed: int) -> tuple[torch.Tensor, int]:
    """Latents whose rows hold one z each and vary one InfoGAN code along the columns."""
    from ganforge.models.common import set_codes

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
    base = truncated_normal((rows, dim_z), truncation, torch.Generator().manual_seed(seed))
    z = base.repeat_interleave(columns, 0)
    chosen = {index: values.repeat(rows)}
    z = set_codes(z, mc, chosen if kind == "cat" else None, chosen if kind == "cont" else None)
    return z, columns


# ---- sharing and exploring generators --------------------------------------------------------------
def export(source: Path | str, out: Path | str, ema: bool = True,
           checkpoint: Path | str | None = None) -> dict[str, Any]:
    """A run's generator as a folder (model.safetensors, config.json, README.md model card) or,
    for `out` ending in .safetensors, a single file."""
    from ganforge.hub import export_generator

    return export_generator(source, out, ema=ema, checkpoint=checkpoint)


def convert(kind: str, directory: Path | str, out: Path | str,
            class_names: Path | str | None = None) -> dict[str, Any]:
    """A published checkpoint folder -> a ganforge export folder (kinds: biggan-deep)."""
    from ganforge.convert import convert_biggan_deep

    if kind != "biggan-deep":
        raise GanforgeError(f"unknown checkpoint kind '{kind}'; available: biggan-deep")
    if not Path(directory).is_dir():
        raise GanforgeError(f"'{directory}' is not a folder (expected pytorch_model.bin + config.json)")
    return convert_biggan_deep(directory, out, class_names)


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
    gif: Path | str | None = None,
) -> dict[str, Any]:
    """An interpolation sheet (one row per seed pair) and optionally an animated GIF."""
    from ganforge import latents
    from ganforge.pretrained import load

    seeds = seeds or [(0, 1)]
    g = load(source)
    images = latents.interpolate(g, mode, seeds, classes or [], steps, truncation, spherical)
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
    from ganforge import latents
    from ganforge.pretrained import load

    if n <= 0:
        raise GanforgeError(f"--n must be a positive integer, got {n}")
    g = load(source)
    saved = latents.load_latents(latents_file, g.dim_z)
    images, result = latents.arithmetic(g, saved, a, b, c, label, n, noise, seed)
    path = _write_png(images, max(4, n // 2 if n > 4 else n), out)
    return {"grid": str(path), "result_norm": float(result.norm())}


def explore(
    source: Path | str, out: Path | str, label: int | str | None = None, seed: int = 0,
    n: int = 15, radius: float = 0.3, truncation: float | None = None,
) -> dict[str, Any]:
    """The sample of `seed` (top left) and n neighbours at distance ~radius in z."""
    from ganforge import latents
    from ganforge.pretrained import load

    images = latents.explore(load(source), label, seed, n, radius, truncation)
    return {"grid": str(_write_png(images, 4 if n + 1 <= 16 else 8, out)), "n": n}


