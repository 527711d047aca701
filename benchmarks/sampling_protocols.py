"""How much the sampling protocol moves a trained BigGAN's metrics (issue 18).

On one run (default: the digits demo, `make demo`), with everything else fixed:
1. BatchNorm statistics at sampling time: running (eval mode), batch:B (BigGAN-PyTorch's CIFAR
   evaluation, G in train mode) and standing:N (re-estimated statistics).
2. Truncation conventions at equal t: resample (paper), scale (BigGAN-PyTorch's sample.py),
   tfhub (t * TN(-2, 2)).
3. The EMA generator's spectral-norm estimate: ganforge copies G's singular vectors into G_ema
   (sigma = u^T W_ema v); BigGAN-PyTorch averages u and runs one power iteration in every
   forward. Both are compared with the exact top singular value of W_ema, and G_ema's images with
   the exact sigma against its images as ganforge computes them.

    python benchmarks/sampling_protocols.py --run runs/demo --n 10000 \
        --out benchmarks/results/sampling_protocols.json
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

import torch
from torch.nn.utils import parametrize

from _report import provenance, write_result
from ganforge import api, load
from ganforge.metrics.evaluate import flatten_metrics

KEYS = ("fid", "is_mean", "class_accuracy", "kid_mean")


def evaluate(run: Path, n: int, **kw: Any) -> dict[str, Any]:
    start = time.perf_counter()
    result = api.evaluate(run, "fid,is,kid,acc", n=n, seed=0, **kw)
    row = {k: v for k, v in flatten_metrics(result).items() if k in KEYS}
    proto = result["protocol"]
    return {**row, "bn": proto["bn"], "truncation": proto["truncation"],
            "truncation_convention": proto["truncation_convention"],
            "seconds": round(time.perf_counter() - start, 1)}


@torch.no_grad()
def spectral_norm_estimates(run: Path) -> dict[str, Any]:
    """Relative error of G_ema's sigma estimates against the exact top singular value."""
    g = load(run)
    net = g.generator
    copied, one_iteration = [], []
    for module in net.modules():
        if not parametrize.is_parametrized(module, "weight"):
            continue
        sn = module.parametrizations.weight[0]
        if not hasattr(sn, "_u"):
            continue
        w = module.parametrizations.weight.original
        mat = w.flatten(1).double()
        exact = torch.linalg.matrix_norm(mat, ord=2).item()
        u, v = sn._u.double(), sn._v.double()
        copied.append(abs(u @ mat @ v - exact) / exact)  # ganforge: G's vectors, no iteration
        v1 = torch.nn.functional.normalize(mat.t() @ u, dim=0)  # BGP: one iteration from u
        u1 = torch.nn.functional.normalize(mat @ v1, dim=0)
        one_iteration.append(abs(u1 @ mat @ v1 - exact) / exact)
    images = g.sample(n=8, seed=0)
    for module in net.modules():  # exact sigma: set u, v to the top singular vectors
        if parametrize.is_parametrized(module, "weight") and hasattr(module.parametrizations.weight[0], "_u"):
            sn = module.parametrizations.weight[0]
            mat = module.parametrizations.weight.original.flatten(1).double()
            left, _, right = torch.linalg.svd(mat, full_matrices=False)
            sn._u.copy_(left[:, 0].float())
            sn._v.copy_(right[0].float())
    exact_images = g.sample(n=8, seed=0)
    return {
        "layers": len(copied),
        "copied_vectors_rel_error_max": float(max(copied)),
        "copied_vectors_rel_error_mean": float(sum(copied) / len(copied)),
        "one_power_iteration_rel_error_max": float(max(one_iteration)),
        "image_max_abs_diff_vs_exact_sigma": float((images - exact_images).abs().max()),
        "image_mean_abs_diff_vs_exact_sigma": float((images - exact_images).abs().mean()),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--run", type=Path, default=Path("runs/demo"))
    parser.add_argument("--n", type=int, default=10000)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    bn = {mode: evaluate(args.run, args.n, bn=mode)
          for mode in ("running", "batch:50", "batch:100", "standing:16x64", "standing:64x64")}
    conventions = {f"{c} t={t}": evaluate(args.run, args.n, truncation=t, truncation_convention=c)
                   for t in (0.5, 1.0) for c in ("resample", "scale", "tfhub")}
    result = {"benchmark": "sampling_protocols", **provenance(), "run": str(args.run), "n": args.n,
              "command": "python benchmarks/sampling_protocols.py --run RUN --n N",
              "bn_modes": bn, "truncation_conventions": conventions,
              "ema_spectral_norm": spectral_norm_estimates(args.run)}
    write_result(result, args.out)


if __name__ == "__main__":
    main()
