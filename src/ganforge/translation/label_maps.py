"""Label maps as the translation task carries them: uint8 (N, 1, S, S) class ids, which the task
(like any image) hands to a network as x = id / 127.5 - 1. `decode_ids` inverts that exactly;
`one_hot` gives SPADE's semantic input; `colourise` the palette images for grids, the serve page
and pix2pix's colour-coded label maps (as the pix2pix paper's Cityscapes labels)."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ganforge.errors import GanforgeError

DONTCARE_ID = 255  # the "unknown" id in label files (the authors' code maps it to label_nc)


def semantic_classes(label_nc: int, contain_dontcare_label: bool) -> int:
    """Channels of the one-hot map: the classes, and one for "don't care" when kept."""
    return label_nc + int(contain_dontcare_label)


def decode_ids(x: torch.Tensor) -> torch.Tensor:
    """[-1, 1] floats of a uint8 id map (N, 1, H, W) -> long ids (exact: ids are integers)."""
    if x.dtype == torch.uint8:
        return x.long()
    return ((x.float() + 1.0) * 127.5).round().long()


def one_hot(ids: torch.Tensor, classes: int, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """(N, 1, H, W) ids -> (N, classes, H, W) one-hot; ids outside [0, classes) are an error."""
    if ids.numel() and (int(ids.min()) < 0 or int(ids.max()) >= classes):
        raise GanforgeError(f"label id {int(ids.max())} is outside the {classes} classes of this "
                            "model (translation.label_nc, + 1 with contain_dontcare_label)")
    return F.one_hot(ids[:, 0], classes).permute(0, 3, 1, 2).to(dtype)


def palette(classes: int) -> torch.Tensor:
    """(classes, 3) uint8 colours: class 0 black, the others spread over the hue circle."""
    hue = torch.arange(classes).float() * 0.618034 % 1.0
    k = (torch.tensor([5.0, 3.0, 1.0]) + hue[:, None] * 6.0) % 6.0
    rgb = 1.0 - 0.75 * torch.clamp(torch.minimum(k, 4.0 - k), 0.0, 1.0)
    rgb = rgb * torch.where(torch.arange(classes) % 2 == 0, 0.75, 1.0)[:, None]
    rgb[0] = 0.0
    return (rgb * 255).round().byte()


def colourise(ids: torch.Tensor, classes: int) -> torch.Tensor:
    """(N, 1, H, W) ids -> uint8 (N, 3, H, W) palette colours (ids beyond `classes` wrap)."""
    colours = palette(max(classes, 1))
    return colours[ids[:, 0].long() % len(colours)].permute(0, 3, 1, 2).contiguous()


# ---- instance maps ---------------------------------------------------------------------------
# A label map with instances travels as three uint8 channels: the class ids, then each pixel's
# instance number (its rank among the image's distinct instance ids) high byte, low byte. Only
# the inequality of neighbouring ids matters to the edge map, which the number keeps exactly.
INSTANCE_CHANNELS = 2
MAX_INSTANCES = 256**INSTANCE_CHANNELS


def instance_edges(instances: torch.Tensor) -> torch.Tensor:
    """(N, 1, H, W) instance ids -> bool (N, 1, H, W) edges: a pixel is an edge where its id
    differs from its left, right, upper or lower neighbour's (both pixels of each unequal
    neighbouring pair are marked), as SPADE's `get_edges`."""
    edge = torch.zeros(instances.shape, dtype=torch.bool, device=instances.device)
    across = instances[..., :, 1:] != instances[..., :, :-1]
    down = instances[..., 1:, :] != instances[..., :-1, :]
    edge[..., :, 1:] |= across
    edge[..., :, :-1] |= across
    edge[..., 1:, :] |= down
    edge[..., :-1, :] |= down
    return edge


def unpack_instances(ids: torch.Tensor) -> torch.Tensor:
    """The instance numbers (N, 1, H, W) of a decoded three-channel map (class, high, low)."""
    return ids[:, 1:2] * 256 + ids[:, 2:3]
