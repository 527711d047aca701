"""Text metrics: caption accuracy reads the demo's attributes back from real images (its
ceiling), and R-precision is 1 for an encoder whose image and text embeddings agree and chance
level for one whose image embeddings ignore the image."""

from __future__ import annotations

import torch
from torch import nn

from ganforge.data.captioned_digits import load_captioned_digits
from ganforge.metrics.text import caption_accuracy, r_precision
from ganforge.text import FrozenText, TextFeatures


def test_caption_accuracy_on_real_demo_images() -> None:
    data = load_captioned_digits(32, 3)
    pick = torch.arange(0, len(data), 17)[:200]
    images = data.images[pick].float() / 127.5 - 1
    acc = caption_accuracy(images, [data.captions[i][0] for i in pick.tolist()])
    assert acc["colour_acc"] == 1.0 and acc["size_acc"] == 1.0 and acc["position_acc"] > 0.98
    assert acc["digit_acc"] > 0.75  # the shipped classifier on cropped, re-coloured glyphs
    wrong = caption_accuracy(images, [data.captions[i][0] for i in pick.roll(1).tolist()])
    assert wrong["colour_acc"] < 0.4 and wrong["all_acc"] < 0.1
    assert caption_accuracy(torch.full((1, 3, 32, 32), -1.0), ["a red two"])["all_acc"] == 0.0


class _Table(nn.Module):
    """Text i -> one-hot row i; images carry their index in pixel (0, 0, 0)."""

    width = embed_dim = 128

    def forward(self, ids: torch.Tensor) -> TextFeatures:
        sentence = nn.functional.one_hot(ids[:, 0], 128).float()
        return TextFeatures(sentence[:, None], ids != 0, sentence)


class _Pixel(nn.Module):
    def __init__(self, informative: bool) -> None:
        super().__init__()
        self.informative = informative
        self.dummy = nn.Parameter(torch.zeros(1))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        index = images[:, 0, 0, 0].long() if self.informative else torch.zeros(len(images), dtype=torch.long)
        return nn.functional.one_hot(index, 128).float() + 1e-3 * torch.randn(len(images), 128)


def test_r_precision_is_one_for_agreeing_embeddings_and_low_for_blind_ones() -> None:
    n = 110
    ids = torch.arange(1, n + 1)[:, None].repeat(1, 2)
    texts = [f"caption {i}" for i in range(n)]
    images = torch.zeros(n, 3, 4, 4)
    images[:, 0, 0, 0] = torch.arange(1, n + 1).float()
    assert r_precision(FrozenText(_Table(), _Pixel(True)), images, ids, texts) == 1.0
    torch.manual_seed(0)
    assert r_precision(FrozenText(_Table(), _Pixel(False)), images, ids, texts) < 0.1
