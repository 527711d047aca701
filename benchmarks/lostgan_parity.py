"""LostGAN parity: ganforge's networks against the official code (WillSuen/LostGANs) from a local
checkout: parameter counts at the COCO settings (64 px and 128 px, 184 classes, 8 objects) and
outputs for equal weights (eval mode).

The official code needs CUDA and a compiled ROI-Align; in this script only, `Tensor.cuda` is a
no-op on a CPU machine, `model.roi_layers` is replaced by ganforge's own `roi_align`, and
`F.grid_sample` defaults to align_corners=True (torch 1.0's behaviour, which the reference ran on).
Its 128 px discriminator indexes with `1 - bool_tensor` (an error since torch 1.2), which is
replaced by `~` for the run. Nothing from the checkout is copied into ganforge.

    python benchmarks/lostgan_parity.py --official /tmp/LostGANs --out lostgan_parity.json
"""

from __future__ import annotations

import argparse
import functools
import json
import sys
import types
from pathlib import Path

import torch
import torch.nn.functional as F

from ganforge.models.lostgan import LostGANDiscriminator, LostGANGenerator, LostGANModelConfig
from ganforge.nn.roi_align import ROIAlign


def import_official(root: Path) -> dict:
    if not torch.cuda.is_available():
        torch.Tensor.cuda = lambda self, device=None, **kw: self.to(device) if device is not None else self
    roi = types.ModuleType("model.roi_layers")
    roi.ROIAlign, roi.ROIPool = ROIAlign, None
    sys.modules["model.roi_layers"] = roi
    util = types.ModuleType("utils.util")  # imports torchvision for a VGG loss the networks never use
    sys.modules["utils.util"] = util
    F.grid_sample = functools.partial(F.grid_sample, align_corners=True)
    sys.path.insert(0, str(root))
    import importlib

    gen = importlib.import_module("model.resnet_generator_v1")
    dis = importlib.import_module("model.rcnn_discriminator")
    source = (root / "model" / "rcnn_discriminator.py").read_text()
    fixed = source.replace("bbox[1-s_idx]", "bbox[~s_idx]").replace("y[1-s_idx]", "y[~s_idx]")
    code = compile(fixed, str(root / "model" / "rcnn_discriminator.py"), "exec")
    exec(code, dis.__dict__)  # noqa: S102 - the official module with the bool-index fix, for this benchmark
    return {"G64": gen.ResnetGenerator64, "G128": gen.ResnetGenerator128,
            "D64": dis.CombineDiscriminator64, "D128": dis.CombineDiscriminator128}


WARMUP = 15


def count(m: torch.nn.Module) -> int:
    return sum(p.numel() for p in m.parameters())


def ours_config(resolution: int) -> LostGANModelConfig:
    return LostGANModelConfig(resolution=resolution, n_classes=184, img_channels=3,
                              embed_dim=128 if resolution == 64 else 180, max_objects=8)


def official_keys(state: dict) -> dict:
    """The official state dict with old-style spectral-norm names turned into torch's parametrization."""
    out = {}
    for k, v in state.items():
        if k.endswith("weight_orig"):
            out[k[: -len("weight_orig")] + "parametrizations.weight.original"] = v
        elif k.endswith("weight_u"):
            out[k[: -len("weight_u")] + "parametrizations.weight.0._u"] = v
        elif k.endswith("weight_v"):
            out[k[: -len("weight_v")] + "parametrizations.weight.0._v"] = v
        else:
            out[k] = v
    return out


def rename_g(key: str, n_blocks: int, first: int) -> str:
    for i in range(n_blocks):
        key = key.replace(f"res{first + i}.", f"blocks.{i}.")
    return key.replace(".batch_norm2d.", ".bn.")


def rename_d(key: str, large: bool) -> str:
    key = key.replace("obD.", "")
    for i in range(1, 7):
        key = key.replace(f"block{i}.", f"blocks.{i - 1}.")
    key = key.replace("l7.", "l_im.")
    return key


