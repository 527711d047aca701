"""Word-level tokenizer for the built-in encoder: lower-cased alphanumeric words, id 0 = padding.

The vocabulary is built from the training captions and stored in the run's config
(`text.vocab`), so a run, its checkpoints and its exports tokenise exactly as in training.
Unknown words are refused with the closest known words, never silently dropped: a caption the
encoder cannot read would otherwise draw an image of a different sentence.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Sequence

import torch

from ganforge.errors import GanforgeError

PAD_ID = 0
_WORD = re.compile(r"[a-z0-9]+")


def words(text: str) -> list[str]:
    """'A small, red 7!' -> ['a', 'small', 'red', '7']."""
    return _WORD.findall(text.lower())


def build_vocabulary(captions: Iterable[str]) -> list[str]:
    """Every word of the captions, sorted (ids are 1 + position; 0 is padding)."""
    return sorted({w for caption in captions for w in words(caption)})


class WordTokenizer:
    """Captions -> (N, max_len) int64 ids, right-padded with 0; longer captions are cut."""

    def __init__(self, vocab: Sequence[str], max_len: int) -> None:
        self.vocab = list(vocab)
        self.max_len = max_len
        self.ids = {w: i + 1 for i, w in enumerate(self.vocab)}

    @property
    def size(self) -> int:
        """Embedding rows the encoder needs (padding included)."""
        return len(self.vocab) + 1

    def encode_one(self, text: str, where: str = "--text") -> list[int]:
        if not self.vocab:  # a config checked before its data (size, info) has none yet
            raise GanforgeError("text.vocab is empty: the vocabulary comes from the training captions; "
                                "train on captioned data (e.g. --data captioned-digits)")
        tokens = words(text)
        if not tokens:
            raise GanforgeError(f"{where} '{text}' has no words")
        unknown = [w for w in tokens if w not in self.ids]
        if unknown:
            near = difflib.get_close_matches(unknown[0], self.vocab, n=3)
            hint = f"closest: {', '.join(near)}" if near else f"known words: {', '.join(self.vocab[:20])}"
            raise GanforgeError(f"{where} '{text}': unknown word '{unknown[0]}' (not in the run's "
                                f"{len(self.vocab)}-word vocabulary; {hint})")
        return [self.ids[w] for w in tokens[: self.max_len]]

    def encode(self, texts: Sequence[str], where: str = "--text") -> torch.Tensor:
        out = torch.full((len(texts), self.max_len), PAD_ID, dtype=torch.long)
        for i, text in enumerate(texts):
            ids = self.encode_one(text, where)
            out[i, : len(ids)] = torch.tensor(ids)
        return out

    def decode(self, ids: torch.Tensor) -> list[str]:
        """(N, L) ids -> sentences (padding dropped)."""
        return [" ".join(self.vocab[i - 1] for i in row.tolist() if i != PAD_ID) for row in ids]
