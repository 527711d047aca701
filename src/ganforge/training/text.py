"""The text condition of a generation run: captions -> token ids, and the built-in encoder's
joint-embedding pre-training (GAN-CLS trains its text encoder first, then freezes it).

`prepare_text` runs when G holds a text encoder (`G.text`). The pre-training is seeded by
`train.seed` and uses its own random stream, so a resumed run rebuilds the same encoder before
its checkpoint is loaded over it (a few seconds of repeated work, never a different result).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import torch
from torch import nn

from ganforge.config import Config
from ganforge.data import ImageDataset
from ganforge.errors import GanforgeError
from ganforge.text import FrozenText, build_tokenizer
from ganforge.text.encoder import contrastive_loss
from ganforge.text.tokenizer import PAD_ID


def tokenize_captions(config: Config, dataset: ImageDataset) -> ImageDataset:
    """`dataset` with `tokens` (N, K, L): the ids of its captions, K the most any image has."""
    if dataset.captions is None:
        raise GanforgeError(f"model.arch={config.model.arch} draws from text and needs captioned data "
                            f"(--data captioned-digits | captions:DIR | coco:FILE.json | cub:DIR); "
                            f"'{dataset.source}' has no captions")
    tokenizer = build_tokenizer(config.text)
    flat = [c for captions in dataset.captions for c in captions]
    ids = tokenizer.encode(flat, where=f"caption in {dataset.source}")
    most = max(len(c) for c in dataset.captions)
    tokens = torch.full((len(dataset), most, ids.shape[1]), PAD_ID, dtype=torch.long)
    row = 0
    for i, captions in enumerate(dataset.captions):
        tokens[i, : len(captions)] = ids[row : row + len(captions)]
        row += len(captions)
    if (tokens != PAD_ID).any(-1).sum(1).min() == 0 and config.text.encoder == "builtin":
        raise GanforgeError(f"{dataset.source}: an image's captions are all empty after tokenising")
    return dataclasses.replace(dataset, tokens=tokens)


def pretrain_joint_embedding(encoder: FrozenText, dataset: ImageDataset, config: Config,
                             device: torch.device) -> dict[str, float]:
    """Train the built-in text tower and its image tower with the symmetric contrastive loss on
    (image, one of its captions) pairs for `text.pretrain_steps`; the encoder stays frozen after."""
    tc = config.text
    if encoder.image is None or tc.pretrain_steps == 0:
        return {}
    rng = torch.Generator().manual_seed(config.train.seed + 11)
    log_scale = nn.Parameter(torch.tensor(2.659, device=device))  # CLIP's initial 1/0.07
    towers = [encoder.text, encoder.image]
    params = [p for t in towers for p in t.parameters()] + [log_scale]
    for p in params:
        p.requires_grad_(True)
    optimizer = torch.optim.Adam(params, lr=tc.pretrain_lr)
    counts = (dataset.tokens != PAD_ID).any(-1).sum(1).clamp_min(1)
    batch = min(tc.pretrain_batch, len(dataset))
    loss = torch.zeros(())
    try:
        for _ in range(tc.pretrain_steps):
            idx = torch.randperm(len(dataset), generator=rng)[:batch]
            which = (torch.rand(batch, generator=rng) * counts[idx]).long()
            ids = dataset.tokens[idx, which].to(device)
            images = dataset.images[idx].to(device).float().div(127.5).sub(1.0)
            loss = contrastive_loss(encoder.image(images), encoder.text(ids).sentence, log_scale)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            with torch.no_grad():
                log_scale.clamp_(0, 4.6052)  # CLIP's cap: a scale of at most 100
    finally:
        encoder.requires_grad_(False)
    return {"text_pretrain_loss": float(loss.detach())}


def prepare_text(config: Config, dataset: ImageDataset, G: nn.Module, D: nn.Module,
                 device: torch.device) -> tuple[ImageDataset, dict[str, Any]]:
    """Tokenised data for a text-conditioned G and D, and (builtin) their encoder trained first
    and copied into D, so both condition on the same phi(t)."""
    dataset = tokenize_captions(config, dataset)
    stats: dict[str, Any] = {}
    if config.text.encoder == "builtin":
        stats = pretrain_joint_embedding(G.text, dataset, config, device)
        D.text.load_state_dict(G.text.state_dict())
    return dataset, stats
