"""Property-based fuzz of every command's flags: wrong numbers (negative, zero, NaN, huge),
missing files and files of the wrong kind (a PNG for a run, text named .safetensors, an empty
folder). Each draw ends with exit 0, or exit 2 and a one-line `error:`; never a traceback, and
the runs and exports it was given are unchanged. `serve` gets only invalid ports or sources, so
that no draw starts a server.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from fuzz_support import error_line, key_of, run_cli
from ganforge import api
from ganforge.checksums import file_sha256
from ganforge.latents import LatentSet, save_latents

FIXTURES = Path(__file__).parent / "fixtures" / "release_0_1"
NUMBERS = ["0", "-1", "1", "2", "3", "0.5", "-0.5", "nan", "inf", "-inf", "1e12", "1000000000000",
           "-1000000000000", "x", ""]
SMALL = ["1", "2", "3"]
SOURCES = ["run", "export", "p2p", "png", "text_st", "empty", "missing", "file"]
EXAMPLES = 30  # per command
SEEN: dict[str, int] = {}
DRAWS: list[int] = [0]


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A tiny GAN run, its export and a tiny pix2pix run (copies of the 0.1 fixtures), and
    files of the wrong kind."""
    root = tmp_path_factory.mktemp("fuzz_world")
    w = {"run": root / "gan_run", "export": root / "gan_export", "p2p": root / "pix2pix_run",
         "png": root / "edge_input.png", "text_st": root / "text.safetensors", "empty": root / "empty",
         "missing": root / "missing", "file": root / "notes.txt", "latents": root / "l.safetensors",
         "names": root / "names.txt"}
    for name in ("gan_run", "gan_export", "pix2pix_run"):
        shutil.copytree(FIXTURES / name, root / name)
    shutil.copy(FIXTURES / "edge_input.png", w["png"])
    w["text_st"].write_text("not a safetensors file")
    w["empty"].mkdir()
    w["file"].write_text("x\n")
    w["names"].write_text("a\nb\n")
    dim = 32  # the 0.1 GAN run's dim_z
    save_latents(w["latents"], LatentSet(torch.zeros(4, dim), torch.zeros(4, dtype=torch.long), None, 0, "t"))
    w["latents64"] = root / "l64.safetensors"  # latents that fit the run (dim_z 64), for edit
    save_latents(w["latents64"], LatentSet(torch.randn(3, 64), torch.tensor([0, 1, 2]), None, 0, "t"))
    w["directions"] = root / "d.safetensors"  # two PCA directions of the run (for edit)
    api.directions(w["run"], w["directions"], "pca", k=2, n=64)
    return w


def snapshot(w: dict[str, Path]) -> dict[str, str]:
    files = [p for k in ("run", "export", "p2p", "png", "latents", "latents64", "directions") for p in
             ([w[k]] if w[k].is_file() else sorted(w[k].rglob("*"))) if p.is_file()]
    return {str(p): file_sha256(p) for p in files}


def opt(draw: st.DrawFn, flag: str, values: list[str]) -> list[str]:
    """`[flag, value]` or nothing (the default)."""
    return [flag, draw(st.sampled_from(values))] if draw(st.booleans()) else []


def source(draw: st.DrawFn, w: dict[str, Path], likely: str = "run") -> str:
    return str(w[draw(st.sampled_from([likely, likely, *SOURCES]))])


Builder = Callable[[st.DrawFn, dict[str, Path], Path], list[str]]


def sample(d: st.DrawFn, w: dict[str, Path], new: Path) -> list[str]:
    return ["sample", source(d, w), "--out", str(new / d(st.sampled_from(["s.png", "s.jpg", "d/s.png"]))),
            *opt(d, "--n", NUMBERS), *opt(d, "--truncation", NUMBERS), *opt(d, "--seed", NUMBERS),
            *opt(d, "--class", ["0", "9", "10", "-1", "x", ""]), *opt(d, "--code", ["cat0", "cont1", "x"]),
            *d(st.sampled_from([[], ["--individual"], ["--save-latents"]]))]


