"""Exact algorithms that do fewer multiplications for 3x3 convolutions on the CPU.

`train.conv_algorithm=winograd` routes every stride-1, padding-1 3x3 convolution of G and D to
the cheapest of three ways of computing the same result in float32 on the CPU:

- **Winograd F(4x4, 3x3)** (Lavin & Gray 2016) for wide layers (>= 128 channels in and out) on
  maps of >= 16 px: each 6x6 input tile and each 3x3 kernel are transformed so that a 4x4 output
  tile takes 36 multiplications instead of 144; the channel sums become 36 batched matrix
  products. Forward and both backward products get the same 4x saving.
- **One matrix product over unfolded 3x3 patches** for thin inputs (<= 7 channels: the RGB or
  grey images entering D), where oneDNN's direct kernel is several times slower than a GEMM.
- **torch's own kernel** for everything else (narrow layers, small maps, sizes not divisible
  by 4), where the transforms cost more than they save.

Blocks with a `low_res_shortcut` flag (BigGAN's G and D blocks) also move their 1x1 shortcut
convolution to the lower resolution: nearest upsampling and average pooling commute with it,
so the result is the same for a quarter of the multiplications.

Why this exists: fp32 direct convolution already runs near this CPU's FMA peak
(BENCHMARKS.md "Scale and speed"), so only fewer multiplications can make a BigGAN step faster
without changing its arithmetic precision. The thresholds are the crossovers measured there.
Results differ from torch's kernel by float32 rounding only (relative error ~1e-5, tested); on
GPUs cuDNN already chooses Winograd or implicit-GEMM kernels itself, so this is CPU-only.
"""

from __future__ import annotations

import functools
import types

import torch
import torch.nn.functional as F
from torch import nn

CONV_ALGORITHMS = ("torch", "winograd")
WINOGRAD_MIN_CHANNELS = 128  # narrower layers are faster with torch's kernel (BENCHMARKS.md)
WINOGRAD_MIN_SIZE = 16  # 8x8 maps hold too few tiles to pay for the transforms
THIN_MAX_CHANNELS = 7  # up to this many input channels, one GEMM over unfolded patches
CHUNK_BYTES = 4 << 20  # transformed tiles per chunk of the batch: stays in the CPU's cache

# F(4x4, 3x3) with interpolation points 0, +-1, +-2 and infinity (Lavin & Gray, eq. 8-10).
_BT = ((4, 0, -5, 0, 1, 0), (0, -4, -4, 1, 1, 0), (0, 4, -4, -1, 1, 0),
       (0, -2, -1, 2, 1, 0), (0, 2, -1, -2, 1, 0), (0, 4, 0, -5, 0, 1))
_G = ((1 / 4, 0, 0), (-1 / 6, -1 / 6, -1 / 6), (-1 / 6, 1 / 6, -1 / 6),
      (1 / 24, 1 / 12, 1 / 6), (1 / 24, -1 / 12, 1 / 6), (0, 0, 1))
_AT = ((1, 1, 1, 1, 1, 0), (0, 1, -1, 2, -2, 0), (0, 1, 1, 4, 4, 0), (0, 1, -1, 8, -8, 1))


