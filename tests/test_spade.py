"""SPADE (issue 21): the SPADE norm against its formula, the multi-scale D's outputs, the hinge +
feature-matching composition and the KL term on hand-made tensors, mIoU, the label-map readers'
errors, two demo steps that resume exactly, and `ganforge translate` on label maps."""

from __future__ import annotations

import io
import math
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from ganforge import api
from ganforge.cli import main
from ganforge.config import TranslationConfig
from ganforge.errors import GanforgeError
from ganforge.metrics.segmenter import mean_iou
from ganforge.models.spade import SPADEDiscriminator, SPADENorm, SPADEResBlock, VGG19Features
from ganforge.training.checkpoint import load_latest_checkpoint
from ganforge.training.launch import load_task_data, make_loop
from ganforge.training.run_dir import RunDir
from ganforge.translation.checks import check_translation_config
from ganforge.translation.data import load_translation_data
from ganforge.translation.label_maps import decode_ids, one_hot
from ganforge.translation.spade import load_vgg19
from ganforge.translation.spade_losses import (
    feature_matching,
    hinge_d,
    hinge_g,
    kl_divergence,
    vgg_loss,
)
from resume_support import StopAfter, train_rows

TINY = [
    "translation.ngf=2",
    "translation.spade_hidden=4",
    "translation.param_free_norm=batch",  # the demo's instance norm needs G's start at 2x2 (64 px)
    "translation.ndf=4",
    "translation.n_layers_d=2",
    "translation.load_size=32",
    "translation.crop_size=32",
    "translation.eval_n=8",
    "translation.eval_every=0",
    "translation.steps_per_epoch=2",
    "translation.epochs=1",
    "translation.epochs_decay=1",
    "train.batch_size=2",
    "train.device=cpu",
    "train.log_every=1",
    "train.sample_every=2",
    "train.checkpoint_every=100",
    "monitor.plot=false",
]


@pytest.fixture(autouse=True)
def _one_thread() -> None:
    torch.set_num_threads(1)


# ---- the networks ------------------------------------------------------------------------------
@pytest.mark.parametrize("param_free", ["instance", "batch"])
def test_spade_norm_equals_its_formula(param_free: str) -> None:
    torch.manual_seed(0)
    norm = SPADENorm(4, 3, param_free, hidden=5).train()
    x = torch.randn(2, 4, 8, 8) * 3 + 1
    ids = torch.randint(0, 3, (2, 1, 4, 4))
    seg = one_hot(ids, 3)
    out = norm(x, seg)
    # by hand: nearest 2x upsampling is each label repeated in a 2x2 block
    big = seg.repeat_interleave(2, 2).repeat_interleave(2, 3)
    dims = (2, 3) if param_free == "instance" else (0, 2, 3)
    mean, var = x.mean(dims, keepdim=True), x.var(dims, unbiased=False, keepdim=True)
    normalized = (x - mean) / torch.sqrt(var + 1e-5)
    shared = norm.mlp_shared[0]
    actv = F.relu(F.conv2d(big, shared.weight, shared.bias, padding=1))
    gamma = F.conv2d(actv, norm.mlp_gamma.weight, norm.mlp_gamma.bias, padding=1)
    beta = F.conv2d(actv, norm.mlp_beta.weight, norm.mlp_beta.bias, padding=1)
    assert torch.allclose(out, normalized * (1 + gamma) + beta, atol=1e-5)
    assert shared.weight.shape == (5, 3, 3, 3) and norm.mlp_gamma.weight.shape == (4, 5, 3, 3)
    assert sum(p.numel() for p in norm.parameters()) == (3 * 9 * 5 + 5) + 2 * (5 * 9 * 4 + 4)


def test_resblock_learns_its_shortcut_only_when_the_width_changes() -> None:
    same, wider = SPADEResBlock(4, 4, 3, hidden=5), SPADEResBlock(4, 6, 3, hidden=5)
    assert not hasattr(same, "conv_s") and wider.conv_s.bias is None
    assert wider.conv_0.weight.shape == (4, 4, 3, 3) and wider.conv_1.weight.shape == (6, 4, 3, 3)
    out = wider(torch.randn(2, 4, 8, 8), one_hot(torch.randint(0, 3, (2, 1, 8, 8)), 3))
    assert out.shape == (2, 6, 8, 8)


