"""The bad-input catalogue (docs/errors.md): each user mistake, through the CLI entry point,
is one line on stderr naming the problem and the fix, exit status 2, and changes nothing.
"""

from __future__ import annotations

import gzip
import shutil
import struct
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from PIL import Image

from ganforge import api
from ganforge.checksums import file_sha256
from ganforge.cli import main
from ganforge.latents import LatentSet, save_latents
from ganforge.models.biggan_deep import BigGANDeep, BigGANDeepConfig
from ganforge.models.biggan_deep_checkpoint import save_biggan_deep

# (name, argv template, expected substring of the one-line message)
CASES = [
    ("missing data path", ["train", "--data", "mnist:{missing}"], "does not exist"),
    ("data path is a file", ["train", "--data", "folder:{file}"], "is not a directory"),
    ("empty image folder", ["train", "--data", "folder:{empty}"], "{empty}"),
    ("non-image file named .png", ["train", "--data", "folder:{garbage}"], "bad.png"),
    ("images too small", ["train", "--data", "folder:{tiny}"], "too small"),
    ("single-class data, conditional recipe", ["train", "--data", "folder:{flat}"], "at least 2"),
    ("truncated MNIST idx file", ["train", "--data", "mnist:{truncated}"], "t10k-images-idx3-ubyte.gz"),
    ("CIFAR folder without batches", ["train", "--data", "cifar10:{empty}"], "{empty}"),
    ("unknown data source", ["train", "--data", "imagenet:/x"], "unknown data source 'imagenet'"),
    ("unknown data spec", ["train", "--data", "imagenet"], "unknown data spec 'imagenet'"),
    ("text-to-image recipe on data without captions", ["train", "--recipe", "gan-cls", "--data", "digits"],
     "needs captioned data"),
    ("text encoder from a missing CLIP folder", ["train", "--recipe", "gan-cls", "text.encoder=clip:/nonexistent"],
     "'/nonexistent' is not a folder"),
    ("GigaGAN CLIP loss without a whole CLIP model", ["train", "--recipe", "gigagan", "method.clip_weight=0.2"],
     "needs a CLIP image tower"),
    ("unknown recipe", ["train", "--recipe", "biggan-99"], "unknown recipe 'biggan-99'"),
    ("recipe file missing", ["train", "--recipe", "{missing}/r.yaml"], "does not exist"),
    ("typo in a recipe file", ["train", "--recipe", "{typo_recipe}"], "unknown config key 'model.chanels'"),
    ("unknown config key", ["train", "train.lrg=1e-4"], "valid keys in 'train'"),
    ("unknown config section", ["train", "trian.lr_g=1"], "unknown config section 'trian'"),
    ("wrong value type", ["train", "model.ch=wide"], "must be an integer"),
    ("override without '='", ["train", "train.lr_g"], "not of the form key=value"),
    ("SGAN labelled fraction above 1", ["train", "--recipe", "sgan", "method.labelled_fraction=1.5"],
     "method.labelled_fraction must lie in [0, 1]"),
    ("unsupported resolution", ["train", "model.resolution=48"], "not model.resolution=48"),
    ("D lists of different lengths", ["train", "model.d_downsample=[true]"], "same length"),
    ("unknown loss", ["train", "train.loss=wgan"], "unknown train.loss 'wgan'"),
    ("unknown precision", ["train", "train.precision=fp8"], "unknown train.precision 'fp8'"),
    ("unknown conv algorithm", ["train", "train.conv_algorithm=fft"], "unknown train.conv_algorithm 'fft'"),
    ("Winograd with bf16", ["train", "train.conv_algorithm=winograd", "train.precision=bf16"],
     "cannot run with train.precision=bf16"),
    ("unknown device", ["train", "train.device=tpu"], "unknown train.device 'tpu'"),
    ("CUDA asked for without a GPU", ["train", "train.device=cuda"], "no CUDA GPU"),
    ("best metric not evaluated", ["train", "eval.best_metric=ssim"], "eval.best_metric 'ssim'"),
    ("unknown augmentation kind", ["train", "augment.kind=strong"], "unknown augment.kind 'strong'"),
    ("unknown augmentation op", ["train", "augment.kind=ada", "augment.ops=[xflip,zoom]"], "unknown augment.ops ['zoom']"),
    ("augmentation p above 1", ["train", "augment.kind=fixed", "augment.p=2"], "augment.p must lie in [0, 1]"),
    ("unknown DiffAugment policy", ["train", "augment.kind=diffaug", "augment.policy=color,blur"], "augment.policy 'color,blur'"),
    ("guard remedy that raises the rate", ["train", "guard.lr_factor=2"], "guard.lr_factor must lie in (0, 1]"),
    ("negative data limit", ["train", "data.limit=-5"], "data.limit must be >= 0"),
    ("plot a non-run", ["plot", "{empty}"], "has no metrics.jsonl"),
    ("batch larger than the dataset", ["train", "--batch-size", "5000"], "larger than the dataset"),
    ("zero batch size", ["train", "--batch-size", "0"], "--batch-size must be a positive integer"),
    ("negative step count", ["train", "--steps", "-3"], "--steps must be a positive integer"),
    ("zero checkpoint interval", ["train", "--checkpoint-every", "0"], "--checkpoint-every must be a positive"),
    ("run directory already exists", ["train", "--out", "{run}"], "already exists; use --resume"),
    ("resume something that is not a run", ["train", "--resume", "{empty}"], "not a ganforge run directory"),
    ("resume with changed settings", ["train", "--resume", "{run}", "--batch-size", "3"], "only --steps"),
    ("resume a finished run", ["train", "--resume", "{run}"], "already at step 2 of 2"),
    ("checkpoint of another architecture", ["train", "--resume", "{edited}", "--steps", "5"], "does not fit this architecture"),
    ("class id out of range", ["sample", "{run}", "--class", "12"], "class id 12 is out of range"),
    ("unknown class name", ["sample", "{run}", "--class", "cow"], "unknown class 'cow'"),
    ("truncation zero", ["sample", "{run}", "--truncation", "0"], "--truncation must be a positive"),
    ("truncation negative", ["sample", "{run}", "--truncation", "-0.5"], "--truncation must be a positive"),
    ("zero samples", ["sample", "{run}", "--n", "0"], "--n must be a positive integer"),
    ("InfoGAN code on a generator without codes", ["sample", "{run}", "--code", "cat0"], "--code needs an InfoGAN generator"),
    ("grid not a PNG", ["sample", "{run}", "--out", "{new}.jpg"], "must be a .png file"),
    ("sample from a non-run", ["sample", "{empty}"], "not a ganforge run directory"),
    ("not an exported generator", ["sample", "{bogus_export}"], "not a readable safetensors file"),
    ("unknown metric", ["eval", "{run}", "--metrics", "fid,ssim"], "unknown metric 'ssim'"),
    ("unknown feature extractor", ["eval", "{run}", "--features", "vgg"], "unknown feature extractor 'vgg'"),
    ("missing Inception weights", ["eval", "{run}", "--features", "inception", "--inception-weights", "{missing}/w.pth"], "pt_inception-2015-12-05-6726825d.pth"),
    ("negative eval count", ["eval", "{run}", "--n", "-1"], "--n must be a positive integer"),
    ("images without a reference", ["eval", "{empty}"], "give the reference with --data"),
    ("zero reference count", ["eval", "{run}", "--n-ref", "0"], "--n-ref must be a positive integer"),
    ("sweep threshold not positive", ["sweep", "{run}", "--truncation", "0,1"], "must be positive"),
    ("sweep threshold not a number", ["sweep", "{run}", "--truncation", "a,b"], "'a' is not a number"),
    ("export to a pickle file", ["export", "{run}", "--out", "{new}.pt"], "must be a folder or end in .safetensors"),
    ("export without an output", ["export", "{run}"], "give an output"),
    ("export into a foreign folder", ["export", "{run}", "{foreign}"], "not a ganforge export"),
    ("unknown checkpoint kind", ["convert", "stylegan", "{empty}", "--out", "{new}"], "unknown checkpoint kind"),
    ("pickle that would run code", ["convert", "stylegan2-ada", "{evil}", "--out", "{new}"], "asks for posix.system"),
    ("style mixing of a non-style generator", ["mix", "{run}", "--rows", "1", "--cols", "2", "--out", "{new}.png"],
     "mix needs a style-based generator"),
    ("convert a folder without a checkpoint", ["convert", "biggan-deep", "{empty}", "--out", "{new}"], "{empty}"),
    ("class names file of the wrong length", ["convert", "biggan-deep", "{deep}", "--out", "{new}", "--class-names", "{names}"], "has 3 class names"),
    ("latents index out of range", ["arithmetic", "{run}", "{latents}", "--a", "0", "--b", "99", "--c", "1", "--out", "{new}.png"], "index 99 is out of range"),
    ("latents file missing", ["arithmetic", "{run}", "{missing}.safetensors", "--a", "0", "--b", "1", "--c", "2", "--out", "{new}.png"], "does not exist"),
    ("latents of another generator", ["arithmetic", "{run}", "{latents64}", "--a", "0", "--b", "1", "--c", "2", "--out", "{new}.png"], "64-d latents"),
    ("class interpolation with one class", ["interpolate", "{run}", "--mode", "class", "--class", "1", "--out", "{new}.png"], "needs two classes"),
    ("interpolation with one step", ["interpolate", "{run}", "--steps", "1", "--out", "{new}.png"], "at least 2"),
    ("GIF path not a .gif", ["interpolate", "{run}", "--out", "{new}.png", "--gif", "{new}.mp4"], "must be a .gif file"),
    ("explore with radius zero", ["explore", "{run}", "--radius", "0", "--out", "{new}.png"], "--radius must be a positive number"),
    ("info of an unknown recipe", ["info", "biggan-99"], "unknown recipe 'biggan-99'"),
    ("networks too large to build", ["train", "model.ch=1000000000000"], "above ganforge's limit of 2,000,000,000"),
    ("D steps beyond the limit", ["train", "train.d_steps=1000000000"], "train.d_steps must lie in [1, 1000]"),
    ("image side beyond the limit", ["train", "model.resolution=8192"], "model.resolution must lie in [1, 4096]"),
    ("ResNet generator with too many blocks", ["train", "--recipe", "cyclegan", "translation.generator=resnet_1000blocks"],
     "has 1000 blocks; use 1 to 64"),
    ("unknown evaluation device", ["eval", "{run}", "--device", "tpu"], "unknown --device 'tpu'"),
    ("too many samples", ["sample", "{run}", "--n", "1000000000000", "--out", "{new}.png"], "--n must be at most 100,000"),
    ("interpolation with too many steps", ["interpolate", "{run}", "--steps", "1000000000000", "--out", "{new}.png"],
     "--steps must be at most 1,000"),
    ("an image given as a recipe", ["info", "{binary}"], "is not a text (YAML) file"),
]


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("world")
    w = {"missing": root / "missing", "empty": root / "empty", "file": root / "file.txt",
         "new": root / "new"}
    w["empty"].mkdir()
    w["file"].write_text("x")
    w["garbage"] = root / "garbage"
    (w["garbage"] / "a").mkdir(parents=True)
    (w["garbage"] / "a" / "bad.png").write_bytes(b"this is not an image")
    w["tiny"] = root / "tiny"
    for cls in ("a", "b"):
        (w["tiny"] / cls).mkdir(parents=True)
        Image.new("L", (4, 4)).save(w["tiny"] / cls / "x.png")
    w["flat"] = root / "flat"
    w["flat"].mkdir()
    for i in range(3):
        Image.fromarray(np.full((32, 32), 60 * i, np.uint8)).save(w["flat"] / f"{i}.png")
    w["truncated"] = root / "mnist"
    w["truncated"].mkdir()
    with gzip.open(w["truncated"] / "t10k-images-idx3-ubyte.gz", "wb") as fh:
        fh.write(struct.pack(">IIII", 2051, 10, 28, 28) + bytes(100))
    with gzip.open(w["truncated"] / "t10k-labels-idx1-ubyte.gz", "wb") as fh:
        fh.write(struct.pack(">II", 2049, 10) + bytes(10))
    w["typo_recipe"] = root / "typo.yaml"
    w["typo_recipe"].write_text("model:\n  chanels: 3\n")
    w["foreign"] = root / "photos"
    w["foreign"].mkdir()
    (w["foreign"] / "keep.txt").write_text("mine")
    w["latents"] = root / "l.safetensors"
    w["latents64"] = root / "l64.safetensors"
    for path, dim in ((w["latents"], 32), (w["latents64"], 64)):
        save_latents(path, LatentSet(torch.zeros(3, dim), torch.zeros(3, dtype=torch.long), None, 0, "test"))
    w["deep"] = root / "deep"  # a (tiny) BigGAN-deep checkpoint folder in the public layout
    save_biggan_deep(BigGANDeep(replace(BigGANDeepConfig.preset(128), channel_width=4)), w["deep"])
    w["names"] = root / "names.txt"
    w["names"].write_text("a\nb\nc\n")
    w["bogus_export"] = root / "bogus.safetensors"
    w["bogus_export"].write_bytes(b"not safetensors")
    w["evil"] = root / "network-snapshot.pkl"  # os.system("touch ...") when unpickled the usual way
    w["evil"].write_bytes(b"cposix\nsystem\n(V" + f"touch {root / 'pwned'}".encode() + b"\ntR.")
    w["binary"] = root / "photo.png"
    Image.new("L", (8, 8)).save(w["binary"])
    config = api.make_config(overrides=["model.ch=4", "model.dim_z=32", "model.shared_dim=16",
                                        "eval.every=0"], steps=2, batch_size=16)
    w["run"] = api.train(config, root / "run", progress=False)
    w["edited"] = root / "edited"
    shutil.copytree(w["run"], w["edited"])
    cfg = yaml.safe_load((w["edited"] / "config.yaml").read_text())
    cfg["model"]["ch"] = 8
    (w["edited"] / "config.yaml").write_text(yaml.safe_dump(cfg))
    return w


