"""BigGAN-PyTorch's state-dict keys onto ganforge's BigGAN, strictly, and its settings from them.

Both implementations hold the same parameters under other names: BGP nests each resolution's
block and attention as `blocks.i.0` / `blocks.i.1`, names the output layer `output_layer.0/2`,
keeps BN statistics as `stored_mean/var` and spectral norm as a `u0` (plus a logged `sv0`).
Every key of the reference must be used and every ganforge key filled, or the conversion stops
naming the first key that does not fit: a loose load would still draw (wrong) images.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

import torch
from torch import nn

from ganforge.errors import GanforgeError
from ganforge.nn.spectral import vectors_after_one_iteration

BUFFER_LEAVES = ("stored_mean", "stored_var", "accumulation_counter", "running_mean",
                 "running_var", "num_batches_tracked")
LOGGED = re.compile(r"sv\d+$")  # BGP's singular-value log: never read by its forward
BLOCKS = {3: 32, 4: 64, 5: 128, 6: 256, 7: 512}  # G blocks -> resolution (BGP's G_arch)


def is_buffer(key: str) -> bool:
    leaf = key.rsplit(".", 1)[-1]
    return leaf in BUFFER_LEAVES or bool(re.fullmatch(r"(u|sv)\d+", leaf))


def _module(path: str) -> str:
    """ganforge module path -> BGP module path (G and D alike)."""
    if m := re.fullmatch(r"blocks\.(\d+)(\..+)?", path):
        return f"blocks.{m[1]}.0{m[2] or ''}"
    if m := re.fullmatch(r"attention\.(\d+)(\..+)?", path):
        return f"blocks.{m[1]}.1{m[2] or ''}"
    return {"out_bn": "output_layer.0", "out_conv": "output_layer.2"}.get(path, path)


def source_of(key: str) -> tuple[str, str]:
    """(kind, BGP key) of one ganforge state-dict key; kind: copy | u | v | zero."""
    if ".parametrizations.weight." in key:
        path, _, rest = key.partition(".parametrizations.weight.")
        base = _module(path)
        kind = {"original": "copy", "0._u": "u", "0._v": "v"}[rest]
        return kind, f"{base}.weight" if kind == "copy" else f"{base}.u0"
    path, _, leaf = key.rpartition(".")
    if leaf == "num_batches_tracked":
        return "zero", ""
    if path.endswith(".bn") and leaf in ("running_mean", "running_var"):  # conditional BN
        return "copy", f"{_module(path[:-3])}.{leaf.replace('running', 'stored')}"
    if path == "out_bn":
        leaf = {"weight": "gain", "running_mean": "stored_mean", "running_var": "stored_var"}.get(leaf, leaf)
    return "copy", f"{_module(path)}.{leaf}"


def convert_state(
    reference: dict[str, torch.Tensor], model: nn.Module, sn_eps: float, file: str
) -> dict[str, torch.Tensor]:
    """ganforge's state dict for `model` from a BGP state dict, every key used exactly."""
    expected = model.state_dict()
    out: dict[str, torch.Tensor] = {}
    used: set[str] = set()
    for key, target in expected.items():
        kind, ref_key = source_of(key)
        if kind == "zero":
            out[key] = torch.zeros_like(target)
            continue
        if ref_key not in reference:
            raise GanforgeError(f"{file}: key '{ref_key}' is missing (ganforge's {key} needs it); "
                                "is this the right file, or a model of other settings?")
        used.add(ref_key)
        value = reference[ref_key]
        if kind in ("u", "v"):
            weight = reference[ref_key[: -len("u0")] + "weight"]
            pair = vectors_after_one_iteration(weight.float(), value.float(), sn_eps)
            value = pair[0] if kind == "u" else pair[1]
        if tuple(value.shape) != tuple(target.shape):
            raise GanforgeError(f"{file}: '{ref_key}' has shape {tuple(value.shape)}, ganforge's "
                                f"{key} has {tuple(target.shape)}; check --resolution, --ch and --attention")
        out[key] = value.detach().to(target.dtype).clone()
    extra = [k for k in reference if k not in used and not LOGGED.search(k)]
    if extra:
        hint = ("ganforge keeps one singular vector per layer (num_SVs=1)"
                if re.search(r"\.(u|sv)[1-9]\d*$", extra[0]) else "check --resolution and --attention")
        raise GanforgeError(f"{file}: unexpected key '{extra[0]}' ({len(extra)} unused); {hint}")
    return out


