"""Run by tests/test_data_prepared.py under torchrun (2 gloo ranks): each rank streams its share
of a prepared dataset and records which images it read; rank 0 gathers them for the test."""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist

from ganforge.data.batches import BatchStream
from ganforge.data.spec import open_dataset
from ganforge.training import distributed


class Recording:
    """Wraps a reader and remembers every index this rank asked the disk for."""

    def __init__(self, reader: object) -> None:
        self.inner, self.seen = reader, []
        self.shape, self.slow_hint = reader.shape, reader.slow_hint

    def __len__(self) -> int:
        return len(self.inner)

    def read(self, indices: np.ndarray, out: np.ndarray) -> None:
        self.seen.append(indices.tolist())
        self.inner.read(indices, out)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--batches", type=int, default=5)
    args = parser.parse_args()
    ctx, _ = distributed.setup("cpu")
    dataset = open_dataset(args.data, 16, 3)
    dataset.reader = Recording(dataset.reader)
    stream = BatchStream(dataset, 8, seed=3, shard=(ctx.rank, ctx.world), prefetch=0)
    batches = [stream.next() for _ in range(args.batches)]
    record = {"images": torch.stack([b[0] for b in batches]),
              "labels": torch.stack([b[1] for b in batches]),
              "read": dataset.reader.seen}
    gathered = [None] * ctx.world
    dist.all_gather_object(gathered, record)
    if ctx.is_main:
        torch.save(gathered, args.out)
    distributed.teardown()


if __name__ == "__main__":
    main()
