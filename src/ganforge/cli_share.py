"""CLI commands to share and explore generators: export, convert, interpolate, arithmetic,
explore, serve. Each is a thin wrapper over a function in `ganforge.api` (or `ganforge.serve`)."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path

from ganforge import api
from ganforge.errors import GanforgeError
from ganforge.sampling import TRUNCATION_CONVENTIONS
from ganforge.serve import run_server

SOURCE_HELP = ("run directory, exported generator (folder or .safetensors), BigGAN-deep, BigGAN-PyTorch "
               "or TF-Hub BigGAN folder, stylegan2-ada-pytorch .pkl, or hub id")


def _number(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got '{text}'") from None


def _indices(text: str) -> list[int]:
    try:
        return [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated sample indices, got '{text}'") from None


def _seed_pairs(text: str) -> list[tuple[int, int]]:
    """"0:1,5:9" -> [(0, 1), (5, 9)]; a bare seed s means (s, s + 1)."""
    pairs = []
    try:
        for part in (p.strip() for p in text.split(",") if p.strip()):
            a, _, b = part.partition(":")
            pairs.append((int(a), int(b) if b else int(a) + 1))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected seeds like 0:1,2:3, got '{text}'") from None
    return pairs


def add_parsers(sub: argparse._SubParsersAction) -> None:
    export = sub.add_parser(
        "export", help="write the generator alone: a folder for sharing (or one .safetensors)",
        description="Write the EMA generator as OUT_DIR/model.safetensors + config.json + README.md "
        "(a model card with the recipe and evaluation), or as one file when OUT ends in .safetensors.",
    )
    export.add_argument("source", type=Path, metavar="RUN_DIR")
    export.add_argument("out_dir", type=Path, nargs="?", metavar="OUT_DIR")
    export.add_argument("--out", type=Path, help="same as OUT_DIR (a folder, or a .safetensors file)")
    export.add_argument("--raw", action="store_true", help="export G instead of the EMA generator")
    export.add_argument("--checkpoint", type=Path, help="a specific checkpoint (default: newest)")

    convert = sub.add_parser(
        "convert", help="convert a published BigGAN checkpoint or StyleGAN2-ADA pickle to an export",
        description="KIND biggan-deep: a pytorch_model.bin + config.json folder (biggan-deep-128/256/"
        "512). biggan-pytorch: a BigGAN-PyTorch weights folder (G.pth, G_ema.pth, D.pth, optimizers, "
        "state_dict.pth); --run writes a run directory that `ganforge train --resume` continues. "
        "tfhub-biggan: an unpacked TF-Hub module biggan-128/256/512 (variables/variables.index), "
        "read without TensorFlow. stylegan2-ada: a stylegan2-ada-pytorch network pickle (DIR is the "
        ".pkl), read without running the code embedded in it; its G_ema becomes the export, or with --run "
        "a training snapshot becomes a run directory (G, D, G_ema, ADA p, step; fresh optimizers).",
    )
    convert.add_argument("kind", metavar="KIND", help=" | ".join(api.CONVERT_KINDS))
    convert.add_argument("directory", type=Path, metavar="DIR", help="the checkpoint folder (stylegan2-ada: the .pkl file)")
    convert.add_argument("overrides", nargs="*", metavar="KEY=VALUE",
                         help="dotted config overrides (biggan-pytorch, tfhub-biggan, stylegan2-ada)")
    convert.add_argument("--out", type=Path, required=True, help="output folder")
    convert.add_argument("--class-names", type=Path,
                         help="class names file (one per line, or imagenet_class_index.json)")
    bgp = convert.add_argument_group("biggan-pytorch")
    bgp.add_argument("--run", action="store_true",
                     help="write a run directory (G, D, G_ema, optimizers, step) instead of an export "
                     "(stylegan2-ada too: a snapshot's G, D, G_ema, ADA p, step; fresh optimizers)")
    bgp.add_argument("--data", help="the data the converted run trains on (default: the recipe's; "
                     "stylegan2-ada: the folder the snapshot records)")
    bgp.add_argument("--preset", help="a launch script's settings: " + ", ".join(api.BIGGAN_PYTORCH_PRESETS))
    bgp.add_argument("--resolution", type=int, help="checked against the weights")
    bgp.add_argument("--ch", type=int, help="G_ch and D_ch; checked against the weights")
    bgp.add_argument("--attention", help="G_attn/D_attn as BGP writes them (64, 32_64, 0); checked")
    bgp.add_argument("--sn-eps", type=_number, help="BGP's SN_eps (not in the weights)")
    bgp.add_argument("--bn-eps", type=_number, help="BGP's BN_eps (not in the weights)")
    convert.add_argument("--raw", action="store_true",
                         help="tfhub-biggan: the trained weights instead of their moving average")

    interp = sub.add_parser("interpolate", help="interpolation sheet (and GIF) in z, class or both")
    interp.add_argument("source", metavar="SOURCE", help=SOURCE_HELP)
    interp.add_argument("--mode", choices=("z", "class", "both", "text", "w"), default="z",
                        help="w: between the two seeds' styles in W (StyleGAN generators)")
    interp.add_argument("--text", dest="texts", action="append", metavar="SENTENCE",
                        help="--mode text: the two sentences to move between (GAN-CLS runs)")
    interp.add_argument("--seeds", type=_seed_pairs, default=[(0, 1)],
                        help="one row per pair a:b (z goes from seed a's to seed b's); default 0:1")
    interp.add_argument("--class", dest="classes", action="append", metavar="ID_OR_NAME",
                        help="the class (z mode), or twice: from and to (class and both modes)")
    interp.add_argument("--steps", type=int, default=8)
    interp.add_argument("--truncation", "--psi", dest="truncation", type=_number,
                        help="truncation (StyleGAN: psi in W)")
    interp.add_argument("--cutoff", type=int, metavar="N", help="StyleGAN: truncate the first N styles only")
    interp.add_argument("--truncation-convention", choices=list(TRUNCATION_CONVENTIONS),
                        help="resample (default), scale or tfhub: see ganforge sample --help")
    interp.add_argument("--slerp", action="store_true", help="spherical instead of linear in z")
    interp.add_argument("--out", type=Path, default=Path("interpolation.png"))
    interp.add_argument("--gif", type=Path, help="also write an animated GIF")

    arith = sub.add_parser(
        "arithmetic", help="latent arithmetic a - b + c on samples saved with sample --save-latents",
        description="Average the z of each group of sample indices, compute a - b + c, and draw the "
        "means, the result, and the result with small noise (DCGAN's 'glasses' example).",
    )
    arith.add_argument("source", metavar="SOURCE", help=SOURCE_HELP)
    arith.add_argument("latents", type=Path, metavar="LATENTS", help="OUT.latents.safetensors from sample")
    for group in ("a", "b", "c"):
        arith.add_argument(f"--{group}", type=_indices, required=True, metavar="I,J,...")
    arith.add_argument("--class", dest="label", metavar="ID_OR_NAME",
                       help="class of the result (default: the c group's)")
    arith.add_argument("--n", type=int, default=8, help="noisy variants of the result")
    arith.add_argument("--noise", type=_number, default=0.25)
    arith.add_argument("--seed", type=int, default=0)
    arith.add_argument("--out", type=Path, default=Path("arithmetic.png"))

    explore = sub.add_parser("explore", help="a sample and its neighbours in z")
    explore.add_argument("source", metavar="SOURCE", help=SOURCE_HELP)
    explore.add_argument("--class", dest="label", metavar="ID_OR_NAME")
    explore.add_argument("--seed", type=int, default=0)
    explore.add_argument("--n", type=int, default=15)
    explore.add_argument("--radius", type=_number, default=0.3)
    explore.add_argument("--truncation", "--psi", dest="truncation", type=_number,
                         help="truncation (StyleGAN: psi in W)")
    explore.add_argument("--cutoff", type=int, metavar="N", help="StyleGAN: truncate the first N styles only")
    explore.add_argument("--truncation-convention", choices=list(TRUNCATION_CONVENTIONS),
                         help="resample (default), scale or tfhub: see ganforge sample --help")
    explore.add_argument("--out", type=Path, default=Path("explore.png"))

    serve = sub.add_parser("serve", help="a web page to explore a generator")
    serve.add_argument("source", metavar="SOURCE", help=SOURCE_HELP)
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=7860)
    serve.add_argument("--directions", help="directions file (ganforge directions): sliders on /edit")
    serve.add_argument("--cutoff", type=int, default=None,
                       help="StyleGAN: the page's truncation (psi) applies to the first N styles only")


def _cmd_export(args: argparse.Namespace) -> int:
    out = args.out_dir or args.out
    if out is None:
        raise GanforgeError("give an output: ganforge export RUN_DIR OUT_DIR")
    result = api.export(args.source, out, ema=not args.raw, checkpoint=args.checkpoint)
    print(f"wrote {result['path']} ({result['generator_params']:,} parameters, sha256 {result['sha256']})")
    return 0


def _cmd_convert(args: argparse.Namespace) -> int:
    options = {}
    if args.kind == "biggan-pytorch":
        options = {"run": args.run, "data": args.data, "preset": args.preset, "flags": {
            "resolution": args.resolution, "G_ch": args.ch, "D_ch": args.ch, "G_attn": args.attention,
            "D_attn": args.attention, "SN_eps": args.sn_eps, "BN_eps": args.bn_eps}}
    elif args.kind == "tfhub-biggan":
        options = {"ema": not args.raw}
    elif args.kind == "stylegan2-ada" and (args.run or args.data):
        options = {"run": args.run, "data": args.data}
    if args.overrides:
        options["overrides"] = args.overrides
    result = api.convert(args.kind, args.directory, args.out, args.class_names, **options)
    if result.get("kind") == "run":
        print(f"wrote run {result['path']} at step {result['step']:,} (recipe {result['recipe']}, "
              f"{result['params']:,} G parameters); continue it with ganforge train --resume {result['path']}")
        return 0
    print(f"wrote {result['path']} ({result['params']:,} parameters, {result['resolution']} px; "
          f"class names: {result['class_names']})")
    return 0


def _cmd_interpolate(args: argparse.Namespace) -> int:
    result = api.interpolate(args.source, args.out, args.mode, args.seeds, args.classes, args.steps,
                             args.truncation, args.slerp, args.gif, args.truncation_convention,
                             texts=args.texts, cutoff=args.cutoff)
    print("wrote " + " and ".join(result["files"]))
    return 0


def _cmd_arithmetic(args: argparse.Namespace) -> int:
    result = api.arithmetic(args.source, args.latents, args.a, args.b, args.c, args.out,
                            args.label, args.n, args.noise, args.seed)
    print(f"wrote {result['grid']} (row 1: mean a, mean b, mean c, a - b + c; then noisy variants)")
    return 0


def _cmd_explore(args: argparse.Namespace) -> int:
    result = api.explore(args.source, args.out, args.label, args.seed, args.n, args.radius,
                         args.truncation, args.truncation_convention, cutoff=args.cutoff)
    print(f"wrote {result['grid']} (top left: the sample of seed {args.seed})")
    return 0


def _cmd_serve(args: argparse.Namespace) -> int:
    run_server(args.source, host=args.host, port=args.port, directions=args.directions, cutoff=args.cutoff)
    return 0


SHARE_COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
    "export": _cmd_export, "convert": _cmd_convert, "interpolate": _cmd_interpolate,
    "arithmetic": _cmd_arithmetic, "explore": _cmd_explore, "serve": _cmd_serve,
}
