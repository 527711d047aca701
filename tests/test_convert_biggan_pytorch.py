"""`ganforge convert biggan-pytorch`: BigGAN-PyTorch folders (written here with the reference's
key names and shapes, random values) convert strictly, load, sample, and resume as runs."""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

import ganforge
from bgp_support import write_folder
from ganforge import api
from ganforge.errors import GanforgeError
from ganforge.generators.sources import source_kind
from ganforge.training.checkpoint import list_checkpoints, load_checkpoint

CIFAR = dict(resolution=32, ch=4, n_classes=3, dim_z=16, shared_dim=0, hier=False, g_attn=(), d_attn=())
IMAGENET = dict(resolution=128, ch=8, n_classes=5, dim_z=24, shared_dim=16, hier=True,
                g_attn=(64,), d_attn=(64,))


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "ganforge", *args], capture_output=True, text=True,
                          timeout=300)


def bgp_sigma(weight: torch.Tensor, u: torch.Tensor, eps: float) -> torch.Tensor:
    """BigGAN-PyTorch's eval-mode sigma: one power iteration from the stored u, no update."""
    w = weight.reshape(weight.shape[0], -1)
    v = F.normalize(u @ w, eps=eps)
    u2 = F.normalize(v @ w.t(), eps=eps)
    return ((v @ w.t()) @ u2.t()).squeeze()


def test_cifar_folder_converts_strictly_and_samples(tmp_path: Path) -> None:
    files = write_folder(tmp_path / "bgp", **CIFAR)
    assert source_kind(tmp_path / "bgp") == "biggan-pytorch"
    result = api.convert("biggan-pytorch", tmp_path / "bgp", tmp_path / "out")
    assert result["resolution"] == 32
    g = ganforge.load(tmp_path / "out")
    m = g.config.model
    assert (m.ch, m.g_channels, m.shared_dim, m.hierarchical_z, m.dim_z) == (4, [4, 4, 4, 4], 0, False, 16)
    assert m.sn_eps == 1e-6  # from state_dict.pth's config, which the weights cannot tell
    ema = files["G_ema"]
    net = g.generator
    # every weight is G_ema's, and the normalised weight is what BGP's forward divides by
    assert torch.equal(net.blocks[1].bn2.gain.weight, ema["blocks.1.0.bn2.gain.weight"])
    assert torch.equal(net.out_bn.running_var, ema["output_layer.0.stored_var"])
    for ours, theirs in ((net.linear, "linear"), (net.blocks[2].conv_sc, "blocks.2.0.conv_sc")):
        expected = ema[f"{theirs}.weight"] / bgp_sigma(ema[f"{theirs}.weight"], ema[f"{theirs}.u0"], 1e-6)
        torch.testing.assert_close(ours.weight, expected, rtol=1e-5, atol=1e-7)
    images = g.sample(classes=[0, 2], n=2, seed=0)
    assert images.shape == (4, 3, 32, 32) and torch.isfinite(images).all()
    assert torch.equal(images, ganforge.load(tmp_path / "bgp").sample(classes=[0, 2], n=2, seed=0))


def test_imagenet_layout_at_128px(tmp_path: Path) -> None:
    """128 px keys (shared embedding, hierarchical z, attention at 64) at a narrow width."""
    files = write_folder(tmp_path / "bgp", **IMAGENET)
    g = api.load(tmp_path / "bgp")
    m = g.config.model
    assert (m.resolution, m.dim_z, m.shared_dim, m.hierarchical_z) == (128, 24, 16, True)
    assert (m.g_attention, m.d_attention) == ([64], [64])
    assert torch.equal(g.generator.attention["3"].o.parametrizations.weight.original,
                       files["G_ema"]["blocks.3.1.o.weight"])
    assert torch.equal(g.generator.shared.weight, files["G_ema"]["shared.weight"])
    assert g.sample(classes=[1], n=1).shape == (1, 3, 128, 128)


def test_run_resumes_with_the_reference_optimizer_state(tmp_path: Path) -> None:
    files = write_folder(tmp_path / "bgp", **{**CIFAR, "n_classes": 2}, itr=5)
    data = tmp_path / "data"
    rng = np.random.default_rng(0)
    for c in ("a", "b"):
        (data / c).mkdir(parents=True)
        for i in range(4):
            Image.fromarray(rng.integers(0, 255, (32, 32, 3), dtype=np.uint8)).save(data / c / f"{i}.png")
    out = tmp_path / "run"
    done = cli("convert", "biggan-pytorch", str(tmp_path / "bgp"), "train.batch_size=4", "train.device=cpu",
               "--out", str(out), "--run", "--data", f"folder:{data}")
    assert done.returncode == 0, done.stderr
    [path] = list_checkpoints(out / "checkpoints")
    state = load_checkpoint(path)
    assert state["step"] == 5 and state["config"]["train"]["ema_start"] == 3
    assert state["config"]["train"]["lr_d"] == 4e-4  # D's optimizer's own learning rate
    # the Adam moments of BGP's parameter k land on the ganforge parameter that holds it
    names = [k for k in files["G"] if not k.rsplit(".", 1)[-1].startswith(("u0", "sv0", "stored_"))]
    ref = files["G_optim"]["state"][names.index("blocks.0.0.conv1.weight")]["exp_avg"]
    assert any(torch.equal(s["exp_avg"], ref) for s in state["opt_g"]["state"].values())
    resumed = cli("train", "--resume", str(out), "--steps", "7", "--no-progress")
    assert resumed.returncode == 0, resumed.stderr
    assert load_checkpoint(list_checkpoints(out / "checkpoints")[-1])["step"] == 7


