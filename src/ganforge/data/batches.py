"""Shuffled minibatches of an in-memory dataset, with a state that resumes the exact order."""

from __future__ import annotations

from typing import Any

import torch

from ganforge.data import ImageDataset
from ganforge.errors import GanforgeError


class BatchStream:
    """Epochs of a seeded permutation; the last incomplete batch of an epoch is dropped.

    `shard=(rank, world)`: every rank follows the same global order and takes its contiguous
    share of each global batch, so the order (and the checkpointed state) does not depend on
    the number of ranks: a run can resume on a different world size.

    Captioned data (`dataset.tokens` set): the labels of a batch are the token ids (B, L) of one
    caption per image, drawn uniformly among the image's captions from the stream's own seeded
    generator (checkpointed), so the text condition resumes exactly too.
    """

    def __init__(self, dataset: ImageDataset, batch_size: int, seed: int,
                 shard: tuple[int, int] = (0, 1)) -> None:
        if batch_size <= 0:
            raise GanforgeError(f"batch size must be positive, got {batch_size}")
        if batch_size > len(dataset):
            raise GanforgeError(
                f"batch size {batch_size} is larger than the dataset ({len(dataset)} images "
                f"from {dataset.source}); use --batch-size {len(dataset)} or less"
            )
        self.dataset, self.batch_size = dataset, batch_size
        rank, world = shard
        if batch_size % world:
            raise GanforgeError(f"batch size {batch_size} does not split evenly among {world} ranks")
        share = batch_size // world
        self.share = slice(rank * share, (rank + 1) * share)
        self.rng = torch.Generator().manual_seed(seed)
        self.order = torch.randperm(len(dataset), generator=self.rng)
        self.position = 0
        self.epoch = 0
        self.caption_rng = torch.Generator().manual_seed(seed + 1)
        if dataset.tokens is not None:  # captions per image (rows that are not all padding)
            self.caption_counts = (dataset.tokens != 0).any(-1).sum(1).clamp_min(1).cpu()

    def next(self) -> tuple[torch.Tensor, torch.Tensor]:
        """uint8 images and labels of this rank's share of the next global batch."""
        if self.position + self.batch_size > len(self.order):
            self.order = torch.randperm(len(self.dataset), generator=self.rng)
            self.position = 0
            self.epoch += 1
        idx = self.order[self.position : self.position + self.batch_size]
        self.position += self.batch_size
        if self.dataset.tokens is not None:
            draws = torch.rand(self.batch_size, generator=self.caption_rng)
            which = (draws * self.caption_counts[idx]).long()[self.share]
            idx = idx[self.share]
            dev = self.dataset.tokens.device
            return self.dataset.images[idx.to(dev)], self.dataset.tokens[idx.to(dev), which.to(dev)]
        idx = idx[self.share].to(self.dataset.images.device)
        return self.dataset.images[idx], self.dataset.labels[idx]

    def state_dict(self) -> dict[str, Any]:
        return {
            "rng": self.rng.get_state(),
            "order": self.order.clone(),
            "position": self.position,
            "epoch": self.epoch,
            "caption_rng": self.caption_rng.get_state(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if len(state["order"]) != len(self.dataset):
            raise GanforgeError(
                f"the checkpoint was trained on {len(state['order'])} images but the data now has "
                f"{len(self.dataset)}; resume with the same --data"
            )
        self.rng.set_state(state["rng"])
        self.order = state["order"].clone()
        self.position = int(state["position"])
        self.epoch = int(state["epoch"])
        if "caption_rng" in state:
            self.caption_rng.set_state(state["caption_rng"])
