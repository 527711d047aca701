"""The networks of a translation run by `translation.mode`: pix2pix or CycleGAN."""

from __future__ import annotations

import torch

from ganforge.config import Config
from ganforge.translation.cyclegan import CycleGAN
from ganforge.translation.pix2pix import Pix2Pix

CHECKPOINT_TASK = "translation"  # the "task" of a translation checkpoint
POOL_SEED_OFFSET = 11


def build_model(config: Config, device: torch.device | str = "cpu", rank: int = 0) -> Pix2Pix | CycleGAN:
    """The model of `config` with its networks on `device`; rank r's image pools draw from
    their own seeds (rank 0's are the single-process ones)."""
    tc, train = config.translation, config.train
    cls = Pix2Pix if tc.mode == "pix2pix" else CycleGAN
    model = cls(tc, train.loss, train.seed + POOL_SEED_OFFSET + 1009 * rank)
    for net in model.networks.values():
        net.to(device)
    return model