@pytest.mark.parametrize(("change", "message"), [
    ("resolution", "--resolution=64 does not fit the weights"),
    ("missing", "key 'blocks.1.0.conv2.u0' is missing"),
    ("unexpected", "unexpected key 'blocks.1.0.conv2.u1'"),
    ("shape", "'output_layer.2.bias' has shape (4,)"),
])
def test_mistakes_name_the_key(tmp_path: Path, change: str, message: str) -> None:
    write_folder(tmp_path / "bgp", **CIFAR)
    flags = {"resolution": 64} if change == "resolution" else {}
    ema = torch.load(tmp_path / "bgp" / "G_ema.pth")
    if change == "missing":
        del ema["blocks.1.0.conv2.u0"]
    elif change == "unexpected":
        ema["blocks.1.0.conv2.u1"] = ema["blocks.1.0.conv2.u0"]
    elif change == "shape":
        ema["output_layer.2.bias"] = torch.zeros(4)
    torch.save(ema, tmp_path / "bgp" / "G_ema.pth")
    with pytest.raises(GanforgeError) as info:
        api.convert("biggan-pytorch", tmp_path / "bgp", tmp_path / "out", flags=flags)
    assert message in str(info.value) and "\n" not in str(info.value)
    assert not (tmp_path / "out").exists()


def test_the_cli_prints_one_line(tmp_path: Path) -> None:
    write_folder(tmp_path / "bgp", **CIFAR)
    done = cli("convert", "biggan-pytorch", str(tmp_path / "bgp"), "--out", str(tmp_path / "out"),
               "--resolution", "128")
    assert done.returncode != 0
    assert done.stderr.strip().splitlines() == [
        "error: --resolution=128 does not fit the weights: blocks.N.0.* of G.pth says 32"]


def test_run_needs_matching_classes_and_the_training_files(tmp_path: Path) -> None:
    write_folder(tmp_path / "bgp", **CIFAR)
    (tmp_path / "bgp" / "D_optim.pth").unlink()
    with pytest.raises(GanforgeError, match="D_optim.pth"):
        api.convert("biggan-pytorch", tmp_path / "bgp", tmp_path / "run", run=True)
    with pytest.raises(GanforgeError, match="preset"):
        api.convert("biggan-pytorch", tmp_path / "bgp", tmp_path / "out", preset="nope")
    with pytest.raises(GanforgeError, match="--ch=96 does not fit"):
        api.convert("biggan-pytorch", tmp_path / "bgp", tmp_path / "out", preset="launch_cifar_ema.sh",
                    flags={"G_ch": 96})
    with pytest.raises(GanforgeError, match="BigGAN_ch64_bs256x8: G_ch=64 does not fit"):
        api.convert("biggan-pytorch", tmp_path / "bgp", tmp_path / "out", preset="BigGAN_ch64_bs256x8")
    write_folder(tmp_path / "bgp", **CIFAR)  # 3 classes; the data has 2
    data = tmp_path / "data"
    for c in ("a", "b"):
        (data / c).mkdir(parents=True)
        for i in range(2):
            Image.new("RGB", (32, 32), (i * 90, 0, 0)).save(data / c / f"{i}.png")
    with pytest.raises(GanforgeError, match="has 2 classes; the converted model has 3"):
        api.convert("biggan-pytorch", tmp_path / "bgp", tmp_path / "run", run=True, data=f"folder:{data}",
                    overrides=["train.batch_size=2"])
    assert not (tmp_path / "run").exists()


def test_converted_model_goes_through_every_tool(tmp_path: Path) -> None:
    """Issue 26 point 3: a converted generator is an ordinary one for eval, sweep, the latent
    tools and serve (sample and export are tested above)."""
    write_folder(tmp_path / "bgp", **CIFAR)
    api.convert("biggan-pytorch", tmp_path / "bgp", tmp_path / "out")
    rng = np.random.default_rng(0)
    for label in range(3):  # a labelled reference folder of RGB 32 px images
        (tmp_path / "ref" / str(label)).mkdir(parents=True)
        for i in range(8):
            Image.fromarray(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)).save(
                tmp_path / "ref" / str(label) / f"{i}.png")
    torch.manual_seed(0)
    features = torch.nn.Sequential(torch.nn.AvgPool2d(8), torch.nn.Flatten(), torch.nn.Linear(48, 6))
    options = dict(data=f"folder:{tmp_path / 'ref'}", features=features, use_cache=False)
    result = api.evaluate(tmp_path / "out", "fid", n=24, seed=0, **options)
    assert np.isfinite(result["metrics"]["fid"]) and result["protocol"]["truncation_convention"] == "resample"
    swept = api.sweep(tmp_path / "out", tmp_path / "sweep", [0.5, None], metrics="fid", n=24, **options)
    assert [row["truncation"] for row in swept["rows"]] == [0.5, "none"]
    assert swept["rows"][0]["fid"] != swept["rows"][1]["fid"]
    sheet = api.interpolate(tmp_path / "out", tmp_path / "interp.png", mode="class", classes=[0, 2], steps=3)
    assert Image.open(sheet["files"][0]).size[0] >= 3 * 32
    assert Path(api.explore(tmp_path / "out", tmp_path / "explore.png", label=1, n=3)["grid"]).is_file()
    pytest.importorskip("fastapi", reason="the serve extra is not installed")
    from fastapi.testclient import TestClient

    from ganforge.serve import Limits, create_app

    client = TestClient(create_app(ganforge.load(tmp_path / "out"), Limits(max_n=4, max_steps=4)))
    response = client.get("/api/sample", params={"class": "2", "n": 2, "seed": 1})
    assert response.status_code == 200 and response.headers["content-type"] == "image/png"
    assert min(Image.open(io.BytesIO(response.content)).size) >= 32
    assert client.get("/api/info").json()["n_classes"] == 3
