"""`ganforge convert biggan-pytorch` against BigGAN-PyTorch's own model code: equal outputs.

For each configuration (the CIFAR setup of scripts/launch_cifar_ema.sh and the ImageNet-128
setup of scripts/launch_BigGAN_bs256x8.sh), the reference's BigGAN.py builds G and D with
random init; a few training iterations of its own (hinge loss, its Adam) move the weights, the
BN statistics and the spectral-norm vectors u away from their fresh values. The state dicts go
to a folder laid out as BGP's utils.save_weights writes it (G, G_ema, D, both optimizers,
state_dict.pth with its config, activation modules included), ganforge converts that folder,
and both implementations run the same inputs in eval mode. Recorded: strict key coverage, the
maximum absolute output difference of G_ema and D, and the optimizer state carried over.

The reference code is not part of ganforge: fetch it yourself and pass its directory.

    git clone https://github.com/ajbrock/BigGAN-PyTorch /tmp/BigGAN-PyTorch
    python benchmarks/reference_parity_convert.py --bgp /tmp/BigGAN-PyTorch \
        --out benchmarks/results/reference_parity_convert.json
"""

from __future__ import annotations

import argparse
import copy
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from _report import provenance, write_result
from ganforge.generators.bgp_keys import LOGGED, source_of
from ganforge.generators.biggan_pytorch import (
    _convert_nets,
    build_config,
    convert_optimizer,
    read_folder,
    resolve_settings,
)
from ganforge.models import build_models

SETUPS: dict[str, dict[str, Any]] = {
    "cifar_ema (32 px)": dict(  # BGP's parser defaults + launch_cifar_ema.sh
        G_ch=64, D_ch=64, dim_z=128, resolution=32, G_attn="0", D_attn="0", n_classes=10,
        G_shared=False, shared_dim=0, hier=False, G_init="N02", D_init="N02", G_lr=2e-4, D_lr=2e-4,
        SN_eps=1e-8, BN_eps=1e-5, adam_eps=1e-8, num_D_steps=4, dataset="C10",
    ),
    "BigGAN_bs256x8 (128 px)": dict(  # launch_BigGAN_bs256x8.sh
        G_ch=96, D_ch=96, dim_z=120, resolution=128, G_attn="64", D_attn="64", n_classes=1000,
        G_shared=True, shared_dim=128, hier=True, G_init="ortho", D_init="ortho", G_lr=1e-4,
        D_lr=4e-4, SN_eps=1e-6, BN_eps=1e-5, adam_eps=1e-6, num_D_steps=1, dataset="I128_hdf5",
    ),
}


def reference_folder(bgp_model: Any, args: dict[str, Any], folder: Path, iters: int, batch: int) -> tuple:
    """Reference G, G_ema, D after `iters` of its own training steps, saved as BGP saves them."""
    torch.manual_seed(0)
    kw = {**args, "G_activation": nn.ReLU(inplace=False), "D_activation": nn.ReLU(inplace=False)}
    G, D = bgp_model.Generator(**kw), bgp_model.Discriminator(**kw)
    n, res = args["n_classes"], args["resolution"]
    for _ in range(iters):  # hinge steps: moves weights, BN statistics and SN's u (train mode)
        G.train()
        D.train()
        z, y = torch.randn(batch, G.dim_z), torch.randint(0, n, (batch,))
        x = torch.rand(batch, 3, res, res) * 2 - 1
        D.optim.zero_grad()
        with torch.no_grad():
            fake = G(z, G.shared(y))
        loss = F.relu(1 - D(x, y)).mean() + F.relu(1 + D(fake, y)).mean()
        loss.backward()
        D.optim.step()
        G.optim.zero_grad()
        (-D(G(z, G.shared(y)), y).mean()).backward()
        G.optim.step()
    G_ema = copy.deepcopy(G)
    with torch.no_grad():  # an EMA copy that differs from G
        for p in G_ema.parameters():
            p.add_(0.01 * torch.randn_like(p))
        G_ema.train()
        G_ema(torch.randn(batch, G.dim_z), G_ema.shared(torch.randint(0, n, (batch,))))  # its own u
    folder.mkdir(parents=True, exist_ok=True)
    for name, obj in (("G", G.state_dict()), ("G_ema", G_ema.state_dict()), ("D", D.state_dict()),
                      ("G_optim", G.optim.state_dict()), ("D_optim", D.optim.state_dict())):
        torch.save(obj, folder / f"{name}.pth")
    config = {**kw, "ema_decay": 0.9999, "ema_start": 1000, "num_G_accumulations": 1}
    torch.save({"itr": iters, "epoch": 0, "save_num": 0, "best_IS": 0, "best_FID": 999999,
                "config": config}, folder / "state_dict.pth")
    return G, G_ema, D


