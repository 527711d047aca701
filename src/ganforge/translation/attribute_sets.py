"""StarGAN's training on several datasets with different label sets (Choi et al. 2018, section
3.2; the authors' `train_multi`): `--data SPEC1+SPEC2[+...]`, each part attribute data
(`celeba:DIR`, `attributes:FILE.csv`, `demo:digit-...`).

The label G and D see is [labels of dataset 1, labels of dataset 2, ..., one-hot mask of the
dataset], the unknown datasets' parts zero: an image of dataset j is known only by its own
attributes. `attribute_sets` gives how many of the run's attributes each dataset labels, in label
order. Batches alternate between the datasets (one batch, one dataset: the authors' loop over
datasets within an iteration); D's domain classification (real images) and G's (fakes) count only
the known dataset's attributes, so the other datasets' logits get no gradient from that batch.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any

import torch

from ganforge.errors import GanforgeError
from ganforge.translation.data_types import TranslationData
from ganforge.translation.streams import AttributeStream

ATTRIBUTE_KINDS = ("celeba", "attributes", "demo")
SPEC_KINDS = (*ATTRIBUTE_KINDS, "paired", "unpaired", "prepared", "instances", "labels")
# "+" joins datasets only where the next part starts like a data spec, so paths may hold "+"
_JOIN = re.compile(r"\+(?=(?:" + "|".join(SPEC_KINDS) + r"):)")
SET_SEED_STRIDE = 1009  # each dataset's batch order and jitter from its own seed


def split_spec(spec: str) -> list[str]:
    """The parts of a multi-dataset spec (`A+B`); a plain spec is one part."""
    return [part.strip() for part in _JOIN.split(spec.strip())]


def mask_width(sets: Sequence[int]) -> int:
    """The mask's length: one per dataset, none with a single dataset."""
    return len(sets) if len(sets) > 1 else 0


def set_of_columns(sets: Sequence[int]) -> list[int]:
    """The dataset of each attribute column (label order)."""
    return [j for j, k in enumerate(sets) for _ in range(k)]


def with_mask(labels: torch.Tensor, index: int, sets: Sequence[int]) -> torch.Tensor:
    """Dataset `index`'s own labels (N, sets[index]) -> the full label (N, K + m): its part in
    place, every other dataset's part zero, then the one-hot mask of `index`."""
    if labels.shape[1] != sets[index]:
        raise ValueError(f"dataset {index} labels {sets[index]} attributes, got {labels.shape[1]} columns")
    total = sum(sets)
    start = sum(sets[:index])
    out = torch.zeros(labels.shape[0], total + len(sets), dtype=torch.float32)
    out[:, start : start + sets[index]] = labels.float()
    out[:, total + index] = 1.0
    return out


def dataset_of(labels: torch.Tensor, sets: Sequence[int]) -> torch.Tensor:
    """(N,) the dataset each full label (N, K + m) belongs to, read from its mask."""
    return labels[:, sum(sets):].argmax(1)


def known_attributes(labels: torch.Tensor, sets: Sequence[int]) -> torch.Tensor:
    """(N, K) 1 where the attribute belongs to the label's own dataset (its mask), else 0."""
    membership = torch.zeros(len(sets), sum(sets), dtype=labels.dtype, device=labels.device)
    for column, j in enumerate(set_of_columns(sets)):
        membership[j, column] = 1.0
    return labels[:, sum(sets):] @ membership


def flipped_targets(labels: torch.Tensor, sets: Sequence[int]) -> list[torch.Tensor]:
    """For each attribute k (of dataset j), the full labels (N, K + m) with k flipped and the
    mask on j: an image of dataset j keeps its own part, an image of another dataset has j's part
    zero (unknown) before the flip, so it is asked for attribute k on (a cross-dataset edit)."""
    total, owner = sum(sets), dataset_of(labels, sets)
    targets = []
    for k, j in enumerate(set_of_columns(sets)):
        start = sum(sets[:j])
        target = torch.zeros_like(labels)
        own = owner == j
        target[own, start : start + sets[j]] = labels[own, start : start + sets[j]]
        target[:, k] = 1.0 - target[:, k]
        target[:, total + j] = 1.0
        targets.append(target)
    return targets


def target_label(attributes: Sequence[str], sets: Sequence[int], names: list[str]) -> torch.Tensor:
    """(K + m,) label of `--to` names: on in their dataset's part, every other value off, and the
    mask of that dataset (all named attributes must belong to one dataset)."""
    owner = set_of_columns(sets)
    chosen = sorted({owner[attributes.index(name)] for name in names})
    if not chosen:
        raise GanforgeError("--to names no attribute; with several datasets name at least one of "
                            "the dataset to translate to (the mask vector picks it): "
                            f"{_describe(attributes, sets)}")
    if len(chosen) > 1:
        raise GanforgeError(f"--to names attributes of {len(chosen)} datasets; one translation targets "
                            f"one dataset's labels (the mask vector): {_describe(attributes, sets)}")
    own = torch.tensor([1.0 if name in names else 0.0 for name in attributes])
    start = sum(sets[: chosen[0]])
    return with_mask(own[start : start + sets[chosen[0]]][None], chosen[0], sets)[0]


def _describe(attributes: Sequence[str], sets: Sequence[int]) -> str:
    parts, start = [], 0
    for j, k in enumerate(sets):
        parts.append(f"dataset {j + 1}: {', '.join(attributes[start : start + k])}")
        start += k
    return "; ".join(parts)