def test_multi_scale_d_outputs_every_layer_at_each_scale() -> None:
    torch.manual_seed(0)
    d = SPADEDiscriminator(5, ndf=4, n_layers=3, num_d=2).eval()
    x = torch.randn(2, 5, 32, 32)
    out = d(x)
    assert len(out) == 2 and all(len(scale) == 4 for scale in out)
    # 4x4 convs, padding 2: stride 2, 2, then the last middle conv and the logits at stride 1
    assert [tuple(t.shape[1:]) for t in out[0]] == [(4, 17, 17), (8, 9, 9), (16, 10, 10), (1, 11, 11)]
    assert [tuple(t.shape[1:]) for t in out[1]] == [(4, 9, 9), (8, 5, 5), (16, 6, 6), (1, 7, 7)]
    pooled = F.avg_pool2d(x, 3, 2, 1, count_include_pad=False)
    assert torch.allclose(d.discriminator_1(pooled)[-1], out[1][-1])
    first, last = d.discriminator_0.model0[0], d.discriminator_0.model3[0]
    assert first.bias is not None and last.bias is not None  # no norm, no SN at the ends
    assert hasattr(d.discriminator_0.model1[0], "parametrizations")  # spectral in the middle


def test_vgg19_trunk_has_torchvision_layer_indices() -> None:
    vgg = VGG19Features()
    keys = [k for k in vgg.state_dict() if k.endswith("weight")]
    assert keys[0] == "features.0.weight" and keys[-1] == "features.28.weight" and len(keys) == 13
    outs = vgg(torch.zeros(1, 3, 32, 32))
    assert [o.shape[1] for o in outs] == [64, 128, 256, 512, 512]
    assert [o.shape[-1] for o in outs] == [32, 16, 8, 4, 2]


# ---- the losses ------------------------------------------------------------------------------
def test_hinge_and_feature_matching_compose_as_the_authors() -> None:
    real = [[torch.full((2, 1, 2, 2), 1.0), torch.tensor([[[[0.5, 2.0]]], [[[-1.0, 0.0]]]])],
            [torch.full((2, 1, 1, 1), 3.0), torch.tensor([[[[0.0]]], [[[3.0]]]])]]
    fake = [[torch.full((2, 1, 2, 2), 0.0), torch.tensor([[[[-2.0, 0.0]]], [[[1.0, -0.5]]]])],
            [torch.full((2, 1, 1, 1), 1.0), torch.tensor([[[[-1.0]]], [[[0.5]]]])]]
    # D real: mean(max(0, 1 - x)): scale 0: (0.5 + 0 + 2 + 1) / 4 = 0.875; scale 1: (1 + 0) / 2 = 0.5
    assert math.isclose(float(hinge_d(real, real=True)), (0.875 + 0.5) / 2)
    # D fake: mean(max(0, 1 + x)): scale 0: (0 + 1 + 2 + 0.5) / 4 = 0.875; scale 1: (0 + 1.5) / 2
    assert math.isclose(float(hinge_d(fake, real=False)), (0.875 + 0.75) / 2)
    # G: -mean(x): scale 0: -(-1.5 / 4) = 0.375; scale 1: -(-0.25) = 0.25
    assert math.isclose(float(hinge_g(fake)), (0.375 + 0.25) / 2)
    # FM: layer 0 only: |0 - 1| = 1 at scale 0, |1 - 3| = 2 at scale 1; x 10 / num_D
    assert math.isclose(float(feature_matching(fake, real, 10.0)), (1.0 + 2.0) * 10.0 / 2)


def test_fm_gradient_reaches_the_fake_features_only() -> None:
    fake_feat = torch.zeros(1, 1, 2, 2, requires_grad=True)
    real_feat = torch.ones(1, 1, 2, 2, requires_grad=True)
    loss = feature_matching([[fake_feat, torch.zeros(1, 1, 1, 1)]], [[real_feat, torch.zeros(1, 1, 1, 1)]], 1.0)
    loss.backward()
    assert real_feat.grad is None and torch.allclose(fake_feat.grad, torch.full_like(fake_feat, -0.25))


def test_kl_term_is_summed_over_batch_and_code() -> None:
    assert float(kl_divergence(torch.zeros(3, 4), torch.zeros(3, 4))) == 0.0
    mu, logvar = torch.tensor([[1.0, -2.0]]), torch.tensor([[0.0, math.log(4.0)]])
    # per entry 0.5 * (mu^2 + sigma^2 - 1 - log sigma^2)
    expected = 0.5 * (1 + 1 - 1 - 0) + 0.5 * (4 + 4 - 1 - math.log(4.0))
    assert math.isclose(float(kl_divergence(mu, logvar)), expected, rel_tol=1e-6)


