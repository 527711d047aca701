"""The Python API for `ganforge eval` and `ganforge sweep`: resolve the source (any generator
`ganforge.load` takes, or a folder / .npz of images) and hand it to `ganforge.metrics`."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from torch import nn

from ganforge.api.translation import evaluate_translation
from ganforge.errors import GanforgeError, check_count
from ganforge.generator import Generator
from ganforge.generators import load
from ganforge.generators.sources import source_kind
from ganforge.metrics import sweep as sweeping
from ganforge.metrics.evaluate import EvalSetup, build_setup, images_from_path, run_eval
from ganforge.nn.device import parse_device

MAX_EVAL_IMAGES = 1_000_000  # eval.n's upper end too: 20x the usual FID sample of 50k

DEFAULT_METRICS = "fid,is,kid,pr,dc,acc"
TEXT_METRICS = "fid,kid,rprec,caption_acc,clip_score"  # the default for text-to-image generators
SWEEP_METRICS = "fid,is,pr,acc"
LAYOUT_METRICS = "fid,kid,obj_acc,box_iou"  # the default (eval and sweep) for layout-to-image generators
SOURCE_KINDS = {
    "run": "run directory (G_ema, eval mode)",
    "export": "exported generator (eval mode)",
    "biggan-deep": "BigGAN-deep checkpoint folder (eval mode)",
    "biggan-pytorch": "BigGAN-PyTorch weights folder, G_ema (eval mode)",
    "tfhub-biggan": "TF-Hub BigGAN module, EMA weights (eval mode)",
    "stylegan2-ada": "stylegan2-ada-pytorch network pickle, G_ema read safely (eval mode)",
    "hub": "Hugging Face Hub generator (eval mode)",
}


def evaluate(
    source: Path | str, metrics: list[str] | str = DEFAULT_METRICS, n: int = 10000,
    features: str | nn.Module | None = None, data: str | None = None,
    truncation: float | None = None, seed: int = 0, inception_weights: str | Path | None = None,
    n_ref: int | None = None, device: str = "cpu", use_cache: bool = True,
    truncation_convention: str | None = None, bn: str | None = None, cutoff: int | None = None,
    clip: str | Path | None = None,
) -> dict[str, Any]:
    """Metrics of a generator or an image set against reference data, with their protocol.

    A text-to-image generator draws for captions of its data (the default metrics become
    TEXT_METRICS); `clip`: a local whole CLIP model folder for the CLIP score.

    `truncation_convention` (resample | scale | tfhub) and `bn` (running | batch[:B] |
    standing:N[xB]) set how a generator draws; the result's protocol records both.

    A layout-to-image generator (LostGAN) draws for its data's layouts (the default metrics become
    LAYOUT_METRICS: FID/KID, object accuracy, box IoU and ink in boxes).

    A translation generator (run or export) is evaluated on its data's test split instead
    (L1/PSNR/SSIM, FID/KID, cycle error)."""
    check_count("--n", n, MAX_EVAL_IMAGES)
    if truncation is not None and not truncation > 0:
        raise GanforgeError(f"--truncation must be a positive number, got {truncation}")

    def check(g: Generator) -> None:  # before the reference features: BigGAN-deep takes (0, 1]
        if not g.is_translator:
            g.check_truncation(truncation)

    setup = prepare(source, metrics, features, data, inception_weights, n_ref, device=device,
                    use_cache=use_cache, check=check, truncation_convention=truncation_convention,
                    bn=bn, cutoff=cutoff, clip=clip)
    if setup is None:
        return evaluate_translation(source, device=device)
    return run_eval(setup, n, truncation, seed)


def sweep(
    source: Path | str, out: Path | str, truncations: list[float | None],
    metrics: str = SWEEP_METRICS, n: int = 5000, seed: int = 0, **options: Any,
) -> dict[str, Any]:
    """Evaluate every truncation threshold; write sweep.json, sweep.csv, sweep.png and strip.png
    into `out`. `options`: those of `evaluate` (features, data, n_ref, device, ...)."""
    check_count("--n", n, MAX_EVAL_IMAGES)

    def check(g: Generator) -> None:  # before the reference features: BigGAN-deep takes (0, 1]
        if g.is_translator:
            raise GanforgeError("sweep varies the truncation of z; a translation generator has no z")
        for t in truncations:
            g.check_truncation(t)

    setup = prepare(source, metrics, check=check, **options)
    return sweeping.sweep(setup, out, truncations, n=n, seed=seed)


def prepare(
    source: Path | str, metrics: list[str] | str = DEFAULT_METRICS,
    features: str | nn.Module | None = None, data: str | None = None,
    inception_weights: str | Path | None = None, n_ref: int | None = None,
    resolution: int | None = None, device: str = "cpu", use_cache: bool = True,
    check: Callable[[Generator], None] | None = None,
    truncation_convention: str | None = None, bn: str | None = None, cutoff: int | None = None,
    clip: str | Path | None = None,
) -> EvalSetup | None:
    """The evaluation setup of a generator or an image set (None: a translation generator).
    `check` sees the generator (set to the convention and BN mode) before any reference work."""
    parse_device(device)  # image sets too: the feature extractor runs there
    kind = source_kind(source)
    image_set, generator = None, None
    if kind is not None:
        generator = load(source, device=device)
        if not generator.is_translator:
            generator.use_truncation_convention(truncation_convention).use_bn(bn).use_cutoff(cutoff)
        elif truncation_convention or bn or cutoff:
            raise GanforgeError(f"'{source}' is a translation generator: it has no z to truncate; "
                                "--truncation-convention and --bn apply to GAN generators")
        if check is not None:
            check(generator)
        if generator.is_translator:
            return None
        data = data or (generator.config.data.source if generator.config is not None else None)
        if data is None:
            raise GanforgeError(f"'{source}' is a {generator.architecture} generator without a "
                                "training dataset on record: give the reference with --data SPEC")
        resolution = generator.resolution
        if generator.takes_text and metrics == DEFAULT_METRICS:
            metrics = TEXT_METRICS
        if generator.takes_layout and metrics in (DEFAULT_METRICS, SWEEP_METRICS):
            metrics = LAYOUT_METRICS
        channels = generator.config.model.img_channels if generator.config is not None else 3
        class_names, description = generator.class_names, SOURCE_KINDS[kind]
    else:
        if truncation_convention or bn or cutoff:
            raise GanforgeError(f"'{source}' is a set of images: --truncation-convention, --cutoff "
                                "and --bn apply to generators")
        if data is None:
            raise GanforgeError(
                f"'{source}' is not a run directory or exported generator: give the reference "
                "with --data SPEC"
            )
        channels = 3
        image_set = images_from_path(Path(source), resolution, channels)
        resolution = int(image_set.images.shape[-1])
        class_names, description = image_set.class_names, image_set.description["kind"]
    return build_setup(
        metrics, str(source), description, data, resolution, channels, class_names,
        generator=generator, image_set=image_set, features=features,
        inception_weights=inception_weights, n_ref=n_ref, device=device, use_cache=use_cache,
        clip=clip,
    )
