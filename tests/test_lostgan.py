"""LostGAN: ISLA-Norm and ROI-Align against their formulas on hand-made tensors, parameter counts
of the reference's COCO networks, the layout JSON and COCO readers with their one-line errors,
the recipe training 2 steps and resuming exactly, and `sample --layout` keeping object styles."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from ganforge import api
from ganforge.cli import main
from ganforge.data.layouts import load_layout_dataset, parse_layouts
from ganforge.errors import GanforgeError
from ganforge.models.lostgan import (
    ISLANorm,
    LostGANDiscriminator,
    LostGANGenerator,
    LostGANModelConfig,
    isla_affine,
)
from ganforge.nn.roi_align import roi_align
from ganforge.training.checkpoint import load_checkpoint
from resume_support import straight_and_resumed

TINY = ["model.ch=2", "model.resolution=16", "model.dim_z=8", "model.obj_dim=8", "model.embed_dim=8",
        "model.mask_ch=4", "model.mask_size=8", "model.mask_map=16", "train.batch_size=4", "train.log_every=1",
        "train.sample_every=1000", "train.checkpoint_every=1000", "monitor.plot=false", "train.device=cpu",
        "eval.every=0"]


@pytest.fixture(autouse=True)
def _one_thread() -> None:
    torch.set_num_threads(1)


def test_isla_affine_is_the_mask_weighted_mean_of_object_parameters() -> None:
    masks = torch.tensor([[[[1.0, 0.5], [0.0, 0.0]], [[0.0, 0.5], [1.0, 0.0]]]])  # (1, 2 objects, 2, 2)
    gamma = torch.tensor([[[2.0], [4.0]]])  # (1, 2, 1 channel)
    beta = torch.tensor([[[1.0], [-1.0]]])
    gain, bias = isla_affine(masks, gamma, beta)
    eps = 1e-6
    assert torch.allclose(gain[0, 0], torch.tensor([[1 + 2 / (1 + eps), 1 + (1 + 2) / (1 + eps)],
                                                    [1 + 4 / (1 + eps), 1.0]]))
    assert torch.allclose(bias[0, 0], torch.tensor([[1 / (1 + eps), 0.0], [-1 / (1 + eps), 0.0]]))
    # the module: BN without affine, then that gain and bias from the projected codes
    norm = ISLANorm(1, 3).train()
    x = torch.tensor([[[[1.0, 2.0], [3.0, 6.0]]]])
    w = torch.randn(2, 3)
    out = norm(x, w, masks)
    with torch.no_grad():
        g, b = norm.weight_proj(w).view(1, 2, 1), norm.bias_proj(w).view(1, 2, 1)
    gain, bias = isla_affine(masks, g, b)
    bn = (x - x.mean()) / torch.sqrt(x.var(unbiased=False) + 1e-5)
    assert torch.allclose(out, gain * bn + bias, atol=1e-6)


def _reference_roi_align(feat: torch.Tensor, roi: list[float], out: int, scale: float, ratio: int) -> torch.Tensor:
    """maskrcnn-benchmark's ROIAlign forward for one box, loop by loop, in plain Python."""
    _, h, w = feat.shape
    x0, y0, x1, y1 = (v * scale for v in roi)
    rw, rh = max(x1 - x0, 1.0), max(y1 - y0, 1.0)
    bw, bh = rw / out, rh / out
    gh = ratio if ratio > 0 else math.ceil(rh / out)
    gw = ratio if ratio > 0 else math.ceil(rw / out)
    result = torch.zeros(feat.shape[0], out, out)

    def sample(y: float, x: float) -> torch.Tensor:
        if y < -1.0 or y > h or x < -1.0 or x > w:
            return torch.zeros(feat.shape[0])
        y, x = max(y, 0.0), max(x, 0.0)
        yl, xl = int(y), int(x)
        if yl >= h - 1:
            yh = yl = h - 1
            y = float(yl)
        else:
            yh = yl + 1
        if xl >= w - 1:
            xh = xl = w - 1
            x = float(xl)
        else:
            xh = xl + 1
        ly, lx = y - yl, x - xl
        return ((1 - ly) * (1 - lx) * feat[:, yl, xl] + (1 - ly) * lx * feat[:, yl, xh]
                + ly * (1 - lx) * feat[:, yh, xl] + ly * lx * feat[:, yh, xh])

    for ph in range(out):
        for pw in range(out):
            acc = torch.zeros(feat.shape[0])
            for iy in range(gh):
                for ix in range(gw):
                    acc += sample(y0 + ph * bh + (iy + 0.5) * bh / gh, x0 + pw * bw + (ix + 0.5) * bw / gw)
            result[:, ph, pw] = acc / (gh * gw)
    return result


