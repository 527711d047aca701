"""A captioned demo that needs no download: the 1,797 scikit-learn digits drawn in colour, at
two sizes, five positions and two stroke widths on a black 32x32 canvas, each with four template
sentences ("a small red seven in the top left", ...).

Some compositions are held out: every digit has one colour it is never drawn in during training
(`HELD_OUT`), so sentences such as "a large red six" test whether a text-to-image model composes
attributes it saw apart. `caption_attributes` reads the attributes back from any sentence, so
metrics can check a generated image against its caption.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ganforge.data.dataset import ImageDataset, to_model_format

CANVAS = 32
DIGIT_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
COLOURS = {"red": (230, 40, 40), "green": (40, 200, 60), "blue": (50, 90, 240),
           "yellow": (230, 220, 40), "cyan": (40, 220, 230), "magenta": (220, 50, 220)}
COLOUR_NAMES = tuple(COLOURS)
SIZES = {"small": 14, "large": 24}
POSITIONS = ("top left", "top right", "bottom left", "bottom right", "center")
STROKES = ("thin", "thick")
RENDERINGS = 2  # each glyph is drawn twice, with independent attributes
SEED = 0
TEMPLATES = (
    "a {size} {colour} {digit} in the {position}",
    "a {stroke} {colour} {digit}",
    "the digit {digit} drawn {size} in {colour} at the {position}",
    "{colour} {digit} with {stroke} strokes",
)


def held_out(digit: int, colour: int) -> bool:
    """The (digit, colour) pairs never drawn in training: one colour per digit."""
    return (digit + colour) % len(COLOUR_NAMES) == 0


HELD_OUT = [(d, c) for d in range(10) for c in range(len(COLOUR_NAMES)) if held_out(d, c)]


def glyph_offset(size: int, position: str) -> tuple[int, int]:
    """(top, left) of a size x size glyph at a named position (1 px margin)."""
    far = CANVAS - size - 1
    mid = (CANVAS - size) // 2
    return {"top left": (1, 1), "top right": (1, far), "bottom left": (far, 1),
            "bottom right": (far, far), "center": (mid, mid)}[position]


def render(glyphs: torch.Tensor, colours: list[str], size: str, position: str, stroke: str) -> torch.Tensor:
    """8x8 glyphs (N, 8, 8; values 0..16) of one size, position and stroke -> uint8 (N, 3, 32, 32)."""
    side = SIZES[size]
    ink = F.interpolate(glyphs[:, None].float() / 16.0, size=(side, side), mode="bilinear",
                        align_corners=False)
    if stroke == "thick":
        ink = F.max_pool2d(ink, 3, 1, 1)
    else:
        ink = ((ink - 0.45) * 3.0).clamp(0, 1)
    canvas = torch.zeros(len(glyphs), 1, CANVAS, CANVAS)
    top, left = glyph_offset(side, position)
    canvas[..., top : top + side, left : left + side] = ink.clamp(0, 1)
    rgb = torch.tensor([COLOURS[c] for c in colours], dtype=torch.float32).view(-1, 3, 1, 1)
    return (canvas * rgb).round().clamp(0, 255).byte()


def captions_for(digit: int, colour: str, size: str, position: str, stroke: str) -> list[str]:
    values = {"digit": DIGIT_WORDS[digit], "colour": colour, "size": size, "position": position,
              "stroke": stroke}
    return [t.format(**values) for t in TEMPLATES]


def caption_attributes(text: str) -> dict[str, str | int]:
    """The attributes a sentence names: digit (int), colour, size, position, stroke (each only
    when the sentence names it)."""
    words = text.lower().replace(",", " ").split()
    found: dict[str, str | int] = {}
    for i, word in enumerate(words):
        if word in DIGIT_WORDS:
            found["digit"] = DIGIT_WORDS.index(word)
        elif word in COLOURS:
            found["colour"] = word
        elif word in SIZES:
            found["size"] = word
        elif word in STROKES:
            found["stroke"] = word
        elif word == "center":
            found["position"] = "center"
        elif word in ("top", "bottom") and i + 1 < len(words) and words[i + 1] in ("left", "right"):
            found["position"] = f"{word} {words[i + 1]}"
    return found


def _draw_attributes(digits: torch.Tensor, rng: torch.Generator) -> list[tuple[str, str, str, str]]:
    """(colour, size, position, stroke) per digit, uniform over the allowed colours."""
    n = len(digits)
    colour_draw, size, position, stroke = (torch.rand(n, generator=rng) for _ in range(4))
    out = []
    for i, digit in enumerate(digits.tolist()):
        allowed = [c for c in range(len(COLOUR_NAMES)) if not held_out(digit, c)]
        out.append((COLOUR_NAMES[allowed[int(colour_draw[i] * len(allowed))]],
                    list(SIZES)[int(size[i] * len(SIZES))], POSITIONS[int(position[i] * len(POSITIONS))],
                    STROKES[int(stroke[i] * len(STROKES))]))
    return out


def load_captioned_digits(resolution: int, channels: int) -> ImageDataset:
    """3,594 captioned images (two renderings of each digit), none in a held-out composition."""
    from sklearn.datasets import load_digits

    bunch = load_digits()
    glyphs = torch.from_numpy(bunch.images).repeat(RENDERINGS, 1, 1)
    digits = torch.from_numpy(bunch.target).long().repeat(RENDERINGS)
    rng = torch.Generator().manual_seed(SEED)
    attributes = _draw_attributes(digits, rng)
    images = torch.zeros(len(glyphs), 3, CANVAS, CANVAS, dtype=torch.uint8)
    groups: dict[tuple[str, str, str], list[int]] = {}
    for i, (_, size, position, stroke) in enumerate(attributes):
        groups.setdefault((size, position, stroke), []).append(i)
    for (size, position, stroke), members in groups.items():
        index = torch.tensor(members)
        images[index] = render(glyphs[index], [attributes[i][0] for i in members], size, position, stroke)
    captions = [captions_for(d, *a) for d, a in zip(digits.tolist(), attributes, strict=True)]
    images = to_model_format(images, resolution, channels)
    return ImageDataset(images, digits, [str(i) for i in range(10)], "captioned-digits", captions)


def held_out_captions(per_pair: int = 1, seed: int = 1) -> list[str]:
    """Sentences of compositions never seen in training (a held-out colour for each digit)."""
    rng = torch.Generator().manual_seed(seed)
    out = []
    for digit, colour in HELD_OUT:
        for _ in range(per_pair):
            size = list(SIZES)[int(torch.randint(len(SIZES), (1,), generator=rng))]
            position = POSITIONS[int(torch.randint(len(POSITIONS), (1,), generator=rng))]
            out.append(TEMPLATES[0].format(size=size, colour=COLOUR_NAMES[colour],
                                           digit=DIGIT_WORDS[digit], position=position))
    return out
