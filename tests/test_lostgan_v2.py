"""LostGAN v2: parameter counts of the reference's 128 px COCO generator, the learned stage masks
against their formula (features -> class logits -> gated mix with the regressed mask inside the
box), instance norm in the mask regression, and the recipe through train + exact resume, sample
--layout, serve's layout API, eval and export/load."""

from __future__ import annotations

import io
import json
import math
from pathlib import Path

import pytest
import torch
from PIL import Image

from ganforge import api
from ganforge.cli import main
from ganforge.errors import GanforgeError
from ganforge.models.lostgan_v2 import (
    LostGANV2Discriminator,
    LostGANV2Generator,
    LostGANV2ModelConfig,
    MaskRegressionV2,
    box_masks,
)
from ganforge.training.checkpoint import load_checkpoint
from ganforge.training.validation import check_components
from resume_support import straight_and_resumed

TINY_MODEL = dict(resolution=16, ch=2, dim_z=8, obj_dim=8, embed_dim=8, mask_ch=4, mask_size=8, mask_map=16,
                  mask_head_ch=4, max_objects=3, n_classes=10)
TINY = [f"model.{k}={v}" for k, v in TINY_MODEL.items() if k not in ("n_classes", "max_objects")] + [
    "train.batch_size=4", "train.log_every=1", "train.sample_every=1000", "train.checkpoint_every=1000",
    "monitor.plot=false", "train.device=cpu", "eval.every=0"]
LAYOUT = torch.tensor([[[3, 0.1, 0.1, 0.4, 0.5], [7, 0.5, 0.45, 0.45, 0.5], [-1, 0, 0, 0, 0]]] * 2)


@pytest.fixture(autouse=True)
def _one_thread() -> None:
    torch.set_num_threads(1)


def test_parameter_counts_equal_the_reference_coco_networks() -> None:
    # model/resnet_generator_v2.py ResnetGenerator128/256 and CombineDiscriminator128/256, 184 classes
    with torch.device("meta"):
        for res, g_count, d_count in ((128, 40_471_888, 57_881_538), (256, 46_154_960, 66_665_154)):
            cfg = LostGANV2ModelConfig(resolution=res, n_classes=184, max_objects=8)
            assert sum(p.numel() for p in LostGANV2Generator(cfg).parameters()) == g_count
            assert sum(p.numel() for p in LostGANV2Discriminator(cfg).parameters()) == d_count


def test_box_masks_are_the_closed_boxes_on_the_grid() -> None:
    got = box_masks(torch.tensor([[[0.25, 0.0, 0.5, 0.25]]]), 5)  # grid 0, .25, .5, .75, 1
    want = torch.zeros(5, 5)
    want[0:2, 1:4] = 1  # rows y in [0, 0.25], columns x in [0.25, 0.75], edges included
    assert torch.equal(got[0, 0], want)


def _tiny(seed: int = 0) -> LostGANV2Generator:
    torch.manual_seed(seed)
    return LostGANV2Generator(LostGANV2ModelConfig(**TINY_MODEL)).eval()


def test_stage_masks_follow_the_gated_formula_and_depend_on_features() -> None:
    g = _tiny()
    with torch.no_grad():
        g.alpha.copy_(torch.randn_like(g.alpha))
    z = torch.randn(2, g.dim_z)
    features = []
    hook = g.blocks[0].register_forward_hook(lambda m, i, out: features.append(out) and None)
    with torch.no_grad():
        x_img, masks = g._draw(z, LAYOUT)
        hook.remove()
        assert x_img.shape == (2, 3, 16, 16) and [m.shape for m in masks] == [(2, 3, 16, 16), (2, 3, 8, 8)]
        bmask = g.mask_regress(g.object_codes(g.split(z)[1], LAYOUT[..., 0].long().clamp_min(0)), LAYOUT[..., 1:])
        assert torch.equal(masks[0][:, :2], bmask[:, :2])  # the first block: the regressed bbox masks
        logits = g.mask_heads[0](features[0])  # (2, classes, 8, 8) from block 0's output
        a = torch.sigmoid(g.alpha[0, [3, 7]]).view(1, 2, 1, 1)
        box = box_masks(LAYOUT[:, :2, 1:], 8)  # drawn at half the image size, the last stage's
        want = torch.nn.functional.interpolate(bmask[:, :2], size=8, mode="bilinear") * (1 - a) \
            + torch.sigmoid(logits[:, [3, 7]]) * box * a
        assert torch.allclose(masks[1][:, :2], want, atol=1e-6)
        assert masks[0][:, 2].abs().sum() == 0 and masks[1][:, 2].abs().sum() == 0  # an empty slot: none
        # z_im reaches the masks only through G's features: stage 0 stays, the learned stage moves
        z2 = z.clone()
        z2[:, :8] = torch.randn(2, 8)
        other = g.stage_masks(z2, LAYOUT)
        assert torch.equal(other[0], masks[0]) and (other[1] - masks[1]).abs().max() > 1e-4
        # gates at 1: the mask is the learned one alone, zero outside the box and positive inside
        g.alpha.fill_(30.0)
        learned = g.object_masks(z, LAYOUT)[:, :2]
        assert torch.equal(learned == 0, box == 0) and torch.equal(g.object_masks(z, LAYOUT), g.stage_masks(z, LAYOUT)[-1])