def test_roi_align_matches_a_manual_bilinear_computation() -> None:
    feat = torch.arange(16.0).view(1, 1, 4, 4)
    # one bin, one sample: the centre (1.5, 1.5) of box (0.5, 0.5)-(2.5, 2.5) -> mean of 5, 6, 9, 10
    out = roi_align(feat, torch.tensor([[0.0, 0.5, 0.5, 2.5, 2.5]]), (1, 1), 1.0, 1)
    assert out.shape == (1, 1, 1, 1) and torch.isclose(out[0, 0, 0, 0], torch.tensor(7.5))
    gen = torch.Generator().manual_seed(0)
    feats = torch.randn(2, 3, 6, 7, generator=gen)
    rois = [[0, 1.0, 2.0, 9.0, 11.0], [1, -3.0, 0.5, 4.0, 3.0], [0, 10.0, 10.0, 14.5, 13.0], [1, 2.0, 2.0, 2.2, 2.1]]
    for ratio in (0, 2):
        got = roi_align(feats, torch.tensor(rois), (3, 3), 0.5, ratio)
        for k, (b, *box) in enumerate(rois):
            want = _reference_roi_align(feats[int(b)], box, 3, 0.5, ratio)
            assert torch.allclose(got[k], want, atol=1e-5), (ratio, k)


def test_parameter_counts_equal_the_reference_coco_networks() -> None:
    with torch.device("meta"):
        for res, embed, g_count, d_count in ((64, 128, 14_688_772, 23_308_994), (128, 180, 36_296_036, 57_881_538)):
            cfg = LostGANModelConfig(resolution=res, n_classes=184, embed_dim=embed, max_objects=8)
            assert sum(p.numel() for p in LostGANGenerator(cfg).parameters()) == g_count
            assert sum(p.numel() for p in LostGANDiscriminator(cfg).parameters()) == d_count


def test_label_embedding_init_is_the_reference_orthogonal_unless_normal_is_asked() -> None:
    torch.manual_seed(0)
    tiny = dict(resolution=16, ch=2, n_classes=10, dim_z=8, obj_dim=8, embed_dim=64, mask_ch=4, mask_map=16)
    ortho = LostGANGenerator(LostGANModelConfig(**tiny)).label_embedding.weight.detach()
    assert torch.allclose(ortho @ ortho.T, torch.eye(10), atol=1e-5)  # orthonormal rows, norm 1
    normal = LostGANGenerator(LostGANModelConfig(**tiny, embed_init="normal")).label_embedding.weight.detach()
    assert 6.0 < float(normal.norm(dim=1).mean()) < 10.0  # N(0, 1) rows: norm about sqrt(64) = 8


def _images(folder: Path, sizes: list[tuple[int, int]]) -> None:
    for i, (w, h) in enumerate(sizes):
        Image.fromarray(np.full((h, w, 3), 40 * i, dtype=np.uint8)).save(folder / f"im{i}.png")


def test_layout_json_reader_and_its_errors(tmp_path: Path) -> None:
    _images(tmp_path, [(40, 20), (30, 30)])
    spec = {"classes": ["cat", "dog"], "images": [
        {"image": "im0.png", "objects": [{"label": "dog", "box": [10, 5, 20, 10]}, {"label": "cat", "box": [0, 0, 4, 4]}]},
        {"image": "im1.png", "objects": [{"label": "cat", "box": [0, 15, 30, 15]}]}]}
    (tmp_path / "layouts.json").write_text(json.dumps(spec))
    data = load_layout_dataset(tmp_path, 16, 3)
    assert data.images.shape == (2, 3, 16, 16) and data.class_names == ["cat", "dog"]
    assert torch.allclose(data.layouts[0], torch.tensor([[1, 0.25, 0.25, 0.5, 0.5], [0, 0, 0, 0.1, 0.2]]))
    assert torch.allclose(data.layouts[1], torch.tensor([[0, 0, 0.5, 1, 0.5], [-1, 0, 0, 0, 0]]))
    assert data.labels.tolist() == [1, 0]  # each image's largest object
    spec["images"][1]["objects"][0]["box"] = [5, 15, 30, 15]
    (tmp_path / "layouts.json").write_text(json.dumps(spec))
    with pytest.raises(GanforgeError, match=r"images\[1\] \(im1.png\) object 0: box .* outside the 30x30 image") as e:
        load_layout_dataset(tmp_path, 16, 3)
    assert "\n" not in str(e.value)
    spec["images"][1]["objects"][0] = {"label": "bird", "box": [0, 0, 5, 5]}
    (tmp_path / "layouts.json").write_text(json.dumps(spec))
    with pytest.raises(GanforgeError, match="object 0: unknown label 'bird' \\(classes: cat, dog\\)"):
        load_layout_dataset(tmp_path, 16, 3)


