"""Text-to-image measures: does an image show what its caption says?

- `caption_accuracy` (captioned digits demo): the attributes a caption names, read back from the
  pixels of the image drawn for it. Ink = pixels whose brightest channel exceeds INK; colour = the
  palette colour nearest the ink's mean chroma; size and position from the ink's bounding box
  (nearest of the demo's anchors); digit = the shipped digits classifier on the ink, cropped to
  its box with a margin, as white on black (the representation it was trained on).
- `r_precision` (any run with the built-in encoder): for each image, its caption and 99
  captions of other text are ranked by cosine similarity in the joint embedding; R-precision
  (R = 1) is the fraction ranked first (AttnGAN's protocol with the run's own encoder).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F

from ganforge.data.captioned_digits import (
    CANVAS,
    COLOURS,
    POSITIONS,
    SIZES,
    caption_attributes,
    glyph_offset,
)
from ganforge.errors import GanforgeError
from ganforge.metrics.classifiers import load_classifier
from ganforge.text import FrozenText

INK = 0.3  # of full brightness: a pixel is ink when its brightest channel exceeds this
MARGIN = 0.15  # border added around the ink box before the digit classifier reads it
CANDIDATES = 100


def _ink(images: torch.Tensor) -> torch.Tensor:
    """[-1, 1] (N, 3, H, W) -> brightness in [0, 1] of the brightest channel (N, H, W)."""
    return ((images.float().clamp(-1, 1) + 1) / 2).amax(1)


def _box(mask: torch.Tensor) -> tuple[int, int, int, int] | None:
    rows, cols = mask.any(1).nonzero().flatten(), mask.any(0).nonzero().flatten()
    if len(rows) == 0:
        return None
    return int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1


def _anchors(scale: float) -> dict[tuple[str, str], tuple[float, float]]:
    """(size, position) -> the centre of the demo's glyph box, in this image's pixels."""
    out = {}
    for size, side in SIZES.items():
        for position in POSITIONS:
            top, left = glyph_offset(side, position)
            out[(size, position)] = ((top + side / 2) * scale, (left + side / 2) * scale)
    return out


def read_attributes(images: torch.Tensor) -> list[dict[str, str | int]]:
    """What each demo image shows: colour, size, position, digit (empty when there is no ink)."""
    if images.ndim != 4 or images.shape[1] != 3:
        raise GanforgeError(f"caption accuracy reads colour: needs RGB images (N, 3, H, W), got {tuple(images.shape)}")
    side = images.shape[-1]
    anchors = _anchors(side / CANVAS)
    palette = torch.tensor(list(COLOURS.values()), dtype=torch.float32)
    palette = F.normalize(palette, dim=1)
    ink = _ink(images)
    rgb = (images.float().clamp(-1, 1) + 1) / 2
    judge = load_classifier("digits")
    crops, found = [], []
    for i in range(len(images)):
        mask = ink[i] > INK
        box = _box(mask)
        if box is None:
            found.append({})
            continue
        top, bottom, left, right = box
        mean = (rgb[i] * mask).sum((1, 2)) / mask.sum()
        colour = list(COLOURS)[int((F.normalize(mean, dim=0) @ palette.T).argmax())]
        extent = max(bottom - top, right - left)
        centre = ((top + bottom) / 2, (left + right) / 2)
        size = "large" if extent > (SIZES["small"] + SIZES["large"]) / 2 * side / CANVAS else "small"
        position = min(POSITIONS, key=lambda p: sum((a - b) ** 2 for a, b in zip(anchors[(size, p)], centre, strict=True)))
        found.append({"colour": colour, "size": size, "position": position})
        half = extent * (0.5 + MARGIN)
        cy, cx = centre
        y0, x0 = int(round(cy - half)), int(round(cx - half))
        span = max(1, int(round(2 * half)))
        padded = F.pad(ink[i], (span, span, span, span))
        crop = padded[y0 + span : y0 + 2 * span, x0 + span : x0 + 2 * span]
        crop = crop / crop.max().clamp_min(1e-6)
        crops.append((i, F.interpolate(crop[None, None], size=32, mode="bilinear", align_corners=False)[0]))
    if crops:
        batch = torch.stack([c for _, c in crops]) * 2 - 1
        with torch.no_grad():
            _, logits = judge(batch)
        for (i, _), digit in zip(crops, logits.argmax(1).tolist(), strict=True):
            found[i]["digit"] = int(digit)
    return found


def caption_accuracy(images: torch.Tensor, captions: Sequence[str]) -> dict[str, float]:
    """Per attribute, the fraction of images showing what their caption names (over the captions
    that name it); `all` = images right on every attribute their caption names."""
    if len(images) != len(captions):
        raise GanforgeError(f"{len(images)} images but {len(captions)} captions")
    seen = read_attributes(images)
    hits: dict[str, list[bool]] = {}
    every = []
    for shown, caption in zip(seen, captions, strict=True):
        wanted = {k: v for k, v in caption_attributes(caption).items() if k != "stroke"}
        right = {k: shown.get(k) == v for k, v in wanted.items()}
        for key, ok in right.items():
            hits.setdefault(key, []).append(ok)
        every.append(all(right.values()))
    out = {f"{k}_acc": sum(v) / len(v) for k, v in sorted(hits.items())}
    out["all_acc"] = sum(every) / max(len(every), 1)
    return out


def r_precision(encoder: FrozenText, images: torch.Tensor, ids: torch.Tensor, texts: Sequence[str],
                seed: int = 0) -> float:
    """R-precision (R = 1) of images against their captions' token ids among CANDIDATES - 1
    captions of other text drawn from the same list, in the built-in encoder's joint embedding."""
    if encoder.image is None:
        raise GanforgeError("R-precision needs the built-in encoder's image tower (text.encoder=builtin)")
    device = next(encoder.parameters()).device
    with torch.no_grad():
        image_emb = encoder.encode_images(images.to(device))
        text_emb = encoder(ids.to(device)).sentence
    return r_precision_from_embeddings(image_emb, text_emb, texts, seed)