def parameter_names(reference: dict[str, Any]) -> list[str]:
    """BGP's parameters in the order its optimizer numbers them (a state dict lists each module's
    parameters, then its buffers, then its children: dropping the buffers keeps that order)."""
    return [k for k in reference if not is_buffer(k)]


# ---- settings from the weights ------------------------------------------------------------------
def _indices(keys: Iterable[str], pattern: str) -> list[int]:
    return sorted({int(m[1]) for k in keys if (m := re.match(pattern, k))})


def infer_settings(g: dict[str, torch.Tensor], d: dict[str, torch.Tensor] | None) -> dict[str, Any]:
    """What the weights fix: resolution, widths, classes, z, embedding, attention, SN in G.

    Widths are returned as BGP's `G_ch`/`D_ch`; eps values and training settings are not in
    the weights and come from state_dict.pth, a preset or flags."""
    file = "G.pth"
    blocks = _indices(g, r"blocks\.(\d+)\.0\.")
    if len(blocks) not in BLOCKS or blocks != list(range(len(blocks))):
        raise GanforgeError(f"{file}: {len(blocks)} generator blocks ('blocks.N.0.*'); BigGAN-PyTorch "
                            "models have 3 (32 px), 4 (64), 5 (128), 6 (256) or 7 (512)")
    resolution = BLOCKS[len(blocks)]
    last = f"blocks.{blocks[-1]}.0.conv2.weight"
    _need(g, last, file)
    g_ch = int(g[last].shape[0]) // (4 if resolution == 32 else 1)
    _need(g, "linear.weight", file)
    z_in = int(g["linear.weight"].shape[1])
    shared = "shared.weight" in g
    bn_gain = "blocks.0.0.bn1.gain.weight"
    _need(g, bn_gain, file)
    if shared:
        n_classes, shared_dim = (int(s) for s in g["shared.weight"].shape)
        cond = int(g[bn_gain].shape[1])
        hier = cond > shared_dim
        if hier and cond - shared_dim != z_in:
            raise GanforgeError(f"{file}: '{bn_gain}' reads {cond} inputs, which is neither the shared "
                                f"embedding ({shared_dim}) nor it plus a z chunk ({z_in})")
    else:
        n_classes, shared_dim, hier = int(g[bn_gain].shape[0]), 0, False
    settings: dict[str, Any] = {
        "resolution": resolution, "G_ch": g_ch, "n_classes": n_classes, "shared_dim": shared_dim,
        "hier": hier, "dim_z": z_in * (len(blocks) + 1) if hier else z_in,
        "G_attn": [8 * 2**i for i in _indices(g, r"blocks\.(\d+)\.1\.")],
        "G_SN": "linear.u0" in g,
    }
    if d is not None:
        settings.update(_infer_d(d, resolution))
    return settings


def _infer_d(d: dict[str, torch.Tensor], resolution: int) -> dict[str, Any]:
    file = "D.pth"
    blocks = _indices(d, r"blocks\.(\d+)\.0\.")
    first = "blocks.0.0.conv2.weight"
    _need(d, first, file)
    d_ch = int(d[first].shape[0]) // (4 if resolution == 32 else 1)
    for i in blocks:
        c1, c2 = f"blocks.{i}.0.conv1.weight", f"blocks.{i}.0.conv2.weight"
        _need(d, c1, file)
        if d[c1].shape[0] != d[c2].shape[0]:
            raise GanforgeError(f"{file}: '{c1}' outputs {d[c1].shape[0]} channels, not its block's "
                                f"{d[c2].shape[0]}: a thin D (--D_thin), which ganforge does not build")
    sizes, res = [], resolution
    for i in blocks:  # ganforge's D: blocks halve the size except the last (and 32 px's last two)
        res = res // 2 if i < len(blocks) - (2 if resolution == 32 else 1) else res
        sizes.append(res)
    return {"D_ch": d_ch, "D_attn": [sizes[i] for i in _indices(d, r"blocks\.(\d+)\.1\.")]}


def _need(state: dict[str, Any], key: str, file: str) -> None:
    if key not in state:
        raise GanforgeError(f"{file}: key '{key}' is missing; is this a BigGAN-PyTorch weights file?")
