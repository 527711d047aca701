"""BigGAN-PyTorch's weights folder, written by the tests without its code.

The key names, their order and their shapes follow BigGAN.py's G_arch/D_arch tables and
layers.py (SNConv2d/SNLinear/SNEmbedding keep `u0` and `sv0`; ccbn keeps `stored_mean/var`
then its gain and bias layers; the output layer is bn-ReLU-conv as `output_layer.0/2`); the
order is torch's state-dict order (a module's parameters, its buffers, then its children),
which is also the order its optimizer numbers the parameters in.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

G_ARCH = {  # resolution -> (in, out) multipliers of ch per G block, BigGAN.py's G_arch
    32: [(4, 4)] * 3,
    128: [(16, 16), (16, 8), (8, 4), (4, 2), (2, 1)],
}
D_ARCH = {  # resolution -> (in, out, downsample) per D block; in=0: the image's 3 channels
    32: [(0, 4, True), (4, 4, True), (4, 4, False), (4, 4, False)],
    128: [(0, 1, True), (1, 2, True), (2, 4, True), (4, 8, True), (8, 16, True), (16, 16, False)],
}


def _sn(keys: list, prefix: str, shape: tuple[int, ...], bias: bool = True) -> None:
    keys.append((f"{prefix}.weight", shape))
    if bias:
        keys.append((f"{prefix}.bias", (shape[0],)))
    keys += [(f"{prefix}.u0", (1, shape[0])), (f"{prefix}.sv0", (1,))]


def _attention(keys: list, prefix: str, c: int) -> None:
    keys.append((f"{prefix}.gamma", ()))
    for name, (o, i) in (("theta", (c // 8, c)), ("phi", (c // 8, c)), ("g", (c // 2, c)), ("o", (c, c // 2))):
        _sn(keys, f"{prefix}.{name}", (o, i, 1, 1), bias=False)


def g_keys(resolution: int, ch: int, n_classes: int, dim_z: int, shared_dim: int, hier: bool,
           attention: tuple[int, ...]) -> list[tuple[str, tuple[int, ...]]]:
    arch = G_ARCH[resolution]
    chunk = dim_z // (len(arch) + 1) if hier else dim_z
    keys: list = []
    if shared_dim:
        keys.append(("shared.weight", (n_classes, shared_dim)))
    _sn(keys, "linear", (arch[0][0] * ch * 16, chunk))
    for i, (cin, cout) in enumerate(arch):
        cin, cout = cin * ch, cout * ch
        p = f"blocks.{i}.0"
        _sn(keys, f"{p}.conv1", (cout, cin, 3, 3))
        _sn(keys, f"{p}.conv2", (cout, cout, 3, 3))
        _sn(keys, f"{p}.conv_sc", (cout, cin, 1, 1))
        for bn, c in (("bn1", cin), ("bn2", cout)):
            keys += [(f"{p}.{bn}.stored_mean", (c,)), (f"{p}.{bn}.stored_var", (c,))]
            for part in ("gain", "bias"):
                if shared_dim:
                    _sn(keys, f"{p}.{bn}.{part}", (c, shared_dim + (chunk if hier else 0)), bias=False)
                else:
                    keys.append((f"{p}.{bn}.{part}.weight", (n_classes, c)))
        if 8 * 2**i in attention:
            _attention(keys, f"blocks.{i}.1", cout)
    last = arch[-1][1] * ch
    keys += [("output_layer.0.gain", (last,)), ("output_layer.0.bias", (last,)),
             ("output_layer.0.stored_mean", (last,)), ("output_layer.0.stored_var", (last,))]
    _sn(keys, "output_layer.2", (3, last, 3, 3))
    return keys


def d_keys(resolution: int, ch: int, n_classes: int, attention: tuple[int, ...]) -> list:
    keys: list = []
    res = resolution
    for i, (cin, cout, down) in enumerate(D_ARCH[resolution]):
        cin, cout = (cin * ch) or 3, cout * ch
        p = f"blocks.{i}.0"
        _sn(keys, f"{p}.conv1", (cout, cin, 3, 3))
        _sn(keys, f"{p}.conv2", (cout, cout, 3, 3))
        if cin != cout or down:
            _sn(keys, f"{p}.conv_sc", (cout, cin, 1, 1))
        res = res // 2 if down else res
        if res in attention:
            _attention(keys, f"blocks.{i}.1", cout)
    last = D_ARCH[resolution][-1][1] * ch
    _sn(keys, "linear", (1, last))
    keys += [("embed.weight", (n_classes, last)), ("embed.u0", (1, n_classes)), ("embed.sv0", (1,))]
    return keys


def random_state(keys: list, gen: torch.Generator) -> dict[str, torch.Tensor]:
    """Values a trained model could hold: small weights, positive variances, unit-norm u."""
    state = {}
    for name, shape in keys:
        leaf = name.rsplit(".", 1)[-1]
        if leaf == "stored_var":
            value = torch.rand(shape, generator=gen) + 0.5
        elif leaf == "u0":
            value = torch.nn.functional.normalize(torch.randn(shape, generator=gen), dim=1)
        elif leaf == "sv0":
            value = torch.rand(shape, generator=gen) + 1
        else:
            value = torch.randn(shape, generator=gen) * 0.1
        state[name] = value
    return state


def adam_state(state: dict[str, torch.Tensor], gen: torch.Generator, lr: float) -> dict[str, Any]:
    """An Adam state dict numbered as BGP's optimizer numbers its parameters."""
    params = [k for k in state if not k.rsplit(".", 1)[-1].startswith(("u0", "sv0", "stored_"))]
    entries = {i: {"step": torch.tensor(7.0), "exp_avg": torch.randn(state[k].shape, generator=gen),
                   "exp_avg_sq": torch.rand(state[k].shape, generator=gen)} for i, k in enumerate(params)}
    group = {"lr": lr, "betas": (0.0, 0.999), "eps": 1e-6, "weight_decay": 0, "amsgrad": False,
             "params": list(range(len(params)))}
    return {"state": entries, "param_groups": [group]}


def write_folder(folder: Path, resolution: int, ch: int, n_classes: int, dim_z: int, shared_dim: int,
                 hier: bool, g_attn: tuple[int, ...], d_attn: tuple[int, ...], itr: int = 5,
                 seed: int = 0) -> dict[str, Any]:
    """G, G_ema, D, both optimizers and state_dict.pth as BGP's utils.save_weights writes them."""
    gen = torch.Generator().manual_seed(seed)
    g = g_keys(resolution, ch, n_classes, dim_z, shared_dim, hier, g_attn)
    files = {"G": random_state(g, gen), "G_ema": random_state(g, gen),
             "D": random_state(d_keys(resolution, ch, n_classes, d_attn), gen)}
    files["G_optim"] = adam_state(files["G"], gen, 1e-4)
    files["D_optim"] = adam_state(files["D"], gen, 4e-4)
    config = {"G_ch": ch, "D_ch": ch, "resolution": resolution, "n_classes": n_classes, "dim_z": dim_z,
              "SN_eps": 1e-6, "BN_eps": 1e-5, "num_D_steps": 1, "ema_start": 3, "ema_decay": 0.999}
    files["state_dict"] = {"itr": itr, "epoch": 0, "config": config}
    folder.mkdir(parents=True, exist_ok=True)
    for name, obj in files.items():
        torch.save(obj, folder / f"{name}.pth")
    return files
