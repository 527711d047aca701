"""FIR resampling in plain PyTorch: StyleGAN2's [1,3,3,1] low-pass up/down-sampling.

StyleGAN2 (Karras et al. 2020, after Zhang's "Making convolutional networks shift-invariant
again") resamples with a separable [1,3,3,1] binomial filter instead of nearest neighbours, so
that the networks see less aliasing. The official code runs this through a custom CUDA op
(upfirdn2d); here it is a zero-insertion, a pad, a depthwise convolution and a stride, which is
the op's definition, runs anywhere, and is what the parity benchmark compares against.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F

FIR_TAPS = (1.0, 3.0, 3.0, 1.0)


def fir_filter(taps: Sequence[float] = FIR_TAPS) -> torch.Tensor:
    """The 2-D filter: the outer product of `taps` with itself, normalised to sum 1 (the [1,3,3,1]
    filter is [1,3,3,1]^T [1,3,3,1] / 64), so that a constant image keeps its value."""
    t = torch.as_tensor(taps, dtype=torch.float32)
    f = torch.outer(t, t)
    return f / f.sum()


def upfirdn(x: torch.Tensor, f: torch.Tensor, up: int = 1, down: int = 1,
            pad: tuple[int, int, int, int] = (0, 0, 0, 0), gain: float = 1.0) -> torch.Tensor:
    """Upsample by inserting up-1 zeros, pad (left, right, top, bottom; negative crops), convolve
    every channel with `f` times `gain`, keep every `down`-th pixel."""
    n, c, h, w = x.shape
    if up > 1:
        x = x.reshape(n, c, h, 1, w, 1)
        x = F.pad(x, [0, up - 1, 0, 0, 0, up - 1]).reshape(n, c, h * up, w * up)
    x = F.pad(x, [max(p, 0) for p in pad])
    left, right, top, bottom = (max(-p, 0) for p in pad)
    x = x[:, :, top: x.shape[2] - bottom, left: x.shape[3] - right]
    kernel = (f * gain).flip([0, 1]).to(x.dtype)  # a true convolution (the filter is symmetric anyway)
    kernel = kernel[None, None].expand(c, 1, *f.shape)
    x = F.conv2d(x, kernel, groups=c)
    return x[:, :, ::down, ::down] if down > 1 else x


def upsample2d(x: torch.Tensor, f: torch.Tensor) -> torch.Tensor:
    """x2 up: zeros inserted, then the filter with gain 4 (each output pixel got a quarter of the
    taps), padded so that the output is exactly twice the input."""
    k = f.shape[0]
    return upfirdn(x, f, up=2, pad=((k + 1) // 2, (k - 2) // 2, (k + 1) // 2, (k - 2) // 2), gain=4.0)


def downsample2d(x: torch.Tensor, f: torch.Tensor) -> torch.Tensor:
    """x2 down: the filter, then every second pixel; the output is exactly half the input."""
    k = f.shape[0]
    return upfirdn(x, f, down=2, pad=((k - 1) // 2, (k - 2) // 2, (k - 1) // 2, (k - 2) // 2))


def conv_up2(x: torch.Tensor, weight: torch.Tensor, f: torch.Tensor, groups: int = 1) -> torch.Tensor:
    """A k x k convolution on the x2 upsampled image, as StyleGAN2 computes it: a stride-2
    transposed convolution (no zeros multiplied), then the FIR filter with gain 4 and the padding
    that makes the output exactly 2H x 2W.

    weight: (out, in/groups, k, k), the orientation of an ordinary conv2d weight.
    """
    out_ch, in_per_group, k, _ = weight.shape
    # conv_transpose2d wants (in, out/groups, k, k): swap the two axes within each group
    w = weight.reshape(groups, out_ch // groups, in_per_group, k, k).transpose(1, 2)
    w = w.reshape(groups * in_per_group, out_ch // groups, k, k)
    x = F.conv_transpose2d(x, w, stride=2, groups=groups)  # (2H + k - 2) square
    fk = f.shape[0]
    # total padding that leaves 2H after the FIR: (2H + k - 2) + p0 + p1 - fk + 1 = 2H
    p0 = (fk + 1) // 2 + k // 2 - (k - 1)
    p1 = (fk - 2) // 2 + k // 2 - (k - 2)
    return upfirdn(x, f, pad=(p0, p1, p0, p1), gain=4.0)


def conv_down2(x: torch.Tensor, weight: torch.Tensor, f: torch.Tensor) -> torch.Tensor:
    """A k x k convolution followed by x2 downsampling, as StyleGAN2 computes it: the FIR filter
    first (padded by k // 2 plus the filter's own), then a stride-2 convolution. A 1x1 kernel
    is the filter's downsampling then a pointwise convolution."""
    k, fk = weight.shape[-1], f.shape[0]
    if k == 1:
        return F.conv2d(downsample2d(x, f), weight)
    p0 = k // 2 + (fk - 1) // 2
    p1 = k // 2 + (fk - 2) // 2
    x = upfirdn(x, f, pad=(p0, p1, p0, p1))
    return F.conv2d(x, weight, stride=2)