def load_into(ours: torch.nn.Module, theirs: torch.nn.Module, rename) -> list[str]:
    mapped = {rename(k): v for k, v in official_keys(theirs.state_dict()).items()}
    own = ours.state_dict()
    missing = sorted(set(own) - set(mapped))
    extra = sorted(set(mapped) - set(own))
    ours.load_state_dict({k: v for k, v in mapped.items() if k in own}, strict=False)
    return missing + [f"unused {e}" for e in extra]


def layouts(b: int, o: int, n_classes: int, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    wh = torch.rand(b, o, 2, generator=gen) * 0.5 + 0.2
    xy = torch.rand(b, o, 2, generator=gen) * (1 - wh)
    labels = torch.randint(1, n_classes, (b, o), generator=gen)
    return labels, torch.cat([xy, wh], 2)


@torch.no_grad()
def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--official", type=Path, default=Path("/tmp/LostGANs"))
    parser.add_argument("--out", type=Path, default=Path("lostgan_parity.json"))
    args = parser.parse_args()
    off = import_official(args.official)
    gen = torch.Generator().manual_seed(0)
    result = {}
    for res in (64, 128):
        torch.manual_seed(0)
        cfg = ours_config(res)
        g_off = off[f"G{res}"](num_classes=184, output_dim=3)
        d_off = off[f"D{res}"](num_classes=184)
        g, d = LostGANGenerator(cfg), LostGANDiscriminator(cfg)
        row = {"G": {"official": count(g_off), "ganforge": count(g)},
               "D": {"official": count(d_off), "ganforge": count(d)}}
        b, o = 4, 8
        g_off.train()
        d_off.train()
        for _ in range(WARMUP):  # power iterations and BN statistics, so eval-mode outputs are not saturated
            labels, boxes = layouts(b, o, 184, gen)
            fake = g_off(torch.randn(b, o, 128, generator=gen), boxes.clone(),
                         z_im=torch.randn(b, 128, generator=gen), y=labels)
            d_off(fake, boxes.clone(), labels)
        n_blocks = len(g.blocks)
        problems = load_into(g, g_off, functools.partial(rename_g, n_blocks=n_blocks, first=2 if res == 64 else 1))
        problems += load_into(d, d_off, functools.partial(rename_d, large=res >= 128))
        row["unmapped_keys"] = problems
        for m in (g, d, g_off, d_off):
            m.eval()
        labels, boxes = layouts(b, o, 184, gen)
        z_obj = torch.randn(b, o, 128, generator=gen)
        z_im = torch.randn(b, 128, generator=gen)
        x_off = g_off(z_obj, boxes.clone(), z_im=z_im, y=labels)
        y = torch.cat([labels[..., None].float(), boxes], 2)
        x = g(torch.cat([z_im, z_obj.flatten(1)], 1), y)
        row["G_max_abs_diff"] = float((x - x_off).abs().max())
        img_off, obj_off = d_off(x_off, boxes.clone(), labels)
        img, heads = d(x_off, y, heads=True)
        row["D_image_max_abs_diff"] = float((img - img_off.flatten()).abs().max())
        if res >= 128:  # the official orders objects large-first, then small
            rois = heads["objects"]
            w = boxes[..., 2].flatten() * res
            h = boxes[..., 3].flatten() * res
            small = (w < 64) & (h < 64)
            rois = torch.cat([rois[~small], rois[small]])
        else:
            rois = heads["objects"]
        row["D_object_max_abs_diff"] = float((rois - obj_off.flatten()).abs().max())
        row["output_scale"] = {"G_mean_abs": float(x_off.abs().mean()), "D_image": float(img_off.abs().max()),
                               "D_object": float(obj_off.abs().max())}
        result[f"{res}px"] = row
        print(res, json.dumps(row))
    args.out.write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
