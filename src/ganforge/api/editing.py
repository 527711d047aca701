"""The Python API for editing real images: `project` (an image into the latent space),
`directions` (GANSpace PCA, SeFa, InterFaceGAN SVM) and `edit` (strips along a direction, or a
class swap). Each writes its files and returns a summary; `project` also returns the
`Projection` itself under "projection"."""

from __future__ import annotations

import json
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from ganforge.api.runs import make_config, train
from ganforge.config import Config
from ganforge.editing import directions as find
from ganforge.editing.codes import LatentCode, to_styles
from ganforge.editing.edit import class_transfer, parse_strengths, render
from ganforge.editing.edit import edit as edit_code
from ganforge.editing.exports import is_hyper_run, load_encoder, load_hypernetwork
from ganforge.editing.hyperstyle import refine as refine_code
from ganforge.editing.images import read_target, write_png
from ganforge.editing.perceptual import choose_perceptual
from ganforge.editing.project import Projection, ProjectSettings, image_channels
from ganforge.editing.project import project as project_images
from ganforge.editing.store import load_code, load_directions, save_code, save_directions
from ganforge.errors import GanforgeError
from ganforge.generator import Generator
from ganforge.generators import load
from ganforge.latents import save_gif
from ganforge.metrics.features import default_extractor
from ganforge.metrics.strokes import attribute_changes
from ganforge.sampling import make_grid


def _generator(source: Path | str | Generator, device: str = "cpu") -> Generator:
    g = source if isinstance(source, Generator) else load(source, device=device)
    g._need_gan("latent space")
    return g


def _data_source(g: Generator) -> str | None:
    return g.config.data.source if g.config is not None else None


def project(source: Path | str | Generator, image: Path | str | torch.Tensor, out: Path | str | None = None,
            *, space: str | None = None, steps: int = 1000, class_: int | str | None = None,
            free_class: bool = False, vgg_weights: Path | str | None = None, classifier: str | None = None,
            mse_weight: float = 1.0, perceptual_weight: float = 1.0, optimize_noise: bool = True,
            w_avg_samples: int = 10_000, seed: int = 0, gif: bool = False, device: str = "cpu",
            progress: bool = False, lpips_weights: Path | str | None = None) -> dict[str, Any]:
    """Project an image file (or [-1, 1] tensors (N, C, R, R)) into the generator's latent space
    (StyleGAN2: w by default, or z / w+; others: z). With `out`: latent.safetensors,
    reconstruction.png, comparison.png (target | reconstruction), loss.json and, with `gif`,
    projection.gif. `vgg_weights` (VGG16/19 or AlexNet, torchvision layout) with `lpips_weights`
    (the lpips package's vgg.pth / alex.pth) is LPIPS; the summary's "perceptual" names the
    distance used."""
    g = _generator(source, device)
    space = space or ("w" if g.style_based else "z")
    if isinstance(image, torch.Tensor):
        target = image.float()
    else:
        target = read_target(image, g.resolution, image_channels(g))
    class_id = g.class_ids([class_])[0] if class_ is not None and g.n_classes else None
    perceptual = choose_perceptual(vgg_weights, _data_source(g), classifier, lpips_weights)
    if perceptual is not None:
        perceptual = perceptual.to(g.device)
    settings = ProjectSettings(space=space, steps=steps, free_class=free_class, mse_weight=mse_weight,
                               perceptual_weight=perceptual_weight, optimize_noise=optimize_noise,
                               w_avg_samples=w_avg_samples, seed=seed, frames=24 if gif else 0)
    result = project_images(g, target, settings, perceptual, class_id, progress)
    summary = result.summary()
    if result.code.classes is not None:
        summary["class"] = [g.class_names[int(i)] for i in result.code.classes.argmax(1)]
    files: dict[str, str] = {}
    if out is not None:
        files = _write_projection(g, result, Path(out), summary, gif)
    return {"files": files, "summary": summary, "projection": result}


def _write_projection(g: Generator, result: Projection, out: Path, summary: dict, gif: bool) -> dict[str, str]:
    out.mkdir(parents=True, exist_ok=True)
    files = {
        "latent": str(save_code(out / "latent.safetensors", result.code, g,
                                {k: v for k, v in summary.items() if k != "settings"})),
        "reconstruction": str(write_png(result.reconstruction, out / "reconstruction.png", 1)),
        "comparison": str(write_png(torch.cat([result.target, result.reconstruction]),
                                    out / "comparison.png", result.target.shape[0])),
    }
    curve = {**summary, "curve": result.losses}
    (out / "loss.json").write_text(json.dumps(curve, indent=1) + "\n", encoding="utf-8")
    files["loss"] = str(out / "loss.json")
    if gif and result.frames:

        frames = []
        for f in result.frames:
            array = make_grid(torch.cat([result.target, f]), columns=result.target.shape[0] * 2, padding=0)
            frames.append(Image.fromarray(array[..., 0] if array.shape[-1] == 1 else array))
        save_gif(frames, out / "projection.gif")
        files["gif"] = str(out / "projection.gif")
    return files