def r_precision_from_embeddings(image_emb: torch.Tensor, text_emb: torch.Tensor, texts: Sequence[str],
                                seed: int = 0) -> float:
    """Image i's caption (text_emb[i]) against CANDIDATES - 1 others drawn without replacement,
    uniformly among the rows whose text differs from texts[i] (torch.multinomial, seeded):
    the fraction of images whose own caption has the highest cosine similarity (ties lose)."""
    if not len(image_emb) == len(text_emb) == len(texts):
        raise GanforgeError(f"R-precision: {len(image_emb)} images, {len(text_emb)} text embeddings, "
                            f"{len(texts)} captions")
    groups = {t: k for k, t in enumerate(dict.fromkeys(texts))}
    if len(groups) < CANDIDATES:
        raise GanforgeError(f"R-precision needs at least {CANDIDATES} distinct captions, got {len(groups)}")
    group = torch.tensor([groups[t] for t in texts])
    image_emb = F.normalize(image_emb.float().cpu(), dim=1)
    text_emb = F.normalize(text_emb.float().cpu(), dim=1)
    rng = torch.Generator().manual_seed(seed)
    hits = 0
    for i in range(len(image_emb)):
        others = torch.multinomial((group != group[i]).float(), CANDIDATES - 1, replacement=False, generator=rng)
        scores = text_emb[torch.cat([torch.tensor([i]), others])] @ image_emb[i]
        hits += int(bool((scores[1:] < scores[0]).all()))
    return hits / len(image_emb)


def clip_score(image_feats: torch.Tensor, text_feats: torch.Tensor) -> float:
    """CLIPScore as torchmetrics computes it: mean over pairs of 100 * max(cos(image, text), 0)."""
    cos = (F.normalize(image_feats.float(), dim=1) * F.normalize(text_feats.float(), dim=1)).sum(1)
    return float((100 * cos.clamp_min(0)).mean())
