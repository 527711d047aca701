"""`ganforge project`, `ganforge directions`, `ganforge edit`: editing real images with a
trained generator. Thin wrappers over `ganforge.api.editing`."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path

from ganforge.api import editing
from ganforge.config import Config, load_config_file
from ganforge.errors import GanforgeError


def add_parsers(sub: argparse._SubParsersAction) -> None:
    project = sub.add_parser(
        "project", help="find the latent that reproduces an image (StyleGAN2: z/W/W+, BigGAN: z)",
        description="Optimise a latent (StyleGAN2 as NVlabs' projector: w_avg start, lr and noise "
        "ramps, noise maps with their regulariser) so the generator reproduces IMAGE. Writes "
        "latent.safetensors, reconstruction.png, comparison.png, loss.json (and projection.gif).")
    project.add_argument("source", metavar="GEN", help="run directory, exported generator or hub id")
    project.add_argument("image", type=Path, metavar="IMAGE", help="a square image file")
    project.add_argument("--out", type=Path, default=Path("projection"), help="output folder")
    project.add_argument("--space", choices=("z", "w", "w+"),
                         help="latent space (default: w for StyleGAN2, z otherwise)")
    project.add_argument("--steps", type=int, default=1000, help="optimisation steps (default 1000)")
    project.add_argument("--class", dest="class_", metavar="ID_OR_NAME",
                         help="class of a conditional generator (z space; W statistics)")
    project.add_argument("--free-class", action="store_true",
                         help="z space: optimise the class mix too (starts at --class or uniform)")
    project.add_argument("--vgg-weights", type=Path, metavar="FILE",
                         help="VGG16/19 or AlexNet weights (torchvision layout) for an LPIPS-style distance; "
                         "default: the shipped domain classifier of the generator's data")
    project.add_argument("--lpips-weights", type=Path, metavar="FILE",
                         help="with --vgg-weights: LPIPS's learned channel weights (the lpips package's "
                         "vgg.pth for VGG16, alex.pth for AlexNet)")
    project.add_argument("--classifier", help="the domain classifier for the perceptual distance (digits, mnist)")
    project.add_argument("--mse-weight", type=float, default=1.0)
    project.add_argument("--perceptual-weight", type=float, default=1.0)
    project.add_argument("--no-noise", action="store_true", help="StyleGAN2: keep the noise maps fixed")
    project.add_argument("--gif", action="store_true", help="also write projection.gif")
    project.add_argument("--encoder", type=Path, metavar="ENCODER_RUN",
                         help="invert with a trained encoder (one forward pass) instead of optimising")
    project.add_argument("--refine", type=Path, metavar="HYPERSTYLE_RUN",
                         help="with --encoder: refine the generator's weights per image (HyperStyle)")
    project.add_argument("--iterations", type=int, default=3, help="--refine iterations (default 3)")
    project.add_argument("--seed", type=int, default=0)
    project.add_argument("--device", default="cpu")

    found = sub.add_parser(
        "directions", help="latent directions: GANSpace PCA, SeFa, InterFaceGAN SVM",
        description="Find named latent directions and write them as OUT (safetensors) + OUT.json.")
    found.add_argument("source", metavar="GEN")
    found.add_argument("--method", choices=("pca", "sefa", "svm", "mean"), default="pca",
                       help="mean: class-mean differences (labels as svm); strength 1 = one class mean onto another")
    found.add_argument("--pairs", action="store_true", help="mean: one direction per ordered class pair (a->b)")
    found.add_argument("--out", type=Path, default=Path("directions.safetensors"))
    found.add_argument("--k", type=int, default=10, help="pca/sefa: number of directions (default 10)")
    found.add_argument("--n", type=int, help="samples (default: 10000 for pca, 2000 for svm)")
    found.add_argument("--layers", metavar="START:END", help="sefa: StyleGAN2 style layers (default all)")
    found.add_argument("--labels", type=Path, help="svm: one label per line for the latents of --latents")
    found.add_argument("--latents", type=Path, help="svm: the labelled latents (project/sample --save-latents)")
    found.add_argument("--classifier", help="svm: score samples with this shipped classifier "
                       "(digits, mnist, digit_attributes; default: the data's)")
    found.add_argument("--seed", type=int, default=0)
    found.add_argument("--device", default="cpu")

    edit = sub.add_parser(
        "edit", help="move a latent along a direction (a strip), or swap its class",
        description="Render LATENT moved along --direction at each --strength (one row per latent), "
        "or with each --to-class (class transfer of a projected image).")
    edit.add_argument("source", metavar="GEN")
    edit.add_argument("latent", type=Path, metavar="LATENT", help="latent.safetensors of project, "
                      "or a sample --save-latents file")
    edit.add_argument("--directions", type=Path, help="directions file (ganforge directions)")
    edit.add_argument("--direction", help="direction name (or index)")
    edit.add_argument("--strength", default="-3:3:7", help="START:STOP:COUNT or a comma list (default -3:3:7)")
    edit.add_argument("--layers", metavar="START:END", help="StyleGAN2: edit only these styles; with "
                      "--to-class, swap the class only in these StyleGAN2 styles / BigGAN G blocks "
                      "(0 = coarsest; e.g. 0:4 changes the shape and keeps the finer styles' stroke)")
    edit.add_argument("--to-class", dest="to_classes", action="append", metavar="ID_OR_NAME",
                      help="class transfer: render the latent with this class (repeatable)")
    edit.add_argument("--out", type=Path, default=Path("edits.png"))
    edit.add_argument("--strokes", action="store_true", help="print each column's mean stroke-attribute change "
                      "(thickness, slant, centroid, ...) against the unedited image: what a digit edit keeps")
    edit.add_argument("--device", default="cpu")


def _cmd_project(args: argparse.Namespace) -> int:
    if args.refine is not None and args.encoder is None:
        raise GanforgeError("--refine needs --encoder: HyperStyle refines an encoder's inversion")
    if args.encoder is not None:
        result = editing.encode(args.source, args.encoder, args.image, args.out, device=args.device,
                                refine=args.refine, iterations=args.iterations)
        print(f"encoded into {result['code'].space} in {result['seconds']:.3f} s; wrote {args.out}")
        return 0
    result = editing.project(
        args.source, args.image, args.out, space=args.space, steps=args.steps, class_=args.class_,
        free_class=args.free_class, vgg_weights=args.vgg_weights, classifier=args.classifier,
        lpips_weights=args.lpips_weights,
        mse_weight=args.mse_weight, perceptual_weight=args.perceptual_weight,
        optimize_noise=not args.no_noise, seed=args.seed, gif=args.gif, device=args.device)
    s = result["summary"]
    print(f"projected into {s['space']} in {s['seconds']:.1f} s: mse {s['final']['mse']:.5f}, "
          f"perceptual {s['perceptual']}; wrote {args.out}")
    return 0


def _cmd_directions(args: argparse.Namespace) -> int:
    result = editing.directions(
        args.source, args.out, args.method, k=args.k, n=args.n, layers=args.layers, labels=args.labels,
        latents=args.latents, classifier=args.classifier, seed=args.seed, device=args.device, pairs=args.pairs)
    print(f"wrote {len(result['names'])} {result['method']} directions in {result['space']} "
          f"({', '.join(result['names'])}) to {result['file']} and {result['json']}")
    return 0


def _cmd_edit(args: argparse.Namespace) -> int:
    result = editing.edit(
        args.source, args.latent, args.out, directions_file=args.directions, direction=args.direction,
        strength=args.strength, layers=args.layers, to_classes=args.to_classes, device=args.device,
        strokes=args.strokes)
    print(f"wrote {result['file']} ({result['rows']} x {result['columns']})")
    for j, changes in enumerate(result.get("stroke_changes", [])):
        print(f"column {j}: mean |change| " + ", ".join(f"{k} {v:.3g}" for k, v in changes.items()))
    return 0


def with_inversion_sources(config: Config, args: argparse.Namespace) -> Config:
    """`train --recipe encoder|hyperstyle --generator GEN [--encoder RUN]`: the config's
    inversion.generator / inversion.encoder."""
    return editing.with_inversion_sources(config, args.generator, args.encoder)


def train_hint(run: Path) -> str | None:
    """What to try after an inversion run (None for other runs)."""
    config_file = run / "config.yaml"
    try:
        config = load_config_file(config_file) if config_file.is_file() else None
    except GanforgeError:
        return None
    if config is None or config.task != "inversion":
        return None
    inv = config.inversion
    if inv.mode == "hyperstyle":
        return f"ganforge project {inv.generator} IMAGE --encoder {inv.encoder} --refine {run}"
    return f"ganforge project {inv.generator} IMAGE --encoder {run}"


EDIT_COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
    "project": _cmd_project, "directions": _cmd_directions, "edit": _cmd_edit,
}