def test_coco_instances_reader_and_its_errors(tmp_path: Path) -> None:
    _images(tmp_path, [(40, 20)])
    coco = {"images": [{"id": 7, "file_name": "im0.png", "width": 40, "height": 20}],
            "categories": [{"id": 3, "name": "car"}, {"id": 1, "name": "person"}],
            "annotations": [{"image_id": 7, "category_id": 3, "bbox": [20, 0, 20, 10]},
                            {"image_id": 7, "category_id": 1, "bbox": [0, 0, 40, 20], "iscrowd": 1}]}
    (tmp_path / "instances.json").write_text(json.dumps(coco))
    data = load_layout_dataset(tmp_path, 8, 3)
    assert data.class_names == ["person", "car"]  # ordered by category id
    assert torch.allclose(data.layouts[0], torch.tensor([[1, 0.5, 0, 0.5, 0.5]]))
    coco["annotations"][0]["category_id"] = 5
    (tmp_path / "instances.json").write_text(json.dumps(coco))
    with pytest.raises(GanforgeError, match=r"annotations\[0\]: unknown category_id 5"):
        load_layout_dataset(tmp_path, 8, 3)
    coco["annotations"][0].update(category_id=3, bbox=[30, 0, 20, 10])
    (tmp_path / "instances.json").write_text(json.dumps(coco))
    with pytest.raises(GanforgeError, match=r"annotations\[0\] \(image im0.png\): box .* outside the 40x20 image"):
        load_layout_dataset(tmp_path, 8, 3)


def _train(out: Path, steps: int) -> list[str]:
    return ["train", "--recipe", "lostgan", "--out", str(out), "--steps", str(steps), "--no-progress", *TINY]


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    torch.set_num_threads(1)
    return straight_and_resumed(tmp_path_factory.mktemp("lostgan"), _train)


def _losses(run: Path) -> list[dict]:
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    return [{k: v for k, v in r.items() if k.startswith("loss")} for r in rows if r["kind"] == "train"]


def test_recipe_trains_two_steps_and_resumes_exactly(runs: tuple[Path, Path]) -> None:
    straight, resumed = runs
    a = load_checkpoint(straight / "checkpoints" / "step_00000002.pt")
    b = load_checkpoint(resumed / "checkpoints" / "step_00000002.pt")
    for key in ("G", "D", "G_ema"):
        assert a[key].keys() == b[key].keys()
        assert [k for k in a[key] if not torch.equal(a[key][k], b[key][k])] == []
    losses = _losses(straight)
    assert losses == _losses(resumed) and {"loss_d_obj", "loss_g_obj"} <= set(losses[0])
    assert all(math.isfinite(v) for row in losses for v in row.values())


def test_wrong_labels_change_every_object_and_keep_boxes_and_empty_slots() -> None:
    from ganforge.training.methods.lostgan import wrong_labels

    torch.manual_seed(0)
    y = torch.tensor([[[3, 0.1, 0.2, 0.3, 0.4], [-1, 0, 0, 0, 0], [9, 0.5, 0.5, 0.2, 0.2]]]).repeat(200, 1, 1)
    w = wrong_labels(y, 10)
    assert torch.equal(w[..., 1:], y[..., 1:]) and (w[:, 1, 0] == -1).all()
    assert (w[:, [0, 2], 0] != y[:, [0, 2], 0]).all()
    assert set(w[:, 0, 0].long().tolist()) == set(range(10)) - {3}  # every other class is drawn


