"""`text.*` -> the tokenizer and the frozen encoder it names."""

from __future__ import annotations

from pathlib import Path

from ganforge.config import TextConfig
from ganforge.errors import GanforgeError
from ganforge.text.clip import ClipText, ClipTokenizer
from ganforge.text.encoder import FrozenText, ImageEncoder, TextEncoder
from ganforge.text.tokenizer import WordTokenizer


def clip_path(cfg: TextConfig) -> Path | None:
    return Path(cfg.encoder[len("clip:"):]).expanduser() if cfg.encoder.startswith("clip:") else None


def build_tokenizer(cfg: TextConfig) -> WordTokenizer | ClipTokenizer:
    path = clip_path(cfg)
    return ClipTokenizer(path, cfg.max_len) if path is not None else WordTokenizer(cfg.vocab, cfg.max_len)


def build_text_encoder(cfg: TextConfig, channels: int) -> FrozenText:
    """The frozen encoder a text-conditioned G or D holds (untrained for builtin: its weights
    come from the joint-embedding pre-training or the checkpoint)."""
    path = clip_path(cfg)
    if path is not None:
        return FrozenText(ClipText(path))
    if cfg.width % cfg.heads:
        raise GanforgeError(f"text.width={cfg.width} must be divisible by text.heads={cfg.heads}")
    vocab = WordTokenizer(cfg.vocab, cfg.max_len)
    text = TextEncoder(vocab.size, cfg.max_len, cfg.width, cfg.layers, cfg.heads, cfg.embed_dim)
    return FrozenText(text, ImageEncoder(channels, cfg.embed_dim))


def sentence_dim(encoder: FrozenText) -> int:
    return encoder.embed_dim
