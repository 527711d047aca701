"""`ganforge` command line: a thin argparse front end over `ganforge.api`.

User mistakes (GanforgeError) print one line on stderr and exit with status 2; no traceback.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
from pathlib import Path

from ganforge import api
from ganforge.cli_check import CHECK_COMMANDS
from ganforge.cli_check import add_parsers as add_check_parsers
from ganforge.cli_data import DATA_COMMANDS
from ganforge.cli_data import add_parsers as add_data_parsers
from ganforge.cli_edit import EDIT_COMMANDS, train_hint, with_inversion_sources
from ganforge.cli_edit import add_parsers as add_edit_parsers
from ganforge.cli_share import SHARE_COMMANDS, add_parsers
from ganforge.cli_style import STYLE_COMMANDS
from ganforge.cli_style import add_parsers as add_style_parsers
from ganforge.cli_translate import TRANSLATE_COMMANDS
from ganforge.cli_translate import add_parsers as add_translate_parsers
from ganforge.config import list_recipes, recipe_description
from ganforge.errors import GanforgeError
from ganforge.metrics.sweep import parse_truncations
from ganforge.sampling import TRUNCATION_CONVENTIONS
from ganforge.training.distributed import current, teardown

EXIT_USER_ERROR = 2
EXIT_INTERRUPTED = 130
EXIT_OS_ERROR = 1


def _number(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got '{text}'") from None
    return value


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ganforge", description="Train, evaluate and sample GANs (BigGAN and family)."
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    train = sub.add_parser(
        "train",
        help="train a GAN from a recipe (default: small BigGAN on built-in digits)",
        description="Train from a recipe. Any setting can be overridden as section.key=value, "
        "e.g. train.lr_g=1e-4 model.ch=32.",
    )
    train.add_argument("overrides", nargs="*", metavar="KEY=VALUE", help="dotted config overrides")
    train.add_argument("--recipe", default=api.DEFAULT_RECIPE, help="recipe name or YAML path")
    train.add_argument("--data", help="digits | mnist:DIR | cifar10:DIR | folder:DIR | hf:NAME[:split] "
                       "(in memory) | prepared:DIR | prepared:URL | hdf5:FILE | stream:DIR (read "
                       "from disk or an object store); translation: paired:DIR | unpaired:DIR | "
                       "prepared:DIR | demo:NAME")
    train.add_argument("--out", type=Path, help="run directory (default: runs/<recipe>[-N])")
    train.add_argument("--steps", type=int, help="total generator steps")
    train.add_argument("--batch-size", type=int, help="images per batch")
    train.add_argument("--seed", type=int, help="random seed")
    train.add_argument("--checkpoint-every", type=int, metavar="N",
                       help="G steps between checkpoints (also with --resume)")
    train.add_argument("--resume", type=Path, metavar="RUN_DIR", help="continue a run")
    train.add_argument("--generator", metavar="GEN", help="--recipe encoder|hyperstyle: the generator to invert")
    train.add_argument("--encoder", type=Path, metavar="ENCODER_RUN", help="--recipe hyperstyle: its encoder run")
    train.add_argument("--overwrite", action="store_true", help="replace an existing --out")
    train.add_argument("--no-progress", action="store_true", help="hide the progress bar")

    sample = sub.add_parser("sample", help="write a grid of samples from a run's EMA generator")
    sample.add_argument("source", metavar="SOURCE",
                        help="run directory, exported generator, BigGAN-deep folder or hub id")
    sample.add_argument("--class", dest="classes", action="append", metavar="ID_OR_NAME",
                        help="class to draw (repeatable; default: the first 10 classes)")
    sample.add_argument("--text", dest="texts", action="append", metavar="SENTENCE",
                        help="text-to-image runs: a sentence to draw (repeatable; one row each)")
    sample.add_argument("--layout", type=Path, metavar="FILE.json",
                        help="layout-to-image runs (lostgan): labelled boxes to draw, one row per layout")
    sample.add_argument("--upsampler", metavar="RUN", help="text runs: super-resolve the images with "
                        "this gigagan-upsampler run or export (chained after the base model)")
    sample.add_argument("--n", type=int, default=8, help="samples per class or sentence (default 8)")
    sample.add_argument("--truncation", "--psi", dest="truncation", type=_number, default=None,
                        help="truncation threshold of z (default: none; 1.0 for BigGAN-deep and "
                        "other tfhub-convention generators); StyleGAN: psi in W")
    _add_drawing_options(sample)
    sample.add_argument("--seed", type=int, default=0)
    sample.add_argument("--out", type=Path, default=Path("samples.png"), help="grid PNG path")
    sample.add_argument("--individual", action="store_true",
                        help="also write each image to a folder named after --out")
    sample.add_argument("--code", metavar="catI|contJ",
                        help="InfoGAN: vary this code along each row (e.g. cat0, cont1)")
    sample.add_argument("--save-latents", action="store_true",
                        help="also write OUT.latents.safetensors (for ganforge arithmetic)")

    evaluate = sub.add_parser(
        "eval", help="FID, IS, KID, precision/recall, density/coverage, class accuracy",
        description="Evaluate a run's EMA generator (or a folder / .npz of images) against a "
        "reference dataset. The JSON names every protocol choice.",
    )
    evaluate.add_argument("source", type=Path, metavar="SOURCE",
                          help="run directory, exported generator, BigGAN-deep folder, hub id, "
                          "image folder or .npz")
    _add_eval_options(evaluate, default_metrics="fid,is,kid,pr,dc,acc", default_n=10000)
    evaluate.add_argument("--truncation", "--psi", dest="truncation", type=_number, default=None,
                          help="truncation threshold of z (default: none; 1.0 for BigGAN-deep); "
                          "StyleGAN: psi in W")
    _add_drawing_options(evaluate)
    evaluate.add_argument("--out", type=Path, help="write the result JSON here (also printed)")

    sweep = sub.add_parser(
        "sweep", help="metrics over truncation thresholds (table, plot, sample strip)",
        description="Evaluate a run at several truncation thresholds: the quality/diversity curve.",
    )
    sweep.add_argument("source", type=Path, metavar="SOURCE",
                       help="run directory, exported generator, BigGAN-deep folder or hub id")
    _add_eval_options(sweep, default_metrics="fid,is,pr,acc", default_n=5000)
    sweep.add_argument("--truncation", "--psi", dest="truncation", default="0.25,0.5,0.75,1.0,1.5,2.0,none",
                       help="comma list and/or start:stop:step ranges; 'none' = untruncated")
    sweep.add_argument("--out", type=Path, help="output folder (default: RUN_DIR/sweep)")
    _add_drawing_options(sweep)

    plot = sub.add_parser("plot", help="dashboard PNG of a run's training curves and metrics")
    plot.add_argument("source", type=Path, metavar="RUN_DIR")
    plot.add_argument("--out", type=Path, help="PNG path (default: RUN_DIR/dashboard.png)")

    sub.add_parser("recipes", help="list the recipes shipped with ganforge")
    add_parsers(sub)  # export, convert, interpolate, arithmetic, explore, serve
    add_translate_parsers(sub)  # translate
    add_check_parsers(sub)  # check-config
    add_data_parsers(sub)  # prepare
    add_edit_parsers(sub)  # project, directions, edit
    add_style_parsers(sub)  # mix

    info = sub.add_parser("info", help="parameter counts and settings of a recipe")
    info.add_argument("recipe")
    info.add_argument("overrides", nargs="*", metavar="KEY=VALUE")
    info.add_argument("--json", action="store_true", help="print JSON")
    return parser


def _add_drawing_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--truncation-convention", choices=list(TRUNCATION_CONVENTIONS),
                        help="resample: values beyond t re-drawn (the paper's; default); scale: "
                        "z ~ N(0, t^2) (BigGAN-PyTorch's sampling); tfhub: t * TN(-2, 2) (TF-Hub, "
                        "BigGAN-deep's own); psi: --truncation is StyleGAN's psi in W (style-based "
                        "generators' own)")
    parser.add_argument("--cutoff", type=int, metavar="N",
                        help="StyleGAN: truncate the first N styles only (default: all)")
    parser.add_argument("--bn", metavar="MODE",
                        help="BatchNorm statistics: running (default), batch[:B] (each batch's own, "
                        "as BigGAN-PyTorch's CIFAR evaluation), standing:N[xB] (re-estimated "
                        "over N batches of B at the truncation) or per-truncation[:N[xB]] (stored "
                        "at truncation 1, standing at any other: converted TF-Hub BigGAN's default)")


def _drawing_kwargs(args: argparse.Namespace) -> dict:
    return {"truncation_convention": args.truncation_convention, "bn": args.bn, "cutoff": args.cutoff}


def _add_eval_options(parser: argparse.ArgumentParser, default_metrics: str, default_n: int) -> None:
    parser.add_argument("--metrics", default=default_metrics, help=f"comma list (default {default_metrics})")
    parser.add_argument("--n", type=int, default=default_n, help=f"generated images (default {default_n})")
    parser.add_argument("--features", help="inception | digits | mnist (default: the domain "
                        "classifier for digits/MNIST data, else inception)")
    parser.add_argument("--data", help="reference data spec (default: the run's dataset)")
    parser.add_argument("--n-ref", type=int, help="reference images (default: all)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--inception-weights", type=Path, help="pt_inception-2015-12-05-6726825d.pth")
    parser.add_argument("--no-cache", action="store_true", help="recompute reference features")
    parser.add_argument("--clip", type=Path, help="text-to-image runs: a local whole CLIP model folder "
                        "(CLIPModel.save_pretrained + tokenizer files) for clip_score")
    parser.add_argument("--device", default="cpu", help="cpu or cuda[:N]")


def _eval_kwargs(args: argparse.Namespace) -> dict:
    if args.n_ref is not None and args.n_ref <= 0:
        raise GanforgeError(f"--n-ref must be a positive integer, got {args.n_ref}")
    return {"features": args.features, "data": args.data, "inception_weights": args.inception_weights,
            "n_ref": args.n_ref, "device": args.device, "use_cache": not args.no_cache,
            "clip": args.clip,
            **_drawing_kwargs(args)}


def _cmd_eval(args: argparse.Namespace) -> int:
    # pix2pix / CycleGAN (run or export): api.evaluate scores them on their data's test split
    result = api.evaluate(args.source, args.metrics, n=args.n, truncation=args.truncation,
                          seed=args.seed, **_eval_kwargs(args))
    text = json.dumps(result, indent=1)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text + "\n", encoding="utf-8")
    print(text)
    return 0


def _cmd_sweep(args: argparse.Namespace) -> int:
    thresholds = parse_truncations(args.truncation)
    default = args.source.with_name(args.source.stem + "-sweep") if args.source.is_file() else args.source / "sweep"
    out = args.out or default
    api.sweep(args.source, out, thresholds, metrics=args.metrics, n=args.n, seed=args.seed,
              **_eval_kwargs(args))
    print(f"wrote {out / 'sweep.json'}, sweep.csv, sweep.png and strip.png")
    return 0


def _cmd_train(args: argparse.Namespace) -> int:
    if args.resume is not None:
        if args.overrides or args.data or args.batch_size or args.seed is not None or args.generator or args.encoder:
            raise GanforgeError(
                "--resume continues a run with its own config.yaml; only --steps and "
                "--checkpoint-every may be given with it"
            )
        run = api.resume(args.resume, steps=args.steps, checkpoint_every=args.checkpoint_every,
                         progress=not args.no_progress)
    else:
        config = api.make_config(
            args.recipe, args.overrides, data=args.data, steps=args.steps,
            batch_size=args.batch_size, seed=args.seed, checkpoint_every=args.checkpoint_every,
        )
        config = with_inversion_sources(config, args)
        run = api.train(config, args.out, overwrite=args.overwrite, progress=not args.no_progress)
    if current().is_main:  # under torchrun every rank returns here; one line is enough
        hint = f"ganforge translate {run} INPUT --out DIR" if api.is_translation_run(run) \
            else train_hint(run) or f"ganforge sample {run}"
        print(f"run directory: {run}  (samples in {run / 'samples'}, try: {hint})")
    return 0


def _cmd_sample(args: argparse.Namespace) -> int:
    result = api.sample(
        args.source, args.out, classes=args.classes, n=args.n, truncation=args.truncation,
        seed=args.seed, individual=args.individual, code=args.code, save_latents=args.save_latents, texts=args.texts,
        layout=args.layout, upsampler=args.upsampler, **_drawing_kwargs(args),
    )
    extra = f" and {len(result['files']) - 1} images" if args.individual else ""
    print(f"wrote {result['grid']}{extra}")
    return 0


def _cmd_plot(args: argparse.Namespace) -> int:
    print(f"wrote {api.plot(args.source, args.out)}")
    return 0


def _cmd_recipes(_: argparse.Namespace) -> int:
    names = list_recipes()
    width = max(len(n) for n in names)
    for name in names:
        print(f"{name.ljust(width)}  {recipe_description(name)}")
    return 0


def _cmd_info(args: argparse.Namespace) -> int:
    result = api.info(args.recipe, args.overrides)
    if args.json:
        print(json.dumps(result, indent=1))
    else:
        print(f"{result['recipe']}: {result['description']}")
        if result.get("task") == "inversion":
            print(f"  task inversion ({result['mode']}) of --generator GEN: its size follows that generator")
            return 0
        if result.get("task") == "translation":
            for label, counts in (("", result["networks"]), ("built-in demo ", result["demo_networks"])):
                if counts:
                    print(f"  {label}parameters: " + ", ".join(f"{k} {v:,}" for k, v in counts.items()))
            print(f"  crop size {result['resolution']}")
            return 0
        print(f"  generator parameters:     {result['generator_params']:,}")
        print(f"  discriminator parameters: {result['discriminator_params']:,}")
        print(f"  resolution {result['resolution']}, classes {result['n_classes']}")
    return 0


COMMANDS = {
    "train": _cmd_train, "sample": _cmd_sample, "eval": _cmd_eval, "sweep": _cmd_sweep,
    "plot": _cmd_plot, "recipes": _cmd_recipes, "info": _cmd_info,
}


def main(argv: list[str] | None = None) -> int:
    parser = _build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return EXIT_USER_ERROR
    try:
        commands = {**COMMANDS, **SHARE_COMMANDS, **TRANSLATE_COMMANDS, **CHECK_COMMANDS,
                    **DATA_COMMANDS, **EDIT_COMMANDS, **STYLE_COMMANDS}
        return commands[args.command](args)
    except GanforgeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USER_ERROR
    except KeyboardInterrupt:
        print("interrupted at once: files already written are intact; a training run continues "
              "from its last checkpoint with --resume", file=sys.stderr)
        return EXIT_INTERRUPTED
    except OSError as exc:  # disk full, permissions, ...: the user's environment, not a bug
        where = f" ({exc.filename})" if exc.filename else ""
        print(f"error: {exc.strerror or exc}{where}; earlier files are left as they were",
              file=sys.stderr)
        return EXIT_OS_ERROR
    finally:
        teardown()  # under torchrun: leave the process group cleanly


def _exit_at_once(signum: int, frame: object) -> None:
    """Outside training's own handling (e.g. while the interpreter shuts down after a graceful
    stop), a signal ends the process at once: every file is closed or written atomically."""
    os._exit(EXIT_INTERRUPTED)


def run() -> int:
    """The console-script entry point: `main` plus exit-at-once signal handling for the process.

    Training installs its graceful handler on top of this and restores it afterwards.
    """
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, _exit_at_once)
    return main()


if __name__ == "__main__":
    raise SystemExit(run())
