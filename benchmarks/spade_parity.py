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
networks are built with the same semantic channel count (its data reader supplies don't care).

Instance edges (`instance_edges` in the JSON): ganforge's whole SPADE method, built from the
recipe's config with translation.label_nc=35 and translation.instance_edges=true (and =false,
the authors' --no_instance), against the authors' networks with and without the instance
channel: parameter counts; then, on a Cityscapes-like 64 px map (class ids and an instance map
of class * 1000 + k ids, touching instances of one class included) with equal weights, their
`Pix2PixModel.preprocess_input` (one-hot + `get_edges`, called on a stand-in `self`) against
ganforge's G input made from the map as the task carries it (ids, packed instance numbers,
x = v / 127.5 - 1), then G's image and every D layer on (semantics, image).

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
from ganforge import api
from ganforge.models import count_parameters
from ganforge.models.spade import SPADEDiscriminator, SPADEEncoder, SPADEGenerator
from ganforge.translation.label_instances import pack
from ganforge.translation.label_maps import instance_edges
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


def cityscapes_like(size: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(class ids, instance ids) (2, 1, size, size): random "stuff" blocks (instance id = class
    id, as Cityscapes' instanceIds) and rows of touching cars (26) and persons (24) with ids
    class * 1000 + k."""
    gen = torch.Generator().manual_seed(seed)
    block = size // 8
    coarse = torch.randint(0, 24, (2, 1, 8, 8), generator=gen)
    labels = coarse.repeat_interleave(block, -1).repeat_interleave(block, -2)
    instances = labels.clone()
    for n in range(2):
        for row, cls in ((size // 4, 26), (size // 2, 24)):
            width = int(torch.randint(4, 9, (), generator=gen))
            left = int(torch.randint(0, size // 4, (), generator=gen))
            for k in range(5):  # five touching instances of one class
                x = left + k * width
                labels[n, 0, row : row + width, x : x + width] = cls
                instances[n, 0, row : row + width, x : x + width] = cls * 1000 + k
    return labels, instances


def our_spade(size: int, edges: bool) -> Any:
    """ganforge's SPADE method as a run builds it (the recipe, 35 Cityscapes classes)."""
    from ganforge.translation.models import build_model

    config = api.make_config("spade", [f"translation.crop_size={size}", f"translation.load_size={size}",
                                       "translation.label_nc=35", f"translation.instance_edges={str(edges).lower()}",
                                       "translation.param_free_norm=batch", "train.device=cpu"],
                             data="labels:cityscapes")  # not the demo: the paper's networks
    return build_model(config, "cpu")


@torch.no_grad()
def instance_case(networks: Any) -> dict[str, Any]:
    from models.pix2pix_model import Pix2PixModel  # theirs, from the checkout

    result: dict[str, Any] = {"params": {}}
    for edges in (True, False):
        opt = options({"label_nc": 35, "instance": edges, "dontcare": False, "use_vae": False}, COUNT_SIZE)
        mine, ref = our_spade(COUNT_SIZE, edges), theirs(networks, opt)
        result["params"]["with_instances" if edges else "no_instance"] = {
            net: {"ganforge": count_parameters(mine.networks[net]), "official": count(ref[net])} for net in ("G", "D")}
        del mine, ref
    result["params_equal"] = all(c["ganforge"] == c["official"] for v in result["params"].values()
                                 for c in v.values())
    torch.manual_seed(0)
    opt = options({"label_nc": 35, "instance": True, "dontcare": False, "use_vae": False}, RUN_SIZE)
    mine, ref = our_spade(RUN_SIZE, True), theirs(networks, opt)
    for name in ("G", "D"):
        copy_weights(ref[name], mine.networks[name], seed=1)
        ref[name].eval()
        mine.networks[name].eval()
    labels, instances = cityscapes_like(RUN_SIZE, seed=3)
    stand_in = types.SimpleNamespace(opt=opt, FloatTensor=torch.FloatTensor, ByteTensor=torch.ByteTensor,
                                     use_gpu=lambda: False)
    stand_in.get_edges = lambda t: Pix2PixModel.get_edges(stand_in, t)
    image = torch.rand(2, 3, RUN_SIZE, RUN_SIZE) * 2 - 1
    their_sem, _ = Pix2PixModel.preprocess_input(stand_in, {"label": labels.float(), "instance": instances,
                                                            "image": image})
    packed = torch.stack([torch.from_numpy(pack(m[0].numpy(), Path("map"))) for m in instances])
    carried = torch.cat([labels.byte(), packed], 1).float().div(127.5).sub(1.0)  # as the task hands A over
    our_sem = mine.G.semantics(carried)
    diffs = {"semantics": max_diff(their_sem, our_sem),
             "edges": max_diff(stand_in.get_edges(instances), our_sem[:, -1:]),
             "G": max_diff(ref["G"](their_sem), mine.G(carried))}
    diffs["D"] = max_diff(ref["D"](torch.cat([their_sem, image], 1)),
                          mine.networks["D"](torch.cat([our_sem, image], 1)))
    result["edge_pixels"] = int(their_sem[:, -1].sum())
    # edges that only the instance map gives (touching instances of one class)
    class_edges = instance_edges(labels)
    result["edge_pixels_inside_class_regions"] = int((their_sem[:, -1:].bool() & ~class_edges).sum())
    result["max_abs_diff"] = diffs
    return result


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
    result["instance_edges"] = instance_case(networks)
    print("instance_edges", result["instance_edges"], file=sys.stderr)
    write_result(result, args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
