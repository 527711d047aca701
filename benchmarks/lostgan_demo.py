"""LostGAN demo measurements on a trained `digit-layouts` run: layout metrics of G_ema against
the real canvases' ceiling, the layout edit test (move / add / remove / relabel a box with the
same seed) as a figure, and the training speed from the run's log.

    python benchmarks/lostgan_demo.py RUN --out benchmarks/results/lostgan_demo.json \
        --figure docs/images/lostgan_layout_edits.png
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch
import torch.nn.functional as F

from ganforge import api
from ganforge.data.layout_digits import load_layout_digits
from ganforge.data.layouts import parse_layouts
from ganforge.generator import Generator
from ganforge.metrics.layout import box_iou, object_accuracy
from ganforge.sampling import make_grid, save_image
from ganforge.training.run_dir import read_metrics

BASE = [{"label": "3", "box": [0.06, 0.08, 0.4, 0.42]}, {"label": "7", "box": [0.55, 0.5, 0.38, 0.42]}]
EDITS = {
    "base": BASE,
    "move 3": [{"label": "3", "box": [0.5, 0.04, 0.4, 0.42]}, BASE[1]],
    "relabel 3 -> 5": [{"label": "5", "box": BASE[0]["box"]}, BASE[1]],
    "add 0": [*BASE, {"label": "0", "box": [0.08, 0.55, 0.36, 0.4]}],
    "remove 7": [BASE[0]],
}


def crop(image: torch.Tensor, box: list[float], size: int = 16) -> torch.Tensor:
    side = image.shape[-1]
    x0, y0 = int(round(box[0] * side)), int(round(box[1] * side))
    x1, y1 = int(round((box[0] + box[2]) * side)), int(round((box[1] + box[3]) * side))
    return F.interpolate(image[None, :, y0:y1, x0:x1], size=(size, size), mode="bilinear", align_corners=False)[0]


@torch.no_grad()
def label_vs_style(g: Generator, slots: int, seeds: int = 8) -> dict[str, float]:
    """How much the label moves G's pixels against the object style code: one object in a fixed
    box; the spread (mean absolute deviation from the mean, inside the box) over the 10 labels
    with z fixed, and over 10 z with the label fixed, averaged over `seeds` draws. A label that
    does not reach G's modulation leaves the first near 0 (the diagnosis in BENCHMARKS.md)."""
    box = [0.25, 0.25, 0.45, 0.45]
    layouts = torch.full((10, slots, 5), -1.0)
    layouts[:, :, 1:] = 0
    layouts[:, 0, 0] = torch.arange(10).float()
    layouts[:, 0, 1:] = torch.tensor(box)
    inside = (slice(None), slice(None), slice(8, 22), slice(8, 22))
    over_labels, over_z = [], []
    for seed in range(seeds):
        z = g.latents(10, None, 100 + seed)
        by_label = g.generate(z[:1].expand(10, -1), layouts)[inside]
        by_z = g.generate(z, layouts[seed % 10 : seed % 10 + 1].expand(10, -1, -1))[inside]
        over_labels.append((by_label - by_label.mean(0)).abs().mean())
        over_z.append((by_z - by_z.mean(0)).abs().mean())
    return {"spread_over_labels": float(torch.stack(over_labels).mean()),
            "spread_over_styles": float(torch.stack(over_z).mean())}


@torch.no_grad()
def d_object_labels(run: Path, checkpoint: Path | None, n: int = 300) -> dict[str, float]:
    """Does D's object path know the digits? On the first n real canvases: how often the object
    logit with the true label is the largest of the ten labels' (chance 0.1) and beats one random
    wrong label (chance 0.5). G can only learn identity from D's projection of the label."""
    from ganforge.models.lostgan import LostGANDiscriminator, LostGANModelConfig
    from ganforge.training.methods.lostgan import wrong_labels

    path = checkpoint or sorted((run / "checkpoints").glob("step_*.pt"))[-1]
    state = torch.load(path, map_location="cpu", weights_only=False)
    fields = LostGANModelConfig.__dataclass_fields__
    cfg = LostGANModelConfig(**{k: v for k, v in state["config"]["model"].items() if k in fields})
    cfg.n_classes = 10
    d = LostGANDiscriminator(cfg)
    d.load_state_dict(state["D"])
    d.eval()
    data = load_layout_digits(cfg.resolution, cfg.img_channels)
    x, layouts = data.images[:n].float() / 127.5 - 1, data.layouts[:n]
    per_label = []
    for c in range(10):
        lay = layouts.clone()
        lay[..., 0] = torch.where(lay[..., 0] >= 0, torch.full_like(lay[..., 0], c), lay[..., 0])
        per_label.append(d(x, lay, heads=True)[1]["objects"])
    logits = torch.stack(per_label, 1)
    true = d(x, layouts, heads=True)[1]
    torch.manual_seed(0)
    wrong = d(x, wrong_labels(layouts, 10), heads=True)[1]["objects"]
    return {"checkpoint": str(path), "argmax_is_label": float((logits.argmax(1) == true["object_labels"]).float().mean()),
            "true_beats_random_wrong": float((true["objects"] > wrong).float().mean())}