def directions(source: Path | str | Generator, out: Path | str, method: str = "pca", *, k: int = 10,
               n: int | None = None, layers: str | None = None, labels: Path | str | None = None,
               latents: Path | str | None = None, classifier: str | None = None, seed: int = 0,
               device: str = "cpu", pairs: bool = False) -> dict[str, Any]:
    """Named directions of the generator's latent space, written as OUT (safetensors) and
    OUT.json (names, method, scores). `mean` (class-mean differences, `pairs`: one per ordered
    pair of classes "a->b") takes its labels as `svm` does."""
    g = _generator(source, device)
    if method not in find.METHODS:
        raise GanforgeError(f"unknown --method '{method}'; choose one of {', '.join(find.METHODS)}")
    if pairs and method != "mean":
        raise GanforgeError(f"--pairs belongs to --method mean (class-mean differences), not {method}")
    if method == "pca":
        found = find.pca(g, k, 10_000 if n is None else n, seed)
    elif method == "sefa":
        found = find.sefa(g, k, layers, 10_000 if n is None else n, seed)
    elif method == "svm":
        found = _svm(g, labels, latents, classifier, 2000 if n is None else n, seed)
    else:
        found = _svm(g, labels, latents, classifier, 2000 if n is None else n, seed, pairs=pairs)
    path = save_directions(Path(out), found.vectors, found.names, found.space, g, found.info)
    return {"file": str(path), "json": str(path.with_suffix(".json")), "names": found.names,
            "space": found.space, "method": method, "info": found.info}


