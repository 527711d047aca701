"""Shared by the inversion tests (encoder / hyperstyle recipes): a tiny StyleGAN2 export and a
finished 1-step encoder run of it, made once per test session in a temporary folder."""

from __future__ import annotations

import atexit
import contextlib
import functools
import io
import shutil
import tempfile
from pathlib import Path

import torch

from ganforge import api
from ganforge.cli import main
from ganforge.generator import Generator
from ganforge.generators import PretrainedGenerator
from ganforge.models import build_models

STYLE = ["model.channel_base=128", "model.channel_max=16", "model.w_dim=16", "model.dim_z=8",
         "model.mapping_layers=1", "model.d_mapping_layers=1", "model.resolution=16"]
TINY = ["inversion.width=4", "inversion.w_samples=64", "eval.n=4"]  # the narrowest networks


@functools.cache
def _root() -> Path:
    root = Path(tempfile.mkdtemp(prefix="ganforge-inversion-"))
    atexit.register(shutil.rmtree, root, True)
    return root


@functools.cache
def tiny_generator() -> Path:
    """An exported conditional StyleGAN2 (16 px grey, w 16) with seeded random weights."""
    torch.manual_seed(0)
    config = api.make_config("stylegan2-digits", STYLE)
    net, _ = build_models(config.model)
    g = Generator(net, [str(i) for i in range(10)], config=config)
    return PretrainedGenerator.of(g).save_pretrained(_root() / "generator")


@functools.cache
def tiny_encoder_run() -> Path:
    """A finished (1-step) encoder run of `tiny_generator()`."""
    out = _root() / "encoder"
    with contextlib.redirect_stdout(io.StringIO()):
        status = main(["train", "--recipe", "encoder", "--generator", str(tiny_generator()), "--steps", "1",
                       "--out", str(out), "--no-progress", *TINY, "train.batch_size=2", "monitor.plot=false"])
    assert status == 0
    return out


def inversion_args(recipe: str) -> list[str]:
    """--generator (and for hyperstyle --encoder) plus the tiny settings of an inversion recipe."""
    args = ["--generator", str(tiny_generator()), *TINY]
    if api.make_config(recipe).inversion.mode == "hyperstyle":
        args = ["--encoder", str(tiny_encoder_run()), *args]
    return args
