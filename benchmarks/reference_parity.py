"""Is ganforge faithful? Check it yourself against the reference implementations.

1. Metrics: ganforge's FID, IS, KID, precision/recall and density/coverage against
   torch-fidelity's and the prdc package's own functions, on the same features (random, seeded;
   N not divisible by the IS split count, so torch-fidelity's uneven splits are exercised).
   torch-fidelity imports torchvision at package import; where torchvision is missing (this
   project's CPU build) its metric functions are loaded with a torchvision stub: they never
   call it. The Inception port itself was checked bit-exact separately (BENCHMARKS.md).
2. Models, with `--bgp DIR` (a checkout of ajbrock/BigGAN-PyTorch): BigGAN-PyTorch's own G and
   D for the 32 px (launch_cifar_ema.sh) and 128 px (launch_BigGAN_bs256x8.sh) configurations
   are built, their weights copied into ganforge by `ganforge convert biggan-pytorch`'s key
   mapping, and parameter counts and outputs (eval and train mode) compared
   (`reference_parity_convert.py` does the model part).

    pip install torch-fidelity prdc      # optional: what is missing is reported as missing
    git clone https://github.com/ajbrock/BigGAN-PyTorch /tmp/BigGAN-PyTorch
    python benchmarks/reference_parity.py --bgp /tmp/BigGAN-PyTorch \
        --out benchmarks/results/reference_parity.json
"""

from __future__ import annotations

import argparse
import importlib
import sys
import types
from pathlib import Path
from typing import Any

import numpy as np
import torch

from _report import provenance, write_result
from ganforge.metrics.fid import fid_from_features
from ganforge.metrics.inception_score import inception_score
from ganforge.metrics.kid import mmd2_unbiased, polynomial_kernel
from ganforge.metrics.prdc import precision_recall_density_coverage

TORCHVISION_STUBS = ("torchvision", "torchvision.datasets", "torchvision.transforms",
                     "torchvision.transforms.functional", "torchvision.models")


class _Stub(types.ModuleType):
    def __getattr__(self, name: str) -> type:
        if name.startswith("__"):
            raise AttributeError(name)
        return type(name, (), {})


def import_torch_fidelity() -> tuple[Any, str]:
    """torch-fidelity's metric modules, with a torchvision stub when torchvision is missing."""
    how = "imported"
    try:
        importlib.import_module("torchvision")
    except Exception:  # noqa: BLE001  absent or broken (this CPU build): stub it
        for name in TORCHVISION_STUBS:
            sys.modules[name] = _Stub(name)
        for name in TORCHVISION_STUBS[1:]:
            parent, _, child = name.rpartition(".")
            setattr(sys.modules[parent], child, sys.modules[name])
        how = "imported with a torchvision stub (torchvision does not import here)"
    modules = types.SimpleNamespace(
        isc=importlib.import_module("torch_fidelity.metric_isc"),
        kid=importlib.import_module("torch_fidelity.metric_kid"),
        fid=importlib.import_module("torch_fidelity.metric_fid"),
    )
    return modules, how


def metric_parity(n_real: int, n_fake: int, dim: int, classes: int) -> dict[str, Any]:
    rng = np.random.default_rng(0)
    real = rng.normal(size=(n_real, dim))
    fake = rng.normal(loc=0.1, scale=1.1, size=(n_fake, dim))
    logits = rng.normal(scale=3.0, size=(n_fake, classes))
    ours_fid = fid_from_features(real, fake)["fid"]
    ours_is = inception_score(logits, splits=10, from_logits=True)
    out: dict[str, Any] = {"features": f"{n_real} real / {n_fake} generated x {dim}, "
                                       f"{classes}-class logits; seed 0"}
    try:
        tf, how = import_torch_fidelity()
    except Exception as exc:  # noqa: BLE001
        out["torch_fidelity"] = {"missing": f"torch-fidelity does not import ({exc})"}
    else:
        stats_real = tf.fid.fid_features_to_statistics(torch.from_numpy(real))
        stats_fake = tf.fid.fid_features_to_statistics(torch.from_numpy(fake))
        theirs_fid = tf.fid.fid_statistics_to_metric(stats_real, stats_fake, False)
        theirs_fid = theirs_fid["frechet_inception_distance"]
        theirs_is = tf.isc.isc_features_to_metric(torch.from_numpy(logits), splits=10,
                                                  shuffle=True, rng_seed=2020)
        # KID: the same subsets (torch-fidelity's RandomState draws), each subset's MMD both ways
        subsets, size, draw = 20, 500, np.random.RandomState(2020)
        diffs = []
        kwargs = {"kid_kernel": "poly", "kid_kernel_poly_degree": 3, "kid_kernel_poly_gamma": None,
                  "kid_kernel_poly_coef0": 1, "verbose": False}
        for _ in range(subsets):
            a = real[draw.choice(n_real, size, replace=False)]
            b = fake[draw.choice(n_fake, size, replace=False)]
            theirs = float(tf.kid.kernel_mmd(a, b, **kwargs))
            ours = mmd2_unbiased(polynomial_kernel(a, a), polynomial_kernel(b, b), polynomial_kernel(a, b))
            diffs.append(abs(theirs - ours) / max(abs(theirs), 1e-30))
        out["torch_fidelity"] = {
            "how": how,
            "fid": {"ganforge": ours_fid, "torch_fidelity": float(theirs_fid),
                    "rel_diff": abs(ours_fid - theirs_fid) / theirs_fid},
            "is": {"ganforge": list(ours_is),
                   "torch_fidelity": [theirs_is["inception_score_mean"], theirs_is["inception_score_std"]],
                   "abs_diff_mean": abs(ours_is[0] - theirs_is["inception_score_mean"]),
                   "abs_diff_std": abs(ours_is[1] - theirs_is["inception_score_std"])},
            "kid_per_subset_rel_diff_max": float(max(diffs)),
        }
    try:
        prdc = importlib.import_module("prdc")
    except Exception as exc:  # noqa: BLE001
        out["prdc"] = {"missing": f"prdc does not import ({exc})"}
    else:
        rows = {}
        for k in (3, 5):
            theirs = prdc.compute_prdc(real_features=real, fake_features=fake, nearest_k=k)
            ours = precision_recall_density_coverage(real, fake, k_pr=k, k_dc=k)
            rows[f"k={k}"] = {key: {"ganforge": float(ours[key]), "prdc": float(theirs[key]),
                                    "abs_diff": abs(float(ours[key]) - float(theirs[key]))}
                              for key in ("precision", "recall", "density", "coverage")}
        out["prdc"] = rows
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--bgp", type=Path, help="a BigGAN-PyTorch checkout (model parity)")
    parser.add_argument("--n", type=int, default=3003, help="generated feature rows")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    result: dict[str, Any] = {"benchmark": "reference_parity", **provenance(),
                              "command": "python benchmarks/reference_parity.py [--bgp DIR]",
                              "metrics": metric_parity(4000, args.n, 256, 1000)}
    if args.bgp is None:
        result["models"] = {"missing": "no --bgp checkout given"}
    else:
        from reference_parity_convert import model_parity

        result["models"] = model_parity(args.bgp)
    write_result(result, args.out)


if __name__ == "__main__":
    main()
