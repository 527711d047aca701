"""The captions a text-to-image generator is evaluated on: every caption of the reference data
(`eval --data`, default the run's training data), drawn uniformly with the eval seed, tokenised
with the run's own tokenizer; and the CLIP model of the CLIP score, or why there is none."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from ganforge.data import load_dataset
from ganforge.errors import GanforgeError
from ganforge.generator import Generator
from ganforge.metrics.order import content_order
from ganforge.metrics.text_metrics import TextInputs
from ganforge.models.gigagan_upsampler import downsample, pack
from ganforge.text import FrozenText, build_tokenizer
from ganforge.text.build import clip_path
from ganforge.text.clip import ClipJudge

CAPTION_SEED_OFFSET = 7  # captions drawn from a stream apart from the latents'


@dataclass
class TextPool:
    captions: list[str]
    tokenizer: Any
    encoder: FrozenText | None
    data: str
    clip: ClipJudge | None
    clip_missing: str
    owners: torch.Tensor | None = None  # the image index of each caption (upsamplers)
    images: torch.Tensor | None = None  # the reference images, uint8 (upsamplers: their input)

    @property
    def describe(self) -> str:
        return (f"captions drawn uniformly (with replacement, torch seed = eval seed + {CAPTION_SEED_OFFSET}) "
                f"from the {len(self.captions)} captions of '{self.data}' (an upsampler super-resolves "
                "each caption's real image, downsampled)")

    def generate(self, g: Generator, n: int, truncation: float | None, seed: int, batch_size: int,
                 convert: Callable[[torch.Tensor], torch.Tensor]) -> tuple[torch.Tensor, TextInputs]:
        """n uint8 images (content order) for n drawn captions, and what the text metrics need."""
        pick = torch.randint(len(self.captions), (n,), generator=torch.Generator().manual_seed(seed + CAPTION_SEED_OFFSET))
        captions = [self.captions[i] for i in pick.tolist()]
        ids = self.tokenizer.encode(captions, where=f"caption of {self.data}")
        z = g.draw_latents(n, truncation, torch.Generator().manual_seed(seed))
        y = ids
        if g.upsamples:  # the paper's protocol: super-resolve the real image of each caption, downsampled
            real = self.images[self.owners[pick]].float() / 127.5 - 1.0
            y = pack(ids, downsample(real, int(g.generator.low_resolution)))
        images = g.generate(z, y, truncation, batch_size=batch_size, convert=convert)
        order = content_order(images)
        images, ids = images[order], ids[order]
        captions = [captions[i] for i in order.tolist()]
        floats = images.float() / 127.5 - 1.0  # the metrics judge what was saved, as FID does
        return images, TextInputs(floats, captions, ids, self.encoder, self.data, self.clip, self.clip_missing)


def text_pool(encoder: FrozenText | None, text_config: Any, data: str, resolution: int, channels: int,
              clip: str | Path | None, device: str | torch.device) -> TextPool:
    if text_config is None:
        raise GanforgeError("a text-to-image generator without its text.* settings (a bare network): "
                            "evaluate its run directory or export")
    dataset = load_dataset(data, resolution, channels)
    if dataset.captions is None:
        raise GanforgeError(f"--data {data} has no captions: a text-to-image generator is evaluated on "
                            "captioned data (captioned-digits, captions:DIR, coco:FILE.json, cub:DIR)")
    captions = [c for cs in dataset.captions for c in cs]
    judge, missing = None, "no CLIP weights given (eval --clip DIR: a local whole CLIP model folder)"
    own = clip_path(text_config)
    if clip is not None:
        judge = ClipJudge(Path(clip).expanduser(), f"--clip {clip}")
    elif own is not None:
        try:
            judge = ClipJudge(own, f"text.encoder=clip:{own}")
        except GanforgeError as exc:
            missing = f"the run's CLIP folder cannot score images ({exc}); give eval --clip DIR"
    if judge is not None:
        judge.to(device)
    owners = torch.tensor([i for i, cs in enumerate(dataset.captions) for _ in cs])
    return TextPool(captions, build_tokenizer(text_config), encoder, data, judge, missing, owners, dataset.images)
