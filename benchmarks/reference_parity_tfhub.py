"""`ganforge convert tfhub-biggan` against BigGAN-PyTorch's own TF-Hub converter: equal outputs.

A fake TF-Hub BigGAN module (every variable of the real one, by the name list in
tests/fixtures/tfhub_biggan_variables.json, ch 96, random values) is written in TensorFlow's
checkpoint format. ganforge converts it from those files; BigGAN-PyTorch's TFHub/converter.py
(TFHub2Pytorch + convert_from_v1, run from a local checkout with its TensorFlow, TF-Hub and
torchvision imports stubbed out, since it only needs them to download and to save samples)
converts the same tensors and its BigGAN.py generator runs them. Both run the same z and classes
in eval mode. Also recorded, for information: the converter's own intermediate port (biggan_v1.py,
which reads the TF layout directly and normalises by norm + eps instead of max(norm, eps)).

BigGAN-PyTorch's output BN keeps its default eps 1e-5 even when the converter asks for 1e-4
(layers.bn is built without BN_eps); ganforge uses the module's 1e-4 throughout, so the
comparison sets the reference's output BN to 1e-4 and records that it did.

    python benchmarks/reference_parity_tfhub.py --bgp /tmp/BigGAN-PyTorch \
        --out benchmarks/results/reference_parity_tfhub.json
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import tempfile
import time
import types
from pathlib import Path
from typing import Any

import numpy as np
import torch

from _report import provenance, write_result
from ganforge.generators.tfhub_biggan import tfhub_generator

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
from tf_bundle_writer import write_bundle  # noqa: E402 - the test-side writer of the format

NAMES = json.loads((ROOT / "tests" / "fixtures" / "tfhub_biggan_variables.json").read_text())


def _parse(fmt: str, text: str) -> tuple | None:
    """The one use converter.py makes of the `parse` package: '{:d}' and '{}' fields."""
    pattern = re.escape(fmt).replace(r"\{:d\}", r"(\d+)").replace(r"\{\}", r"(.+?)") + "$"
    m = re.match(pattern, text)
    return None if m is None else tuple(int(g) if g.isdigit() else g for g in m.groups())


def reference_converter(bgp: Path) -> Any:
    for name in ("tensorflow", "tensorflow_hub", "torchvision", "torchvision.utils"):
        sys.modules.setdefault(name, types.ModuleType(name))
    sys.modules["torchvision.utils"].save_image = None
    sys.modules["parse"] = types.SimpleNamespace(parse=_parse)
    sys.path[:0] = [str(bgp / "TFHub"), str(bgp)]
    import converter  # noqa: PLC0415 - BigGAN-PyTorch's TFHub/converter.py

    return converter


def fake_module(resolution: int, seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    out = {}
    for name, shape in NAMES[str(resolution)].items():
        if name.endswith(("accumulated_var", "accumulation_counter")):
            value = rng.random(shape) + 0.5
        elif name.endswith("accumulated_mean"):
            value = rng.standard_normal(shape) * 0.1
        elif name.endswith(("/u0", "/u1")):
            value = rng.standard_normal(shape)
        else:  # weights of the scale trained BigGAN weights have (orthogonal-ish, SN-normalised)
            fan_in = int(np.prod(shape[:-1])) if len(shape) > 1 else 1
            value = rng.standard_normal(shape) / np.sqrt(fan_in)
        out[name] = np.asarray(value, dtype=np.float32)
    return out


def compare(bgp: Path, resolution: int, batch: int, seed: int) -> dict[str, Any]:
    conv = reference_converter(bgp)
    import BigGAN  # noqa: PLC0415 - the reference's model, importable once the converter's path is set

    variables = fake_module(resolution, seed)
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "variables").mkdir()
        write_bundle(Path(tmp) / "variables" / "variables",
                     {k: torch.from_numpy(v) for k, v in variables.items()}, per_block=64)
        start = time.perf_counter()
        ours = tfhub_generator(tmp)
        seconds = time.perf_counter() - start
    tf_weights = {f"module/{k}:0": v for k, v in variables.items()}
    v1 = getattr(conv.biggan_for_conversion, f"Generator{resolution}")()
    state_v1 = conv.TFHub2Pytorch(v1.state_dict(), tf_weights, resolution=resolution, load_ema=True).load()
    reference = BigGAN.Generator(**conv.get_config(resolution))
    missing, unexpected = reference.load_state_dict(conv.convert_from_v1(state_v1, resolution), strict=False)
    assert not unexpected and all(k.endswith("sv0") for k in missing), (missing, unexpected)
    reference.output_layer[0].eps = 1e-4  # see the module docstring
    reference.eval()
    for key in [k for k in state_v1 if k.endswith("weight_v")]:  # v1 recomputes v from u each call
        state_v1[key] = v1.state_dict()[key]
    v1.load_state_dict(state_v1)
    v1.eval()
    gen = torch.Generator().manual_seed(seed)
    z = torch.randn(batch, ours.dim_z, generator=gen)
    y = torch.randint(0, 1000, (batch,), generator=gen)
    with torch.no_grad():
        ref_images = reference(z, reference.shared(y))
        our_images = ours.generate(z, y)
        v1_images = v1(z, torch.nn.functional.one_hot(y, 1000).float())
    row = {
        "resolution": resolution, "variables": len(variables), "batch": batch,
        "max_abs_diff_vs_BigGAN-PyTorch_converter": (ref_images - our_images).abs().max().item(),
        "max_abs_diff_vs_biggan_v1_port": (v1_images - our_images).abs().max().item(),
        "BigGAN-PyTorch_vs_biggan_v1_port": (v1_images - ref_images).abs().max().item(),
        "output_max_abs": ref_images.abs().max().item(), "ganforge_read_and_convert_seconds": seconds,
        "reference_output_bn_eps_set_to": 1e-4,
    }
    print(json.dumps(row), flush=True)
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bgp", type=Path, required=True, help="a BigGAN-PyTorch checkout")
    parser.add_argument("--resolution", type=int, action="append", choices=(128, 256, 512))
    parser.add_argument("--batch", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    if not (args.bgp / "TFHub" / "converter.py").is_file():
        sys.exit(f"error: {args.bgp} has no TFHub/converter.py; pass a BigGAN-PyTorch checkout with --bgp")
    resolutions = args.resolution or [128]
    rows = [compare(args.bgp, r, args.batch, args.seed) for r in resolutions]
    write_result({
        "benchmark": "reference_parity_tfhub",
        "reference": "ajbrock/BigGAN-PyTorch TFHub/converter.py + BigGAN.py (fp32, eval mode) on a fake "
                     "module with every variable of the real one (random values, ch 96)",
        "results": rows, **provenance(),
        "command": "python benchmarks/reference_parity_tfhub.py --bgp BGP_CHECKOUT "
                   + " ".join(f"--resolution {r}" for r in resolutions) + f" --batch {args.batch}",
    }, args.out)


if __name__ == "__main__":
    main()
