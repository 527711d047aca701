"""EMA arithmetic: copy before the start step, then ema = d * ema + (1 - d) * param."""

from __future__ import annotations

import copy

import torch
from torch import nn

from ganforge.training.ema import EMA


def test_ema_copies_before_start_then_averages() -> None:
    torch.manual_seed(0)
    src = nn.Sequential(nn.Linear(3, 2), nn.BatchNorm1d(2))
    tgt = copy.deepcopy(src)
    ema = EMA(src, tgt, decay=0.9, start=2)
    with torch.no_grad():
        src[0].weight.fill_(1.0)
    ema.update(step=1)  # before start: exact copy
    assert torch.equal(tgt[0].weight, src[0].weight)
    with torch.no_grad():
        src[0].weight.fill_(3.0)
        src[1].running_mean.fill_(2.0)
        src[1].num_batches_tracked.fill_(7)
    ema.update(step=2)
    torch.testing.assert_close(tgt[0].weight, torch.full((2, 3), 0.9 * 1.0 + 0.1 * 3.0))
    torch.testing.assert_close(tgt[1].running_mean, torch.full((2,), 0.1 * 2.0))
    assert int(tgt[1].num_batches_tracked) == 7  # integer buffers are copied
    assert not any(p.requires_grad for p in tgt.parameters())
