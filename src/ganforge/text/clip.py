"""A frozen CLIP text tower from local weights (`text.encoder=clip:PATH`), via `transformers`.

Nothing is downloaded: PATH must be a folder saved by `CLIPTextModel.save_pretrained` (or a
whole CLIP model) with its tokenizer files. Missing files, a folder that is not CLIP, or a
missing `transformers` are one-line errors naming what to do.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ganforge.errors import GanforgeError
from ganforge.text.encoder import TextFeatures

CONFIG_FILE = "config.json"
WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin")
TOKENIZER_FILES = ("vocab.json", "merges.txt")
CLIP_TYPES = ("clip", "clip_text_model")
CLIP_PAD = -1  # padding in CLIP ids (CLIP's own pad id is also a word): masked, never embedded


def check_clip_folder(path: Path) -> dict[str, Any]:
    """The folder's config.json, after checking every file CLIP needs is there."""
    where = f"text.encoder=clip:{path}"
    if not path.is_dir():
        raise GanforgeError(f"{where}: '{path}' is not a folder (a local CLIP text model saved with "
                            "transformers' save_pretrained)")
    missing = [n for n in (CONFIG_FILE, *TOKENIZER_FILES) if not (path / n).is_file()]
    if not any((path / n).is_file() for n in WEIGHT_FILES):
        missing.append(" or ".join(WEIGHT_FILES))
    if missing:
        raise GanforgeError(f"{where}: missing {path / missing[0]}; the folder needs {CONFIG_FILE}, "
                            f"{', '.join(TOKENIZER_FILES)} and {' or '.join(WEIGHT_FILES)}")
    try:
        config = json.loads((path / CONFIG_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise GanforgeError(f"{where}: {path / CONFIG_FILE} is not readable JSON ({exc})") from None
    if config.get("model_type") not in CLIP_TYPES:
        raise GanforgeError(f"{where}: {path / CONFIG_FILE} describes a '{config.get('model_type')}' "
                            f"model, not CLIP (model_type {' or '.join(CLIP_TYPES)})")
    return config


def _transformers(path: Path) -> Any:
    try:
        import transformers
    except ImportError:
        raise GanforgeError(f"text.encoder=clip:{path} needs the transformers library "
                            "(pip install transformers); or use text.encoder=builtin") from None
    return transformers


class ClipTokenizer:
    """CLIP's BPE tokenizer from the folder; padding is CLIP_PAD."""

    def __init__(self, path: Path, max_len: int) -> None:
        check_clip_folder(path)
        self.tokenizer = _transformers(path).CLIPTokenizer.from_pretrained(str(path), local_files_only=True)
        self.max_len = max_len

    def encode(self, texts: Sequence[str], where: str = "--text") -> torch.Tensor:
        batch = self.tokenizer(list(texts), padding="max_length", truncation=True,
                               max_length=self.max_len, return_tensors="pt")
        return batch["input_ids"].masked_fill(batch["attention_mask"] == 0, CLIP_PAD)


class ClipText(nn.Module):
    """CLIPTextModel as an encoder: last hidden states, mask, pooled (end-of-text) feature."""

    def __init__(self, path: Path) -> None:
        super().__init__()
        config = check_clip_folder(path)
        transformers = _transformers(path)
        try:
            self.model = transformers.CLIPTextModel.from_pretrained(str(path), local_files_only=True)
        except (OSError, ValueError, RuntimeError) as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise GanforgeError(f"text.encoder=clip:{path}: cannot load the CLIP text model ({first})") from None
        text_config = config.get("text_config", config)
        self.width = self.embed_dim = int(text_config.get("hidden_size", self.model.config.hidden_size))

    def forward(self, ids: torch.Tensor) -> TextFeatures:
        mask = ids != CLIP_PAD
        out = self.model(input_ids=ids.clamp_min(0), attention_mask=mask.long())
        return TextFeatures(out.last_hidden_state, mask, out.pooler_output)
