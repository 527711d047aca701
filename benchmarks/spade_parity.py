"""SPADE (issue 21) against the authors' code (NVlabs/SPADE): parameter counts per preset and
equal outputs for equal weights, for G, the multi-scale D, the VAE encoder and the losses.

    python benchmarks/spade_parity.py --reference /tmp/SPADE --out benchmarks/results/spade_parity.json

The authors' networks are imported from a local checkout (nothing of theirs is copied here).
Their modules import three things this machine does not have; inside this script only:
`torchvision` (used by their VGG19 alone, which is not built here) and `dill` (their util's
pickling) are empty stand-ins, and the `sync_batchnorm` submodule is torch's BatchNorm2d, which
their SynchronizedBatchNorm2d equals on one process.

Presets (ngf = ndf = 64, num_upsampling_layers normal, n_layers_D 4, 2 scales, 256 px):
cityscapes (label_nc 35 + the instance-edge channel = 36 semantic channels), ade20k (150 + the
don't-care class = 151), ade20k-vae (the same with the style encoder, z_dim 256). ganforge's
networks are built with the same semantic channel count (its data reader supplies don't care;
instance edge maps are not read yet).

Outputs: their weights (spectral-norm u and v, running statistics set to random values) are
copied into ganforge's networks; both run in eval mode (stored u, v; running statistics) at 64 px
(the VAE encoder at 256 px, the size theirs requires), and the largest absolute difference is
reported. The losses: their GANLoss(hinge) for D and G, their feature-matching sum and KLDLoss,
against ganforge's, on D outputs of random inputs.
"""

from __future__ import annotations

import argparse
import re
import sys
import types
from argparse import Namespace
from pathlib import Path
from typing import Any

import torch
from torch import nn

from _report import provenance, write_result
from ganforge.models.spade import SPADEDiscriminator, SPADEEncoder, SPADEGenerator
from ganforge.translation.spade_losses import feature_matching, hinge_d, hinge_g, kl_divergence

PRESETS = {
    "cityscapes": {"label_nc": 35, "instance": True, "dontcare": False, "use_vae": False},
    "ade20k": {"label_nc": 150, "instance": False, "dontcare": True, "use_vae": False},
    "ade20k-vae": {"label_nc": 150, "instance": False, "dontcare": True, "use_vae": True},
}
COUNT_SIZE, RUN_SIZE = 256, 64


def import_reference(root: Path) -> Any:
    """Their `models.networks` package, with the stand-ins the module docstring names."""
    sys.modules.setdefault("torchvision", types.ModuleType("torchvision"))
    sys.modules.setdefault("dill", types.ModuleType("dill"))
    sync = types.ModuleType("models.networks.sync_batchnorm")
    sync.SynchronizedBatchNorm2d = nn.BatchNorm2d  # type: ignore[attr-defined]
    sys.modules["models.networks.sync_batchnorm"] = sync
    sys.path.insert(0, str(root))
    import models.networks as networks  # noqa: PLC0415 - theirs, from the checkout

    return networks


def options(preset: dict[str, Any], crop: int) -> Namespace:
    semantic = preset["label_nc"] + int(preset["instance"]) + int(preset["dontcare"])
    return Namespace(ngf=64, ndf=64, use_vae=preset["use_vae"], z_dim=256, crop_size=crop, aspect_ratio=1.0,
                     num_upsampling_layers="normal", norm_G="spectralspadesyncbatch3x3",
                     norm_D="spectralinstance", norm_E="spectralinstance", semantic_nc=semantic,
                     label_nc=preset["label_nc"], output_nc=3, contain_dontcare_label=preset["dontcare"],
                     no_instance=not preset["instance"], num_D=2, netD_subarch="n_layer", n_layers_D=4,
                     no_ganFeat_loss=False, gpu_ids=[])


def ours(opt: Namespace) -> dict[str, nn.Module]:
    nets = {"G": SPADEGenerator(opt.semantic_nc, 3, 64, opt.crop_size, "normal", opt.use_vae, 256),
            "D": SPADEDiscriminator(opt.semantic_nc + 3, 64, 4, 2)}
    if opt.use_vae:
        nets["E"] = SPADEEncoder(3, 64, opt.crop_size, 256)
    return nets


def theirs(networks: Any, opt: Namespace) -> dict[str, nn.Module]:
    nets = {"G": networks.generator.SPADEGenerator(opt),
            "D": networks.discriminator.MultiscaleDiscriminator(opt)}
    if opt.use_vae:
        nets["E"] = networks.encoder.ConvEncoder(opt)
    return nets


def count(net: nn.Module) -> int:
    return sum(p.numel() for p in net.parameters())


