"""The text-to-image metrics of `ganforge eval` and of the evaluation during training, one
registered function each (`metrics/registry.py`):

- `rprec`: R-precision (R = 1, 100 candidates; AttnGAN's protocol) in the run's own joint
  embedding (text.encoder=builtin: its image tower), else in the given CLIP model's;
- `caption_acc`: on the captioned digits demo, the fraction of images showing the digit, colour,
  size and position their caption names (read from the pixels, the digit by the shipped digits
  classifier; `metrics.text`);
- `clip_score`: 100 * max(cos, 0) between CLIP's image and caption embeddings (torchmetrics'
  CLIPScore), when CLIP weights are given (a whole CLIP model: eval --clip DIR, or the run's
  text.encoder=clip:DIR when that folder holds one); missing with the reason otherwise.

FID/KID of a text run are the usual ones (`metrics.builtin`) on images drawn for captions of
the reference data. The generated images and their captions reach these functions through
`MetricInputs.text`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from ganforge.errors import GanforgeError
from ganforge.metrics.registry import MetricInputs, Unavailable, register
from ganforge.metrics.text import caption_accuracy, clip_score, r_precision_from_embeddings
from ganforge.text import FrozenText
from ganforge.text.clip import ClipJudge

CAPTION_DATA = "captioned-digits"  # the data whose attributes caption_acc can read
BATCH = 100


@dataclass
class TextInputs:
    """What the text metrics see: the generated images (float [-1, 1], as quantised to uint8),
    their captions and token ids, the run's encoder, and CLIP (or why there is none)."""

    images: torch.Tensor
    captions: list[str]
    ids: torch.Tensor
    encoder: FrozenText | None
    data: str
    clip: ClipJudge | None = None
    clip_missing: str = "no CLIP weights given (eval --clip DIR: a local whole CLIP model folder)"


def _text(x: MetricInputs) -> TextInputs:
    text = x.text
    if text is None:
        raise Unavailable("not a text-to-image generator (no captions to judge the images against)")
    return text


def _batched(fn: Any, items: Any, device: torch.device) -> torch.Tensor:
    return torch.cat([fn(items[i : i + BATCH].to(device)).cpu() for i in range(0, len(items), BATCH)])


@register("rprec", keys=["r_precision"], protocol={
    "r_precision": "R = 1 among 100 candidates: the caption and 99 captions of other text drawn "
                   "uniformly without replacement (torch.multinomial, seed = eval seed); ties lose"})
def rprec(x: MetricInputs) -> dict[str, Any]:
    t = _text(x)
    if t.encoder is not None and t.encoder.image is not None:
        device = next(t.encoder.parameters()).device
        with torch.no_grad():
            image_emb = _batched(t.encoder.encode_images, t.images, device)
            text_emb = _batched(lambda ids: t.encoder(ids).sentence, t.ids, device)
        x.protocol["r_precision_embedding"] = "the run's joint embedding (built-in encoder and its image tower)"
    elif t.clip is not None:
        device = next(t.clip.parameters()).device
        with torch.no_grad():
            image_emb = _batched(t.clip.image_features, t.images, device)
        text_emb = torch.cat([t.clip.text_features(t.captions[i : i + BATCH]).cpu()
                              for i in range(0, len(t.captions), BATCH)])
        x.protocol["r_precision_embedding"] = f"CLIP ({t.clip.path})"
    else:
        raise Unavailable("R-precision needs a joint embedding: the run's text encoder has no image tower "
                          f"(text.encoder=clip) and {t.clip_missing}")
    try:
        return {"r_precision": r_precision_from_embeddings(image_emb, text_emb, t.captions, x.seed)}
    except GanforgeError as exc:
        raise Unavailable(str(exc)) from None


@register("caption_acc", keys=["caption_all_acc", "caption_digit_acc", "caption_colour_acc",
                               "caption_size_acc", "caption_position_acc"])
def caption_acc(x: MetricInputs) -> dict[str, Any]:
    t = _text(x)
    if t.data != CAPTION_DATA:
        raise Unavailable(f"caption accuracy reads the attributes of the '{CAPTION_DATA}' demo; "
                          f"the data here is '{t.data}'")
    if t.images.shape[1] != 3:
        raise Unavailable(f"caption accuracy reads colour: the images have {t.images.shape[1]} channel(s)")
    scores = caption_accuracy(t.images, t.captions)
    return {"caption": {k.removesuffix("_acc") + "_acc": v for k, v in scores.items()}}


@register("clip_score", keys=["clip_score"], protocol={
    "clip_score": "100 * max(cos(CLIP image, CLIP caption), 0), mean over images (torchmetrics' "
                  "CLIPScore); images resized bicubic (antialiased) to CLIP's input size"})
def clip_score_metric(x: MetricInputs) -> dict[str, Any]:
    t = _text(x)
    if t.clip is None:
        raise Unavailable(t.clip_missing)
    device = next(t.clip.parameters()).device
    with torch.no_grad():
        image = _batched(t.clip.image_features, t.images, device)
        text = torch.cat([t.clip.text_features(t.captions[i : i + BATCH]).cpu()
                          for i in range(0, len(t.captions), BATCH)])
    x.protocol["clip_model"] = str(t.clip.path)
    return {"clip_score": clip_score(image, text)}
