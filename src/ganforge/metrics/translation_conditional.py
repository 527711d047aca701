"""Measures of conditional translators: what StarGAN and BicycleGAN claim.

StarGAN (one G, many domains): every test image is translated K times, each time with one of
its K attributes flipped (the authors' test targets for non-exclusive attributes). A classifier
of the attributes then reads the translations: `attribute_accuracy` is the fraction of all
(translation, attribute) pairs it reads as the target says; `attribute_flip_accuracy` only
counts the attribute that was flipped (did the edit happen?). `reconstruction_l1` is the mean
|G(G(x, c'), c) - x| in [-1, 1] units (did the rest survive?). With several datasets (the mask
vector) an image is flipped, and scored, only on its own dataset's attributes.

BicycleGAN (one input, many outputs): each test input is translated with `n` codes
z ~ N(0, I); `diversity_l1` is the mean pairwise L1 distance ([-1, 1] units) between the
outputs of one input, averaged over inputs, and `diversity_features` the same with the
Euclidean distance of the feature extractor's (unit-normalised) features, the paper's LPIPS
stand-in where no LPIPS weights are available.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from ganforge.translation.attribute_sets import dataset_of, known_attributes, set_of_columns
from ganforge.translation.conditions import flipped_targets
from ganforge.translation.inference import run_generator


def attribute_translations(generator: nn.Module, images: torch.Tensor, labels: torch.Tensor,
                           mode: str, seed: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(translations (K*N, C, H, W), their targets (K*N, K), the flipped attribute (K*N,)),
    attribute-major: the first N flip attribute 0."""
    outputs, targets, flipped = [], [], []
    for k, target in enumerate(flipped_targets(labels.float())):
        outputs.append(run_generator(generator, images, mode, seed, target))
        targets.append(target)
        flipped.append(torch.full((len(images),), k))
    return torch.cat(outputs), torch.cat(targets), torch.cat(flipped)


def masked_attribute_translations(
    generator: nn.Module, images: torch.Tensor, labels: torch.Tensor, sets: tuple[int, ...], mode: str,
    seed: int,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Several datasets (labels (N, K + m) ending with the mask): each image of dataset j with
    each of j's attributes flipped, the only ones it is known by. (translations, targets (M, K),
    the flipped attribute (M,), the known attributes (M, K) 0/1, the input of each (M,))."""
    k_total, owner = sum(sets), dataset_of(labels, sets)
    known_all = known_attributes(labels.float(), sets)
    outputs, targets, flipped, known, sources = [], [], [], [], []
    for k, j in enumerate(set_of_columns(sets)):
        rows = torch.nonzero(owner == j).flatten()
        if len(rows) == 0:
            continue
        target = labels[rows].float().clone()
        target[:, k] = 1.0 - target[:, k]
        outputs.append(run_generator(generator, images[rows], mode, seed, target))
        targets.append(target[:, :k_total])
        flipped.append(torch.full((len(rows),), k))
        known.append(known_all[rows])
        sources.append(rows)
    return (torch.cat(outputs), torch.cat(targets), torch.cat(flipped), torch.cat(known),
            torch.cat(sources))


def attribute_scores(logits: np.ndarray | torch.Tensor, targets: torch.Tensor,
                     flipped: torch.Tensor, known: torch.Tensor | None = None) -> dict[str, float]:
    """Accuracy over every attribute (with `known`: over the known ones only), and over the
    flipped one, of sigmoid logits (> 0 = on)."""
    predicted = torch.as_tensor(np.asarray(logits)) > 0
    wanted = targets.bool()
    hits = predicted == wanted
    rows = torch.arange(len(flipped))
    accuracy = hits.float().mean() if known is None else hits[known.bool()].float().mean()
    return {"attribute_accuracy": float(accuracy),
            "attribute_flip_accuracy": float(hits[rows, flipped].float().mean())}


def latent_translations(generator: nn.Module, images: torch.Tensor, codes: torch.Tensor,
                        mode: str, seed: int) -> torch.Tensor:
    """(N, n, C, H, W): every image translated with each of the n codes (n, nz)."""
    n, count = len(images), len(codes)
    repeated = images.repeat_interleave(count, 0)
    out = run_generator(generator, repeated, mode, seed, codes.repeat(n, 1))
    return out.view(n, count, *out.shape[1:])


def mean_pairwise_distance(samples: torch.Tensor, metric: str = "l1") -> float:
    """Mean over inputs of the mean distance between the distinct pairs of its n samples
    (N, n, ...): `l1` the mean absolute difference, `l2` the Euclidean distance."""
    n = samples.shape[1]
    if n < 2:
        raise ValueError("diversity needs at least 2 samples per input")
    flat = samples.double().flatten(2)
    first, second = torch.triu_indices(n, n, offset=1)
    diff = flat[:, first] - flat[:, second]
    distance = diff.abs().mean(-1) if metric == "l1" else diff.norm(dim=-1)
    return float(distance.mean())