def test_mask_regression_uses_instance_norm_so_objects_do_not_share_statistics() -> None:
    torch.manual_seed(0)
    net = MaskRegressionV2(6, 4, 16, 16).train()
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in net.modules())
    assert sum(isinstance(m, torch.nn.InstanceNorm2d) for m in net.modules()) == 3
    w = torch.randn(2, 6)
    boxes = torch.tensor([[[0.1, 0.1, 0.5, 0.5], [0.3, 0.3, 0.6, 0.6]]])
    first = net(w, boxes)
    w2 = w.clone()
    w2[1] = torch.randn(6)  # another object's code: in train mode BN would move object 0's mask too
    second = net(w2, boxes)
    assert torch.allclose(first[0, 0], second[0, 0], atol=1e-6) and not torch.allclose(first[0, 1], second[0, 1])


def test_config_errors_name_the_v2_arch() -> None:
    with pytest.raises(GanforgeError, match="model.arch=lostgan-v2 supports model.resolution"):
        LostGANV2ModelConfig(resolution=48).check()
    with pytest.raises(GanforgeError, match="method.name=lostgan-v2: data.hflip=true"):
        check_components(api.make_config("lostgan-v2", ["data.hflip=true"]))
    with pytest.raises(GanforgeError, match=r"method.name=lostgan(-v2)? and model.arch=lostgan(-v2)? go together"):
        check_components(api.make_config("lostgan-v2", ["method.name=lostgan"]))


def _train(out: Path, steps: int) -> list[str]:
    return ["train", "--recipe", "lostgan-v2", "--out", str(out), "--steps", str(steps), "--no-progress", *TINY]


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    torch.set_num_threads(1)
    return straight_and_resumed(tmp_path_factory.mktemp("lostgan_v2"), _train)


def test_recipe_trains_two_steps_and_resumes_exactly(runs: tuple[Path, Path]) -> None:
    straight, resumed = runs
    a = load_checkpoint(straight / "checkpoints" / "step_00000002.pt")
    b = load_checkpoint(resumed / "checkpoints" / "step_00000002.pt")
    assert any(k.startswith("mask_heads.") for k in a["G"]) and "alpha" in a["G"]
    for key in ("G", "D"):
        assert a[key].keys() == b[key].keys()
        assert [k for k in a[key] if not torch.equal(a[key][k], b[key][k])] == []
    rows = [[{k: v for k, v in json.loads(line).items() if k.startswith("loss")}
             for line in (run / "metrics.jsonl").read_text().splitlines() if '"kind": "train"' in line]
            for run in runs]
    assert rows[0] == rows[1] and {"loss_d_obj", "loss_g_obj"} <= set(rows[0][0])
    assert all(math.isfinite(v) for row in rows[0] for v in row.values())


def test_sample_serve_eval_and_export_draw_layouts(runs: tuple[Path, Path], tmp_path: Path) -> None:
    from fastapi.testclient import TestClient

    from ganforge.serve.app import create_app

    run = runs[0]
    layout = [{"objects": [{"label": "3", "box": [0.1, 0.1, 0.4, 0.4]}, {"label": "7", "box": [0.5, 0.5, 0.4, 0.4]}]}]
    (tmp_path / "layout.json").write_text(json.dumps(layout))
    out = tmp_path / "grid.png"
    assert main(["sample", str(run), "--layout", str(tmp_path / "layout.json"), "--n", "2", "--out", str(out)]) == 0
    assert Image.open(out).size[0] >= 2 * 16
    client = TestClient(create_app(api.load(run)))
    image = client.get("/api/layout", params={"layout": json.dumps(layout[0]), "n": 2, "seed": 3})
    assert image.status_code == 200 and Image.open(io.BytesIO(image.content)).size[0] >= 2 * 16
    assert main(["eval", str(run), "--metrics", "obj_acc,box_iou", "--features", "digits",
                 "--n", "8", "--out", str(tmp_path / "eval.json")]) == 0
    metrics = json.loads((tmp_path / "eval.json").read_text())["metrics"]
    assert 0 <= metrics["obj_acc"] <= 1 and 0 <= metrics["box_iou"] <= 1 and "ink_in_boxes" in metrics
    assert main(["export", str(run), str(tmp_path / "export")]) == 0
    g, exported = api.load(run), api.load(tmp_path / "export")
    assert isinstance(exported.generator, LostGANV2Generator)
    y = LAYOUT[:1, :, :].repeat(2, 1, 1)
    assert torch.equal(g.sample_layout(y, 2, None, 0), exported.sample_layout(y, 2, None, 0))
