"""Property-based fuzz of every setting of every shipped recipe through `ganforge train`.

For each recipe, shrunk to a tiny network on built-in data, hypothesis draws overrides for the
recipe's settings (walking its config dataclasses): in range, out of range, wrong type, NaN/inf,
empty lists, huge and negative numbers. Each draw must train one step (exit 0) or end with a
one-line `error:` and exit 2, with no traceback and no half-written run directory.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
import os
import typing
from pathlib import Path
from typing import Any, Literal

import pytest
import torch
import yaml
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from fuzz_support import error_line, key_of, run_cli, untouched_or_resumable
from ganforge import api
from ganforge.config import list_recipes
from ganforge.config.coerce import type_hints
from ganforge.config.fields import interval
from inversion_support import inversion_args

TINY_ARCH = {  # narrow nets (tests/test_family.py's SMALL), and BigGAN at 32 px
    "mlp": ["model.hidden=[16]", "model.d_hidden=[16]", "model.dim_z=8"],
    "dcgan": ["model.ch=4", "model.dim_z=8"],
    "biggan": ["model.ch=4", "model.dim_z=16", "model.shared_dim=8", "model.resolution=32",
               "model.g_channels=[4,4,4,4]", "model.d_channels=[4,4,4,4]",
               "model.d_downsample=[true,true,false,false]", "model.g_attention=[]",
               "model.d_attention=[]"],
    "began": ["model.ch=4", "model.dim_z=8"],
    "lapgan": ["model.ch=4", "model.hidden=[16]", "model.d_hidden=[16]"],
    "stylegan2": ["model.channel_base=128", "model.channel_max=16", "model.w_dim=16", "model.dim_z=8",
                  "model.mapping_layers=1", "model.d_mapping_layers=1", "model.resolution=32"],
    "gancls": ["model.ch=4", "model.dim_z=8", "text.width=16", "text.embed_dim=16", "text.heads=2",
               "text.pretrain_steps=2", "text.pretrain_batch=8"],
    "gigagan": ["model.ch=8", "model.style_dim=16", "model.heads=2", "model.n_kernels=2", "text.width=16",
                "text.embed_dim=16", "text.heads=2", "text.pretrain_steps=2", "text.pretrain_batch=8",
                # gigagan-64 at gigagan's size: per-level widths back to model.ch, 32 px, 16 tokens
                "model.resolution=32", "model.channels=[]", "model.d_channels=[]", "model.attn_resolutions=[8,16]",
                "text.max_len=16"],
    "gigagan-upsampler": ["model.ch=8", "model.style_dim=16", "model.heads=2", "model.n_kernels=2",
                          "text.width=16", "text.embed_dim=16", "text.heads=2", "text.pretrain_steps=2",
                          "text.pretrain_batch=8"],
    "lostgan": ["model.ch=2", "model.resolution=16", "model.dim_z=8", "model.obj_dim=8", "model.embed_dim=8",
                "model.mask_ch=4", "model.mask_size=8", "model.mask_map=16"],
    "lostgan-v2": ["model.ch=2", "model.resolution=16", "model.dim_z=8", "model.obj_dim=8", "model.embed_dim=8",
                   "model.mask_ch=4", "model.mask_size=8", "model.mask_map=16", "model.mask_head_ch=4"],
}
TEXT_DATA = "captioned-digits"  # text-to-image recipes need captions
TINY_TRANSLATION = ["translation.ngf=4", "translation.ndf=4", "translation.epochs=1",
                    "translation.epochs_decay=1", "translation.steps_per_epoch=1",
                    "translation.eval_n=4", "translation.eval_every=0"]
COMMON = ["train.batch_size=4", "train.log_every=1", "train.sample_every=1000",
          "train.checkpoint_every=1000", "eval.every=0", "eval.n=8", "monitor.plot=false",
          "monitor.diversity=false", "data.limit=40"]
SKIP = {"train.steps", "train.device", "train.compile", "train.fused_adam", "train.sync_bn",
        "data.source", "data.limit",  # --steps decides; no GPU/compiler on the test machine
        "text.pretrain_steps",  # a budget like --steps: the fuzz would only wait on it
        "inversion.generator", "inversion.encoder"}  # --generator / --encoder set them after the overrides
# what an inversion run reads (its generator brings the model): the fuzz draws its settings only
INVERSION_SECTIONS = ("data", "train", "eval", "monitor", "guard", "inversion")
EXAMPLES = 15  # per recipe
SEEN: dict[str, int] = {}  # distinct one-line messages (values removed) -> draws that hit them
DRAWS: list[int] = [0]


def base(recipe: str) -> list[str]:
    config = api.make_config(recipe)
    if config.task == "inversion":
        return inversion_args(recipe) + COMMON
    if config.task == "translation":
        return TINY_TRANSLATION + COMMON[:-1]
    dcgan64 = ["model.resolution=32"] if config.model.arch == "dcgan" else []
    data = TEXT_DATA if config.model.arch in ("gancls", "gigagan", "gigagan-upsampler") else "digits"
    data = "digit-layouts" if config.model.arch in ("lostgan", "lostgan-v2") else data  # layouts, not labels
    return ["--data", data] + TINY_ARCH[config.model.arch] + dcgan64 + COMMON


def leaves(recipe: str) -> list[tuple[str, Any, dict]]:
    """(dotted key, type hint, field metadata) of every setting of the recipe's config."""
    inversion = api.make_config(recipe).task == "inversion"
    args = list(COMMON) if inversion else base(recipe)  # no generator needed to list settings
    data = args[1] if args[0] == "--data" else "digits"
    config = api.make_config(recipe, [o for o in args if "=" in o], data=data)
    out = []
    for section in dataclasses.fields(config):
        value = getattr(config, section.name)
        if not dataclasses.is_dataclass(value):
            continue
        hints = type_hints(type(value))
        for f in dataclasses.fields(value):
            key = f"{section.name}.{f.name}"
            if key not in SKIP and _reads(config.task, section.name):
                out.append((key, hints[f.name], dict(f.metadata)))
    return out


