"""SPADE's instance edges (issue 21): the edge map against its closed form, the instance-map
readers and their errors, the +1 input channel of G and D, the touching-digits demo trained
2 steps and resumed exactly, and `ganforge translate --instances`."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from PIL import Image

from ganforge import api
from ganforge.cli import main
from ganforge.config import TranslationConfig
from ganforge.errors import GanforgeError
from ganforge.models import count_parameters
from ganforge.sampling import to_uint8
from ganforge.training.checkpoint import load_checkpoint
from ganforge.translation.canvases import touching_canvases
from ganforge.translation.data import load_translation_data
from ganforge.translation.label_instances import pack, resolved
from ganforge.translation.label_maps import decode_ids, instance_edges, unpack_instances
from ganforge.translation.models import build_model
from ganforge.translation.translate import read_instances
from resume_support import straight_and_resumed, train_rows

TINY = ["translation.ngf=2", "translation.spade_hidden=4", "translation.param_free_norm=batch",
        "translation.ndf=4", "translation.n_layers_d=2", "translation.load_size=32", "translation.crop_size=32",
        "translation.eval_n=8", "translation.eval_every=0", "translation.steps_per_epoch=2",
        "translation.epochs=1", "translation.epochs_decay=1", "translation.features=none",
        "train.batch_size=2", "train.device=cpu", "train.log_every=1", "train.sample_every=2",
        "train.checkpoint_every=100", "monitor.plot=false"]
TOUCHING = "demo:digit-canvases-touching"


@pytest.fixture(autouse=True)
def _one_thread() -> None:
    torch.set_num_threads(1)


# ---- the edge map ------------------------------------------------------------------------------
def test_instance_edges_equal_the_closed_form() -> None:
    inst = torch.zeros(1, 1, 6, 8, dtype=torch.long)
    inst[..., :, 5:] = 26001  # a second instance from column 5: edges on columns 4 and 5
    inst[..., 2, 1] = 26002  # one pixel: itself and its four neighbours
    expected = torch.zeros(1, 1, 6, 8, dtype=torch.bool)
    expected[..., :, 4:6] = True
    for r, c in ((2, 1), (1, 1), (3, 1), (2, 0), (2, 2)):
        expected[..., r, c] = True
    assert torch.equal(instance_edges(inst), expected)
    assert not instance_edges(torch.full((2, 1, 5, 5), 7)).any()  # one instance: no edge
    # packed (rank high byte, low byte) and unpacked, the ids keep every inequality
    packed = torch.from_numpy(pack(inst[0, 0].numpy(), Path("x")))[None]
    assert packed.shape == (1, 2, 6, 8) and packed.dtype == torch.uint8
    carried = torch.cat([torch.zeros(1, 1, 6, 8, dtype=torch.uint8), packed], 1).float() / 127.5 - 1
    assert torch.equal(instance_edges(unpack_instances(decode_ids(carried))), expected)


def test_packing_spans_two_bytes_and_refuses_more() -> None:
    ids = np.arange(300).reshape(15, 20) * 1000  # 300 distinct ids: ranks past one byte
    packed = pack(ids, Path("x")).astype(np.int64)
    assert np.array_equal(packed[0] * 256 + packed[1], np.arange(300).reshape(15, 20))
    with pytest.raises(GanforgeError, match=r"big\.png holds 66000 distinct instance ids at this size; at most 65536"):
        pack(np.arange(66000).reshape(264, 250), Path("big.png"))


def test_g_and_d_take_one_more_channel_with_exact_counts() -> None:
    def counts(edges: bool) -> dict[str, Any]:
        config = api.make_config("spade", [*TINY, f"translation.instance_edges={str(edges).lower()}"])
        model = build_model(config, "cpu")
        return {name: count_parameters(net) for name, net in model.networks.items()} | {"G_net": model.G}

    on, off = counts(True), counts(False)
    ngf, hidden, ndf, num_d = 2, 4, 4, 2
    norms = 7 * 2 + 4  # two SPADE norms per block, one more in each of the 4 learned shortcuts
    assert on["G"] - off["G"] == 16 * ngf * 9 + norms * hidden * 9  # G's first conv + every SPADE embedding
    assert on["D"] - off["D"] == num_d * ndf * 4 * 4  # each scale's first 4x4 conv
    assert on["G_net"].fc.in_channels == 12 and off["G_net"].fc.in_channels == 11


# ---- readers -----------------------------------------------------------------------------------
def _tc(*extra: str) -> TranslationConfig:
    return api.make_config("spade", ["translation.load_size=16", "translation.crop_size=16", *extra],
                           data="labels:x").translation


def _folders(root: Path, instances: bool = True) -> np.ndarray:
    """labels/ + images/ (+ instances/) for train and test: one class region of two instances."""
    labels = np.zeros((16, 16), np.uint8)
    labels[4:12, 2:14] = 3
    inst = np.zeros((16, 16), np.uint16)
    inst[4:12, 2:8], inst[4:12, 8:14] = 3001, 3002
    for split in ("train", "test"):
        for sub in ("labels", "images", *(("instances",) if instances else ())):
            (root / split / sub).mkdir(parents=True)
        Image.fromarray(labels).save(root / split / "labels" / "a.png")
        Image.fromarray(np.full((16, 16, 3), 90, np.uint8)).save(root / split / "images" / "a.png")
        if instances:
            Image.fromarray(inst).save(root / split / "instances" / "a.png")
    return inst


def test_folder_instances_are_read_when_present(tmp_path: Path) -> None:
    inst = _folders(tmp_path)
    data = load_translation_data(f"labels:{tmp_path}", _tc("translation.label_nc=5"))
    assert data.label_instances and data.train_a.shape == (1, 3, 16, 16) and data.test_maps.shape == (1, 1, 16, 16)
    edges = instance_edges(unpack_instances(data.train_a.long()))
    assert torch.equal(edges, instance_edges(torch.from_numpy(inst.astype(np.int64))[None, None]))
    assert edges[0, 0, 6, 7:9].all() and not edges[0, 0, 6, 4:7].any()  # between the two instances
    off = load_translation_data(f"labels:{tmp_path}", _tc("translation.label_nc=5", "translation.instance_edges=false"))
    assert not off.label_instances and off.train_a.shape == (1, 1, 16, 16)


def test_cityscapes_instance_ids_beside_label_ids(tmp_path: Path) -> None:
    for split in ("train", "val"):
        gt, left = tmp_path / "gtFine" / split / "aachen", tmp_path / "leftImg8bit" / split / "aachen"
        gt.mkdir(parents=True)
        left.mkdir(parents=True)
        labels = np.full((16, 32), 7, np.uint8)  # road, and two touching cars (26)
        labels[4:12, 4:28] = 26
        inst = labels.astype(np.uint16)
        inst[4:12, 4:16], inst[4:12, 16:28] = 26000, 26001
        Image.fromarray(labels).save(gt / "aachen_000000_000019_gtFine_labelIds.png")
        Image.fromarray(inst).save(gt / "aachen_000000_000019_gtFine_instanceIds.png")
        Image.fromarray(np.zeros((16, 32, 3), np.uint8)).save(left / "aachen_000000_000019_leftImg8bit.png")
    data = load_translation_data(f"labels:{tmp_path}", _tc("translation.label_nc=35"))
    assert data.label_instances and data.train_a.shape == (1, 3, 16, 16) and data.test_a.shape == (1, 3, 16, 16)
    edges = instance_edges(unpack_instances(data.train_a.long()))[0, 0]
    class_edges = instance_edges(data.train_a[:, :1].long())[0, 0]
    # the centre square (columns 8..23 of 32) cuts the two cars at column 16 - 8 = 8
    assert edges[6, 7:9].all() and not class_edges[6, 7:9].any()


def _error(tmp_path: Path, case: str) -> str:
    if case == "ade20k":
        for sub in ("annotations/training", "images/training"):
            (tmp_path / sub).mkdir(parents=True)
        Image.fromarray(np.ones((16, 16), np.uint8)).save(tmp_path / "annotations/training/a.png")
        Image.fromarray(np.zeros((16, 16, 3), np.uint8)).save(tmp_path / "images/training/a.jpg")
        load_translation_data(f"labels:{tmp_path}", _tc("translation.label_nc=150", "translation.instance_edges=true",
                                                        "translation.contain_dontcare_label=true"))
    if case == "demo":
        load_translation_data("demo:digit-canvases", _tc("translation.instance_edges=true"))
    _folders(tmp_path, instances=case != "absent")
    inst_file = tmp_path / "test" / "instances" / "a.png"
    if case == "missing":
        inst_file.unlink()
    elif case == "size":
        Image.fromarray(np.zeros((16, 20), np.uint8)).save(inst_file)
    elif case == "rgb":
        Image.fromarray(np.zeros((16, 16, 3), np.uint8)).save(inst_file)
    load_translation_data(f"labels:{tmp_path}", _tc("translation.label_nc=5", "translation.instance_edges=true"))
    return ""


@pytest.mark.parametrize(("case", "message"), [
    ("absent", r"translation.instance_edges=true but \S+/train/labels has no instance maps \(Cityscapes: "),
    ("missing", r"test/instances/a.png does not exist: the instance map of each label map is needed"),
    ("size", r"test/instances/a.png is 20x16 but its label map is 16x16; an instance map must match"),
    ("rgb", r"test/instances/a.png: an instance map must be a single-channel image .* got mode RGB"),
    ("ade20k", r"ADE20K has no instance maps \(the authors train it with --no_instance\)"),
    ("demo", r"demo:digit-canvases has no instance maps; use demo:digit-canvases-touching"),
])
def test_instance_reader_errors_are_one_line(tmp_path: Path, case: str, message: str) -> None:
    with pytest.raises(GanforgeError, match=message) as info:
        _error(tmp_path, case)
    assert "\n" not in str(info.value)


def test_auto_is_resolved_by_the_data_and_true_needs_instance_maps() -> None:
    auto = _tc()
    assert auto.instance_edges == "auto"
    assert resolved(auto, True).instance_edges is True and resolved(auto, False).instance_edges is False
    with pytest.raises(GanforgeError, match=r"instance_edges=true but 'paired:x' has no instance maps; use "
                                            r"--data labels:DIR \(Cityscapes: "):
        resolved(_tc("translation.instance_edges=true"), False, "paired:x")


def test_instances_option_is_refused_where_no_network_takes_them() -> None:
    no_edges = _tc("translation.instance_edges=false")
    with pytest.raises(GanforgeError, match=r"this SPADE run was trained without instance edges"):
        read_instances([Path("map.png")], "inst.png", 16, no_edges)
    pix2pix = api.make_config("pix2pix").translation
    with pytest.raises(GanforgeError, match=r"--instances gives SPADE's instance maps; this is a pix2pix run"):
        read_instances([Path("map.png")], "inst.png", 16, pix2pix)
    assert read_instances([Path("map.png")], None, 16, _tc("translation.instance_edges=true")) == (
        None, "class boundaries")


def test_touching_demo_separates_digits_of_one_class_by_instance_only() -> None:
    labels, instances, images = touching_canvases("test")
    assert labels.shape == instances.shape == (300, 1, 64, 64) and images.shape == (300, 3, 64, 64)
    for n in range(20):
        for k in instances[n].unique().tolist()[1:]:  # each instance lies in one class region
            assert len(labels[n][instances[n] == k].unique()) == 1
    inside = instance_edges(instances.long()) & ~instance_edges(labels.long())
    groups = (instances.flatten(1).max(1).values > 0).sum()
    assert groups > 200 and inside.flatten(1).any(1).sum() == groups  # every filled canvas has touching digits


# ---- training, resume, translate ---------------------------------------------------------------
def _train(out: Path, steps: int) -> list[str]:
    return ["train", "--recipe", "spade", "--data", TOUCHING, "--out", str(out), "--steps", str(steps),
            "--no-progress", *TINY]


def _tensors(state: Any, prefix: str = "") -> dict[str, torch.Tensor]:
    if isinstance(state, torch.Tensor):
        return {prefix: state}
    items = state.items() if isinstance(state, dict) else enumerate(state) if isinstance(state, (list, tuple)) else []
    return {k: v for key, value in items for k, v in _tensors(value, f"{prefix}/{key}").items()}


def test_touching_demo_trains_with_instance_edges_resumes_and_translates(tmp_path: Path,
                                                                         capsys: pytest.CaptureFixture) -> None:
    straight, resumed = straight_and_resumed(tmp_path, _train)
    assert "instance_edges: true" in (straight / "config.yaml").read_text()  # auto, resolved by the data
    a = _tensors(load_checkpoint(straight / "checkpoints" / "step_00000002.pt"))
    b = _tensors(load_checkpoint(resumed / "checkpoints" / "step_00000002.pt"))
    assert a.keys() == b.keys() and len(a) > 50
    assert [k for k in a if not torch.equal(a[k], b[k])] == []
    assert train_rows(straight) == train_rows(resumed)
    # translate: one label region of class 3 split in two instances, with and without the map
    labels, inst = np.zeros((32, 32), np.uint8), np.zeros((32, 32), np.uint8)
    labels[8:24, 4:28], inst[8:24, 4:16], inst[8:24, 16:28] = 4, 1, 2
    Image.fromarray(labels).save(tmp_path / "map.png")
    Image.fromarray(inst).save(tmp_path / "inst.png")
    capsys.readouterr()
    assert main(["translate", str(straight), str(tmp_path / "map.png"), "--out", str(tmp_path / "plain")]) == 0
    assert "made from the label maps' class boundaries" in capsys.readouterr().err
    assert main(["translate", str(straight), str(tmp_path / "map.png"), "--instances", str(tmp_path / "inst.png"),
                 "--out", str(tmp_path / "inst")]) == 0
    plain, split = (np.asarray(Image.open(tmp_path / d / "map.png")) for d in ("plain", "inst"))
    assert plain.shape == split.shape == (32, 32, 3) and not np.array_equal(plain, split)
    (tmp_path / "maps").mkdir()
    Image.fromarray(inst).save(tmp_path / "maps" / "map.png")  # a folder: the file of the input's name
    result = api.translate(straight, [tmp_path / "map.png"], tmp_path / "folder", instances=tmp_path / "maps")
    assert result["instance_edges"] == "instance maps"
    assert np.array_equal(np.asarray(Image.open(tmp_path / "folder" / "map.png")), split)
    (tmp_path / "maps" / "map.png").unlink()
    with pytest.raises(GanforgeError, match=r"maps holds no instance map for map.png \(looked for map.png/"):
        api.translate(straight, [tmp_path / "map.png"], tmp_path / "folder", instances=tmp_path / "maps")
    g = api.load(straight)
    ids = torch.from_numpy(labels)[None, None]
    with_edges = torch.cat([ids, torch.zeros_like(ids), torch.from_numpy(inst)[None, None]], 1)
    assert np.array_equal(to_uint8(g.translate(with_edges, "AtoB"))[0], split)  # the API = the CLI
    Image.fromarray(np.zeros((16, 16), np.uint8)).save(tmp_path / "small.png")
    capsys.readouterr()
    assert main(["translate", str(straight), str(tmp_path / "map.png"), "--instances", str(tmp_path / "small.png"),
                 "--out", str(tmp_path / "bad")]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "small.png is 16x16 but its label map is 32x32" in err
    # the paint page keeps working: its maps have no instances, the edges come from the classes
    pytest.importorskip("fastapi")
    from fastapi.testclient import TestClient

    from ganforge.serve.labels_app import create_label_app

    reply = TestClient(create_label_app(g)).post("/api/synthesize?seed=1", content=labels.tobytes())
    assert reply.status_code == 200 and Image.open(io.BytesIO(reply.content)).size == (32, 32)
