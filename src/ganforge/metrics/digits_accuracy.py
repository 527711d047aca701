"""Class accuracy of conditional samples on the built-in digits, judged by an sklearn SVM.

The SVM is trained on the real 8x8 digits after the same round trip generated images take
(upsampled to the model resolution as in training, stored as uint8, area-averaged back to
8x8), so it judges generated digits in the domain it learned on.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from ganforge.data.digits import load_digits_dataset
from ganforge.sampling import generate

HELD_OUT_FRACTION = 0.25


def to_8x8(images: torch.Tensor) -> np.ndarray:
    """[-1, 1] (N, C, H, W) or uint8 -> (N, 64) features on sklearn's 0..16 scale."""
    x = images.float()
    x = x / 255.0 if images.dtype == torch.uint8 else (x.clamp(-1, 1) + 1) / 2
    x = x.mean(1, keepdim=True)
    x = F.adaptive_avg_pool2d(x, 8) if x.shape[-1] != 8 else x
    return (x * 16.0).flatten(1).numpy()


@dataclass
class DigitsJudge:
    """An SVM over round-tripped real digits, with its held-out accuracy on real images."""

    model: object
    held_out_accuracy: float

    @classmethod
    def fit(cls, resolution: int = 32, seed: int = 0) -> DigitsJudge:
        from sklearn.model_selection import train_test_split
        from sklearn.svm import SVC

        data = load_digits_dataset(resolution, 1)
        features, labels = to_8x8(data.images), data.labels.numpy()
        x_tr, x_te, y_tr, y_te = train_test_split(
            features, labels, test_size=HELD_OUT_FRACTION, random_state=seed, stratify=labels
        )
        model = SVC(gamma="scale", C=10.0).fit(x_tr, y_tr)
        return cls(model, float((model.predict(x_te) == y_te).mean()))

    def accuracy(self, images: torch.Tensor, labels: torch.Tensor) -> float:
        """Fraction of images the SVM assigns to the label they were generated for."""
        return float((self.model.predict(to_8x8(images)) == labels.numpy()).mean())


def conditional_accuracy(
    generator: torch.nn.Module,
    judge: DigitsJudge,
    per_class: int = 100,
    truncation: float | None = None,
    seed: int = 0,
) -> float:
    """Generate `per_class` samples of each digit and return the judged class accuracy."""
    labels = torch.arange(10).repeat_interleave(per_class)
    images = generate(generator, labels, truncation=truncation, seed=seed)
    return judge.accuracy(images, labels)