def test_vgg_loss_weights_and_weight_file_errors(tmp_path: Path) -> None:
    def features(x: torch.Tensor) -> list[torch.Tensor]:
        return [x * k for k in range(1, 6)]

    loss = vgg_loss(features, torch.zeros(1, 3, 2, 2), torch.ones(1, 3, 2, 2))
    assert math.isclose(float(loss), 1 / 32 + 2 / 16 + 3 / 8 + 4 / 4 + 5.0)
    with pytest.raises(GanforgeError, match="translation.vgg_weights: .* does not exist"):
        load_vgg19(str(tmp_path / "vgg19.pth"))
    from safetensors.torch import save_file

    save_file({"classifier.0.weight": torch.zeros(2, 2)}, str(tmp_path / "other.safetensors"))
    with pytest.raises(GanforgeError, match="is not a VGG19 state dict .no features.0.bias."):
        load_vgg19(str(tmp_path / "other.safetensors"))


def test_label_ids_round_trip_through_the_image_range() -> None:
    ids = torch.arange(256, dtype=torch.uint8).view(1, 1, 16, 16)
    assert torch.equal(decode_ids(ids.float() / 127.5 - 1.0), ids.long())
    with pytest.raises(GanforgeError, match="label id 11 is outside the 11 classes"):
        one_hot(torch.tensor([[[[11]]]]), 11)


def test_mean_iou_on_hand_made_maps() -> None:
    target = torch.tensor([[0, 0, 1, 1], [0, 0, 2, 2]])
    predicted = torch.tensor([[0, 1, 1, 1], [0, 0, 2, 0]])
    scores = mean_iou(predicted, target, 4)
    # class 0: inter 3, union 5; class 1: inter 2, union 3; class 2: inter 1, union 2; 3 absent
    assert math.isclose(scores["miou"], (3 / 5 + 2 / 3 + 1 / 2) / 3)
    assert math.isclose(scores["pixel_accuracy"], 6 / 8) and scores["per_class_iou"][3] is None


# ---- data --------------------------------------------------------------------------------------
def _folders(root: Path, ids: list[np.ndarray], images: int | None = None) -> None:
    for split in ("train", "test"):
        (root / split / "labels").mkdir(parents=True)
        (root / split / "images").mkdir(parents=True)
        for k, label in enumerate(ids):
            Image.fromarray(label.astype(np.uint8)).save(root / split / "labels" / f"{k}.png")
        for k in range(len(ids) if images is None else images):
            Image.fromarray(np.full((16, 16, 3), 40 * k, np.uint8)).save(root / split / "images" / f"{k}.png")


def _spade_tc(*extra: str) -> TranslationConfig:
    return api.make_config("spade", ["translation.load_size=16", "translation.crop_size=16", *extra]).translation


def test_label_folders_read_ids_exactly(tmp_path: Path) -> None:
    ids = [np.arange(256).reshape(16, 16) % 5, np.full((16, 16), 255)]
    _folders(tmp_path, ids)
    data = load_translation_data(f"labels:{tmp_path}", _spade_tc("translation.label_nc=5",
                                                                   "translation.contain_dontcare_label=true"))
    assert data.train_a.shape == (2, 1, 16, 16) and data.train_b.shape == (2, 3, 16, 16)
    assert torch.equal(data.train_a[0, 0], torch.from_numpy(ids[0]).byte())
    assert int(data.train_a[1].max()) == 5  # 255 ("don't care") -> label_nc
    assert data.label_classes == 6 and torch.equal(data.test_maps, data.test_a)


@pytest.mark.parametrize(
    ("case", "message"),
    [("range", "holds label id 7 but translation.label_nc=5; set translation.label_nc to at least 8"),
     ("dontcare", "holds label id 255 but translation.label_nc=5; 255 is 'don't care'"),
     ("unequal", "unequal pairs: "),
     ("rgb", "a label map must be a single-channel image of class ids, got mode RGB")],
)
def test_label_reader_errors(tmp_path: Path, case: str, message: str) -> None:
    ids = [np.zeros((16, 16)), np.full((16, 16), 7 if case == "range" else 255 if case == "dontcare" else 1)]
    _folders(tmp_path, ids, images=1 if case == "unequal" else None)
    if case == "rgb":
        Image.fromarray(np.zeros((16, 16, 3), np.uint8)).save(tmp_path / "train" / "labels" / "0.png")
    with pytest.raises(GanforgeError, match=message.replace("(", r"\(").replace(")", r"\)")) as info:
        load_translation_data(f"labels:{tmp_path}", _spade_tc("translation.label_nc=5"))
    assert "\n" not in str(info.value)