def snapshot(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): file_sha256(p) for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.mark.parametrize(("name", "argv", "message"), CASES, ids=[c[0] for c in CASES])
def test_mistake_is_one_clear_line_and_changes_nothing(
    name: str, argv: list[str], message: str, world: dict[str, Path], capsys: pytest.CaptureFixture,
) -> None:
    fill = {k: str(v) for k, v in world.items()}
    args = [a.format(**fill) for a in argv]
    if args[0] == "train" and "--out" not in args and "--resume" not in args:
        args += ["--out", fill["new"]]
    before = {key: snapshot(world[key]) for key in ("run", "edited", "foreign", "deep")}
    capsys.readouterr()
    status = main(args)
    err = capsys.readouterr().err
    assert status == 2, (name, err)
    assert err.startswith("error: ") and len(err.strip().splitlines()) == 1, err
    assert message.format(**fill) in err, err
    assert not world["new"].exists() and not Path(fill["new"] + ".pt").exists()
    assert {key: snapshot(world[key]) for key in ("run", "edited", "foreign", "deep")} == before


def test_catalogue_is_long_enough_and_documented() -> None:
    assert len(CASES) >= 30
    docs = (Path(__file__).resolve().parents[1] / "docs" / "errors.md").read_text()
    for name, _, _ in CASES:
        assert f"| {name} |" in docs, f"docs/errors.md does not list '{name}'"
