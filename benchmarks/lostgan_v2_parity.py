"""LostGAN v2 parity: ganforge's `lostgan-v2` generator against the official
model/resnet_generator_v2.py (WillSuen/LostGANs) from a local checkout: parameter counts at the
COCO settings (184 classes, 8 objects) and outputs for equal weights (eval mode), with one empty
(padding) slot per layout, at the official v2 code's two sizes: 128 px (its train.py's, with
CombineDiscriminator128, v1's D) and 256 px (ResnetGenerator256, CombineDiscriminator256).

The official code is run with the patches of benchmarks/lostgan_parity.py (no-op `.cuda()` on a
CPU machine, ganforge's ROI-Align for its compiled one, grid_sample with align_corners=True as in
the torch 1.0 it ran on, `~` for its 128 px D's `1 - bool` index). Nothing is copied into ganforge.

    python benchmarks/lostgan_v2_parity.py --official /tmp/LostGANs --out lostgan_v2_parity.json
"""

from __future__ import annotations

import argparse
import functools
import importlib
import json
from pathlib import Path

import torch

from ganforge.models.lostgan import EMPTY_BOX
from ganforge.models.lostgan_v2 import (
    LostGANV2Discriminator,
    LostGANV2Generator,
    LostGANV2ModelConfig,
)
from lostgan_parity import count, import_official, load_into, official_keys, rename_d, rename_g

WARMUP = 4  # train-mode steps (power iterations, BN statistics) so eval outputs are not degenerate


def rename_g2(key: str, n_blocks: int) -> str:
    key = rename_g(key, n_blocks, 1)
    for i in range(n_blocks):
        key = key.replace(f"blocks.{i}.conv_mask.", f"mask_heads.{i}.")
    return key


def load_g(g: LostGANV2Generator, g_off: torch.nn.Module) -> list[str]:
    """Official weights into ours; the per-stage gates alpha1..K (1, classes, 1) become rows of `alpha`."""
    problems = load_into(g, g_off, functools.partial(rename_g2, n_blocks=len(g.blocks)))
    state = official_keys(g_off.state_dict())
    alphas = [state[f"alpha{k + 1}"].flatten() for k in range(g.alpha.shape[0])]
    with torch.no_grad():
        g.alpha.copy_(torch.stack(alphas))
    return [p for p in problems if p != "alpha" and not p.startswith("unused alpha")]


def layouts(b: int, o: int, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(official labels with 0 for padding, official boxes, ganforge layout with -1 for padding):
    random boxes and classes, the last slot of each layout empty (the official loader's padding)."""
    wh = torch.rand(b, o, 2, generator=gen) * 0.5 + 0.2
    xy = torch.rand(b, o, 2, generator=gen) * (1 - wh)
    boxes = torch.cat([xy, wh], 2)
    labels = torch.randint(1, 184, (b, o), generator=gen)
    labels[:, -1] = 0
    boxes[:, -1] = torch.tensor(EMPTY_BOX)
    ours = labels.float().masked_fill(labels == 0, -1)
    return labels, boxes, torch.cat([ours[..., None], boxes], 2)


def rename_d2(key: str, res: int) -> str:
    key = rename_d(key, large=True)
    return key.replace("block7.", "blocks.6.").replace("l8.", "l_im.") if res == 256 else key


@torch.no_grad()
def compare(res: int, official: dict, gen: torch.Generator) -> dict:
    torch.manual_seed(0)
    b, o = 4, 8
    cfg = LostGANV2ModelConfig(resolution=res, n_classes=184, img_channels=3, max_objects=o)
    g_off = official[f"G{res}"](num_classes=184, output_dim=3)
    d_off = official[f"D{res}"](num_classes=184)
    g, d = LostGANV2Generator(cfg), LostGANV2Discriminator(cfg)
    row: dict = {"G": {"official": count(g_off), "ganforge": count(g)},
                 "D": {"official": count(d_off), "ganforge": count(d)}}
    g_off.train()
    d_off.train()
    for _ in range(WARMUP):
        labels, boxes, _ = layouts(b, o, gen)
        fake = g_off(torch.randn(b, o, 128, generator=gen), boxes.clone(), z_im=torch.randn(b, 128, generator=gen),
                     y=labels)
        d_off(fake, boxes.clone(), labels)
    row["unmapped_keys"] = load_g(g, g_off) + load_into(d, d_off, functools.partial(rename_d2, res=res))
    for m in (g, d, g_off, d_off):
        m.eval()
    labels, boxes, y = layouts(b, o, gen)
    z_obj = torch.randn(b, o, 128, generator=gen)
    z_im = torch.randn(b, 128, generator=gen)
    x_off = g_off(z_obj, boxes.clone(), z_im=z_im, y=labels)
    x = g(torch.cat([z_im, z_obj.flatten(1)], 1), y)
    row["G_max_abs_diff"] = float((x - x_off).abs().max())
    # the learned masks matter: a 1e-3 nudge of the last mask head's class logits moves the image
    head = g.mask_heads[-1][-1]
    head.bias.add_(1e-3)
    row["G_diff_after_mask_head_nudge"] = float((g(torch.cat([z_im, z_obj.flatten(1)], 1), y) - x_off).abs().max())
    head.bias.sub_(1e-3)
    img_off, obj_off = d_off(x_off, boxes.clone(), labels)
    img, heads = d(x_off, y, heads=True)
    row["D_image_max_abs_diff"] = float((img - img_off.flatten()).abs().max())
    valid = labels.flatten() != 0  # the official orders objects large-first, then small
    w, h = boxes[..., 2].flatten()[valid] * res, boxes[..., 3].flatten()[valid] * res
    small = (w < res // 2) & (h < res // 2)
    objects = torch.cat([heads["objects"][~small], heads["objects"][small]])
    row["D_object_max_abs_diff"] = float((objects - obj_off.flatten()).abs().max())
    gates = torch.sigmoid(g.alpha)
    row["output_scale"] = {"G_mean_abs": float(x_off.abs().mean()), "D_image": float(img_off.abs().max()),
                           "D_object": float(obj_off.abs().max()),
                           "learned_mask_gate_range": [float(gates.min()), float(gates.max())]}
    print(res, json.dumps(row), flush=True)
    return row


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--official", type=Path, default=Path("/tmp/LostGANs"))
    parser.add_argument("--out", type=Path, default=Path("lostgan_v2_parity.json"))
    parser.add_argument("--resolutions", default="128,256")
    args = parser.parse_args()
    import_official(args.official)
    gen2 = importlib.import_module("model.resnet_generator_v2")
    dis = importlib.import_module("model.rcnn_discriminator")  # as import_official patched it
    official = {"G128": gen2.ResnetGenerator128, "G256": gen2.ResnetGenerator256,
                "D128": dis.CombineDiscriminator128, "D256": dis.CombineDiscriminator256}
    gen = torch.Generator().manual_seed(0)
    result = {f"{r}px": compare(int(r), official, gen) for r in args.resolutions.split(",")}
    with torch.device("meta"):  # ganforge's v2 at 64 px (no official v2 64 px network to compare with)
        c64 = LostGANV2ModelConfig(resolution=64, n_classes=184, embed_dim=128, max_objects=8)
        result["ganforge_only_64px"] = {"G": count(LostGANV2Generator(c64)), "D": count(LostGANV2Discriminator(c64))}
    args.out.write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
