"""ganforge's StyleGAN2 against NVlabs/stylegan2-ada-pytorch with the same weights, on CPU.

For each preset (train.py --cfg cifar, cifar conditional, paper256, stylegan2 at 1024) both
networks are built, the official G and D with train.py's kwargs (its reference, non-CUDA ops
run on CPU) and ours from the `stylegan2-*` recipe. Parameter counts are compared (G, G.mapping,
G.synthesis, D), then every official parameter and buffer is copied into ours by a strict key
mapping: the keys are the same except the official FIR filter buffers (`*.resample_filter`),
which ganforge keeps as constants and which are checked equal to ours instead. Every key and
every shape must match. Outputs are compared for G (noise_mode const, psi 1 and 0.7 with a
random w_avg, fused (eval) and unfused modulated convolutions) and for D; both run in float32
(the official fp16 blocks are forced to fp32).

The official code is not part of ganforge: fetch it yourself and pass its directory.

    git clone https://github.com/NVlabs/stylegan2-ada-pytorch /tmp/stylegan2-ada-pytorch
    python benchmarks/stylegan2_parity.py --official /tmp/stylegan2-ada-pytorch \
        --out benchmarks/results/stylegan2_parity.json
"""

from __future__ import annotations

import argparse
import sys
import time
import types
from pathlib import Path
from typing import Any

import torch

from _report import provenance, write_result
from ganforge.api import make_config
from ganforge.models import build_models, count_parameters
from ganforge.models.stylegan.resample import fir_filter

# train.py's cfg_specs, the fields that shape the networks
PRESETS: dict[str, dict[str, Any]] = {
    "cifar": dict(recipe="stylegan2-cifar", res=32, c_dim=0, fmaps=1.0, map=2, arch="orig", mbstd=32),
    "cifar-cond": dict(recipe="stylegan2-cifar", res=32, c_dim=10, fmaps=1.0, map=2, arch="orig", mbstd=32),
    "paper256": dict(recipe="stylegan2-256", res=256, c_dim=0, fmaps=0.5, map=8, arch="resnet", mbstd=8),
    "stylegan2": dict(recipe="stylegan2-1024", res=1024, c_dim=0, fmaps=1.0, map=8, arch="resnet", mbstd=4),
}


def import_official(root: Path) -> Any:
    """The official `training.networks`; `requests` and `psutil` (imported by dnnlib and
    torch_utils at module level, unused here) are stubbed when absent."""
    for name in ("requests", "psutil"):
        if name not in sys.modules:
            try:
                __import__(name)
            except ImportError:
                sys.modules[name] = types.ModuleType(name)
    sys.path.insert(0, str(root))
    import training.networks as networks  # noqa: PLC0415 - the official module, from the path given

    return networks


def official_networks(networks: Any, p: dict[str, Any]) -> tuple[torch.nn.Module, torch.nn.Module]:
    """G and D with the kwargs train.py's setup_training_loop_kwargs gives for the preset."""
    base = int(p["fmaps"] * 32768)
    common = dict(c_dim=p["c_dim"], img_resolution=p["res"], img_channels=3)
    G = networks.Generator(z_dim=512, w_dim=512, **common,
                           mapping_kwargs=dict(num_layers=p["map"]),
                           synthesis_kwargs=dict(channel_base=base, channel_max=512, num_fp16_res=4,
                                                 conv_clamp=256))
    D = networks.Discriminator(**common, architecture=p["arch"], channel_base=base, channel_max=512,
                               num_fp16_res=4, conv_clamp=256,
                               epilogue_kwargs=dict(mbstd_group_size=p["mbstd"]))
    return G, D


def ours(p: dict[str, Any]) -> tuple[torch.nn.Module, torch.nn.Module]:
    overrides = [f"model.conditional={'true' if p['c_dim'] else 'false'}", f"model.n_classes={max(p['c_dim'], 1)}"]
    config = make_config(p["recipe"], overrides)
    return build_models(config.model)