def evaluate(d: st.DrawFn, w: dict[str, Path], new: Path, command: str = "eval") -> list[str]:
    n = d(st.sampled_from(SMALL + NUMBERS))
    out = ["--out", str(new / ("e.json" if command == "eval" else "sweep"))]
    return [command, source(d, w), "--n", n, "--metrics", d(st.sampled_from(["acc", "fid", "x", "", "acc,acc"])),
            "--features", d(st.sampled_from(["digits", "x", ""])), *opt(d, "--n-ref", NUMBERS),
            *opt(d, "--truncation", NUMBERS + ["0.5,1", "none", "1:0:1", "0:1:0"]), *opt(d, "--seed", NUMBERS),
            *opt(d, "--data", ["digits", "x", f"folder:{w['empty']}", f"folder:{w['missing']}"]),
            *opt(d, "--device", ["cpu", "tpu", "cuda:99"]), *out]


def sweep(d: st.DrawFn, w: dict[str, Path], new: Path) -> list[str]:
    return evaluate(d, w, new, "sweep")


def serve(d: st.DrawFn, w: dict[str, Path], new: Path) -> list[str]:
    bad_port = ["--port", d(st.sampled_from(["-1", "65536", "1000000000000", "x", "nan"]))]
    bad_source = [str(w[d(st.sampled_from(["p2p", "png", "text_st", "empty", "missing", "file"]))])]
    good_source = [str(w[d(st.sampled_from(["run", "export"]))])]
    if d(st.booleans()):
        return ["serve", *good_source, *bad_port]
    return ["serve", *bad_source, *bad_port]


def export(d: st.DrawFn, w: dict[str, Path], new: Path) -> list[str]:
    (new / "empty").mkdir()  # an empty folder is a valid target: not the shared one
    out = d(st.sampled_from([str(new / "exp"), str(new / "g.safetensors"), str(new / "g.pt"),
                             str(new / "empty"), str(w["file"]), str(w["p2p"])]))
    return ["export", source(d, w), out, *d(st.sampled_from([[], ["--raw"]])),
            *opt(d, "--checkpoint", [str(w["png"]), str(w["missing"]), str(w["text_st"]),
                                     str(w["run"] / "checkpoints" / "step_00000002.pt")])]


def translate(d: st.DrawFn, w: dict[str, Path], new: Path) -> list[str]:
    inputs = d(st.lists(st.sampled_from(["png", "png", "empty", "missing", "file", "text_st"]), min_size=1, max_size=2))
    return ["translate", source(d, w, "p2p"), *[str(w[i]) for i in inputs], "--out", str(new / "t"),
            *opt(d, "--size", NUMBERS + ["32", "16"]), *opt(d, "--seed", NUMBERS),
            *opt(d, "--direction", ["AtoB", "BtoA", "x"]), *opt(d, "--device", ["cpu", "tpu"]),
            *opt(d, "--checkpoint", [str(w["png"]), str(w["missing"]), str(w["text_st"])])]


def interpolate(d: st.DrawFn, w: dict[str, Path], new: Path) -> list[str]:
    return ["interpolate", source(d, w), "--out", str(new / "i.png"), *opt(d, "--steps", NUMBERS),
            *opt(d, "--truncation", NUMBERS), *opt(d, "--seeds", ["0:1", "x", "", "1:", "-1:2", "0:1,2:3"]),
            *opt(d, "--mode", ["z", "class", "both", "x"]), *opt(d, "--class", ["0", "10", "x"]),
            *opt(d, "--gif", [str(new / "a.gif"), str(new / "a.mp4")]), *d(st.sampled_from([[], ["--slerp"]]))]


