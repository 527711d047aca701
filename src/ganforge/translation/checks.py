"""A translation config's mistakes, caught before any data is read or network built: each is
one line naming the key and the fix. Single settings (choices, ranges) are checked when the
config is read (`ganforge.config`); these rules span several settings."""

from __future__ import annotations

from ganforge.config import Config
from ganforge.errors import GanforgeError
from ganforge.models.patchgan import patch_output_size
from ganforge.translation.losses import adversarial_terms
from ganforge.translation.networks import generator_kind, size_multiple


def check_translation_config(config: Config) -> None:
    """Raise GanforgeError for the first problem found."""
    tc, train = config.translation, config.train
    generator_kind(tc.generator)
    adversarial_terms(train.loss)
    if tc.eval_n == 1:  # FID/KID need a covariance of the test images' features
        raise GanforgeError("translation.eval_n=1 is too few for FID; use 0 (all test images) or 2 or more")
    for key in ("channels_a", "channels_b"):
        if getattr(tc, key) not in (1, 3):
            raise GanforgeError(
                f"translation.{key} must be 1 (grey) or 3 (RGB), got {getattr(tc, key)}"
            )
    multiple = size_multiple(tc)
    if tc.crop_size <= 0 or tc.crop_size % multiple:
        raise GanforgeError(
            f"translation.crop_size={tc.crop_size} does not fit translation.generator="
            f"{tc.generator}: use a positive multiple of {multiple}"
        )
    layers = {"basic": 3, "n_layers": tc.n_layers_d}.get(tc.discriminator)
    if layers is not None and patch_output_size(tc.crop_size, layers) < 1:
        raise GanforgeError(
            f"translation.crop_size={tc.crop_size} is too small for a PatchGAN with {layers} "
            "stride-2 layers (its map of logits would be empty); use larger crops or "
            "translation.discriminator=n_layers with a smaller translation.n_layers_d"
        )
    if tc.load_size < tc.crop_size:
        raise GanforgeError(
            f"translation.load_size={tc.load_size} is smaller than translation.crop_size="
            f"{tc.crop_size}; images are resized to load_size, then cropped to crop_size"
        )
    if tc.epochs + tc.epochs_decay < 1:
        raise GanforgeError("translation.epochs + translation.epochs_decay must be at least 1")
    if tc.mode == "cyclegan" and tc.lambda_identity > 0 and tc.channels_a != tc.channels_b:
        raise GanforgeError(
            f"translation.lambda_identity={tc.lambda_identity} compares G_AB(b) with b, which "
            "needs channels_a == channels_b; set translation.lambda_identity=0"
        )
    unsupported = {  # the papers take one D step per G step
        "train.d_steps": (train.d_steps, 1),
        "data.limit": (config.data.limit, 0),
        "train.conv_algorithm": (train.conv_algorithm, "torch"),
    }
    for key, (value, supported) in unsupported.items():
        if value != supported:
            raise GanforgeError(
                f"{key}={value} is not supported for translation yet; set {key}={supported}"
            )
