"""`ganforge convert stylegan2-ada PKL`: network pickles written here in the structure of a
stylegan2-ada-pytorch snapshot (persistent-object records built by this test, not by the
official code) convert strictly; pickles that try to run code are refused and nothing runs."""

from __future__ import annotations

import builtins
import collections
import os
import pickle
import subprocess
import sys
import types
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

import ganforge
from ganforge import api
from ganforge.api import make_config
from ganforge.cli import main
from ganforge.errors import GanforgeError
from ganforge.generators.safe_pickle import module_tensors, read_network_pickle
from ganforge.generators.sources import source_kind
from ganforge.models import build_models
from ganforge.models.stylegan.resample import fir_filter
from ganforge.training.checkpoint import load_latest_checkpoint

TINY = ["model.resolution=8", "model.img_channels=3", "model.channel_base=64", "model.channel_max=16", "model.dim_z=8",
        "model.w_dim=16", "model.mapping_layers=2", "model.conditional=true", "model.n_classes=3",
        "model.d_mapping_layers=2"]
KWARGS = dict(z_dim=8, c_dim=3, w_dim=16, img_resolution=8, img_channels=3)


@pytest.fixture()
def official_names(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """Stand-ins registered under the official global names, so that pickle writes the same
    GLOBAL opcodes as a real snapshot: torch_utils.persistence._reconstruct_persistent_obj and
    dnnlib.util.EasyDict. The source carried in each record writes a marker file if run."""
    persistence = types.ModuleType("torch_utils.persistence")
    util = types.ModuleType("dnnlib.util")

    def _reconstruct_persistent_obj(meta: dict) -> None:  # never called: only its name is pickled
        raise AssertionError("the test's reconstruct function must not run")

    _reconstruct_persistent_obj.__module__ = "torch_utils.persistence"
    _reconstruct_persistent_obj.__qualname__ = "_reconstruct_persistent_obj"

    class EasyDict(dict):
        pass

    EasyDict.__module__, EasyDict.__qualname__ = "dnnlib.util", "EasyDict"
    persistence._reconstruct_persistent_obj = _reconstruct_persistent_obj
    util.EasyDict = EasyDict
    for name, module in (("torch_utils", types.ModuleType("torch_utils")), ("torch_utils.persistence", persistence),
                         ("dnnlib", types.ModuleType("dnnlib")), ("dnnlib.util", util)):
        monkeypatch.setitem(sys.modules, name, module)
    return {"reconstruct": _reconstruct_persistent_obj, "EasyDict": EasyDict}


class Record:
    """Pickles as torch_utils.persistence pickles a persistent network: reconstruct(meta)."""

    def __init__(self, reconstruct: Any, class_name: str, state: dict, source: str) -> None:
        self.meta = dict(type="class", version=6, module_src=source, class_name=class_name, state=state)
        self.reconstruct = reconstruct

    def __reduce__(self) -> tuple:
        return (self.reconstruct, (self.meta,))


def records(module: nn.Module, names: dict[str, Any], source: str, class_name: str = "Generator",
            init_kwargs: dict | None = None) -> Record:
    """The official snapshot's structure of `module`: __dict__-like state with _parameters (as
    nn.Parameter), persistent _buffers plus the official resample_filter where ganforge keeps a
    constant FIR buffer, and _modules as nested records."""
    buffers = collections.OrderedDict((k, v) for k, v in module._buffers.items()
                                      if k not in module._non_persistent_buffers_set)
    if "fir" in module._buffers:
        buffers["resample_filter"] = fir_filter()
    state = {
        "training": False, "_parameters": collections.OrderedDict(
            (k, nn.Parameter(v.detach().clone(), requires_grad=False)) for k, v in module._parameters.items()),
        "_buffers": buffers, "_non_persistent_buffers_set": set(), "_backward_hooks": collections.OrderedDict(),
        "_modules": collections.OrderedDict((k, records(m, names, source, type(m).__name__))
                                            for k, m in module._modules.items()),
        "_init_args": (), "_init_kwargs": names["EasyDict"](init_kwargs or {}),
    }
    return Record(names["reconstruct"], class_name, state, source)


def write_snapshot(path: Path, names: dict[str, Any], marker: Path, **changes: Any) -> nn.Module:
    """A snapshot of a tiny conditional StyleGAN2 (G, D, G_ema, augment_pipe, dataset kwargs);
    returns the ganforge G whose weights it holds."""
    d_kwargs, drop = changes.pop("d_kwargs", None), changes.pop("drop", ())
    torch.manual_seed(0)
    G, D = build_models(make_config("stylegan2-digits", TINY).model)
    with torch.no_grad():  # nonzero noise strengths and w_avg: every tensor matters
        for module in G.modules():
            if hasattr(module, "noise_strength"):
                module.noise_strength.fill_(0.2)
        G.mapping.w_avg.normal_()
    source = f"open({str(marker)!r}, 'w').write('ran')\n"  # what loading the official way would run
    ed = names["EasyDict"]
    kwargs = {**KWARGS, "mapping_kwargs": ed(num_layers=2),
              "synthesis_kwargs": ed(channel_base=64, channel_max=16, num_fp16_res=4, conv_clamp=256),
              **changes.pop("kwargs", {})}
    g_ema = records(G, names, source, "Generator", kwargs)
    for key, value in changes.items():  # "a.b.c": drop (None) or replace a tensor of G_ema
        *path_, leaf = key.split(".")
        node = g_ema
        for part in path_:
            node = node.meta["state"]["_modules"][part]
        kind = "_parameters" if leaf in node.meta["state"]["_parameters"] else "_buffers"
        if value is None:
            del node.meta["state"][kind][leaf]
        else:
            node.meta["state"][kind][leaf] = value
    snapshot = {
        "training_set_kwargs": dict(ed(class_name="training.dataset.ImageFolderDataset", path="digits.zip")),
        "G": records(G, names, source, "Generator", kwargs),
        "D": records(D, names, source, "Discriminator", d_kwargs or dict(
            c_dim=3, img_resolution=8, img_channels=3, architecture="resnet", channel_base=64)),
        "G_ema": g_ema,
        "augment_pipe": Record(names["reconstruct"], "AugmentPipe", {
            "_parameters": {}, "_buffers": {"p": torch.tensor(0.25)}, "_modules": {}}, source),
    }
    for key in drop:
        del snapshot[key]
    with path.open("wb") as f:
        pickle.dump(snapshot, f)
    return G.eval()


def test_snapshot_converts_strictly_and_samples_equal(tmp_path: Path, official_names: dict) -> None:
    marker = tmp_path / "ran.txt"
    G = write_snapshot(tmp_path / "snap.pkl", official_names, marker)
    assert source_kind(tmp_path / "snap.pkl") == "stylegan2-ada"
    result = api.convert("stylegan2-ada", tmp_path / "snap.pkl", tmp_path / "out")
    assert not marker.exists()  # the embedded source was carried as text, never run
    assert result["params"] == sum(p.numel() for p in G.parameters())
    g = ganforge.load(tmp_path / "out")
    m = g.config.model
    assert (m.resolution, m.dim_z, m.w_dim, m.mapping_layers, m.n_classes, m.conditional) == (8, 8, 16, 2, 3, True)
    assert (m.channel_base, m.channel_max, m.conv_clamp) == (64, 16, 256)
    assert g.truncation_convention == "psi" and g.card["ada_p"] == 0.25
    for key, value in G.state_dict().items():
        assert torch.equal(g.generator.state_dict()[key], value), key
    z, y = torch.randn(4, 8), torch.tensor([0, 1, 2, 0])
    with torch.no_grad():
        for psi, cutoff in ((1.0, None), (0.7, None), (0.5, 2)):
            expected = G(z, y, psi=psi, cutoff=cutoff, noise_mode="const")
            assert torch.equal(g.generator(z, y, psi=psi, cutoff=cutoff, noise_mode="const"), expected)
    # the pickle loads directly too, to the same samples
    direct = ganforge.load(tmp_path / "snap.pkl")
    assert torch.equal(direct.sample(classes=[1], n=2, truncation=0.7, seed=3),
                       g.sample(classes=[1], n=2, truncation=0.7, seed=3))
    assert not marker.exists()
    # eval (of the pickle itself) and the latent tools take it like any StyleGAN2 generator
    result = api.evaluate(tmp_path / "snap.pkl", "fid,pr", n=8, data="digits", features="digits", n_ref=40,
                          truncation=0.7, cutoff=2)
    assert result["protocol"]["truncation_convention"] == "psi" and result["metrics"]["fid"] > 0
    assert result["protocol"]["source_kind"].startswith("stylegan2-ada-pytorch network pickle")
    assert api.mix(tmp_path / "out", tmp_path / "mix.png", [1, 2], [3], "coarse")["layers"] == [0, 1, 2, 3]


@pytest.mark.parametrize(("change", "message"), [
    ({"synthesis.b8.conv1.affine.weight": None}, "G_ema: key 'synthesis.b8.conv1.affine.weight' is missing"),
    ({"mapping.fc1.bias": torch.zeros(17)}, "'mapping.fc1.bias' has shape (17,)"),
    ({"synthesis.b8.torgb.extra": torch.zeros(2)}, "unexpected key 'synthesis.b8.torgb.extra'"),
    ({"synthesis.b8.resample_filter": torch.ones(4, 4) / 16}, "is not the [1,3,3,1] filter"),
    ({"kwargs": {"synthesis_kwargs": {"architecture": "resnet"}}},
     "synthesis_kwargs.architecture='resnet' is not supported"),
    ({"kwargs": {"mapping_kwargs": {"num_layers": 2, "layer_features": 32}}},
     "mapping_kwargs.layer_features=32 is not supported"),
    ({"kwargs": {"channel_multiplier": 2}}, "constructor argument channel_multiplier=2"),
    ({"kwargs": {"z_dim": None}}, "constructor arguments are not what stylegan2-ada-pytorch writes"),
])
def test_mistakes_name_the_key(tmp_path: Path, official_names: dict, change: dict, message: str) -> None:
    write_snapshot(tmp_path / "snap.pkl", official_names, tmp_path / "ran.txt", **change)
    with pytest.raises(GanforgeError) as info:
        api.convert("stylegan2-ada", tmp_path / "snap.pkl", tmp_path / "out")
    assert message in str(info.value) and "\n" not in str(info.value)
    assert not (tmp_path / "out").exists()


class RunsCode:
    def __init__(self, call: Any, *args: Any) -> None:
        self.call, self.args = call, args

    def __reduce__(self) -> tuple:
        return (self.call, self.args)


@pytest.mark.parametrize(("payload", "named"), [
    (lambda m: RunsCode(os.system, f"touch {m}"), f"{os.system.__module__}.system"),
    (lambda m: RunsCode(builtins.eval, f"open({str(m)!r}, 'w')"), "builtins.eval"),
    (lambda m: RunsCode(subprocess.Popen, ["touch", str(m)]), "subprocess.Popen"),
    (lambda m: RunsCode(builtins.exec, f"open({str(m)!r}, 'w')"), "builtins.exec"),
])
def test_code_executing_pickle_is_refused(tmp_path: Path, payload: Any, named: str) -> None:
    marker = tmp_path / "pwned"
    path = tmp_path / "network-snapshot-000000.pkl"
    path.write_bytes(pickle.dumps({"G_ema": payload(marker)}))
    with pytest.raises(GanforgeError) as info:
        read_network_pickle(path)
    assert f"asks for {named}" in str(info.value) and "\n" not in str(info.value)
    assert not marker.exists()


@pytest.mark.parametrize(("payload", "message"), [
    (RunsCode(torch._utils._rebuild_tensor_v2, "storage?", 0, (1,), (1,), False, collections.OrderedDict()),
     "not built on a tensor storage"),
    (RunsCode(np.dtype, "O"), "holds Python objects"),
    (RunsCode(torch.storage._load_from_bytes, pickle.dumps("not a storage")), "could not be read safely"),
])
def test_allowed_globals_refuse_hostile_arguments(tmp_path: Path, payload: Any, message: str) -> None:
    path = tmp_path / "odd.pkl"
    path.write_bytes(pickle.dumps({"G_ema": payload}))
    with pytest.raises(GanforgeError, match=message):
        read_network_pickle(path)


def test_cli_converts_and_refuses_in_one_line(tmp_path: Path, official_names: dict,
                                              capsys: pytest.CaptureFixture) -> None:
    write_snapshot(tmp_path / "snap.pkl", official_names, tmp_path / "ran.txt")
    assert main(["convert", "stylegan2-ada", str(tmp_path / "snap.pkl"), "--out", str(tmp_path / "out")]) == 0
    assert "8 px" in capsys.readouterr().out and (tmp_path / "out" / "model.safetensors").is_file()
    (tmp_path / "evil.pkl").write_bytes(pickle.dumps(RunsCode(os.system, f"touch {tmp_path / 'pwned'}")))
    assert main(["convert", "stylegan2-ada", str(tmp_path / "evil.pkl"), "--out", str(tmp_path / "out2")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "\n" not in err and f"asks for {os.system.__module__}.system" in err
    assert not (tmp_path / "pwned").exists() and not (tmp_path / "ran.txt").exists()
    assert not (tmp_path / "out2").exists()


# D as train.py builds it beside TINY's G: the settings ganforge's D shares with G, and its own
D_KWARGS = dict(c_dim=3, img_resolution=8, img_channels=3, architecture="resnet", channel_base=64, channel_max=16,
                conv_clamp=256, num_fp16_res=4, mapping_kwargs=dict(num_layers=2),
                epilogue_kwargs=dict(mbstd_group_size=4))


def _three_class_folder(root: Path) -> str:
    for c in range(3):
        (root / f"c{c}").mkdir(parents=True)
        for i in range(4):
            Image.fromarray(np.full((8, 8, 3), 40 * c + 10 * i, np.uint8)).save(root / f"c{c}" / f"{i}.png")
    return f"folder:{root}"


def test_snapshot_as_run_resumes(tmp_path: Path, official_names: dict, capsys: pytest.CaptureFixture) -> None:
    """--run: G, D, G_ema and ADA p from the snapshot, step from its kimg, fresh Adam; it trains on."""
    pkl = tmp_path / "network-snapshot-000040.pkl"
    G = write_snapshot(pkl, official_names, tmp_path / "ran.txt", d_kwargs=D_KWARGS)
    data = _three_class_folder(tmp_path / "data")
    assert main(["convert", "stylegan2-ada", str(pkl), "train.batch_size=8", "eval.every=0",
                 "train.sample_every=100000", "monitor.plot=false", "--out", str(tmp_path / "run"), "--run",
                 "--data", data]) == 0
    assert "at step 5,000" in capsys.readouterr().out  # 40 kimg / batch 8
    assert not (tmp_path / "ran.txt").exists()
    _, state, _ = load_latest_checkpoint(tmp_path / "run" / "checkpoints")
    assert state["step"] == 5000 and state["augment"]["p"] == 0.25 and state["augment"]["ada"]["p"] == 0.25
    assert state["opt_g"]["state"] == {} and state["opt_d"]["state"] == {}  # a snapshot has no Adam moments
    for key, value in G.state_dict().items():
        assert torch.equal(state["G"][key], value) and torch.equal(state["G_ema"][key], value), key
    theirs = module_tensors(read_network_pickle(pkl)["D"], "D")
    assert set(state["D"]) == {k for k in theirs if not k.endswith("resample_filter")}
    assert all(torch.equal(state["D"][k], theirs[k]) for k in state["D"])
    api.resume(tmp_path / "run", steps=5002, progress=False)
    _, resumed, _ = load_latest_checkpoint(tmp_path / "run" / "checkpoints")
    assert resumed["step"] == 5002 and resumed["opt_g"]["state"] and resumed["opt_d"]["state"]
    assert not torch.equal(resumed["G"]["synthesis.b8.conv1.weight"], state["G"]["synthesis.b8.conv1.weight"])
    assert not torch.equal(resumed["D"]["b8.conv1.weight"], state["D"]["b8.conv1.weight"])


@pytest.mark.parametrize(("change", "message"), [
    ({"drop": ["D"]}, "lacks D: --run needs a training snapshot's G, D and G_ema"),
    ({"d_kwargs": {**D_KWARGS, "channel_max": 32}}, "D's channel_max=32 differs from G's synthesis_kwargs.channel_max=16"),
    ({"d_kwargs": {**D_KWARGS, "architecture": "skip"}}, "D's architecture='skip' is not supported"),
])
def test_snapshot_as_run_refuses_in_one_line(tmp_path: Path, official_names: dict, change: dict,
                                             message: str) -> None:
    pkl = tmp_path / "network-snapshot-000040.pkl"
    write_snapshot(pkl, official_names, tmp_path / "ran.txt", **{"d_kwargs": D_KWARGS, **change})
    with pytest.raises(GanforgeError) as info:
        api.convert("stylegan2-ada", pkl, tmp_path / "run", run=True, data=_three_class_folder(tmp_path / "d"))
    assert message in str(info.value) and "\n" not in str(info.value)
    assert not (tmp_path / "run").exists()
