"""Layout-to-image measures: does a generated image show the layout it was drawn from?

- `object_accuracy`: each object's box is cropped from the image (brightest channel, rescaled to
  its maximum, stretched to 32x32: the representation of the digits demo, whose digits fill their
  boxes) and read by the shipped digits classifier; the fraction read as the box's label. Only for
  digit classes (names "0".."9"); on real data (`--data digit-layouts`) it gives the ceiling.
- `box_iou`: a simple detector per object: the ink (brightest channel > INK) in a window around
  the box (the box grown by half its size on each side, other objects' boxes removed), its
  tight bounding box, and that box's IoU with the layout's; no ink: IoU 0.
- `ink_in_boxes`: the fraction of all ink pixels that lie inside some box (0: everything drawn
  outside the layout, 1: nothing outside).

`ganforge eval`, `sweep` and the evaluation during training reach them as the registered metrics
`obj_acc` and `box_iou` (with ink_in_boxes), through `MetricInputs.layout` (`metrics.layout_pool`
draws the images for the data's layouts); FID/KID of a layout run are the usual ones.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ganforge.errors import GanforgeError
from ganforge.metrics.classifiers import load_classifier
from ganforge.metrics.registry import MetricInputs, Unavailable, register

INK = 0.3
CROP = 32
GROW = 0.5


def _brightness(images: torch.Tensor) -> torch.Tensor:
    return ((images.float().clamp(-1, 1) + 1) / 2).amax(1)


def _pixel_boxes(layout: torch.Tensor, side: int) -> list[tuple[int, int, int, int, int]]:
    """(label, x0, y0, x1, y1) in pixels (x1, y1 exclusive) of a layout's non-empty slots."""
    out = []
    for label, x, y, w, h in layout.tolist():
        if label < 0:
            continue
        x0, y0 = int(round(x * side)), int(round(y * side))
        x1, y1 = max(x0 + 1, int(round((x + w) * side))), max(y0 + 1, int(round((y + h) * side)))
        out.append((int(round(label)), x0, y0, min(x1, side), min(y1, side)))
    return out


def object_crops(images: torch.Tensor, layouts: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(crops (K, 1, 32, 32) in [-1, 1], labels (K,)) of every object of every image."""
    ink = _brightness(images)
    crops, labels = [], []
    for i in range(len(images)):
        for label, x0, y0, x1, y1 in _pixel_boxes(layouts[i], images.shape[-1]):
            crop = ink[i, y0:y1, x0:x1]
            crop = crop / crop.max().clamp_min(1e-6)
            crops.append(F.interpolate(crop[None, None], size=(CROP, CROP), mode="bilinear", align_corners=False)[0])
            labels.append(label)
    if not crops:
        return torch.zeros(0, 1, CROP, CROP), torch.zeros(0, dtype=torch.long)
    return torch.stack(crops) * 2 - 1, torch.tensor(labels)


@torch.no_grad()
def object_accuracy(images: torch.Tensor, layouts: torch.Tensor, class_names: list[str]) -> float:
    if class_names != [str(d) for d in range(10)]:
        raise GanforgeError("object accuracy reads digits with the shipped classifier: needs the classes 0..9 "
                            f"(digit-layouts), got {class_names[:4]}...")
    crops, labels = object_crops(images.cpu(), layouts.cpu())
    if len(crops) == 0:
        raise GanforgeError("object accuracy: the layouts have no objects")
    _, logits = load_classifier("digits")(crops)
    return float((logits.argmax(1).cpu() == labels).float().mean())


def box_iou(images: torch.Tensor, layouts: torch.Tensor) -> dict[str, float]:
    """{"box_iou": mean IoU of detected vs given boxes, "ink_in_boxes": ink share inside boxes}."""
    ink = _brightness(images.cpu()) > INK
    side = images.shape[-1]
    ious, inside, total = [], 0, 0
    for i in range(len(images)):
        boxes = _pixel_boxes(layouts[i].cpu(), side)
        covered = torch.zeros(side, side, dtype=torch.bool)
        for _, x0, y0, x1, y1 in boxes:
            covered[y0:y1, x0:x1] = True
        inside += int((ink[i] & covered).sum())
        total += int(ink[i].sum())
        for k, (_, x0, y0, x1, y1) in enumerate(boxes):
            gw, gh = (x1 - x0) * GROW, (y1 - y0) * GROW
            wx0, wy0 = max(0, int(x0 - gw)), max(0, int(y0 - gh))
            wx1, wy1 = min(side, int(x1 + gw + 0.5)), min(side, int(y1 + gh + 0.5))
            window = torch.zeros(side, side, dtype=torch.bool)
            window[wy0:wy1, wx0:wx1] = True
            for j, (_, a0, b0, a1, b1) in enumerate(boxes):
                if j != k:
                    window[b0:b1, a0:a1] = False
            mask = ink[i] & window
            rows, cols = mask.any(1).nonzero().flatten(), mask.any(0).nonzero().flatten()
            if len(rows) == 0:
                ious.append(0.0)
                continue
            dy0, dy1, dx0, dx1 = int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1
            iw = max(0, min(x1, dx1) - max(x0, dx0))
            ih = max(0, min(y1, dy1) - max(y0, dy0))
            inter = iw * ih
            union = (x1 - x0) * (y1 - y0) + (dx1 - dx0) * (dy1 - dy0) - inter
            ious.append(inter / union)
    if not ious:
        raise GanforgeError("box IoU: the layouts have no objects")
    return {"box_iou": sum(ious) / len(ious), "ink_in_boxes": inside / total if total else 0.0}


@dataclass
class LayoutInputs:
    """What the layout metrics see: the generated images (float [-1, 1], as quantised to uint8),
    the layouts (N, O, 5) they were drawn for, and the class names."""

    images: torch.Tensor
    layouts: torch.Tensor
    class_names: list[str]


def _layout(x: MetricInputs) -> LayoutInputs:
    if x.layout is None:
        raise Unavailable("needs a layout-to-image generator (recipe lostgan): images drawn for layouts of boxes")
    return x.layout


@register("obj_acc", keys=["obj_acc"], protocol={
    "obj_acc": "each object's box cropped (brightest channel, max-normalised, 32x32), read by the shipped "
               "digits classifier; fraction read as the box's label"})
def obj_acc(x: MetricInputs) -> dict[str, float]:
    t = _layout(x)
    try:
        return {"obj_acc": object_accuracy(t.images, t.layouts, t.class_names)}
    except GanforgeError as exc:
        raise Unavailable(str(exc)) from None


@register("box_iou", keys=["box_iou", "ink_in_boxes"], protocol={
    "box_iou": f"ink (brightest channel > {INK}) in each box grown by {GROW} per side, other boxes removed: "
               "IoU of its bounding box with the layout's; ink_in_boxes: share of ink inside any box"})
def box_iou_metric(x: MetricInputs) -> dict[str, float]:
    t = _layout(x)
    try:
        return box_iou(t.images, t.layouts)
    except GanforgeError as exc:
        raise Unavailable(str(exc)) from None
