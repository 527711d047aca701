"""`ganforge check-config`: read and validate a recipe with overrides, building nothing.

Prints "ok" (exit 0) or the first mistake as the usual one-line error (exit 2, from `cli.main`).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable

from ganforge import api
from ganforge.errors import GanforgeError


def add_parsers(sub: argparse._SubParsersAction) -> None:
    check = sub.add_parser(
        "check-config",
        help="validate a recipe and overrides without building or writing anything",
        description="Read a recipe (name, YAML path or a run's config.yaml) with section.key=value "
        "overrides as `ganforge train` would, and check every setting and every rule among them.",
    )
    check.add_argument("overrides", nargs="*", metavar="KEY=VALUE", help="dotted config overrides")
    check.add_argument("--recipe", default=api.DEFAULT_RECIPE, help="recipe name or YAML path")
    check.add_argument("--data", help="the data spec the run would use (picks a demo's settings)")
    check.add_argument("--nproc", type=int, default=1, metavar="N",
                       help="processes the run will use under torchrun (default 1)")


def _cmd_check_config(args: argparse.Namespace) -> int:
    if args.nproc < 1:
        raise GanforgeError(f"--nproc must be a positive integer, got {args.nproc}")
    api.check_config(args.recipe, args.overrides, data=args.data, world=args.nproc)
    print("ok")
    return 0


CHECK_COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {"check-config": _cmd_check_config}
