"""The Python API: every CLI command is a thin wrapper over one of these functions."""

from __future__ import annotations

import re
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ganforge.config import Config, apply_overrides, load_config_file, load_recipe
from ganforge.data.spec import load_training_data
from ganforge.errors import GanforgeError
from ganforge.models import build_models, count_parameters
from ganforge.sampling import make_grid, save_image, to_uint8, truncated_normal
from ganforge.training import distributed
from ganforge.training.checkpoint import (
    load_checkpoint,
    load_latest_checkpoint,
    remove_stale_temporaries,
)
from ganforge.training.run_dir import RunDir
from ganforge.training.signals import GracefulStop
from ganforge.training.trainer import Trainer, prepare_run_dir, save_resolved_config

DEFAULT_RECIPE = "biggan-digits"


def make_config(
    recipe: str = DEFAULT_RECIPE,
    overrides: list[str] | None = None,
    data: str | None = None,
    steps: int | None = None,
    batch_size: int | None = None,
    seed: int | None = None,
    checkpoint_every: int | None = None,
) -> Config:
    """A recipe with dotted overrides and the common flags applied, fully validated."""
    base = load_recipe(recipe)
    config = apply_overrides(base, list(overrides or []))
    source = data if data is not None else config.data.source
    if config.demo_overrides and source.strip().startswith("demo:"):
        base = replace(base, data=replace(base.data, source=source))
        config = apply_overrides(base, [*config.demo_overrides, *(overrides or [])])
    check_task(config)
    if config.task == "translation" and steps is not None:
        raise GanforgeError(
            "--steps counts generator steps of the GAN recipes; a translation run is measured "
            "in epochs: set translation.epochs=N translation.epochs_decay=M (and optionally "
            "translation.steps_per_epoch=K)"
        )
    flags = {"steps": steps, "batch_size": batch_size, "seed": seed,
             "checkpoint_every": checkpoint_every}
    for key, value in flags.items():
        if value is not None and value <= 0 and key != "seed":
            raise GanforgeError(f"--{key.replace('_', '-')} must be a positive integer, got {value}")
    train = replace(config.train, **{k: v for k, v in flags.items() if v is not None})
    config = replace(config, train=train)
    if data is not None:
        config = replace(config, data=replace(config.data, source=data))
    return config


TASKS = ("generation", "translation")


def check_task(config: Config) -> None:
    if config.task not in TASKS:
        raise GanforgeError(f"unknown task '{config.task}'; available: {', '.join(TASKS)}")


def is_translation_run(source: Path | str) -> bool:
    """Whether `source` is the run directory of a translation (pix2pix / CycleGAN) run."""
    run = RunDir(Path(source))
    if not run.config.is_file():
        return False
    try:
        return load_config_file(run.config).task == "translation"
    except GanforgeError:
        return False


def refuse_translation_run(source: Path | str, command: str) -> None:
    """`sample`, `export`, ... draw from a GAN's generator; a translation run needs an input."""
    if is_translation_run(source):
        raise GanforgeError(
            f"'{source}' is an image-to-image translation run; {command} draws from a GAN's "
            f"generator; translate images with: ganforge translate {source} INPUT --out DIR"
        )


def default_run_dir(config: Config, root: Path = Path("runs")) -> Path:
    """runs/<recipe>, or runs/<recipe>-2, -3 ... so that no earlier run is touched."""
    base = root / re.sub(r"[^A-Za-z0-9_.-]+", "-", config.name)
    candidate, n = base, 2
    while candidate.exists():
        candidate, n = root / f"{base.name}-{n}", n + 1
    return candidate


def train(
    config: Config,
    out: Path | str | None = None,
    overwrite: bool = False,
    progress: bool = True,
) -> Path:
    """Train a new run described by `config`; returns its run directory.

    SIGINT/SIGTERM from here on (data loading included) end with a checkpoint and a clean exit.
    """
    distributed.setup(config.train.device)  # joins the process group under torchrun
    with GracefulStop() as stop:
        return _train(config, out, overwrite, progress, stop)


def _train(config: Config, out: Path | str | None, overwrite: bool, progress: bool,
           stop: GracefulStop) -> Path:
    check_task(config)
    if config.task == "translation":
        from ganforge.translation.runner import train_translation

        out_path = Path(out) if out is not None else default_run_dir(config)
        return train_translation(config, out_path, overwrite, progress, stop)
    dataset = load_training_data(config.data, config.model.resolution, config.model.img_channels)
    if dataset.n_classes < 2:
        raise GanforgeError(
            f"{dataset.source} has {dataset.n_classes} class; a class-conditional model needs at "
            "least 2 (use class sub-folders for a folder dataset)"
        )
    config = replace(config, model=replace(config.model, n_classes=dataset.n_classes))
    # rank 0 picks the directory (runs/<recipe>-N depends on what exists) for every rank
    out_path = distributed.broadcast_object(Path(out) if out is not None else default_run_dir(config))
    trainer = Trainer(config, dataset, RunDir(out_path))  # validates before touching disk
    run = RunDir(out_path)
    if trainer.dist.is_main:
        run = prepare_run_dir(out_path, overwrite)
        save_resolved_config(config, run)
        run.write_classes(dataset.class_names, dataset.source)
    distributed.barrier()
    trainer.fit(config.train.steps, progress=progress, stop=stop)
    return run.root


