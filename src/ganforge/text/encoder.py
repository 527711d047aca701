"""The built-in text encoder and its image tower (a joint embedding), and the frozen wrapper.

GAN-CLS conditioned on a char-CNN-RNN trained first with a joint image-text embedding loss
(Reed et al. 2016, "Learning deep representations of fine-grained visual descriptions") and
then frozen. ganforge's built-in encoder keeps that recipe with a smaller, word-level model: a
2-layer transformer over word embeddings (pre-norm, learned positions) whose masked-mean token
features give the sentence embedding, trained first against a small CNN image tower with a
symmetric contrastive (InfoNCE) loss, then frozen. The image tower stays beside it: R-precision
scores generated images against captions in this same embedding.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ganforge.text.tokenizer import PAD_ID


@dataclass
class TextFeatures:
    """What an encoder gives a model: per-token features (B, L, W), the mask of real tokens
    (B, L; True = a word, False = padding) and the sentence embedding (B, E)."""

    tokens: torch.Tensor
    mask: torch.Tensor
    sentence: torch.Tensor


def last_real_token(mask: torch.Tensor) -> torch.Tensor:
    """(B, L) mask -> (B,) index of each row's last True (0 for a row without any)."""
    last = mask.shape[1] - 1 - mask.flip(1).to(torch.uint8).argmax(1)
    return torch.where(mask.any(1), last, torch.zeros_like(last))


class TextEncoder(nn.Module):
    """Word ids (B, L) -> TextFeatures; padding (id 0) is masked out of attention and pooling.

    It has no end-of-text token: `eot_index` is the last word (what a causal or EOT-pooled
    encoder's summary position would be), and `eot_is_token = False` keeps it a word of t_local."""

    eot_is_token = False

    def __init__(self, vocab_size: int, max_len: int, width: int = 128, layers: int = 2,
                 heads: int = 4, embed_dim: int = 128) -> None:
        super().__init__()
        self.embed = nn.Embedding(vocab_size, width, padding_idx=PAD_ID)
        self.position = nn.Parameter(torch.randn(max_len, width) * 0.02)
        block = nn.TransformerEncoderLayer(width, heads, 2 * width, dropout=0.0, batch_first=True,
                                           norm_first=True)
        self.blocks = nn.TransformerEncoder(block, layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(width)
        self.project = nn.Linear(width, embed_dim)
        self.width, self.embed_dim = width, embed_dim

    def forward(self, ids: torch.Tensor) -> TextFeatures:
        mask = ids != PAD_ID
        h = self.embed(ids) + self.position[: ids.shape[1]]
        h = self.norm(self.blocks(h, src_key_padding_mask=~mask))
        weights = mask.unsqueeze(-1).to(h.dtype)
        pooled = (h * weights).sum(1) / weights.sum(1).clamp_min(1.0)
        return TextFeatures(h, mask, self.project(pooled))

    def eot_index(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return last_real_token(mask)


class ImageEncoder(nn.Module):
    """The joint embedding's image tower: three strided convolutions, global pooling, a linear."""

    def __init__(self, channels: int, embed_dim: int = 128, width: int = 32) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        c_in = channels
        for c_out in (width, 2 * width, 4 * width):
            layers += [nn.Conv2d(c_in, c_out, 4, 2, 1), nn.LeakyReLU(0.2)]
            c_in = c_out
        self.body = nn.Sequential(*layers)
        self.project = nn.Linear(c_in, embed_dim)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.project(self.body(images).mean((2, 3)))


def contrastive_loss(image_emb: torch.Tensor, text_emb: torch.Tensor, log_scale: torch.Tensor) -> torch.Tensor:
    """Symmetric InfoNCE over a batch of matching (image i, caption i) pairs (CLIP's loss)."""
    logits = F.normalize(image_emb, dim=1) @ F.normalize(text_emb, dim=1).T * log_scale.exp()
    target = torch.arange(len(logits), device=logits.device)
    return 0.5 * (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target))


class FrozenText(nn.Module):
    """A text encoder (and, for the built-in one, its image tower) that conditions a model
    without training: forward runs without gradients and always in eval mode, so neither an
    optimizer nor `D.requires_grad_(True)` nor `.train()` changes it."""

    def __init__(self, text: nn.Module, image: nn.Module | None = None) -> None:
        super().__init__()
        self.text = text
        self.image = image
        self.requires_grad_(False)

    def train(self, mode: bool = True) -> FrozenText:
        return super().train(False)

    @property
    def embed_dim(self) -> int:
        return int(self.text.embed_dim)

    @property
    def width(self) -> int:
        return int(self.text.width)

    def forward(self, ids: torch.Tensor) -> TextFeatures:
        with torch.no_grad():
            return self.text(ids)

    @property
    def eot_is_token(self) -> bool:
        """Whether `eot_index` points at a special end-of-text token (CLIP) or at a word."""
        return bool(self.text.eot_is_token)

    def eot_index(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """(B,) position of each caption's end-of-text token (GigaGAN's t_global reads it)."""
        return self.text.eot_index(ids, mask)

    def encode_images(self, images: torch.Tensor) -> torch.Tensor:
        """Images in [-1, 1] -> joint-embedding vectors (R-precision); needs the image tower."""
        if self.image is None:
            raise ValueError("this text encoder has no image tower")
        with torch.no_grad():
            return self.image(images)
