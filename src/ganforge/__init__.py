"""ganforge: train, evaluate, sample and share GANs; a faithful, fast BigGAN at its centre."""

from ganforge.api import (
    directions,
    edit,
    info,
    load_generator,
    make_config,
    project,
    resume,
    sample,
    train,
)
from ganforge.errors import GanforgeError
from ganforge.generator import Generator
from ganforge.generators import PretrainedGenerator, load

__all__ = [
    "GanforgeError", "Generator", "PretrainedGenerator", "directions", "edit", "info", "load", "load_generator", "make_config",
    "project", "resume", "sample", "train",
]
__version__ = "0.1.0"
