"""`ganforge convert stylegan2-ada` on real network pickles made by the official code, on CPU.

For each preset the official stylegan2-ada-pytorch networks (G, D, G_ema, AugmentPipe) are
built with train.py's kwargs (as dnnlib.EasyDicts, as train.py passes them), given a random
w_avg, nonzero noise strengths and ADA p, and pickled exactly as training_loop.py writes a
snapshot (`pickle.dump` of dict(training_set_kwargs, G, D, G_ema, augment_pipe), each module a
deepcopy in eval mode on the CPU) into a temporary folder that is deleted afterwards. ganforge
converts the pickle (its safe unpickler: none of the embedded code runs) into an export, loads
the export, and its G is compared with the official G_ema for the same z and labels: noise_mode
const, psi 1 and 0.7 (and 0.7 with cutoff 4), float32 (official force_fp32=True).

    git clone https://github.com/NVlabs/stylegan2-ada-pytorch /tmp/stylegan2-ada-pytorch
    python benchmarks/stylegan2_pickle.py --official /tmp/stylegan2-ada-pytorch \
        --out benchmarks/results/stylegan2_pickle.json
"""

from __future__ import annotations

import argparse
import copy
import pickle
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

import ganforge
from _report import provenance, write_result
from ganforge import api
from stylegan2_parity import DEFAULTS, PRESETS, import_official, max_diff


def official_snapshot(root: Path, networks: Any, p: dict[str, Any]) -> tuple[dict[str, Any], torch.nn.Module]:
    """training_loop.py's snapshot dict for the preset's networks, and the official G_ema."""
    import dnnlib  # noqa: PLC0415 - the official package, on the path import_official set
    from training.augment import AugmentPipe  # noqa: PLC0415

    p = {**DEFAULTS, **p}
    base = int(p["fmaps"] * 32768)
    common = dict(c_dim=p["c_dim"], img_resolution=p["res"], img_channels=p["ch"])
    G = networks.Generator(z_dim=p["z"], w_dim=p["w"], **common,
                           mapping_kwargs=dnnlib.EasyDict(num_layers=p["map"]),
                           synthesis_kwargs=dnnlib.EasyDict(channel_base=base, channel_max=p["cmax"],
                                                            num_fp16_res=4, conv_clamp=256))
    D = networks.Discriminator(**common, architecture=p["arch"], channel_base=base, channel_max=p["cmax"],
                               num_fp16_res=4, conv_clamp=256, mapping_kwargs=dnnlib.EasyDict(num_layers=p["dmap"]),
                               epilogue_kwargs=dnnlib.EasyDict(mbstd_group_size=p["mbstd"]))
    with torch.no_grad():
        G.mapping.w_avg.copy_(torch.randn(G.w_dim) * 0.5)
        for module in G.modules():
            if hasattr(module, "noise_strength"):
                module.noise_strength.fill_(0.1)
    G_ema = copy.deepcopy(G).eval()
    augment_pipe = AugmentPipe(xflip=1, rotate90=1, xint=1, scale=1, rotate=1, aniso=1, xfrac=1,
                               brightness=1, contrast=1, lumaflip=1, hue=1, saturation=1)
    augment_pipe.p.copy_(torch.as_tensor(0.25))
    snapshot: dict[str, Any] = dict(training_set_kwargs=dict(dnnlib.EasyDict(
        class_name="training.dataset.ImageFolderDataset", path="datasets/x.zip", use_labels=bool(p["c_dim"]))))
    for name, module in [("G", G), ("D", D), ("G_ema", G_ema), ("augment_pipe", augment_pipe)]:
        snapshot[name] = copy.deepcopy(module).eval().requires_grad_(False).cpu()
    return snapshot, G_ema


@torch.no_grad()
def compare(root: Path, networks: Any, name: str, p: dict[str, Any], batch: int) -> dict[str, Any]:
    torch.manual_seed(0)
    snapshot, G_off = official_snapshot(root, networks, p)
    with tempfile.TemporaryDirectory() as tmp:
        pkl = Path(tmp) / "network-snapshot-000000.pkl"
        with pkl.open("wb") as f:
            pickle.dump(snapshot, f)
        size = pkl.stat().st_size
        start = time.perf_counter()
        result = api.convert("stylegan2-ada", pkl, Path(tmp) / "export")
        seconds = time.perf_counter() - start
        g = ganforge.load(Path(tmp) / "export")
    G = g.generator
    c_dim = p["c_dim"]
    z = torch.randn(batch, G_off.z_dim)
    y = torch.arange(batch) % max(c_dim, 1)
    c = torch.nn.functional.one_hot(y, c_dim).float() if c_dim else torch.zeros(batch, 0)
    diffs: dict[str, float] = {}
    for psi, cutoff in ((1.0, None), (0.7, None), (0.7, 4)):
        ref = G_off(z, c, truncation_psi=psi, truncation_cutoff=cutoff, noise_mode="const", force_fp32=True)
        out = G(z, y, psi=psi, cutoff=cutoff, noise_mode="const")
        diffs[f"G_psi{psi}_cutoff{cutoff}"] = max_diff(ref, out)
    # the Generator API: seed -> z, psi by the export's own convention
    images = g.sample(classes=[0] if c_dim else None, n=batch, truncation=0.7, seed=1)
    z_api = g.latents(batch, 0.7, seed=1)
    c_api = torch.nn.functional.one_hot(torch.zeros(batch, dtype=torch.long), c_dim).float() if c_dim else c
    ref_api = G_off(z_api, c_api, truncation_psi=0.7, noise_mode="const", force_fp32=True)
    diffs["sample_api_psi0.7"] = max_diff(ref_api, images)
    return {"preset": name, "pickle_bytes": size, "convert_seconds": round(seconds, 3),
            "params": result["params"], "official_G_params": sum(t.numel() for t in G_off.parameters()),
            "card_ada_p": g.card.get("ada_p"), "max_abs_diff": diffs,
            "G_output_max_abs": float(ref.abs().max())}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--official", type=Path, required=True, help="checkout of NVlabs/stylegan2-ada-pytorch")
    parser.add_argument("--presets", default="digits,cifar-cond,paper256")
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    networks = import_official(args.official)
    results = []
    for name in args.presets.split(","):
        print(f"[{name}] ...", file=sys.stderr, flush=True)
        results.append(compare(args.official, networks, name, PRESETS[name], args.batch))
    write_result({"benchmark": "stylegan2_pickle", "provenance": provenance(),
                  "max_abs_diff_overall": max(max(r["max_abs_diff"].values()) for r in results),
                  "results": results}, args.out)


if __name__ == "__main__":
    main()