def test_box_mask_marks_pixel_centres_inside_non_empty_boxes() -> None:
    from ganforge.training.methods.lostgan import box_mask

    y = torch.tensor([[[3, 0.25, 0.0, 0.5, 0.25], [-1, 0, 0, 1, 1]], [[0, 0.0, 0.5, 0.3, 0.5], [1, 0.9, 0.9, 0.1, 0.1]]])
    expected = torch.zeros(2, 1, 4, 4, dtype=torch.bool)
    expected[0, 0, 0, 1:3] = True  # centres 0.375, 0.625 in [0.25, 0.75); row centre 0.125 < 0.25
    expected[1, 0, 2:, 0] = True  # the second box's 0.1 side holds no pixel centre of a 4x4 grid
    assert torch.equal(box_mask(y, 4), expected)


def test_mismatch_and_style_terms_enter_the_losses_with_their_weights(tmp_path: Path) -> None:
    """method.lambda_mismatch and method.lambda_style (ganforge options, 0 in the paper's setting):
    the logged losses are L_D = lambda_obj L_obj + lambda_img L_img + lambda_mismatch L_mismatch and
    L_G = lambda_obj L_obj + lambda_img L_img - lambda_style style_change; 0 leaves a term out."""
    for lam in (0.0, 2.0):
        out = tmp_path / f"m{lam}"
        assert main([*_train(out, 1), "method.lambda_obj=0.7", "method.lambda_img=0.3",
                     f"method.lambda_mismatch={lam}", f"method.lambda_style={lam / 4}",
                     f"method.style_in_boxes={str(lam > 0).lower()}"]) == 0
        row = next(json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()
                   if json.loads(line)["kind"] == "train")
        assert ("loss_d_mismatch" in row) == ("style_change" in row) == (lam > 0)
        expected = 0.7 * row["loss_d_obj"] + 0.3 * row["loss_d_img"] + lam * row.get("loss_d_mismatch", 0.0)
        assert row["loss_d"] == pytest.approx(expected, rel=1e-5)
        expected = 0.7 * row["loss_g_obj"] + 0.3 * row["loss_g_img"] - lam / 4 * row.get("style_change", 0.0)
        assert row["loss_g"] == pytest.approx(expected, rel=1e-5, abs=1e-6)
    assert row["style_change"] > 0


def test_sample_layout_cli_keeps_object_styles(runs: tuple[Path, Path], tmp_path: Path) -> None:
    run = runs[0]
    layout = [{"objects": [{"label": "3", "box": [0.1, 0.1, 0.4, 0.4]}, {"label": "7", "box": [0.5, 0.5, 0.4, 0.4]}]},
              {"objects": [{"label": "3", "box": [0.1, 0.1, 0.4, 0.4]}, {"label": "7", "box": [0.5, 0.0, 0.4, 0.4]}]}]
    path = tmp_path / "layout.json"
    path.write_text(json.dumps(layout))
    out = tmp_path / "grid.png"
    assert main(["sample", str(run), "--layout", str(path), "--n", "2", "--out", str(out)]) == 0
    assert Image.open(out).size[0] >= 2 * 16
    g = api.load(run)
    y = parse_layouts(layout, g.class_names, g.config.model.max_objects, "test")
    z = g.latents(2, None, 0)
    with torch.no_grad():
        masks = g.generator.object_masks(z.repeat(2, 1), y.repeat_interleave(2, 0))
    # moving object 1 leaves object 0's code, so its regressed mask, exactly as it was
    assert torch.equal(masks[:2, 0], masks[2:, 0]) and not torch.equal(masks[:2, 1], masks[2:, 1])
    assert masks[:, 2].abs().sum() == 0  # an empty slot draws nothing
    again = g.sample_layout(y, 2, None, 0)
    assert torch.equal(again, g.sample_layout(y, 2, None, 0))
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"objects": [{"label": "3", "box": [0.8, 0.0, 0.5, 0.5]}]}))
    assert main(["sample", str(run), "--layout", str(bad), "--out", str(out)]) != 0