@functools.cache
def _get_matrices(dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """B^T (6x6), A^T (4x6) and G (x) G (36x9) in `dtype`, built in float64 then rounded."""
    bt, at, g = (torch.tensor(m, dtype=torch.float64) for m in (_BT, _AT, _G))
    return bt.to(dtype), at.to(dtype), torch.kron(g, g).to(dtype)


def _tiles(xp: torch.Tensor, th: int, tw: int, rows: int = 6, cols: int = 6, r0: int = 0,
           c0: int = 0) -> torch.Tensor:
    """View of a padded (n, c, H, W) map as (rows, cols, c, n, th, tw): the tile grid of stride 4
    starting at (r0, c0), tile position first so that the transforms are plain matrix products."""
    sn, sc, sh, sw = xp.stride()
    n, c = xp.shape[:2]
    return xp.as_strided((rows, cols, c, n, th, tw), (sh, sw, sc, sn, 4 * sh, 4 * sw),
                         xp.storage_offset() + r0 * sh + c0 * sw)


def _both_sides(m: torch.Tensor, tiles: torch.Tensor) -> torch.Tensor:
    """M X M^T for every tile X of a (q, q, R) stack, as two products: (p, p, R)."""
    p, q = m.shape
    rest = tiles.numel() // (q * q)
    half = (m @ tiles.reshape(q, q * rest)).view(p, q, rest)
    return torch.matmul(m, half)


def _chunk(n: int, c: int, th: int, tw: int) -> int:
    return max(1, min(n, CHUNK_BYTES // (36 * c * th * tw * 4)))


class _Winograd3x3(torch.autograd.Function):
    """y = conv2d(x, w, b, padding=1) by F(4x4, 3x3), the batch processed in cache-sized chunks.

    Saves the transformed weight and input tiles (not x) so that the backward pass only runs
    the two batched products and the transposed transforms.
    """

    @staticmethod
    def forward(ctx, x: torch.Tensor, w: torch.Tensor, b: torch.Tensor | None,  # type: ignore[override]
                keep: bool) -> torch.Tensor:
        bt, at, gg = _get_matrices(x.dtype)
        n, c, h, wd = x.shape
        k = w.shape[0]
        th, tw = h // 4, wd // 4
        chunk = _chunk(n, c, th, tw)
        u = (gg @ w.reshape(k * c, 9).T).view(36, k, c)
        y = x.new_empty(n, k, h, wd)
        xp = F.pad(x, (1, 1, 1, 1))
        gathered = x.new_empty(6, 6, c, chunk, th, tw)
        bias = None if b is None else b.view(1, k, 1, 1, 1, 1)
        saved = []
        for start in range(0, n, chunk):
            stop = min(n, start + chunk)
            d = gathered[:, :, :, : stop - start]
            d.copy_(_tiles(xp[start:stop], th, tw))
            v = _both_sides(bt, d).view(36, c, -1)
            if keep:
                saved.append(v)
            m = torch.bmm(u, v)
            tiles = _both_sides(at, m).view(4, 4, k, stop - start, th, tw).permute(3, 2, 4, 0, 5, 1)
            out = y[start:stop].view(stop - start, k, th, 4, tw, 4)
            if bias is None:
                out.copy_(tiles)
            else:
                torch.add(tiles, bias, out=out)
        ctx.save_for_backward(u, *saved)
        ctx.geometry = (n, c, h, wd, chunk)
        ctx.has_bias = b is not None
        return y

    @staticmethod
    def backward(ctx, gy: torch.Tensor):  # type: ignore[override]
        u, *saved = ctx.saved_tensors
        if not saved:
            raise RuntimeError("winograd conv ran without gradients recorded; cannot backpropagate")
        bt, at, gg = _get_matrices(gy.dtype)
        n, c, h, wd, chunk = ctx.geometry
        k = u.shape[1]
        th, tw = h // 4, wd // 4
        gy = gy.contiguous()
        # padded input gradient with room for the last tiles' 2-pixel overhang
        gxp = gy.new_empty(n, c, 4 * th + 4, 4 * tw + 4)
        gxp[:, :, 4 * th:].zero_()
        gxp[:, :, : 4 * th, 4 * tw:].zero_()
        gu = torch.zeros_like(u)
        ut = u.transpose(1, 2)
        gathered = gy.new_empty(4, 4, k, chunk, th, tw)
        for index, start in enumerate(range(0, n, chunk)):
            stop = min(n, start + chunk)
            g = gathered[:, :, :, : stop - start]
            g.copy_(gy[start:stop].view(stop - start, k, th, 4, tw, 4).permute(3, 5, 1, 0, 2, 4))
            gm = _both_sides(at.T, g).view(36, k, -1)
            gu.baddbmm_(gm, saved[index].transpose(1, 2))
            gd = _both_sides(bt.T, torch.bmm(ut, gm)).view(6, 6, c, stop - start, th, tw)
            part = gxp[start:stop]
            # the tiles overlap by 2 pixels: write the 4x4 cores, then add the overhangs
            _tiles(part, th, tw, 4, 4).copy_(gd[:4, :4])
            _tiles(part, th, tw, 2, 4, 4, 0).add_(gd[4:, :4])
            _tiles(part, th, tw, 6, 2, 0, 4).add_(gd[:, 4:])
        gx = gxp[:, :, 1 : h + 1, 1 : wd + 1]
        gw = (gu.view(36, k * c).T @ gg).view(k, c, 3, 3)
        gb = gy.sum((0, 2, 3)) if ctx.has_bias else None
        return gx, gw, gb, None


def winograd_conv3x3(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None) -> torch.Tensor:
    """conv2d(x, weight, bias, padding=1) by Winograd F(4x4, 3x3); H and W multiples of 4."""
    if x.shape[-1] % 4 or x.shape[-2] % 4:
        raise ValueError(f"winograd_conv3x3 needs H and W divisible by 4, got {tuple(x.shape[-2:])}")
    keep = torch.is_grad_enabled() and (x.requires_grad or weight.requires_grad
                                        or (bias is not None and bias.requires_grad))
    return _Winograd3x3.apply(x, weight, bias, keep)


def patch_gemm_conv3x3(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None) -> torch.Tensor:
    """conv2d(x, weight, bias, padding=1) as one batched matrix product over unfolded patches."""
    n, c, h, w = x.shape
    k = weight.shape[0]
    patches = F.unfold(x, 3, padding=1)  # (n, c*9, h*w)
    kernel = weight.reshape(1, k, c * 9).expand(n, k, c * 9)
    if bias is None:
        y = torch.bmm(kernel, patches)
    else:
        y = torch.baddbmm(bias.view(1, k, 1).expand(n, k, h * w), kernel, patches)
    return y.view(n, k, h, w)


def choose(x: torch.Tensor, weight: torch.Tensor) -> str:
    """Which algorithm `train.conv_algorithm=winograd` uses for this input: winograd, gemm or torch."""
    n, c, h, w = x.shape
    if x.device.type != "cpu" or x.dtype != torch.float32 or torch.is_autocast_enabled("cpu"):
        return "torch"  # Winograd's transforms need float32's mantissa
    if c <= THIN_MAX_CHANNELS:
        return "gemm"
    if (min(c, weight.shape[0]) >= WINOGRAD_MIN_CHANNELS and min(h, w) >= WINOGRAD_MIN_SIZE
            and h % 4 == 0 and w % 4 == 0):
        return "winograd"
    return "torch"


def _fast_conv_forward(self: nn.Conv2d, x: torch.Tensor, weight: torch.Tensor,
                       bias: torch.Tensor | None) -> torch.Tensor:
    algorithm = choose(x, weight) if x.dim() == 4 else "torch"
    if algorithm == "winograd":
        return winograd_conv3x3(x, weight, bias)
    if algorithm == "gemm":
        return patch_gemm_conv3x3(x, weight, bias)
    return nn.Conv2d._conv_forward(self, x, weight, bias)


def eligible(module: nn.Module) -> bool:
    """A plain 3x3 convolution: stride 1, zero padding 1, no dilation, no groups."""
    return (isinstance(module, nn.Conv2d) and module.kernel_size == (3, 3) and module.stride == (1, 1)
            and module.padding == (1, 1) and module.dilation == (1, 1) and module.groups == 1
            and module.padding_mode == "zeros")


def use_conv_algorithm(model: nn.Module, algorithm: str) -> int:
    """Route the eligible convolutions of `model` to `algorithm`; returns how many were routed.

    Only the forward method of each module instance changes (parameters, state-dict keys and
    spectral-norm parametrizations stay as they are), so checkpoints are interchangeable
    between algorithms and a deep copy (G_ema) keeps the routing.
    """
    if algorithm not in CONV_ALGORITHMS:
        raise ValueError(f"unknown conv algorithm '{algorithm}'; available: {', '.join(CONV_ALGORITHMS)}")
    routed = 0
    for module in model.modules():
        if hasattr(module, "low_res_shortcut"):
            module.low_res_shortcut = algorithm == "winograd"
        if not eligible(module):
            continue
        if algorithm == "winograd":
            module._conv_forward = types.MethodType(_fast_conv_forward, module)
            routed += 1
        else:
            module.__dict__.pop("_conv_forward", None)
    return routed
