"""`ganforge prepare`: convert a `--data` source into a prepared dataset (`prepared:OUT`)."""

from __future__ import annotations

import argparse
from collections.abc import Callable

from ganforge import api


def add_parsers(sub: argparse._SubParsersAction) -> None:
    prepare = sub.add_parser(
        "prepare",
        help="convert a dataset into shards on disk for --data prepared:OUT (large data)",
        description="Decode SOURCE once into uint8 shards at --resolution (with labels, class "
        "names, checksums and a manifest). Interrupted? Run the same command again to resume. "
        "Unreadable images are skipped and listed in OUT/report.txt.",
    )
    prepare.add_argument("source", metavar="SOURCE",
                         help="a --data spec (folder:DIR, mnist:DIR, cifar10:DIR, hf:NAME[:split], "
                         "hdf5:FILE, digits; translation: paired:DIR, unpaired:DIR) or an "
                         "image folder")
    prepare.add_argument("out", metavar="OUT", help="new folder for the prepared dataset")
    prepare.add_argument("--resolution", type=int, required=True, help="image size in pixels")
    prepare.add_argument("--channels", type=int, default=3, choices=(1, 3),
                         help="3 (RGB, default) or 1 (grey): the recipe's model.img_channels")
    prepare.add_argument("--crop", default="center", choices=("center", "none"),
                         help="center: square centre crop, as --data folder: does (default); "
                         "none: squeeze the whole image")
    prepare.add_argument("--workers", type=int, default=1, help="decoding processes (default 1)")
    prepare.add_argument("--shard-size", type=int, metavar="N",
                         help="images per shard (default: up to 2048, at most 256 MiB)")
    prepare.add_argument("--test-resolution", type=int, metavar="R",
                         help="translation data: size of the test split (the recipe's "
                         "translation.crop_size; --resolution is its load_size); default: "
                         "--resolution")
    prepare.add_argument("--channels-b", type=int, choices=(1, 3),
                         help="translation data: domain B's channels (default: --channels)")
    prepare.add_argument("--no-progress", action="store_true", help="hide the progress bar")


def _cmd_prepare(args: argparse.Namespace) -> int:
    result = api.prepare_data(args.source, args.out, args.resolution, channels=args.channels,
                              crop=args.crop, workers=args.workers, shard_size=args.shard_size,
                              progress=not args.no_progress,
                              test_resolution=args.test_resolution, channels_b=args.channels_b)
    if result["already_done"]:
        print(f"{result['out']} is already prepared ({result['images']} images); "
              f"train with --data {result['data']}")
        return 0
    skipped = f", skipped {result['skipped']} unreadable (see {result['out']}/report.txt)" \
        if result["skipped"] else ""
    print(f"prepared {result['images']} images in {result['shards']} shards "
          f"({result['images_per_s']} images/s){skipped}; train with --data {result['data']}")
    return 0


DATA_COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {"prepare": _cmd_prepare}