def arithmetic(d: st.DrawFn, w: dict[str, Path], new: Path) -> list[str]:
    latents = str(w[d(st.sampled_from(["latents", "latents", "text_st", "missing", "png", "empty"]))])
    idx = ["0", "1", "0,1", "3", "4", "-1", "", "x", "1000000000000"]
    return ["arithmetic", source(d, w), latents, "--out", str(new / "a.png"),
            *[x for g in ("--a", "--b", "--c") for x in (g, d(st.sampled_from(idx)))],
            *opt(d, "--n", NUMBERS), *opt(d, "--noise", NUMBERS), *opt(d, "--seed", NUMBERS),
            *opt(d, "--class", ["0", "10", "x"])]


def explore(d: st.DrawFn, w: dict[str, Path], new: Path) -> list[str]:
    return ["explore", source(d, w), "--out", str(new / "x.png"), *opt(d, "--n", NUMBERS),
            *opt(d, "--radius", NUMBERS), *opt(d, "--truncation", NUMBERS), *opt(d, "--seed", NUMBERS),
            *opt(d, "--class", ["0", "10", "x"])]


def convert(d: st.DrawFn, w: dict[str, Path], new: Path) -> list[str]:
    return ["convert", d(st.sampled_from(["biggan-deep", "x"])), source(d, w, "empty"), "--out", str(new / "c"),
            *opt(d, "--class-names", [str(w["names"]), str(w["missing"]), str(w["png"])])]


def plot(d: st.DrawFn, w: dict[str, Path], new: Path) -> list[str]:
    return ["plot", source(d, w), *opt(d, "--out", [str(new / "p.png"), str(new / "p.txt")])]


def info(d: st.DrawFn, w: dict[str, Path], new: Path) -> list[str]:
    recipe = d(st.sampled_from(["dcgan", "pix2pix", "biggan-99", str(w["file"]), str(w["png"]), ""]))
    return ["info", recipe, *d(st.sampled_from([[], ["model.ch=-1"], ["model.ch=1000000000000"], ["x"]])),
            *d(st.sampled_from([[], ["--json"]]))]


def check_config(d: st.DrawFn, w: dict[str, Path], new: Path) -> list[str]:
    return ["check-config", *opt(d, "--recipe", ["gan", "cyclegan", "x", str(w["png"]), str(w["run"] / "config.yaml")]),
            *opt(d, "--nproc", NUMBERS), *opt(d, "--data", ["digits", "x", f"folder:{w['missing']}"]),
            *d(st.sampled_from([[], ["train.batch_size=7"], ["model.ch=1000000000000"], ["a=b"]]))]


def project(d: st.DrawFn, w: dict[str, Path], new: Path) -> list[str]:
    image = str(w[d(st.sampled_from(["png", "png", "png", "text_st", "empty", "missing", "file"]))])
    weights = [str(w[k]) for k in ("png", "text_st", "missing", "file", "empty")]
    encoder = [str(w[k]) for k in ("run", "export", "missing", "empty", "png")]
    return ["project", source(d, w, "export"), image, "--out", str(new / "p"),
            "--steps", d(st.sampled_from(SMALL * 3 + NUMBERS)), *opt(d, "--space", ["z", "z", "w", "w+"]),
            *opt(d, "--class", ["0", "9", "10", "-1", "x"]), *d(st.sampled_from([[], ["--free-class"]])),
            *opt(d, "--vgg-weights", weights), *opt(d, "--lpips-weights", weights),
            *opt(d, "--classifier", ["digits", "mnist", "x", ""]), *opt(d, "--mse-weight", NUMBERS),
            *opt(d, "--perceptual-weight", NUMBERS), *opt(d, "--encoder", encoder), *opt(d, "--refine", encoder),
            *opt(d, "--iterations", NUMBERS), *opt(d, "--seed", NUMBERS), *opt(d, "--device", ["cpu", "tpu"]),
            *d(st.sampled_from([[], ["--gif"], ["--no-noise"]]))]


