"""`ganforge mix`: the style-mixing grid of a StyleGAN generator (a thin wrapper over
`ganforge.api.mix`)."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path

from ganforge import api
from ganforge.sampling import TRUNCATION_CONVENTIONS


def _seeds(text: str) -> list[int]:
    """"1,2,5-7" -> [1, 2, 5, 6, 7]."""
    seeds: list[int] = []
    try:
        for part in (p.strip() for p in text.split(",") if p.strip()):
            first, dash, last = part.partition("-")
            seeds += list(range(int(first), int(last) + 1)) if dash else [int(first)]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected seeds like 1,2,5-7, got '{text}'") from None
    return seeds


def _number(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got '{text}'") from None


def add_parsers(sub: argparse._SubParsersAction) -> None:
    mix = sub.add_parser(
        "mix", help="style-mixing grid of a StyleGAN generator (rows x columns of seeds)",
        description="Column seeds' images across the top, row seeds' down the left; each cell is "
        "the row seed's styles with those at --layers taken from the column seed (coarse 0-3: pose "
        "and shape; middle 4-7: features; fine 8-: colour and texture).",
    )
    mix.add_argument("source", metavar="SOURCE", help="a StyleGAN2/StyleGAN run, export or .pkl")
    mix.add_argument("--rows", type=_seeds, required=True, metavar="SEEDS", help="e.g. 1,2,5-7")
    mix.add_argument("--cols", type=_seeds, required=True, metavar="SEEDS")
    mix.add_argument("--layers", default="0-3",
                     help="styles taken from the column seed: 0-3, 4,5, coarse, middle, fine (default 0-3)")
    mix.add_argument("--class", dest="label", metavar="ID_OR_NAME", help="the class (conditional)")
    mix.add_argument("--psi", "--truncation", dest="truncation", type=_number, help="psi in W")
    mix.add_argument("--cutoff", type=int, metavar="N", help="truncate the first N styles only")
    mix.add_argument("--truncation-convention", choices=list(TRUNCATION_CONVENTIONS),
                     help="psi (a style-based generator's own) or a z convention")
    mix.add_argument("--out", type=Path, default=Path("mix.png"))


def _cmd_mix(args: argparse.Namespace) -> int:
    result = api.mix(args.source, args.out, args.rows, args.cols, args.layers, args.label,
                     args.truncation, args.cutoff, args.truncation_convention)
    print(f"wrote {result['grid']} (styles {','.join(map(str, result['layers']))} of "
          f"{result['num_ws']} from the column seeds)")
    return 0


STYLE_COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {"mix": _cmd_mix}
