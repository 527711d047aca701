"""What conditional translators take besides the image: StarGAN's target attribute labels and
BicycleGAN's latent codes, made from what a user types or from a seed."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from ganforge.errors import GanforgeError
from ganforge.translation import attribute_sets
from ganforge.translation.attribute_sets import mask_width

MAX_CODES = 1000


def target_label(attributes: Sequence[str], to: str, sets: Sequence[int] = ()) -> torch.Tensor:
    """(K,) 0/1 label from `--to A,B`: the named attributes on, every other one off. With several
    datasets (`sets`), (K + m,): the named attributes' dataset's part and its mask."""
    names = [name.strip() for name in to.split(",") if name.strip()]
    unknown = [name for name in names if name not in attributes]
    if unknown:
        raise GanforgeError(f"--to: unknown attribute '{unknown[0]}'; this run's attributes: "
                            f"{', '.join(attributes)}")
    if mask_width(sets):
        return attribute_sets.target_label(attributes, sets, names)
    return torch.tensor([1.0 if name in names else 0.0 for name in attributes])


def flipped_targets(labels: torch.Tensor) -> list[torch.Tensor]:
    """For each attribute k, the labels (N, K) with attribute k flipped: the test targets (the
    authors' `create_labels` for non-exclusive attributes)."""
    targets = []
    for k in range(labels.shape[1]):
        target = labels.clone()
        target[:, k] = 1.0 - target[:, k]
        targets.append(target)
    return targets


def latent_codes(count: int, nz: int, seed: int) -> torch.Tensor:
    """(count, nz) codes z ~ N(0, I) from a seeded generator: the same seed, the same codes."""
    if not 1 <= count <= MAX_CODES:
        raise GanforgeError(f"--n must be between 1 and {MAX_CODES}, got {count}")
    return torch.randn(count, nz, generator=torch.Generator().manual_seed(seed))