def directions(d: st.DrawFn, w: dict[str, Path], new: Path) -> list[str]:
    labelled = [str(w[k]) for k in ("names", "missing", "png", "text_st")]
    return ["directions", source(d, w, "export"), "--out", str(new / d(st.sampled_from(["d.safetensors", "x/d"]))),
            *opt(d, "--method", ["pca", "sefa", "svm", "mean", "x"]), "--n", d(st.sampled_from(["64", "200", *NUMBERS])),
            *opt(d, "--k", NUMBERS), *opt(d, "--layers", ["0:2", "x", "5:1", "all", ""]),
            *opt(d, "--labels", labelled), *opt(d, "--latents", [str(w["latents"]), str(w["missing"]), str(w["png"])]),
            *opt(d, "--classifier", ["digits", "x", "inception", "digit_attributes"]),
            *d(st.sampled_from([[], ["--pairs"]])), *opt(d, "--seed", NUMBERS)]


def edit(d: st.DrawFn, w: dict[str, Path], new: Path) -> list[str]:
    latents = str(w[d(st.sampled_from(["latents64"] * 4 + ["latents", "text_st", "missing", "png", "directions"]))])
    files = [str(w[k]) for k in ("directions", "directions", "directions", "latents", "text_st", "missing", "png")]
    return ["edit", source(d, w), latents, "--out", str(new / d(st.sampled_from(["e.png", "e.jpg", "x/e.png"]))),
            "--directions", d(st.sampled_from(files)), *opt(d, "--direction", ["pc0", "pc1", "pc1", "1", "2", "x", ""]),
            *opt(d, "--strength", ["-3:3:7", "x", "1:2", "nan", "0:0:0", "1e12:1:3", "-1:1:1000000000000", "1,2", ""]),
            *opt(d, "--layers", ["0:2", "x"]), *opt(d, "--to-class", ["0", "9", "10", "x"]),
            *opt(d, "--device", ["cpu", "tpu"])]


COMMANDS: dict[str, Builder] = {
    "sample": sample, "eval": evaluate, "sweep": sweep, "serve": serve, "export": export,
    "translate": translate, "interpolate": interpolate, "arithmetic": arithmetic, "explore": explore,
    "convert": convert, "plot": plot, "info": info, "check-config": check_config,
    "project": project, "directions": directions, "edit": edit,
}


@pytest.fixture(autouse=True)
def _one_thread() -> None:
    torch.set_num_threads(1)


@pytest.mark.parametrize("command", list(COMMANDS))
@settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
          phases=(Phase.explicit, Phase.generate),  # a failure names its argv: no costly shrinking
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(data=st.data())
def test_fuzzed_flags_work_or_fail_in_one_line(command: str, data: st.DataObject, world: dict[str, Path],
                                               tmp_path_factory: pytest.TempPathFactory) -> None:
    new = tmp_path_factory.mktemp(command)
    argv = data.draw(st.composite(lambda d: COMMANDS[command](d, world, new))())
    before = snapshot(world)
    status, err = run_cli(argv)
    message = error_line(status, err, argv)
    DRAWS[0] += 1
    SEEN[key_of(message or "ok")] = SEEN.get(key_of(message or "ok"), 0) + 1
    after = snapshot(world)  # new files are fine (plot's default RUN/dashboard.png); changed ones not
    assert {k: after.get(k) for k in before} == before, f"ganforge {' '.join(argv)} changed its inputs"
    assert not any(world["empty"].iterdir()), f"ganforge {' '.join(argv)} wrote into an input folder"


def test_fuzz_reached_many_distinct_errors() -> None:
    print(f"\nfuzzed command draws: {DRAWS[0]}, distinct outcomes: {len(SEEN)}")
    for message, count in sorted(SEEN.items(), key=lambda kv: -kv[1]):
        print(f"  {count:4d}  {message}")
    if DRAWS[0]:
        assert len(SEEN) >= 20