def _reads(task: str, section: str) -> bool:
    """Whether a run of `task` reads the settings of `section`."""
    if task == "inversion":
        return section in INVERSION_SECTIONS
    return section != "inversion" and (task == "translation" or section != "translation")


def in_range(hint: Any, meta: dict) -> st.SearchStrategy:
    """Small valid-looking values of the setting's type (huge ones are drawn elsewhere)."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin is Literal:
        return st.sampled_from(args)
    if origin in (typing.Union, __import__("types").UnionType):
        inner = [a for a in args if a is not type(None)]
        return st.one_of(st.none(), *(in_range(a, meta) for a in inner))
    if origin is list:
        item = in_range(args[0], {"bounds": meta.get("each")} if meta.get("each") else {})
        size = meta.get("length")
        return st.lists(item, min_size=size or 0, max_size=size or 3)
    spec = meta.get("bounds")
    lo_closed, lo, hi, hi_closed = interval(spec) if spec else (True, -3.0, 3.0, True)
    if hint is bool:
        return st.booleans()
    if hint is int:
        low = int(math.ceil(lo)) + (0 if lo_closed or not float(lo).is_integer() else 1)
        low = max(low, -3)
        return st.integers(low, low + 3)
    if hint is float:
        top = min(hi, max(lo, 0) + 2.0)
        return st.floats(max(lo, -2.0), top, exclude_min=not lo_closed, exclude_max=not hi_closed or top < hi,
                         allow_nan=False)
    return st.sampled_from(["", "x", "color", "fid"])


def out_of_range(meta: dict) -> list[Any]:
    spec = meta.get("bounds") or meta.get("each")
    if not spec:
        return []
    lo_closed, lo, hi, hi_closed = interval(spec)
    values = [lo - 1, lo - 0.5] if math.isfinite(lo) else []
    values += [hi + 1, hi + 0.5] if math.isfinite(hi) else []
    values += [lo] if math.isfinite(lo) and not lo_closed else []
    values += [hi] if math.isfinite(hi) and not hi_closed else []
    return [[v] if meta.get("each") else v for v in values]


HOSTILE = [0, -1, -0.5, 10**12, -(10**12), 1e300, float("nan"), float("inf"), -float("inf"), [],
           [10**12], [-1], [float("nan")], "x", "", True, None, {"a": 1}, [0, 0, 0, 0, 0, 0, 0, 0, 0]]


def value_for(hint: Any, meta: dict) -> st.SearchStrategy:
    return st.one_of(in_range(hint, meta), st.sampled_from(HOSTILE + out_of_range(meta)))


def render(value: Any) -> str:
    """A value as the YAML a user would type after `key=`."""
    return yaml.safe_dump(value, default_flow_style=True, width=10**6).removesuffix("...\n").strip()


@st.composite
def overrides(draw: st.DrawFn, recipe: str) -> list[str]:
    fields = LEAVES[recipe]
    picked = draw(st.lists(st.sampled_from(range(len(fields))), min_size=1, max_size=3, unique=True))
    return [f"{fields[i][0]}={render(draw(value_for(fields[i][1], fields[i][2])))}" for i in picked]


RECIPES = list_recipes()
LEAVES = {recipe: leaves(recipe) for recipe in RECIPES}
COUNTER = itertools.count()


@pytest.fixture(autouse=True)
def _one_thread() -> None:
    torch.set_num_threads(1)


@pytest.mark.parametrize("recipe", RECIPES)
def test_tiny_base_trains(recipe: str, tmp_path: Path) -> None:
    """The shrunk recipe itself trains one step: the fuzz starts from a working command."""
    argv = ["train", "--recipe", recipe, "--steps", "1", "--no-progress", "--out", str(tmp_path / "run"),
            *base(recipe)]
    status, err = run_cli(argv)
    assert status == 0, err


@pytest.mark.parametrize("recipe", [r for r in RECIPES if r != "gigagan-64"])  # = gigagan's components
@settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
          phases=(Phase.explicit, Phase.generate),  # a failure names its argv: no costly shrinking
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(data=st.data())
def test_fuzzed_settings_train_or_fail_in_one_line(recipe: str, data: st.DataObject, tmp_path: Path) -> None:
    drawn = data.draw(overrides(recipe))
    out = tmp_path / f"run{next(COUNTER)}"
    argv = ["train", "--recipe", recipe, "--steps", "1", "--no-progress", "--out", str(out),
            *base(recipe), *drawn]
    if os.environ.get("GANFORGE_FUZZ_LOG"):
        print("draw:", " ".join(drawn), flush=True)
    status, err = run_cli(argv)
    message = error_line(status, err, argv)
    DRAWS[0] += 1
    SEEN[key_of(message or "ok")] = SEEN.get(key_of(message or "ok"), 0) + 1
    if message is not None:
        assert untouched_or_resumable(out), f"half-written {out} after: {message}"


HUGE = [  # (recipe, override): sizes that must be refused before anything is allocated
    ("biggan-32", "model.ch=1000000000000"), ("biggan-32", "model.dim_z=1000000000000"),
    ("dcgan", "model.ch=100000"), ("gan", "model.hidden=[1000000000000]"),
    ("gan", "model.resolution=1000000000000"), ("lapgan", "model.levels=1000000000000"),
    ("acgan", "model.img_channels=1000000000000"), ("infogan", "model.codes_cat=[1000000000000]"),
    ("dcgan", "train.d_steps=1000000000000"), ("dcgan", "train.accumulate=1000000000000"),
    ("pix2pix", "translation.ngf=1000000000000"), ("pix2pix", "translation.load_size=1000000000000"),
    ("pix2pix", "translation.n_layers_d=1000000000000"), ("cyclegan", "translation.generator=resnet_1000000000000blocks"),
    ("pix2pix", "translation.generator=unet_1099511627776"),
]


@pytest.mark.parametrize(("recipe", "override"), HUGE)
def test_huge_sizes_are_one_line_before_allocating(recipe: str, override: str, tmp_path: Path) -> None:
    out = tmp_path / "run"
    argv = ["train", "--recipe", recipe, "--steps", "1", "--no-progress", "--out", str(out),
            *base(recipe), override]
    status, err = run_cli(argv)
    assert status == 2 and error_line(status, err, argv) and not out.exists(), err


def test_fuzz_reached_many_distinct_errors() -> None:
    """Runs last in this file: the draws above covered many different refusals."""
    print(f"\nfuzzed train draws: {DRAWS[0]}, distinct outcomes: {len(SEEN)}")
    for message, count in sorted(SEEN.items(), key=lambda kv: -kv[1]):
        print(f"  {count:4d}  {message}")
    if DRAWS[0]:
        assert len(SEEN) >= 20
