"""InstaGAN's evaluation on instance data (`metrics.translation.Evaluator` calls it).

Per direction d, the test images of the source domain are translated with all their masks
(sequentially, `ins_per` at a time), then:
- `context_l1_d`: the mean |output - input| (in [-1, 1] units, as the L1 metrics) over the
  pixels outside every source mask and every translated mask (a mask covers a pixel where it is
  above 0, i.e. more than half on): how much of the background changed; 0 is perfect;
- `fid_d`, `kid_d` of the translated images against the target domain's real test images;
- `instance_accuracy_d` (the digit demo): each source instance's box (the square around its
  mask, 1/8 margin) cut from the translation, resized to 32 px and read by the shipped digits
  classifier; the share read as the target domain's digit.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from ganforge.metrics.features import extract, get_extractor

CROP_SIDE = 32
MARGIN = 0.125


def outside(source_masks: torch.Tensor, output_masks: torch.Tensor | None) -> torch.Tensor:
    """(N, 1, H, W) bool: pixels no mask covers (masks in [-1, 1], covered above 0)."""
    covered = (source_masks > 0).any(1, keepdim=True)
    if output_masks is not None and output_masks.shape[1]:
        covered |= (output_masks > 0).any(1, keepdim=True)
    return ~covered


def context_change(inputs: torch.Tensor, outputs: torch.Tensor, keep: torch.Tensor) -> float:
    """Mean over images of the mean |output - input| on the `keep` pixels (all channels)."""
    diff = (outputs.double() - inputs.double()).abs() * keep
    pixels = keep.flatten(1).sum(1).double() * inputs.shape[1]
    per_image = diff.flatten(1).sum(1) / pixels.clamp_min(1)
    return float(per_image[pixels > 0].mean()) if bool((pixels > 0).any()) else float("nan")


def instance_crops(images: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
    """(M, C, 32, 32): for each present mask (row-major over images and slots) the square
    around it with a margin, cut from its image (zero-padded at the border), resized."""
    crops = []
    side = images.shape[-1]
    for i, k in (masks.flatten(2) > 0).any(-1).nonzero().tolist():
        ys, xs = (masks[i, k] > 0).nonzero(as_tuple=True)
        top, bottom, left, right = int(ys.min()), int(ys.max()) + 1, int(xs.min()), int(xs.max()) + 1
        extent = max(bottom - top, right - left)
        half = extent * (0.5 + MARGIN)
        cy, cx = (top + bottom) / 2, (left + right) / 2
        y0, x0, s = round(cy - half), round(cx - half), max(1, round(2 * half))
        pad = max(0, -y0, -x0, y0 + s - side, x0 + s - side)
        padded = F.pad(images[i : i + 1].float(), (pad,) * 4, value=-1.0)
        crop = padded[:, :, y0 + pad : y0 + pad + s, x0 + pad : x0 + pad + s]
        crops.append(F.interpolate(crop, size=(CROP_SIDE, CROP_SIDE), mode="bilinear",
                                   antialias=True, align_corners=False))
    if not crops:
        return images.new_zeros((0, images.shape[1], CROP_SIDE, CROP_SIDE)).float()
    return torch.cat(crops)


def class_share(crops: torch.Tensor, digit: int, judge: torch.nn.Module | None = None) -> float:
    """Share of the crops the shipped digits classifier reads as `digit`."""
    if not len(crops):
        return float("nan")
    judge = judge or get_extractor("digits")
    logits = extract(judge, crops.split(256)).logits
    return float(np.mean(logits.argmax(1) == digit))


def instance_metrics(evaluator: Any, translate: Callable[[str, torch.Tensor], torch.Tensor],
                     record: dict[str, Any]) -> dict[str, Any]:
    """Fill `record` for both directions; `translate(direction, packed uint8)` returns packed
    [-1, 1] outputs (image, then the translated masks; no mask channels for an image-only
    translator such as CycleGAN)."""
    data = evaluator.data
    c = data.test_a.shape[1] - data.instances
    for direction, source, target in (("AtoB", "A", "B"), ("BtoA", "B", "A")):
        images, masks = evaluator.test[source], evaluator.test_masks[source]
        out = translate(direction, torch.cat([images, masks], 1))
        out_img, out_masks = out[:, :c], out[:, c:]
        src = masks.float() / 127.5 - 1
        keep = outside(src, out_masks)
        record[f"context_l1_{direction}"] = context_change(images.float() / 127.5 - 1, out_img, keep)
        evaluator._fid_kid(out_img, target, direction, record)
        if data.instance_classes is not None:
            digit = data.instance_classes[0 if target == "A" else 1]
            judge = evaluator.extractor if evaluator.extractor_name == "digits" else None
            record[f"instance_accuracy_{direction}"] = class_share(instance_crops(out_img, src), digit, judge)
    record["eval_n"] = int(len(evaluator.test["A"]))
    return record
