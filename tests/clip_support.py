"""A tiny, randomly initialised whole CLIP model saved to a local folder (no download): the
CLIP score and GigaGAN's CLIP loss run against it. Needs `transformers` (the `hf` extra)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

LETTERS = "abcdefghijklmnopqrstuvwxyz0123456789"


def tiny_clip(folder: Path, image_size: int = 16, text_only: bool = False) -> Path:
    """A whole CLIPModel (text and vision towers, width 32, one layer each) and a character-level
    BPE vocabulary (no merges) covering lower-case letters and digits."""
    transformers = pytest.importorskip("transformers")
    import torch

    torch.manual_seed(0)
    vocab = {"!": 0}
    for c in LETTERS:
        vocab[c] = len(vocab)
        vocab[c + "</w>"] = len(vocab)
    bos, eos = len(vocab), len(vocab) + 1
    vocab["<|startoftext|>"], vocab["<|endoftext|>"] = bos, eos
    text = dict(vocab_size=len(vocab), hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                num_attention_heads=2, max_position_embeddings=24, bos_token_id=bos, eos_token_id=eos,
                pad_token_id=eos)
    vision = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=2,
                  image_size=image_size, patch_size=8)
    if text_only:
        model = transformers.CLIPTextModel(transformers.CLIPTextConfig(**text))
    else:
        model = transformers.CLIPModel(transformers.CLIPConfig(text_config=text, vision_config=vision,
                                                               projection_dim=16))
    folder.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(str(folder))
    (folder / "vocab.json").write_text(json.dumps(vocab))
    (folder / "merges.txt").write_text("#version: 0.2\n")
    return folder
