"""scikit-learn's 8x8 digits (1,797 images, 10 classes), the built-in dataset of the default run."""

from __future__ import annotations

import torch

from ganforge.data.dataset import ImageDataset, to_model_format

DIGIT_NAMES = [str(i) for i in range(10)]


def load_digits_dataset(resolution: int, channels: int) -> ImageDataset:
    """The 17 grey levels scaled to 0..255 and upsampled bilinearly to the model resolution."""
    from sklearn.datasets import load_digits

    bunch = load_digits()
    images = torch.from_numpy(bunch.images).float().mul(255.0 / 16.0).round().byte()
    images = to_model_format(images.unsqueeze(1), resolution, channels)
    labels = torch.from_numpy(bunch.target).long()
    return ImageDataset(images, labels, list(DIGIT_NAMES), "digits")