def _svm(g: Generator, labels: Path | str | None, latents: Path | str | None, classifier: str | None,
         n: int, seed: int, pairs: bool | None = None) -> find.Directions:
    """SVM boundaries (`pairs` None) or mean differences, labelled by a file or a classifier."""
    method = "svm" if pairs is None else "mean"
    if labels is None:
        if classifier is None:
            data = _data_source(g)

            classifier = default_extractor(data) if data else None
            if classifier in (None, "inception"):
                raise GanforgeError(f"--method {method} needs --labels FILE (with --latents FILE) or "
                                    "--classifier digits|mnist|digit_attributes to score samples")
        if pairs is not None:
            return find.mean_difference(g, classifier=classifier, n=n, seed=seed, pairs=pairs)
        return find.svm(g, classifier=classifier, n=n, seed=seed)
    if latents is None:
        raise GanforgeError("--labels needs --latents FILE: the latents the labels belong to, one label per line")
    path = Path(labels)
    if not path.is_file():
        raise GanforgeError(f"labels file '{path}' does not exist (one label per line, in the latents' order)")
    values = [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    code, _ = load_code(latents, g)
    latent = _edit_space_latents(g, code)
    if pairs is not None:
        return find.mean_difference(g, labels=np.array(values), latents=latent, seed=seed, pairs=pairs)
    return find.svm(g, labels=np.array(values), latents=latent, seed=seed)


def _edit_space_latents(g: Generator, code: LatentCode) -> torch.Tensor:
    """(N, D) latents in the directions' space (StyleGAN2: w, the first style of W+ codes)."""

    if not g.style_based:
        return code.latent
    if code.space == "w":
        return code.latent
    if code.space == "w+":
        return code.latent.mean(1)
    with torch.no_grad():
        return to_styles(g, LatentCode("z", code.latent.to(g.device), None if code.classes is None
                                       else code.classes.to(g.device)))[:, 0].cpu()


def edit(source: Path | str | Generator, latent: Path | str, out: Path | str, *,
         directions_file: Path | str | None = None, direction: str | None = None,
         strength: str = "-3:3:7", layers: str | None = None, to_classes: list[int | str] | None = None,
         device: str = "cpu", strokes: bool = False) -> dict[str, Any]:
    """A strip per latent: the direction at each strength (one row per latent), or the latent's
    z with each of `to_classes` (class transfer; with `layers` only in those StyleGAN2 styles or
    BigGAN G blocks, the code's own class kept in the rest). Writes OUT (PNG). `strokes`: also each column's
    mean |change| of the stroke attributes (`metrics.strokes`: thickness, slant, centroid, ...)
    against the unedited image, to see what a class edit keeps of a digit's style."""
    g = _generator(source, device)
    code, _ = load_code(latent, g)
    if to_classes:
        ids = g.class_ids(to_classes)
        images = class_transfer(g, code, ids, layers)
        columns, what = len(ids), {"classes": [g.class_names[i] for i in ids]}
    else:
        if directions_file is None or direction is None:
            raise GanforgeError("give --directions FILE and --direction NAME (or --to-class for a class swap)")
        vectors, names, space = load_directions(directions_file, g)
        index = _direction_index(direction, names, directions_file)
        strengths = parse_strengths(strength)
        images, _ = edit_code(g, code, vectors[index], space, strengths, layers)
        columns, what = len(strengths), {"direction": names[index], "strengths": strengths}
    path = write_png(images, Path(out), columns)
    if strokes:
        start = render(g, code).repeat_interleave(columns, 0)
        changes = attribute_changes(images, start)
        what["stroke_changes"] = [{k: float(v.view(len(code), columns)[:, j].mean()) for k, v in changes.items()}
                                  for j in range(columns)]
    return {"file": str(path), "rows": len(code), "columns": columns, **what}


def _direction_index(direction: str, names: list[str], path: Path | str) -> int:
    if direction in names:
        return names.index(direction)
    if direction.isdigit() and int(direction) < len(names):
        return int(direction)
    raise GanforgeError(f"{path} has no direction '{direction}'; it has: {', '.join(names)}")


def with_inversion_sources(config: Config, generator: Path | str | None = None,
                           encoder: Path | str | None = None) -> Config:
    """`config` (an inversion recipe) with the generator to invert and (HyperStyle) its encoder
    run; existing paths are stored absolute so that the run resumes from anywhere."""
    if generator is None and encoder is None:
        return config
    if config.task != "inversion":
        raise GanforgeError(f"--generator and --encoder belong to the inversion recipes (--recipe encoder | "
                            f"hyperstyle); recipe '{config.name}' is a {config.task} recipe")
    inv = config.inversion
    return replace(config, inversion=replace(
        inv, generator=inv.generator if generator is None else _source(generator),
        encoder=inv.encoder if encoder is None else _source(encoder)))


def _source(value: Path | str) -> str:
    if isinstance(value, Generator):
        raise GanforgeError("an inversion run records where its generator comes from (to resume): pass its "
                            "run directory, export path or hub id, not a loaded Generator")
    path = Path(value)
    return str(path.resolve()) if path.exists() else str(value)


def train_encoder(generator: Path | str, out: Path | str | None = None, *, steps: int | None = None,
                  batch_size: int | None = None, seed: int | None = None, data: str | None = None,
                  checkpoint_every: int | None = None, overrides: list[str] | None = None,
                  overwrite: bool = False, progress: bool = True) -> Path:
    """Train an inversion encoder for `generator` (pSp/e4e into W+ for StyleGAN2, z + class for
    BigGAN) on its own samples, plus the real images of the data spec `data` when given: the
    `encoder` recipe on the one training loop (`overrides`: its inversion.* / train.* settings).
    Continue a run with `ganforge.api.resume(out)`."""
    config = make_config("encoder", overrides, data=data, steps=steps, batch_size=batch_size, seed=seed,
                         checkpoint_every=checkpoint_every)
    return train(with_inversion_sources(config, generator), out, overwrite=overwrite, progress=progress)


def train_hyperstyle(generator: Path | str, encoder_dir: Path | str, out: Path | str | None = None, *,
                     steps: int | None = None, batch_size: int | None = None, seed: int | None = None,
                     data: str | None = None, checkpoint_every: int | None = None,
                     overrides: list[str] | None = None, overwrite: bool = False, progress: bool = True) -> Path:
    """Train HyperStyle's hypernetwork for `generator` and its encoder run `encoder_dir` (the
    `hyperstyle` recipe on the one training loop)."""
    config = make_config("hyperstyle", overrides, data=data, steps=steps, batch_size=batch_size, seed=seed,
                         checkpoint_every=checkpoint_every)
    return train(with_inversion_sources(config, generator, encoder_dir), out, overwrite=overwrite,
                 progress=progress)


def encode(source: Path | str | Generator, encoder_dir: Path | str, image: Path | str | torch.Tensor,
           out: Path | str | None = None, device: str = "cpu", refine: Path | str | None = None,
           iterations: int = 3) -> dict[str, Any]:
    """Invert images with a trained encoder: one forward pass (and, with `refine`, a HyperStyle
    run's `iterations` of weight refinement). Writes latent.safetensors (with the weight offsets),
    reconstruction.png and comparison.png into `out` when given."""
    g = _generator(source, device)
    encoder = load_encoder(encoder_dir, g)
    target = image.float() if isinstance(image, torch.Tensor) else read_target(image, g.resolution, image_channels(g))
    start = time.perf_counter()
    with torch.no_grad():
        code = encoder.encode(target.to(g.device))
        if refine is not None:

            hyper, _ = load_hypernetwork(refine, g)
            code, _ = refine_code(g, hyper, code, target.to(g.device), iterations)
    code = LatentCode(code.space, code.latent.cpu(), None if code.classes is None else code.classes.cpu(),
                      {}, {k: v.cpu() for k, v in code.offsets.items()})
    recon = render(g, code)
    seconds = time.perf_counter() - start
    files: dict[str, str] = {}
    if out is not None:
        out = Path(out)
        files["latent"] = str(save_code(out / "latent.safetensors", code, g, {"encoder": str(encoder_dir)}))
        files["reconstruction"] = str(write_png(recon, out / "reconstruction.png", 1))
        files["comparison"] = str(write_png(torch.cat([target, recon]), out / "comparison.png", target.shape[0]))
    return {"files": files, "code": code, "reconstruction": recon, "seconds": seconds}


def is_hyperstyle_run(path: Path | str) -> bool:
    return is_hyper_run(path)
