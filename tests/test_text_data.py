"""Captioned data and tokenizing: the word tokenizer's round trip and its refusal of unknown
words, the caption readers on tiny files, the captioned demo's held-out compositions, and the
caption draw of the batch stream resuming exactly."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from ganforge.config import TextConfig
from ganforge.data import load_dataset
from ganforge.data.batches import BatchStream
from ganforge.data.captioned_digits import (
    COLOUR_NAMES,
    DIGIT_WORDS,
    HELD_OUT,
    caption_attributes,
    held_out_captions,
    load_captioned_digits,
)
from ganforge.errors import GanforgeError
from ganforge.text import WordTokenizer, build_text_encoder, build_vocabulary, words
from ganforge.text.clip import check_clip_folder


def test_tokenizer_round_trip_pads_and_cuts() -> None:
    vocab = build_vocabulary(["A small red seven, top-left!", "a thin green two"])
    assert vocab == sorted(set(vocab)) and "seven" in vocab and "left" in vocab
    tok = WordTokenizer(vocab, max_len=5)
    ids = tok.encode(["a thin green two", "a small red seven top left"])
    assert ids.shape == (2, 5) and ids.dtype == torch.long
    assert ids[0, 4] == 0 and (ids[0, :4] > 0).all()  # padded with 0
    assert tok.decode(ids) == ["a thin green two", "a small red seven top"]  # cut at max_len
    assert words("A Small, RED 7!") == ["a", "small", "red", "7"]


def test_unknown_word_is_refused_with_the_closest_known_words() -> None:
    tok = WordTokenizer(["a", "green", "red", "two"], max_len=8)
    with pytest.raises(GanforgeError, match="unknown word 'gren'.*closest: green") as info:
        tok.encode(["a gren two"])
    assert "\n" not in str(info.value)
    with pytest.raises(GanforgeError, match="has no words"):
        tok.encode(["  !! "])


def _png(path: Path, colour: tuple[int, int, int]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((12, 12, 3), colour, dtype=np.uint8)).save(path)


def test_captions_jsonl_reader(tmp_path: Path) -> None:
    _png(tmp_path / "a.png", (255, 0, 0))
    _png(tmp_path / "sub" / "b.png", (0, 0, 255))
    lines = [{"image": "a.png", "captions": ["a red square", "red"]},
             {"image": "sub/b.png", "caption": "a blue square"}]
    (tmp_path / "captions.jsonl").write_text("\n".join(json.dumps(x) for x in lines) + "\n")
    data = load_dataset(f"captions:{tmp_path}", 8, 3)
    assert len(data) == 2 and data.images.shape == (2, 3, 8, 8)
    assert data.captions == [["a red square", "red"], ["a blue square"]]
    assert int(data.images[0, 0].float().mean()) > 200 and int(data.images[1, 2].float().mean()) > 200
    (tmp_path / "captions.jsonl").write_text('{"image": "a.png"}\n')
    with pytest.raises(GanforgeError, match=r"captions.jsonl:1: needs \"captions\""):
        load_dataset(f"captions:{tmp_path}", 8, 3)
    (tmp_path / "captions.jsonl").write_text('{"image": "missing.png", "caption": "x"}\n')
    with pytest.raises(GanforgeError, match="missing.png does not exist"):
        load_dataset(f"captions:{tmp_path}", 8, 3)


def test_coco_captions_reader(tmp_path: Path) -> None:
    _png(tmp_path / "img" / "1.png", (0, 255, 0))
    _png(tmp_path / "img" / "2.png", (0, 0, 0))
    coco = {"images": [{"id": 1, "file_name": "1.png"}, {"id": 2, "file_name": "2.png"}],
            "annotations": [{"image_id": 1, "caption": "green "}, {"image_id": 2, "caption": "black"},
                            {"image_id": 1, "caption": "a green field"}]}
    (tmp_path / "captions.json").write_text(json.dumps(coco))
    data = load_dataset(f"coco:{tmp_path / 'captions.json'}:{tmp_path / 'img'}", 8, 3)
    assert data.captions == [["green", "a green field"], ["black"]]
    (tmp_path / "bad.json").write_text(json.dumps({"images": []}))
    with pytest.raises(GanforgeError, match="not a COCO captions file"):
        load_dataset(f"coco:{tmp_path / 'bad.json'}", 8, 3)


def test_cub_style_reader(tmp_path: Path) -> None:
    _png(tmp_path / "images" / "001.Gull" / "x.png", (200, 200, 200))
    (tmp_path / "text" / "001.Gull").mkdir(parents=True)
    (tmp_path / "text" / "001.Gull" / "x.txt").write_text("a white bird\n\nwith grey wings\n")
    data = load_dataset(f"cub:{tmp_path}", 8, 3)
    assert data.captions == [["a white bird", "with grey wings"]] and data.class_names == ["001.Gull"]


def test_captioned_demo_holds_out_one_colour_per_digit() -> None:
    data = load_captioned_digits(32, 3)
    assert len(data) == 3594 and data.images.shape[1:] == (3, 32, 32)
    assert len(HELD_OUT) == 10 and sorted(d for d, _ in HELD_OUT) == list(range(10))
    shown = {(caption_attributes(c[0])["digit"], caption_attributes(c[0])["colour"]) for c in data.captions}
    held = {(d, COLOUR_NAMES[c]) for d, c in HELD_OUT}
    assert not shown & held and len(shown) == 50
    for caption in held_out_captions():
        a = caption_attributes(caption)
        assert (a["digit"], a["colour"]) in held
    assert caption_attributes("the digit seven drawn small in red at the top left") == {
        "digit": DIGIT_WORDS.index("seven"), "size": "small", "colour": "red", "position": "top left"}
    assert all(len(c) == 4 for c in data.captions) and data.labels.tolist()[:3] == [0, 1, 2]


def test_batch_stream_draws_captions_and_resumes_exactly() -> None:
    data = load_dataset("digits", 8, 1)
    data.captions = [[f"c{i}"] for i in range(len(data))]
    tokens = torch.zeros(len(data), 3, 4, dtype=torch.long)
    tokens[:, 0, 0], tokens[:, 1, 0] = 1, 2  # two captions per image, a padding row third
    data.tokens = tokens
    a = BatchStream(data, 16, seed=0)
    _, y = a.next()
    assert y.shape == (16, 4) and set(y[:, 0].tolist()) <= {1, 2}
    state = a.state_dict()
    b = BatchStream(data, 16, seed=5)
    b.load_state_dict(state)
    for _ in range(3):
        (xa, ya), (xb, yb) = a.next(), b.next()
        assert torch.equal(xa, xb) and torch.equal(ya, yb)


def test_missing_or_mismatched_clip_folder_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(GanforgeError, match="is not a folder"):
        build_text_encoder(TextConfig(encoder=f"clip:{tmp_path / 'nope'}"), 3)
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "clip_text_model"}))
    with pytest.raises(GanforgeError, match=r"missing .*vocab.json") as info:
        build_text_encoder(TextConfig(encoder=f"clip:{tmp_path}"), 3)
    assert "\n" not in str(info.value)
    for name in ("vocab.json", "merges.txt"):
        (tmp_path / name).write_text("{}")
    with pytest.raises(GanforgeError, match=r"missing .*model.safetensors or pytorch_model.bin"):
        check_clip_folder(tmp_path)
    (tmp_path / "model.safetensors").write_bytes(b"")
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "bert"}))
    with pytest.raises(GanforgeError, match="describes a 'bert' model, not CLIP"):
        check_clip_folder(tmp_path)
    # every file there but empty weights: without transformers the library is named, with it the
    # load fails; either way one line
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "clip_text_model"}))
    with pytest.raises(GanforgeError, match="needs the transformers library|cannot load the CLIP") as info:
        build_text_encoder(TextConfig(encoder=f"clip:{tmp_path}"), 3)
    assert "\n" not in str(info.value)