# ---- data ---------------------------------------------------------------------------------------
def load_sets(spec: str, wanted: list[str], load_one: Callable[[str], TranslationData]) -> TranslationData:
    """The datasets of `A+B[+...]` as one: images concatenated, labels with their masks.

    `load_one(part)` reads a part with all its attributes; `wanted` ([]: all) picks attributes
    from any dataset, each dataset keeping those it has in its own file order."""
    parts = split_spec(spec)
    loaded = []
    for part in parts:
        kind = part.partition(":")[0]
        if kind not in ATTRIBUTE_KINDS:
            raise GanforgeError(f"--data {spec}: '{part}' is not attribute data; each dataset of a "
                                "multi-dataset StarGAN is celeba:DIR, attributes:FILE.csv or demo:digit-...")
        data = load_one(part)
        if data.train_attrs is None:
            raise GanforgeError(f"--data {spec}: '{part}' has no attribute labels; each dataset of a "
                                "multi-dataset StarGAN is celeba:DIR, attributes:FILE.csv or demo:digit-...")
        loaded.append(data)
    owners: dict[str, str] = {}
    for part, data in zip(parts, loaded, strict=True):
        for name in data.attributes:
            if name in owners:
                raise GanforgeError(f"attribute '{name}' is in both {owners[name]} and {part}; the "
                                    "datasets' label sets must differ (rename one, e.g. a CSV column)")
            owners[name] = part
    missing = [name for name in wanted if name not in owners]
    if missing:
        raise GanforgeError(f"translation.attributes: '{missing[0]}' is in none of the datasets of "
                            f"{spec}; available: {', '.join(owners)}")
    if len(set(wanted)) != len(wanted):
        raise GanforgeError(f"translation.attributes names an attribute twice: {wanted}")
    columns = []
    for part, data in zip(parts, loaded, strict=True):
        keep = [i for i, name in enumerate(data.attributes) if not wanted or name in wanted]
        if not keep:
            raise GanforgeError(f"translation.attributes keeps none of {part}'s attributes "
                                f"({', '.join(data.attributes)}); name at least one, or use [] for all")
        columns.append(keep)
    sets = tuple(len(keep) for keep in columns)
    shapes = {tuple(d.train_a.shape[1:]) for d in loaded}
    if len(shapes) > 1:
        raise GanforgeError(f"--data {spec}: the datasets' images differ in shape {sorted(shapes)}")

    def stacked(images: str, attrs: str) -> tuple[Any, Any]:
        pairs = [(getattr(d, images), getattr(d, attrs)[:, keep], j)
                 for j, (d, keep) in enumerate(zip(loaded, columns, strict=True))
                 if getattr(d, images) is not None]
        if not pairs:
            return None, None
        return (torch.cat([p[0] for p in pairs]),
                torch.cat([with_mask(p[1], p[2], sets) for p in pairs]))

    train, train_attrs = stacked("train_a", "train_attrs")
    test, test_attrs = stacked("test_a", "test_attrs")
    labels = None
    if test is not None and all(d.test_labels is not None for d in loaded if d.test_a is not None):
        labels = torch.cat([d.test_labels for d in loaded if d.test_a is not None])
    names = tuple(data.attributes[i] for data, keep in zip(loaded, columns, strict=True) for i in keep)
    return TranslationData(train, train, False, test, test, False, spec, labels, attributes=names,
                           train_attrs=train_attrs, test_attrs=test_attrs, attribute_sets=sets)


class MultiAttributeStream:
    """Batches from the datasets in turn: batch b comes from dataset (b // accumulate) % m, so the
    micro-batches of one step share a dataset; each dataset has its own seeded, checkpointed
    AttributeStream (order and jitter)."""

    def __init__(self, images: torch.Tensor, labels: torch.Tensor, sets: Sequence[int], batch_size: int,
                 crop: int, flip: bool, seed: int, shard: tuple[int, int] = (0, 1),
                 accumulate: int = 1) -> None:
        owner = dataset_of(labels, sets)
        self.streams = []
        for j in range(len(sets)):
            rows = torch.nonzero(owner == j).flatten()
            if len(rows) == 0:
                raise GanforgeError(f"dataset {j + 1} of the multi-dataset data has no training images")
            self.streams.append(AttributeStream(images[rows], labels[rows], batch_size, crop, flip,
                                                seed + SET_SEED_STRIDE * j, shard))
        self.accumulate, self.batches = accumulate, 0

    @property
    def sizes(self) -> dict[str, int]:
        return {f"dataset{j + 1}": s.sizes["images"] for j, s in enumerate(self.streams)}

    def next(self) -> tuple[torch.Tensor, torch.Tensor]:
        stream = self.streams[(self.batches // self.accumulate) % len(self.streams)]
        self.batches += 1
        return stream.next()

    def state_dict(self) -> dict[str, Any]:
        return {"streams": {f"dataset{j + 1}": s.state_dict() for j, s in enumerate(self.streams)},
                "batches": self.batches}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if set(state["streams"]) != {f"dataset{j + 1}" for j in range(len(self.streams))}:
            raise GanforgeError("the checkpoint's data streams do not match this data (a different number "
                                "of datasets); resume with the run's own --data")
        for j, stream in enumerate(self.streams):
            stream.load_state_dict(state["streams"][f"dataset{j + 1}"])
        self.batches = int(state["batches"])


def attribute_stream(data: TranslationData, batch_size: int, crop: int, flip: bool, seed: int,
                     shard: tuple[int, int], accumulate: int) -> AttributeStream | MultiAttributeStream:
    """StarGAN's batches: one dataset's, or several datasets' in turn."""
    if mask_width(data.attribute_sets):
        return MultiAttributeStream(data.train_a, data.train_attrs, data.attribute_sets, batch_size, crop,
                                    flip, seed, shard, accumulate)
    return AttributeStream(data.train_a, data.train_attrs, batch_size, crop, flip, seed, shard)
