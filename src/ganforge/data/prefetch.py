"""Background reads of the batches a stream will ask for next, for datasets kept on disk.

The stream knows its future order exactly (the next epoch's permutation is drawn from a copy of
its generator), so reads can start early without changing which images a batch holds or what a
checkpoint records: a prefetched batch is used only if its indices equal the ones asked for.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor

import torch

from ganforge.data.streamed import StreamedDataset

WARMUP_BATCHES = 20  # the first batches (pool start, cold cache) are not judged
JUDGE_BATCHES = 50  # then this many are timed once for the bottleneck hint
BOTTLENECK_SHARE = 0.3  # waiting this share of the time or more is worth a hint


class Prefetcher:
    """`depth` batches read ahead by `workers` threads (reads release the GIL), pinned on CUDA."""

    def __init__(self, dataset: StreamedDataset, depth: int, workers: int, pin: bool) -> None:
        self.dataset, self.depth, self.pin = dataset, depth, pin
        self.pool = ThreadPoolExecutor(max(1, workers), thread_name_prefix="ganforge-data") \
            if depth > 0 else None
        self.pending: dict[int, tuple[torch.Tensor, Future[torch.Tensor]]] = {}
        self.waited = 0.0
        self.judged = 0
        self.started = 0.0
        self.hinted = False

    def get(self, serial: int, indices: torch.Tensor,
            upcoming: Callable[[int], list[torch.Tensor]]) -> torch.Tensor:
        """The images of batch `serial` (at `indices`), then schedule the batches after it."""
        begin = time.perf_counter()
        entry = self.pending.pop(serial, None)
        if entry is not None and torch.equal(entry[0], indices):
            images = entry[1].result()
        else:  # nothing read ahead (first batch, after a resume) or a different plan
            images = self.dataset.read(indices, self.pin)
        self._judge(serial, time.perf_counter() - begin)
        if self.pool is not None:
            for ahead, future_indices in enumerate(upcoming(self.depth), start=serial + 1):
                if ahead not in self.pending:
                    self.pending[ahead] = (future_indices, self.pool.submit(
                        self.dataset.read, future_indices, self.pin))
        return images

    def reset(self) -> None:
        """Forget what was read ahead (the stream jumped: a checkpoint was loaded)."""
        for _, future in self.pending.values():
            future.cancel()
        self.pending.clear()

    def close(self) -> None:
        self.reset()
        if self.pool is not None:
            self.pool.shutdown(wait=False, cancel_futures=True)

    def _judge(self, serial: int, waited: float) -> None:
        """Once: if training waited on reads for a large share of the time, say what helps."""
        if self.hinted or serial < WARMUP_BATCHES:
            return
        if serial == WARMUP_BATCHES:
            self.started, self.waited, self.judged = time.perf_counter() - waited, 0.0, 0
        self.waited += waited
        self.judged += 1
        if self.judged < JUDGE_BATCHES:
            return
        self.hinted = True
        share = self.waited / max(time.perf_counter() - self.started, 1e-9)
        if share >= BOTTLENECK_SHARE:
            print(f"hint: training waited for {self.dataset.source} {share:.0%} of the time; "
                  f"{self.dataset.reader.slow_hint}", file=sys.stderr)