def compare(bgp: Path, name: str, args: dict[str, Any], iters: int, batch: int) -> dict[str, Any]:
    sys.path.insert(0, str(bgp))
    import BigGAN  # noqa: PLC0415 - the reference's module, from the path given

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "weights"
        G, G_ema, D = reference_folder(BigGAN, args, folder, iters, batch)
        start = time.perf_counter()
        found = read_folder(folder, need_training=True)
        recipe, settings = resolve_settings(found, {}, None)
        config = build_config(recipe, settings, found, None, [])
        nets = _convert_nets(found, config, with_d=True)
        seconds = time.perf_counter() - start
    g_net, d_net = build_models(config.model)
    g_net.load_state_dict(nets["G_ema"])
    d_net.load_state_dict(nets["D"])
    for net in (G_ema, D, g_net, d_net):
        net.eval()
    gen = torch.Generator().manual_seed(1)
    n = args["n_classes"]
    z = torch.randn(batch, G.dim_z, generator=gen)
    y = torch.randint(0, n, (batch,), generator=gen)
    with torch.no_grad():
        ref_images = G_ema(z, G_ema.shared(y))
        images = g_net(z, y)
        ref_logits = D(ref_images, y).squeeze(1)
        logits = d_net(ref_images, y)
    g_diff = (ref_images - images).abs().max().item()
    d_diff = (ref_logits - logits).abs().max().item()
    # train mode (copies): BN on batch statistics, one spectral-norm power iteration each side
    train_nets = [copy.deepcopy(net).train() for net in (G_ema, D, g_net, d_net)]
    with torch.no_grad():
        ref_train = train_nets[0](z, train_nets[0].shared(y))
        ours_train = train_nets[2](z, y)
        ref_train_logits = train_nets[1](ref_train, y).squeeze(1)
        ours_train_logits = train_nets[3](ref_train, y)
    g_train_diff = (ref_train - ours_train).abs().max().item()
    d_train_diff = (ref_train_logits - ours_train_logits).abs().max().item()
    counts = {"G": [sum(p.numel() for p in G_ema.parameters()), sum(p.numel() for p in g_net.parameters())],
              "D": [sum(p.numel() for p in D.parameters()), sum(p.numel() for p in d_net.parameters())]}
    # optimizer state: every moment of the reference lands on the same parameter
    template = torch.optim.Adam(g_net.parameters()).state_dict()
    converted = convert_optimizer(found["G_optim"], found["G"], g_net, template, "G_optim.pth")
    ref_opt = found["G_optim"]
    ref_names = [k for k in found["G"] if k in dict(G.named_parameters())]
    opt_diff = 0.0
    for position, (pname, _) in enumerate(g_net.named_parameters()):
        ref_index = ref_names.index(source_of(pname)[1])
        for moment in ("exp_avg", "exp_avg_sq"):
            ref = ref_opt["state"][ref_index][moment]
            opt_diff = max(opt_diff, (converted["state"][position][moment] - ref).abs().max().item())
    coverage = {}
    for net_name in ("G_ema", "D"):
        ref_keys = list(found[net_name])
        logged = [k for k in ref_keys if LOGGED.search(k)]
        coverage[net_name] = {"reference_keys": len(ref_keys), "used": len(ref_keys) - len(logged),
                              "logged_sv_dropped": len(logged), "ganforge_keys": len(nets[net_name])}
    row = {
        "setup": name, "recipe": recipe, "reference_args": {k: v for k, v in args.items()},
        "reference_training_iterations": iters, "batch": batch,
        "G_ema_max_abs_diff": g_diff, "G_ema_output_max_abs": ref_images.abs().max().item(),
        "D_max_abs_diff": d_diff, "D_output_max_abs": ref_logits.abs().max().item(),
        "train_mode_G_max_abs_diff": g_train_diff, "train_mode_D_max_abs_diff": d_train_diff,
        "parameters_reference_vs_ganforge": counts,
        "G_optimizer_moments_max_abs_diff": opt_diff, "key_coverage": coverage,
        "convert_seconds": seconds, "ganforge_model": {
            k: getattr(config.model, k) for k in ("resolution", "ch", "g_channels", "d_channels",
                                                  "g_attention", "d_attention", "dim_z", "shared_dim",
                                                  "hierarchical_z", "sn_eps", "bn_eps")},
    }
    print(f"{name}: G_ema max |diff| {g_diff:.3g} (train mode {g_train_diff:.3g}), D max |diff| "
          f"{d_diff:.3g} (train mode {d_train_diff:.3g}), Adam moments max |diff| {opt_diff:.3g}, "
          f"parameters {counts}", flush=True)
    return row


def model_parity(bgp: Path, iters: int = 3, batch: int = 4) -> list[dict[str, Any]]:
    """Both setups (32 and 128 px): what `reference_parity.py --bgp` reports."""
    return [compare(bgp, name, setup, iters, batch) for name, setup in SETUPS.items()]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bgp", type=Path, required=True, help="a BigGAN-PyTorch checkout")
    parser.add_argument("--iters", type=int, default=3, help="reference training steps before saving")
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--only", choices=("32", "128"), help="one setup only")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    if not (args.bgp / "BigGAN.py").is_file():
        sys.exit(f"error: {args.bgp} has no BigGAN.py; pass a BigGAN-PyTorch checkout with --bgp")
    rows = [compare(args.bgp, name, setup, args.iters, args.batch) for name, setup in SETUPS.items()
            if args.only is None or f"({args.only} px)" in name]
    write_result({
        "benchmark": "reference_parity_convert",
        "reference": "ajbrock/BigGAN-PyTorch BigGAN.py, random init + its own training steps, fp32, eval mode",
        "results": rows, **provenance(),
        "command": f"python benchmarks/reference_parity_convert.py --bgp BGP_CHECKOUT --iters {args.iters} "
                   f"--batch {args.batch}" + (f" --only {args.only}" if args.only else ""),
    }, args.out)


if __name__ == "__main__":
    main()
