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
    transformers.logging.set_verbosity_error()  # a whole CLIP read as its text tower is expected
    transformers.logging.disable_progress_bar()
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

    eot_is_token = True

    def __init__(self, path: Path) -> None:
        super().__init__()
        config = check_clip_folder(path)
        transformers = _transformers(path)
        try:
            if torch.get_default_device().type == "meta":  # counting parameters: shapes only
                text_config = transformers.CLIPTextConfig.from_pretrained(str(path), local_files_only=True)
                self.model = transformers.CLIPTextModel(text_config)
            else:
                self.model = transformers.CLIPTextModel.from_pretrained(str(path), local_files_only=True)
        except Exception as exc:  # noqa: BLE001 - any failure to read the files (safetensors, torch, json)
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise GanforgeError(f"text.encoder=clip:{path}: cannot load the CLIP text model ({first})") from None
        text_config = config.get("text_config", config)
        self.width = self.embed_dim = int(text_config.get("hidden_size", self.model.config.hidden_size))

    def forward(self, ids: torch.Tensor) -> TextFeatures:
        mask = ids != CLIP_PAD
        out = self.model(input_ids=ids.clamp_min(0), attention_mask=mask.long())
        return TextFeatures(out.last_hidden_state, mask, out.pooler_output)

    @staticmethod
    def eot_index(ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """The end-of-text token as CLIP pools it: the highest id (<|endoftext|> is the last of
        CLIP's vocabulary; padding is CLIP_PAD = -1, so it never wins), the first if repeated."""
        return ids.argmax(1)


# CLIP's image normalisation (OpenAI's preprocessing; transformers' CLIPImageProcessor defaults)
CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)


def check_full_clip(path: Path, what: str) -> dict[str, Any]:
    """The config of a folder holding a whole CLIP model (text and vision towers): the CLIP score
    and GigaGAN's CLIP loss need both; a text-only folder is refused with what to give instead."""
    config = check_clip_folder(path)
    if config.get("model_type") != "clip" or "vision_config" not in config:
        raise GanforgeError(f"{what}: {path / CONFIG_FILE} is a CLIP text tower only ({config.get('model_type')}); "
                            "it needs a whole CLIP model (CLIPModel.save_pretrained, with vision_config)")
    return config


class ClipJudge(nn.Module):
    """A frozen whole CLIP model: images in [-1, 1] and captions -> unit vectors in its joint
    space. Images are resized (bicubic, antialiased) to the vision tower's size and normalised
    as CLIP's preprocessing does; gradients flow to the images (GigaGAN's CLIP loss)."""

    def __init__(self, path: Path, what: str = "CLIP") -> None:
        super().__init__()
        config = check_full_clip(path, what)
        transformers = _transformers(path)
        try:
            self.model = transformers.CLIPModel.from_pretrained(str(path), local_files_only=True)
        except Exception as exc:  # noqa: BLE001 - any failure to read the files (safetensors, torch, json)
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise GanforgeError(f"{what}: cannot load the CLIP model in {path} ({first})") from None
        self.model.eval().requires_grad_(False)
        self.path = path
        self.size = int(config["vision_config"].get("image_size", self.model.config.vision_config.image_size))
        self.max_len = int(self.model.config.text_config.max_position_embeddings)
        self.tokenizer = ClipTokenizer(path, self.max_len)
        self.register_buffer("mean", torch.tensor(CLIP_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(CLIP_STD).view(1, 3, 1, 1), persistent=False)

    def train(self, mode: bool = True) -> ClipJudge:
        return super().train(False)

    @property
    def logit_scale(self) -> torch.Tensor:
        return self.model.logit_scale.detach().exp()

    def image_features(self, images: torch.Tensor) -> torch.Tensor:
        x = images.float()
        if x.shape[1] == 1:
            x = x.repeat(1, 3, 1, 1)
        x = torch.nn.functional.interpolate((x + 1) / 2, size=(self.size, self.size), mode="bicubic",
                                            align_corners=False, antialias=True)
        out = self.model.get_image_features(pixel_values=(x - self.mean) / self.std)
        out = getattr(out, "pooler_output", out)  # transformers 5 returns an output object
        return torch.nn.functional.normalize(out, dim=-1)

    def text_features_of_ids(self, ids: torch.Tensor) -> torch.Tensor:
        """CLIP ids (padding CLIP_PAD, as ClipTokenizer gives) -> unit vectors (no gradient)."""
        mask = ids != CLIP_PAD
        with torch.no_grad():
            out = self.model.get_text_features(input_ids=ids.clamp_min(0), attention_mask=mask.long())
        out = getattr(out, "pooler_output", out)
        return torch.nn.functional.normalize(out, dim=-1)

    def text_features(self, texts: Sequence[str]) -> torch.Tensor:
        device = next(self.model.parameters()).device
        return self.text_features_of_ids(self.tokenizer.encode(texts).to(device))
