"""ROI-Align (He et al. 2017) in plain torch: the object features LostGAN's discriminator reads.

The semantics are maskrcnn-benchmark's (and torchvision's `roi_align(aligned=False)`), the op
the LostGAN reference code builds: a box (x0, y0, x1, y1) in input pixels is scaled by
`spatial_scale`, its width and height are clamped to at least 1, and each of the output bins
averages `grid_h x grid_w` bilinear samples taken at the centres of a regular sub-grid
(`sampling_ratio` per side, or ceil(box side / output side) when it is 0). A sample more than one
pixel outside the map reads 0; one within a pixel of the border is clamped to it.

Bilinear sampling is separable, so the op is two small matrices per box, rows A_y (out_h, H) and
columns A_x (out_w, W), each already averaged over the bin's samples:
    out[k] = A_y[k] @ features[batch[k]] @ A_x[k]^T
exact, differentiable by autograd, and no custom kernel (torchvision is not a dependency).
"""

from __future__ import annotations

import torch


def _axis_weights(start: torch.Tensor, end: torch.Tensor, size: int, bins: int,
                  sampling_ratio: int) -> torch.Tensor:
    """(K, bins, size): each bin's averaged bilinear weights over the feature axis of `size`."""
    length = (end - start).clamp_min(1.0)
    bin_size = length / bins
    if sampling_ratio > 0:
        grid = torch.full_like(length, float(sampling_ratio))
    else:
        grid = torch.ceil(length / bins).clamp_min(1.0)
    most = int(grid.max().item()) if grid.numel() else 1
    steps = torch.arange(most, device=start.device, dtype=start.dtype)  # (G,)
    p = torch.arange(bins, device=start.device, dtype=start.dtype)  # (P,)
    # sample positions (K, P, G)
    pos = (start[:, None, None] + p[None, :, None] * bin_size[:, None, None]
           + (steps[None, None, :] + 0.5) * (bin_size / grid)[:, None, None])
    used = (steps[None, None, :] < grid[:, None, None]).to(start.dtype)
    outside = (pos < -1.0) | (pos > size)
    pos = pos.clamp_min(0.0)
    low = pos.floor()
    at_edge = low >= size - 1
    low = torch.where(at_edge, torch.full_like(low, size - 1), low)
    pos = torch.where(at_edge, low, pos)
    high = torch.where(at_edge, low, low + 1)
    frac = pos - low
    keep = used * (~outside).to(start.dtype) / grid[:, None, None]
    cells = torch.arange(size, device=start.device, dtype=start.dtype)
    weights = ((1 - frac)[..., None] * (cells == low[..., None]).to(start.dtype)
               + frac[..., None] * (cells == high[..., None]).to(start.dtype))  # (K, P, G, size)
    return (weights * keep[..., None]).sum(2)


def roi_align(features: torch.Tensor, rois: torch.Tensor, output_size: tuple[int, int],
              spatial_scale: float, sampling_ratio: int = 0) -> torch.Tensor:
    """features (N, C, H, W), rois (K, 5) = (batch index, x0, y0, x1, y1) in input pixels
    -> (K, C, out_h, out_w)."""
    if rois.ndim != 2 or rois.shape[1] != 5:
        raise ValueError(f"rois must be (K, 5) = (batch index, x0, y0, x1, y1), got {tuple(rois.shape)}")
    out_h, out_w = output_size
    _, c, h, w = features.shape
    if rois.shape[0] == 0:
        return features.new_zeros(0, c, out_h, out_w)
    boxes = rois[:, 1:].to(features.dtype) * spatial_scale
    a_y = _axis_weights(boxes[:, 1], boxes[:, 3], h, out_h, sampling_ratio)
    a_x = _axis_weights(boxes[:, 0], boxes[:, 2], w, out_w, sampling_ratio)
    picked = features[rois[:, 0].long()]
    return torch.einsum("kph,kchw,kqw->kcpq", a_y, picked, a_x)


class ROIAlign(torch.nn.Module):
    """`roi_align` with fixed output size, scale and sampling ratio (no parameters)."""

    def __init__(self, output_size: tuple[int, int], spatial_scale: float, sampling_ratio: int = 0) -> None:
        super().__init__()
        self.output_size, self.spatial_scale, self.sampling_ratio = tuple(output_size), spatial_scale, sampling_ratio

    def forward(self, features: torch.Tensor, rois: torch.Tensor) -> torch.Tensor:
        return roi_align(features, rois, self.output_size, self.spatial_scale, self.sampling_ratio)