def our_key(key: str) -> str:
    """Their state-dict key -> ganforge's: torch's SN parametrisation, D's flatter groups."""
    key = re.sub(r"(model\d+)\.0\.0\.", r"\1.0.", key)
    key = re.sub(r"\.weight_orig$", ".parametrizations.weight.original", key)
    key = re.sub(r"\.weight_u$", ".parametrizations.weight.0._u", key)
    return re.sub(r"\.weight_v$", ".parametrizations.weight.0._v", key)


def copy_weights(src: nn.Module, dst: nn.Module, seed: int) -> None:
    """Randomise their running statistics, then load everything of theirs into ours."""
    gen = torch.Generator().manual_seed(seed)
    for name, buf in src.named_buffers():
        if name.endswith("running_mean"):
            buf.copy_(torch.randn(buf.shape, generator=gen) * 0.5)
        elif name.endswith("running_var"):
            buf.copy_(torch.rand(buf.shape, generator=gen) + 0.5)
    mapped = {our_key(k): v for k, v in src.state_dict().items()}
    wanted = dst.state_dict()
    missing, extra = sorted(set(wanted) - set(mapped)), sorted(set(mapped) - set(wanted))
    if missing or extra:
        raise SystemExit(f"key mismatch: missing {missing[:3]}, unexpected {extra[:3]}")
    dst.load_state_dict(mapped)


def max_diff(a: Any, b: Any) -> float:
    if isinstance(a, (list, tuple)):
        return max(max_diff(x, y) for x, y in zip(a, b, strict=True))
    return float((a - b).abs().max())


@torch.no_grad()
def outputs(networks: Any, preset: dict[str, Any]) -> dict[str, float]:
    torch.manual_seed(0)
    opt = options(preset, RUN_SIZE)
    mine, ref = ours(opt), theirs(networks, opt)
    diffs: dict[str, float] = {}
    ids = torch.randint(0, opt.semantic_nc, (2, 1, RUN_SIZE, RUN_SIZE))
    seg = torch.zeros(2, opt.semantic_nc, RUN_SIZE, RUN_SIZE).scatter_(1, ids, 1.0)
    for name in ("G", "D"):
        copy_weights(ref[name], mine[name], seed=1)
        ref[name].eval()
        mine[name].eval()
    z = torch.randn(2, 256) if opt.use_vae else None
    diffs["G"] = max_diff(ref["G"](seg, z=z), mine["G"](seg, z))
    pair = torch.cat([seg, torch.rand(2, 3, RUN_SIZE, RUN_SIZE) * 2 - 1], 1)
    d_ref, d_mine = ref["D"](pair), mine["D"](pair)
    diffs["D"] = max_diff(d_ref, d_mine)
    if opt.use_vae:
        big = options(preset, COUNT_SIZE)
        e_mine, e_ref = ours(big)["E"], theirs(networks, big)["E"]
        copy_weights(e_ref, e_mine, seed=2)
        image = torch.rand(2, 3, COUNT_SIZE, COUNT_SIZE) * 2 - 1
        diffs["E"] = max_diff(e_ref.eval()(image), e_mine.eval()(image))
    # the losses on D's outputs (first half "fake", second half "real")
    loss = networks.GANLoss("hinge", tensor=torch.FloatTensor)
    fake = [[t[:1] for t in scale] for scale in d_ref]
    real = [[t[1:] for t in scale] for scale in d_ref]
    their_fm = sum(nn.functional.l1_loss(f, r) * 10.0 / len(fake)
                   for fs, rs in zip(fake, real, strict=True) for f, r in zip(fs[:-1], rs[:-1], strict=True))
    mu, logvar = torch.randn(2, 256), torch.randn(2, 256)
    diffs["loss_d"] = abs(float(loss(fake, False, True) + loss(real, True, True)
                                - hinge_d(fake, False) - hinge_d(real, True)))
    diffs["loss_g_gan"] = abs(float(loss(fake, True, False) - hinge_g(fake)))
    diffs["loss_g_feat"] = abs(float(their_fm - feature_matching(fake, real, 10.0)))
    diffs["kld"] = abs(float(networks.KLDLoss()(mu, logvar) - kl_divergence(mu, logvar)))
    return diffs


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reference", type=Path, required=True, help="a checkout of NVlabs/SPADE")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    networks = import_reference(args.reference)
    result: dict[str, Any] = {"provenance": provenance(), "count_size": COUNT_SIZE, "run_size": RUN_SIZE,
                              "presets": {}}
    for name, preset in PRESETS.items():
        opt = options(preset, COUNT_SIZE)
        mine, ref = ours(opt), theirs(networks, opt)
        counts = {net: {"ganforge": count(mine[net]), "official": count(ref[net])} for net in mine}
        entry = {"semantic_nc": opt.semantic_nc, "params": counts,
                 "params_equal": all(c["ganforge"] == c["official"] for c in counts.values())}
        del mine, ref
        entry["max_abs_diff"] = outputs(networks, preset)
        result["presets"][name] = entry
        print(name, entry, file=sys.stderr)
    write_result(result, args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
