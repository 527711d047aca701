"""`ganforge translate`: images through a pix2pix, CycleGAN, StarGAN or BicycleGAN run's generator. A thin wrapper
over `ganforge.api.translate`; `ganforge train` and `ganforge eval` handle translation runs
through the same commands as GAN runs."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

from ganforge import api


def add_parsers(sub: argparse._SubParsersAction) -> None:
    translate = sub.add_parser(
        "translate",
        help="translate images with a pix2pix, CycleGAN, StarGAN or BicycleGAN run",
        description="Translate image files (or folders of images) with a translation run's "
        "generator; writes OUT/<name>.png for each input, at the run's crop size (or --size). "
        "StarGAN runs take --to, BicycleGAN runs --n (OUT/<name>_<k>.png for each code), SPADE "
        "runs with instance edges --instances.",
    )
    translate.add_argument("source", type=Path, metavar="RUN_DIR",
                           help="a translation run (or its export)")
    translate.add_argument(
        "inputs",
        nargs="+",
        type=Path,
        metavar="INPUT",
        help="image files and/or folders of images of the source domain",
    )
    translate.add_argument(
        "--direction",
        choices=("AtoB", "BtoA"),
        help="default: the run's (pix2pix) or AtoB (CycleGAN)",
    )
    translate.add_argument(
        "--out", type=Path, default=Path("translated"), help="output folder (default: translated)"
    )
    translate.add_argument(
        "--checkpoint", type=Path, help="a specific checkpoint (default: newest)"
    )
    translate.add_argument("--size", type=int, help="square side the inputs are resized to")
    translate.add_argument("--to", metavar="ATTR[,ATTR...]",
                           help="StarGAN: the target attributes to turn on (every other one off)")
    translate.add_argument("--masks", type=Path, metavar="DIR",
                           help="InstaGAN: the inputs' instance masks (DIR/<name>_<k>.png); the "
                           "translated masks go to OUT/masks/")
    translate.add_argument("--instances", type=Path, metavar="FILE|DIR",
                           help="SPADE: the input's instance map, or a folder of them named as the inputs "
                           "(default for a run with instance edges: the label maps' class boundaries)")
    translate.add_argument("--n", type=int, help="BicycleGAN: outputs per input, one per latent code")
    translate.add_argument("--seed", type=int, default=0,
                           help="BicycleGAN's codes and dropout noise (batch_stats mode)")
    translate.add_argument("--device", default="cpu", help="cpu or cuda[:N]")


def _cmd_translate(args: argparse.Namespace) -> int:
    result = api.translate(
        args.source,
        args.inputs,
        args.out,
        args.direction,
        args.checkpoint,
        args.size,
        args.seed,
        args.device,
        to=args.to,
        n=args.n,
        masks=args.masks,
        instances=args.instances,
    )
    if result["instance_edges"] == "class boundaries":
        print("note: no --instances given: this run's instance-edge channel is made from the label maps' "
              "class boundaries (touching instances of one class are not told apart)", file=sys.stderr)
    print(
        f"wrote {len(result['files'])} {result['direction']} translation"
        f"{'s' if len(result['files']) != 1 else ''} ({result['size']} px) to {args.out}"
        + (f" and {len(result['masks'])} translated masks to {args.out / 'masks'}" if result["masks"] else "")
    )
    return 0


TRANSLATE_COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {"translate": _cmd_translate}