def test_serve_layout_editor_draws_edited_layouts(runs: tuple[Path, Path]) -> None:
    from fastapi.testclient import TestClient

    from ganforge.serve.app import create_app

    client = TestClient(create_app(api.load(runs[0])))
    page = client.get("/layout")
    assert page.status_code == 200 and "Layout editor" in page.text
    assert client.get("/api/layout/info").json()["classes"] == [str(d) for d in range(10)]
    layout = {"objects": [{"label": "3", "box": [0.1, 0.1, 0.4, 0.4], "slot": 1}]}
    image = client.get("/api/layout", params={"layout": json.dumps(layout), "n": 2, "seed": 3})
    assert image.status_code == 200 and image.headers["content-type"] == "image/png"
    assert Image.open(__import__("io").BytesIO(image.content)).size[0] >= 2 * 16
    layout["objects"][0]["label"] = "cat"
    bad = client.get("/api/layout", params={"layout": json.dumps(layout)})
    assert bad.status_code == 400 and "unknown label 'cat'" in bad.json()["error"]


def test_layout_metrics_are_registered_and_read_real_canvases() -> None:
    from ganforge.data.layout_digits import load_layout_digits
    from ganforge.metrics import registry
    from ganforge.metrics.evaluate import compute_metrics  # noqa: F401 - registers every metric
    from ganforge.metrics.features import Features
    from ganforge.metrics.layout import LayoutInputs, box_iou

    data = load_layout_digits(32, 3, n=40)
    real = data.images.float() / 127.5 - 1
    feats = Features(np.zeros((40, 2)), None)
    x = registry.MetricInputs(feats, feats, None, None, None, 10, 0,
                              layout=LayoutInputs(real, data.layouts, list(data.class_names)))
    values, missing, _ = registry.compute(["obj_acc", "box_iou"], x)
    assert missing == {} and values["obj_acc"] == 1.0  # real canvases: the measures' ceiling
    assert values == {"obj_acc": 1.0, **box_iou(real, data.layouts)} and values["ink_in_boxes"] == 1.0
    # one object relabelled in every canvas: read as the wrong digit
    wrong = data.layouts.clone()
    wrong[:, 0, 0] = (wrong[:, 0, 0] + 1) % 10
    x.layout = LayoutInputs(real, wrong, list(data.class_names))
    objects = int((data.layouts[..., 0] >= 0).sum())
    assert registry.compute(["obj_acc"], x)[0]["obj_acc"] == pytest.approx((objects - 40) / objects, abs=1e-6)
    x.layout = None  # not a layout generator: missing with the reason
    _, missing, _ = registry.compute(["obj_acc", "box_iou"], x)
    assert set(missing) == {"obj_acc", "box_iou"} and "layout-to-image" in missing["obj_acc"]


def test_eval_and_sweep_draw_a_layout_run_for_its_data_layouts(runs: tuple[Path, Path], tmp_path: Path) -> None:
    from ganforge.data.layout_digits import load_layout_digits
    from ganforge.data.layouts import fit_layouts
    from ganforge.metrics.layout import object_accuracy

    run = runs[0]
    out = tmp_path / "eval.json"
    assert main(["eval", str(run), "--features", "digits", "--n", "12", "--out", str(out)]) == 0
    result = json.loads(out.read_text())
    assert {"obj_acc", "box_iou", "ink_in_boxes"} <= set(result["metrics"])
    assert {"fid", "kid"} <= set(result["metrics"]) | set(result["missing"])  # the usual FID/KID of canvases
    assert 0 <= result["metrics"]["obj_acc"] <= 1 and 0 <= result["metrics"]["box_iou"] <= 1
    assert "layouts of the" in result["protocol"]["subset"] and result["protocol"]["n_generated"] == 12
    # the same images as drawn by hand: the first 12 layouts, z from the eval seed
    g = api.load(run)
    layouts = fit_layouts(load_layout_digits(16, 3), g.config.model.max_objects).layouts[:12]
    z = g.draw_latents(12, None, torch.Generator().manual_seed(0))
    images = ((g.generate(z, layouts).clamp(-1, 1) + 1) * 127.5).round() / 127.5 - 1
    assert result["metrics"]["obj_acc"] == pytest.approx(object_accuracy(images, layouts, g.class_names))
    sweep_dir = tmp_path / "sweep"
    assert main(["sweep", str(run), "--features", "digits", "--n", "8", "--truncation", "0.5,none",
                 "--out", str(sweep_dir)]) == 0
    rows = json.loads((sweep_dir / "sweep.json").read_text())["rows"]
    assert [r["truncation"] for r in rows] == [0.5, "none"] and all("obj_acc" in r and "box_iou" in r for r in rows)
    assert (sweep_dir / "strip.png").is_file()