@torch.no_grad()
def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("run", type=Path)
    parser.add_argument("--out", type=Path, default=Path("lostgan_demo.json"))
    parser.add_argument("--figure", type=Path, default=Path("lostgan_layout_edits.png"))
    parser.add_argument("--n", type=int, default=1000, help="layouts for the metrics")
    parser.add_argument("--columns", type=int, default=6)
    parser.add_argument("--checkpoint", type=Path, default=None, help="a checkpoint of RUN (default: the newest)")
    parser.add_argument("--no-ema", action="store_true", help="G as trained instead of G_ema")
    args = parser.parse_args()
    torch.set_num_threads(1)
    g = api.load(args.run, checkpoint=args.checkpoint, ema=not args.no_ema)
    cfg = g.config
    data = load_layout_digits(cfg.model.resolution, cfg.model.img_channels)
    slots = cfg.model.max_objects
    layouts = data.layouts[: args.n]
    if layouts.shape[1] < slots:
        pad = torch.zeros(len(layouts), slots - layouts.shape[1], 5)
        pad[..., 0] = -1
        layouts = torch.cat([layouts, pad], 1)
    z = g.latents(len(layouts), None, 1)
    fake = g.generate(z, layouts)
    real = data.images[: args.n].float() / 127.5 - 1
    result = {
        "run": str(args.run), "checkpoint": str(args.checkpoint or "newest"), "weights": "G" if args.no_ema else "G_ema", "trained_steps": g.card.get("steps") if g.card else None,
        "layouts": len(layouts), "seed": 1,
        "generated": {"obj_acc": object_accuracy(fake, layouts, data.class_names), **box_iou(fake, layouts)},
        "real_ceiling": {"obj_acc": object_accuracy(real, layouts, data.class_names), **box_iou(real, layouts)},
    }
    result["label_vs_style"] = label_vs_style(g, slots)
    result["d_object_labels"] = d_object_labels(args.run, args.checkpoint)
    # the edit test: the same seed (so each slot's style code) for every edited layout
    names = list(EDITS)
    grid_layouts = parse_layouts([{"objects": EDITS[k]} for k in names], g.class_names, slots, "edits")
    images = g.sample_layout(grid_layouts, args.columns, None, 0)
    save_image(make_grid(images, args.columns), args.figure)
    per_row = images.view(len(names), args.columns, *images.shape[1:])
    edits = {}
    for i, name in enumerate(names):
        row_layout = grid_layouts[i : i + 1].expand(args.columns, -1, -1)
        entry = {"obj_acc": object_accuracy(per_row[i], row_layout, g.class_names), **box_iou(per_row[i], row_layout)}
        # style kept: the unchanged slot-1 digit (the 7) looks the same as in the base row
        if name != "remove 7":
            kept = [(crop(per_row[i][c], BASE[1]["box"]) - crop(per_row[0][c], BASE[1]["box"])).abs().mean()
                    for c in range(args.columns)]
            entry["unchanged_7_mean_abs_diff"] = float(torch.stack(kept).mean())
        edits[name] = entry
    other = [(crop(per_row[0][c], BASE[1]["box"]) - crop(per_row[0][(c + 1) % args.columns], BASE[1]["box"])).abs().mean()
             for c in range(args.columns)]
    edits["between_seeds_7_mean_abs_diff"] = float(torch.stack(other).mean())
    result["edits"] = {"rows": names, "columns": args.columns, "figure": str(args.figure), "per_row": edits}
    rows = [r for r in read_metrics(args.run) if r["kind"] == "train" and r.get("images_per_s")]
    result["train_images_per_s"] = sum(r["images_per_s"] for r in rows) / max(len(rows), 1)
    result["eval_log"] = [r for r in read_metrics(args.run) if r["kind"] == "eval"]
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps({k: v for k, v in result.items() if k != "eval_log"}, indent=1))


if __name__ == "__main__":
    main()
