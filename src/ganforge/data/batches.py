"""Shuffled minibatches of a dataset, with a state that resumes the exact order."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from ganforge.data.dataset import ImageDataset
from ganforge.data.prefetch import Prefetcher
from ganforge.data.streamed import StreamedDataset
from ganforge.errors import GanforgeError


class BatchStream:
    """Epochs of a seeded permutation; the last incomplete batch of an epoch is dropped.

    `shard=(rank, world)`: every rank follows the same global order and takes its contiguous
    share of each global batch, so the order (and the checkpointed state) does not depend on
    the number of ranks: a run can resume on a different world size. A `StreamedDataset` is
    read from disk (only this rank's share), `prefetch` batches ahead on `dataset.workers`
    threads; the order, and so every batch, is the same as in memory.

    Captioned data (`dataset.tokens` set): the labels of a batch are the token ids (B, L) of one
    caption per image, drawn uniformly among the image's captions from the stream's own seeded
    generator (checkpointed), so the text condition resumes exactly too.
    """

    def __init__(self, dataset: ImageDataset | StreamedDataset, batch_size: int, seed: int,
                 shard: tuple[int, int] = (0, 1), prefetch: int = 0, pin: bool = False) -> None:
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
        self._future: list[torch.Tensor] = []  # orders of the coming epochs, for reading ahead
        self._future_rng: torch.Tensor | None = None  # the generator state after the last of them
        self.served = 0  # batches handed out by this object (not state: numbers prefetches)
        self.loader = Prefetcher(dataset, prefetch, dataset.workers, pin) \
            if isinstance(dataset, StreamedDataset) else None
        self.caption_rng = torch.Generator().manual_seed(seed + 1)
        self.tokens = getattr(dataset, "tokens", None)
        if self.tokens is not None:  # captions per image (rows that are not all padding)
            self.caption_counts = (self.tokens != 0).any(-1).sum(1).clamp_min(1).cpu()

    def _take(self) -> torch.Tensor:
        """The indices of the next global batch (all ranks'); advances the state."""
        if self.position + self.batch_size > len(self.order):
            self.order = torch.randperm(len(self.dataset), generator=self.rng)
            self.position = 0
            self.epoch += 1
            if self._future:
                self._future.pop(0)
        idx = self.order[self.position : self.position + self.batch_size]
        self.position += self.batch_size
        return idx

    def _order_ahead(self, epochs: int) -> torch.Tensor:
        """The order of the epoch `epochs` after the current one, from a copy of the generator."""
        while len(self._future) < epochs:
            gen = torch.Generator()
            gen.set_state(self._future_rng if self._future else self.rng.get_state())
            self._future.append(torch.randperm(len(self.dataset), generator=gen))
            self._future_rng = gen.get_state()
        return self._future[epochs - 1]

    def upcoming(self, k: int) -> list[torch.Tensor]:
        """This rank's indices of the next k batches, without advancing the state."""
        out, order, position, ahead = [], self.order, self.position, 0
        for _ in range(k):
            if position + self.batch_size > len(order):
                ahead += 1
                order, position = self._order_ahead(ahead), 0
            out.append(order[position : position + self.batch_size][self.share])
            position += self.batch_size
        return out

    def next(self) -> tuple[torch.Tensor, torch.Tensor]:
        """uint8 images and labels of this rank's share of the next global batch."""
        whole = self._take()
        idx = whole[self.share]
        serial, self.served = self.served, self.served + 1
        if self.tokens is not None:  # one caption per image, drawn for the whole global batch
            draws = torch.rand(self.batch_size, generator=self.caption_rng)
            which = (draws * self.caption_counts[whole]).long()[self.share]
            dev = self.tokens.device
            return self.dataset.images[idx.to(dev)], self.tokens[idx.to(dev), which.to(dev)]
        layouts = getattr(self.dataset, "layouts", None)
        if layouts is not None:  # layout data: the condition of each image is its layout (B, O, 5)
            dev = layouts.device
            return self.dataset.images[idx.to(dev)], layouts[idx.to(dev)]
        if self.loader is not None:
            images = self.loader.get(serial, idx, self.upcoming)
            return images, self.dataset.labels[idx]
        dataset = self.dataset
        assert isinstance(dataset, ImageDataset)
        if dataset.images.device.type == "cpu":  # numpy's take copies whole rows: ~8x faster
            images = torch.from_numpy(np.take(dataset.images.numpy(), idx.numpy(), axis=0))
            return images, dataset.labels[idx]
        idx = idx.to(dataset.images.device)
        return dataset.images[idx], dataset.labels[idx]

    def close(self) -> None:
        if self.loader is not None:
            self.loader.close()

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
        self._future, self._future_rng = [], None
        if self.loader is not None:
            self.loader.reset()
        if "caption_rng" in state:
            self.caption_rng.set_state(state["caption_rng"])