def resume(
    run_dir: Path | str, steps: int | None = None, checkpoint_every: int | None = None,
    progress: bool = True,
) -> Path:
    """Continue a run from its newest good checkpoint to its configured (or new) total steps."""
    with GracefulStop() as stop:
        return _resume(run_dir, steps, checkpoint_every, progress, stop)


def _resume(run_dir: Path | str, steps: int | None, checkpoint_every: int | None, progress: bool,
            stop: GracefulStop) -> Path:
    run = RunDir(Path(run_dir))
    if not run.config.is_file():
        raise GanforgeError(f"'{run_dir}' is not a ganforge run directory (no config.yaml)")
    config = load_config_file(run.config)
    if config.task == "translation":
        from ganforge.translation.runner import resume_translation

        if steps is not None:
            raise GanforgeError(
                "a translation run trains for its config's epochs; to train further, raise "
                f"translation.epochs_decay (or epochs) in {run.config} and resume without --steps"
            )
        if checkpoint_every is not None and checkpoint_every <= 0:
            raise GanforgeError(f"--checkpoint-every must be a positive integer, got {checkpoint_every}")
        return resume_translation(config, run, checkpoint_every, progress, stop)
    changes = {k: v for k, v in {"steps": steps, "checkpoint_every": checkpoint_every}.items()
               if v is not None}
    for key, value in changes.items():
        if value <= 0:
            raise GanforgeError(f"--{key.replace('_', '-')} must be a positive integer, got {value}")
    config = replace(config, train=replace(config.train, **changes))
    ctx, _ = distributed.setup(config.train.device)
    if ctx.is_main:  # rank 0 tidies and quarantines; then every rank reads the same newest file
        remove_stale_temporaries(run.checkpoints)
        path, state, warnings = load_latest_checkpoint(run.checkpoints, quarantine=True)
    distributed.barrier()
    if not ctx.is_main:
        path, state, warnings = load_latest_checkpoint(run.checkpoints)
    for message in warnings:
        print(f"warning: skipped {message}", file=sys.stderr)
    if warnings:
        print(f"resuming from {path.name}", file=sys.stderr)
    dataset = load_training_data(config.data, config.model.resolution, config.model.img_channels)
    trainer = Trainer(config, dataset, run)
    trainer.load_state_dict(state)
    if trainer.step >= config.train.steps:
        raise GanforgeError(
            f"run '{run_dir}' is already at step {trainer.step} of {config.train.steps}; "
            "pass --steps N with a larger total to train further"
        )
    if changes and ctx.is_main:
        save_resolved_config(config, run)
    trainer.fit(config.train.steps, progress=progress, stop=stop)
    return run.root


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


def info(recipe: str, overrides: list[str] | None = None) -> dict[str, Any]:
    """Parameter counts and the resolved settings of a recipe, without training.

    Models are built on the meta device: shapes only, so even 512 px counts take seconds.
    """
    config = apply_overrides(load_recipe(recipe), list(overrides or []))
    check_task(config)
    if config.task == "translation":
        from ganforge.translation.info import translation_info

        return translation_info(config)
    start = time.perf_counter()
    with torch.device("meta"):
        generator, discriminator = build_models(config.model)
    return {
        "recipe": config.name,
        "description": config.description,
        "generator_params": count_parameters(generator),
        "discriminator_params": count_parameters(discriminator),
        "resolution": config.model.resolution,
        "n_classes": config.model.n_classes,
        "build_seconds": round(time.perf_counter() - start, 3),
        "config": config.to_dict(),
    }



def plot(run_dir: Path | str, out: Path | str | None = None) -> Path:
    """The training dashboard (losses, D accuracy/logits, r_t and ADA p, gradient norms,
    singular values, guard events, evaluation metrics) as a PNG; default RUN_DIR/dashboard.png."""
    from ganforge.training.dashboard import plot_dashboard

    return plot_dashboard(Path(run_dir), Path(out) if out is not None else None)


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


# ---- image-to-image translation ----------------------------------------------------------------
def translate(source: Path | str, inputs: list[Path | str], out: Path | str = "translated",
              direction: str | None = None, checkpoint: Path | str | None = None,
              size: int | None = None, seed: int = 0, device: str = "cpu") -> dict[str, Any]:
    """Translate image files (or folders of them) with a pix2pix or CycleGAN run's generator:
    OUT/<name>.png per input. `direction` defaults to the run's (pix2pix) or AtoB (CycleGAN)."""
    from ganforge.translation.translate import translate_files

    return translate_files(source, inputs, out, direction, checkpoint, size, seed, device)


def evaluate_translation(source: Path | str, checkpoint: Path | str | None = None,
                         device: str = "cpu") -> dict[str, Any]:
    """L1/PSNR/SSIM (with ground truth), FID/KID and cycle error of a translation run on the
    test split of its data, with the protocol."""
    from ganforge.translation.translate import evaluate_run

    return evaluate_run(source, checkpoint, device)