def copy_strict(source: torch.nn.Module, target: torch.nn.Module) -> dict[str, int]:
    """Copies source's state into target key by key; every target key filled once, every
    source key used (FIR filter buffers: checked equal to ours). Raises on any mismatch."""
    theirs, mine = source.state_dict(), target.state_dict()
    fir, filled, filters = fir_filter(), set(), 0
    for key, value in theirs.items():
        if key.endswith("resample_filter"):
            if not torch.equal(value, fir):
                raise SystemExit(f"{key}: official filter differs from ganforge's [1,3,3,1] filter")
            filters += 1
            continue
        if key not in mine:
            raise SystemExit(f"official key {key} has no counterpart in ganforge")
        if mine[key].shape != value.shape:
            raise SystemExit(f"{key}: shape {tuple(value.shape)} (official) vs {tuple(mine[key].shape)}")
        mine[key].copy_(value)
        filled.add(key)
    missing = set(mine) - filled
    if missing:
        raise SystemExit(f"ganforge keys not filled from the official state: {sorted(missing)[:5]}")
    return {"tensors_copied": len(filled), "filter_buffers_checked": filters}


def max_diff(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a.double() - b.double()).abs().max())


@torch.no_grad()
def compare(networks: Any, name: str, p: dict[str, Any], batch: int) -> dict[str, Any]:
    torch.manual_seed(0)
    G_off, D_off = official_networks(networks, p)
    G, D = ours(p)
    counts = {
        "official": {"G": count_parameters(G_off), "G.mapping": count_parameters(G_off.mapping),
                     "G.synthesis": count_parameters(G_off.synthesis), "D": count_parameters(D_off)},
        "ganforge": {"G": count_parameters(G), "G.mapping": count_parameters(G.mapping),
                     "G.synthesis": count_parameters(G.synthesis), "D": count_parameters(D)},
    }
    counts["equal"] = counts["official"] == counts["ganforge"]
    # a random w_avg and nonzero noise strengths, so that psi and the const noise matter
    G_off.mapping.w_avg.copy_(torch.randn(512) * 0.5)
    for module in G_off.modules():
        if hasattr(module, "noise_strength"):
            module.noise_strength.fill_(0.1)
    mapping = {"G": copy_strict(G_off, G), "D": copy_strict(D_off, D)}
    G_off.eval(), D_off.eval(), G.eval(), D.eval()
    z = torch.randn(batch, 512)
    c = torch.nn.functional.one_hot(torch.arange(batch) % max(p["c_dim"], 1), max(p["c_dim"], 1)).float()
    y = torch.arange(batch) % max(p["c_dim"], 1)
    c_off = c if p["c_dim"] else torch.zeros(batch, 0)
    diffs: dict[str, float] = {}
    for psi in (1.0, 0.7):
        start = time.perf_counter()
        ref = G_off(z, c_off, truncation_psi=psi, noise_mode="const", force_fp32=True)
        t_off = time.perf_counter() - start
        start = time.perf_counter()
        out = G(z, y, psi=psi, noise_mode="const")
        t_ours = time.perf_counter() - start
        diffs[f"G_psi{psi}_fused"] = max_diff(ref, out)
        diffs[f"G_psi{psi}_seconds"] = {"official": round(t_off, 3), "ganforge": round(t_ours, 3)}
    ref_unfused = G_off(z, c_off, truncation_psi=1.0, noise_mode="const", force_fp32=True, fused_modconv=False)
    G.modconv = "unfused"
    diffs["G_psi1.0_unfused"] = max_diff(ref_unfused, G(z, y, psi=1.0, noise_mode="const"))
    G.modconv = "auto"
    images = ref.clamp(-1, 1)
    diffs["D"] = max_diff(D_off(images, c_off, force_fp32=True).flatten(), D(images, y))
    image_scale = float(ref.abs().max())
    return {"preset": name, "recipe": p["recipe"], "batch": batch, "parameters": counts,
            "key_mapping": mapping, "max_abs_diff": diffs, "G_output_max_abs": image_scale}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--official", type=Path, required=True, help="checkout of NVlabs/stylegan2-ada-pytorch")
    parser.add_argument("--presets", default=",".join(PRESETS), help="comma-separated: " + ", ".join(PRESETS))
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    networks = import_official(args.official)
    commit = ""
    head = args.official / ".git" / "HEAD"
    if head.exists():
        import subprocess  # noqa: PLC0415

        commit = subprocess.run(["git", "-C", str(args.official), "rev-parse", "HEAD"],
                                capture_output=True, text=True).stdout.strip()
    results = []
    for name in args.presets.split(","):
        print(f"[{name}] ...", file=sys.stderr, flush=True)
        results.append(compare(networks, name, PRESETS[name], args.batch))
    write_result({"benchmark": "stylegan2_parity", "official_commit": commit, "provenance": provenance(),
                  "all_counts_equal": all(r["parameters"]["equal"] for r in results),
                  "results": results}, args.out)


if __name__ == "__main__":
    main()
