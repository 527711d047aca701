"""Reference images read from disk (`--data prepared:DIR | hdf5:FILE | stream:DIR`) without
holding them: the same content order, subset, hash and feature batches as in memory.

Evaluation puts reference images in content order (`metrics.order`) before anything else, which
needs every image's hash first. So: one pass over the dataset in file order computes the hashes
(the same keys as in memory), the order and seeded subset follow from them, and later passes read
the images in that order, batch by batch: for the dataset hash (SHA-256 of the pixels in content
order, as `dataset_hash` computes it) and for the feature extractor. Only one batch of images
is in memory at a time; the numbers are those of the in-memory path, to the bit.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator

import numpy as np
import torch

from ganforge.data.streamed import StreamedDataset
from ganforge.metrics.order import image_keys, order_by_keys, subset_order

READ_BATCH = 1024  # images per read in the hashing passes


def streamed_order(dataset: StreamedDataset, n: int | None, seed: int) -> torch.Tensor:
    """The content order of the dataset (a seeded `n` of it), from one pass in file order."""
    keys = np.empty(len(dataset), dtype=np.uint64)
    for start in range(0, len(dataset), READ_BATCH):
        stop = min(start + READ_BATCH, len(dataset))
        keys[start:stop] = image_keys(dataset.read(torch.arange(start, stop)))
    return subset_order(order_by_keys(keys, dataset.labels), n, seed)


def read_in_order(dataset: StreamedDataset, order: torch.Tensor,
                  batch_size: int) -> Iterator[torch.Tensor]:
    """uint8 batches of the images at `order`, in that order."""
    for start in range(0, len(order), batch_size):
        yield dataset.read(order[start : start + batch_size])


def streamed_hash(dataset: StreamedDataset, order: torch.Tensor, labels: torch.Tensor) -> str:
    """`dataset_hash` of the images at `order` and `labels`, reading a batch at a time."""
    digest = hashlib.sha256()
    digest.update(str((len(order), *dataset.shape)).encode())
    for batch in read_in_order(dataset, order, READ_BATCH):
        digest.update(batch.contiguous().numpy().tobytes())
    digest.update(labels.contiguous().numpy().astype(np.int64).tobytes())
    return digest.hexdigest()