def test_config_mistakes_are_one_line_errors() -> None:
    cases = [(["translation.crop_size=48", "translation.load_size=48"], "use a multiple of 32"),
             (["translation.crop_size=32", "translation.load_size=32"], "starts G at 1x1, where instance norm"),
             (["train.loss=ls"], "SPADE trains with the hinge loss"),
             (["translation.channels_a=3"], "set translation.channels_a=1")]
    for overrides, message in cases:
        with pytest.raises(GanforgeError, match=message) as info:
            check_translation_config(api.make_config("spade", overrides))
        assert "\n" not in str(info.value)


# ---- training, resume, translate -------------------------------------------------------------
def test_demo_trains_and_resumes_exactly(tmp_path: Path) -> None:
    config, data = load_task_data(api.make_config("spade", [*TINY, "translation.features=none",
                                                            "translation.steps=2"]))
    straight = make_loop(config, data, RunDir(tmp_path / "straight"))
    straight.fit(progress=False)
    assert straight.step == 2
    first = make_loop(config, data, RunDir(tmp_path / "resumed"))
    first.fit(progress=False, stop=StopAfter(first, 1))
    torch.manual_seed(4321)
    second = make_loop(config, data, RunDir(tmp_path / "resumed"))
    _, state, _ = load_latest_checkpoint(RunDir(tmp_path / "resumed").checkpoints)
    second.load_state_dict(state)
    second.fit(progress=False)
    for name, net in straight.task.model.networks.items():
        other = second.task.model.networks[name].state_dict()
        assert all(torch.equal(v, other[k]) for k, v in net.state_dict().items()), name
    rows = train_rows(tmp_path / "straight")
    assert rows == train_rows(tmp_path / "resumed")
    assert {"loss_g_gan", "loss_g_feat", "loss_d_fake", "loss_d_real"} <= set(rows[-1])


def test_vae_variant_trains_with_its_kl_term(tmp_path: Path) -> None:
    config, data = load_task_data(api.make_config("spade", [*TINY, "translation.features=none",
                                                            "translation.use_vae=true", "translation.z_dim=8",
                                                            "translation.steps=1"]))
    loop = make_loop(config, data, RunDir(tmp_path / "vae"))
    loop.fit(progress=False)
    assert set(loop.task.model.networks) == {"G", "D", "E"}
    row = train_rows(tmp_path / "vae")[-1]
    assert row["loss_g_kld"] > 0 and math.isfinite(row["loss_g"])


def test_translate_label_maps_and_errors(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    run = tmp_path / "run"
    assert main(["train", "--recipe", "spade", "--out", str(run), *TINY, "--no-progress"]) == 0
    labels = tmp_path / "labels.png"
    canvas = np.zeros((48, 48), np.uint8)
    canvas[4:20, 4:20], canvas[24:44, 20:40] = 4, 9
    Image.fromarray(canvas).save(labels)
    out = tmp_path / "out"
    assert main(["translate", str(run), str(labels), "--out", str(out)]) == 0
    image = np.asarray(Image.open(out / "labels.png"))
    assert image.shape == (32, 32, 3)
    bad = tmp_path / "bad.png"
    Image.fromarray(np.full((32, 32), 12, np.uint8)).save(bad)
    capsys.readouterr()
    assert main(["translate", str(run), str(bad), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and len(err.strip().splitlines()) == 1
    assert "holds label id 12 but translation.label_nc=11" in err, err
    # the serve page's endpoint on the same run: a painted map in, a PNG of the image out
    pytest.importorskip("fastapi")
    from fastapi.testclient import TestClient

    from ganforge.generators import load
    from ganforge.serve.labels_app import create_label_app

    client = TestClient(create_label_app(load(run)))
    info = client.get("/api/info").json()
    assert info["side"] == 32 and len(info["classes"]) == 11 and info["palette"][0] == [0, 0, 0]
    painted = np.zeros((32, 32), np.uint8)
    painted[8:24, 8:24] = 3
    first = client.post("/api/synthesize?seed=1", content=painted.tobytes())
    assert first.status_code == 200 and first.headers["content-type"] == "image/png"
    assert Image.open(io.BytesIO(first.content)).size == (32, 32)
    assert client.post("/api/synthesize?seed=1", content=painted.tobytes()).content == first.content
    bad = client.post("/api/synthesize", content=b"\x0c" * 1024)
    assert bad.status_code == 400 and "label id 12 is outside this run's 11 classes" in bad.json()["error"]
    short = client.post("/api/synthesize", content=b"\x00" * 10)
    assert short.status_code == 400 and "32x32 = 1024 bytes" in short.json()["error"]
