"""The translation modes by `translation.mode`, and the model of a run."""

from __future__ import annotations

import torch

from ganforge.config import Config
from ganforge.errors import GanforgeError
from ganforge.translation.bicyclegan import BicycleGAN
from ganforge.translation.cyclegan import CycleGAN
from ganforge.translation.instagan import InstaGAN
from ganforge.translation.method import TranslationMethod
from ganforge.translation.pix2pix import Pix2Pix
from ganforge.translation.spade import SPADE
from ganforge.translation.stargan import StarGAN

CHECKPOINT_TASK = "translation"  # the "task" of a translation checkpoint
POOL_SEED_OFFSET = 11
MODES: dict[str, type[TranslationMethod]] = {
    "pix2pix": Pix2Pix, "cyclegan": CycleGAN, "stargan": StarGAN, "bicyclegan": BicycleGAN,
    "instagan": InstaGAN, "spade": SPADE,
}


def method_class(mode: str) -> type[TranslationMethod]:
    if mode not in MODES:
        raise GanforgeError(f"unknown translation.mode '{mode}'; available: {', '.join(MODES)}")
    return MODES[mode]


def build_model(config: Config, device: torch.device | str = "cpu", rank: int = 0) -> TranslationMethod:
    """The model of `config` with its networks on `device`; rank r's image pools draw from
    their own seeds (rank 0's are the single-process ones)."""
    tc, train = config.translation, config.train
    cls = method_class(tc.mode)
    model = cls(tc, train.loss, train.seed + POOL_SEED_OFFSET + 1009 * rank)
    for net in model.networks.values():
        net.to(device)
    return model
