"""A translation config's mistakes, caught before any data is read or network built: each is
one line naming the key and the fix. Single settings (choices, ranges) are checked when the
config is read (`ganforge.config`); these rules span several settings."""

from __future__ import annotations

from ganforge.config import Config
from ganforge.errors import GanforgeError
from ganforge.translation.models import method_class


def check_translation_config(config: Config) -> None:
    """Raise GanforgeError for the first problem found: the mode's own rules, then the shared."""
    tc, train = config.translation, config.train
    method_class(tc.mode).check(config)
    if tc.eval_n == 1:  # FID/KID need a covariance of the test images' features
        raise GanforgeError("translation.eval_n=1 is too few for FID; use 0 (all test images) or 2 or more")
    for key in ("channels_a", "channels_b"):
        if getattr(tc, key) not in (1, 3):
            raise GanforgeError(
                f"translation.{key} must be 1 (grey) or 3 (RGB), got {getattr(tc, key)}"
            )
    if tc.load_size < tc.crop_size:
        raise GanforgeError(
            f"translation.load_size={tc.load_size} is smaller than translation.crop_size="
            f"{tc.crop_size}; images are resized to load_size, then cropped to crop_size"
        )
    if tc.epochs + tc.epochs_decay < 1:
        raise GanforgeError("translation.epochs + translation.epochs_decay must be at least 1")
    unsupported = {  # the papers take one D step per G step (StarGAN: translation.n_critic)
        "train.d_steps": (train.d_steps, 1),
        "data.limit": (config.data.limit, 0),
        "train.conv_algorithm": (train.conv_algorithm, "torch"),
    }
    for key, (value, supported) in unsupported.items():
        if value != supported:
            raise GanforgeError(
                f"{key}={value} is not supported for translation yet; set {key}={supported}"
            )
