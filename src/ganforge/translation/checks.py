"""A translation config's mistakes, caught before any data is read or network built: each is
one line naming the key and the fix."""

from __future__ import annotations

import torch

from ganforge.config import Config
from ganforge.errors import GanforgeError
from ganforge.models.patchgan import patch_output_size
from ganforge.translation.inference import INFERENCE_MODES
from ganforge.translation.losses import adversarial_terms
from ganforge.translation.networks import build_discriminator, generator_kind, size_multiple

MODES = ("pix2pix", "cyclegan")
DIRECTIONS = ("AtoB", "BtoA")


def _choice(key: str, value: str, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise GanforgeError(f"unknown {key} '{value}'; available: {', '.join(allowed)}")


def check_translation_config(config: Config) -> None:
    """Raise GanforgeError for the first problem found."""
    tc, train = config.translation, config.train
    _choice("translation.mode", tc.mode, MODES)
    _choice("translation.direction", tc.direction, DIRECTIONS)
    _choice("translation.inference", tc.inference, INFERENCE_MODES)
    generator_kind(tc.generator)
    with torch.device("meta"):  # checks D's settings (n_layers_d, norm) without memory
        build_discriminator(tc, 1)
    adversarial_terms(train.loss)
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
    for key in ("lambda_l1", "lambda_cycle", "lambda_identity", "init_gain"):
        if getattr(tc, key) < 0:
            raise GanforgeError(f"translation.{key} must be >= 0, got {getattr(tc, key)}")
    for key in ("pool_size", "steps", "epochs", "epochs_decay", "steps_per_epoch", "eval_every", "eval_n"):
        if getattr(tc, key) < 0:
            raise GanforgeError(f"translation.{key} must be >= 0, got {getattr(tc, key)}")
    if tc.epochs + tc.epochs_decay < 1:
        raise GanforgeError("translation.epochs + translation.epochs_decay must be at least 1")
    if tc.mode == "cyclegan" and tc.lambda_identity > 0 and tc.channels_a != tc.channels_b:
        raise GanforgeError(
            f"translation.lambda_identity={tc.lambda_identity} compares G_AB(b) with b, which "
            "needs channels_a == channels_b; set translation.lambda_identity=0"
        )
    for key in ("batch_size", "log_every", "sample_every", "checkpoint_every"):
        if getattr(train, key) <= 0:
            raise GanforgeError(
                f"train.{key} must be a positive integer, got {getattr(train, key)}"
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
