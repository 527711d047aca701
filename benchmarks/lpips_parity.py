"""LPIPS parity (issue 22): ganforge's distance with learned weights against the official `lpips`
package (Zhang et al. 2018, richzhang/PerceptualSimilarity, PyPI `lpips` 0.1.4), on equal
weights: the package's own learned linear layers (weights/v0.1/vgg.pth, alex.pth), and one seeded
random backbone in torchvision's layout given to both (torchvision does not import here, and its
pretrained backbones are a separate download: the script hands the package a stand-in
`torchvision.models` whose vgg16/alexnet return that backbone). Images at 64 px, where ganforge
does not resize.

    pip download lpips==0.1.4 --no-deps -d /tmp/lp && unzip /tmp/lp/lpips-0.1.4-py3-none-any.whl -d /tmp/lp/x
    PYTHONPATH=src python benchmarks/lpips_parity.py --lpips /tmp/lp/x --out benchmarks/results/lpips_parity.json
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import types
from pathlib import Path

import torch
from safetensors.torch import save_file

from _report import provenance, write_result
from ganforge.editing.perceptual import AlexFeatures, VGGFeatures, choose_perceptual


def stand_in_torchvision(backbones: dict[str, torch.nn.Sequential]) -> None:
    """`torchvision.models.vgg16(pretrained=...)` / `alexnet(...)` returning the given features."""
    models = types.ModuleType("torchvision.models")
    for name, features in backbones.items():
        setattr(models, name, lambda pretrained=True, _f=features, **_: types.SimpleNamespace(features=_f))
    tv = types.ModuleType("torchvision")
    tv.models = models
    sys.modules["torchvision"], sys.modules["torchvision.models"] = tv, models


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lpips", type=Path, required=True, help="folder holding the lpips package")
    parser.add_argument("--n", type=int, default=8)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    torch.manual_seed(0)
    nets = {"vgg": VGGFeatures(16), "alex": AlexFeatures()}
    stand_in_torchvision({"vgg16": nets["vgg"].features, "alexnet": nets["alex"].features})
    sys.path.insert(0, str(args.lpips))
    import lpips  # the official package, with its learned weights

    a = torch.rand(args.n, 3, 64, 64) * 2 - 1
    b = (a + 0.3 * torch.randn_like(a)).clamp(-1, 1)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, net in nets.items():
            backbone = Path(tmp) / f"{name}.safetensors"
            save_file({f"features.{k}": v.contiguous() for k, v in net.features.state_dict().items()}, str(backbone))
            official = lpips.LPIPS(net=name, version="0.1", verbose=False).eval()
            lin = args.lpips / "lpips" / "weights" / "v0.1" / f"{name}.pth"
            ours = choose_perceptual(backbone, None, None, lin)
            with torch.no_grad():
                want = official(a, b).flatten().double()
                got = ours.distance(a, ours.features(b)).double()
            rows.append({"net": name, "distance": ours.name, "official": want.tolist(), "ganforge": got.tolist(),
                         "max_abs_diff": float((want - got).abs().max()),
                         "max_rel_diff": float(((want - got).abs() / want.abs()).max())})
            print({k: v for k, v in rows[-1].items() if k not in ("official", "ganforge")}, flush=True)
    write_result({"benchmark": "lpips_parity", **provenance(), "lpips": "0.1.4", "images": f"{args.n} x 3 x 64 x 64",
                  "rows": rows}, args.out)


if __name__ == "__main__":
    main()
