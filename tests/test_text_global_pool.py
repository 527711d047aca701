"""GigaGAN's global text code (`text.global_pool`): the end-of-text token's feature of T's output
(eot, the paper's) or the masked mean (mean, what configs without the key ran with), picked per
sample in a padded batch; with CLIP the EOT position also leaves t_local."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).parent))

from clip_support import tiny_clip  # noqa: E402
from ganforge import api  # noqa: E402
from ganforge.config import TextConfig, config_from_dict, load_recipe  # noqa: E402
from ganforge.errors import GanforgeError  # noqa: E402
from ganforge.models.gigagan import TextLayers  # noqa: E402
from ganforge.text.clip import CLIP_PAD, ClipText, ClipTokenizer  # noqa: E402
from ganforge.text.encoder import last_real_token  # noqa: E402

# three right-padded captions: 3 words, 1 word, 5 words (no padding)
IDS = torch.tensor([[3, 5, 7, 0, 0], [2, 0, 0, 0, 0], [4, 4, 1, 6, 2]])


@pytest.fixture(autouse=True)
def _one_thread() -> None:
    torch.set_num_threads(1)


def _layers(pool: str) -> TextLayers:
    torch.manual_seed(0)
    text = TextConfig(vocab=[f"w{i}" for i in range(7)], max_len=5, width=8, heads=2, embed_dim=8,
                      global_pool=pool)
    return TextLayers(text, 3, 1, 6).eval()


def test_last_real_token_of_a_padded_batch() -> None:
    assert last_real_token(IDS != 0).tolist() == [2, 0, 4]
    # no word at all: position 0, never an index past the row
    assert last_real_token(torch.zeros(2, 4, dtype=torch.bool)).tolist() == [0, 0]


def test_builtin_eot_reads_each_captions_last_word_and_keeps_it_in_t_local() -> None:
    eot, mean = _layers("eot"), _layers("mean")
    assert eot.state_dict().keys() == mean.state_dict().keys()  # the same weights serve both
    mean.load_state_dict(eot.state_dict())
    local, mask, t_global = eot(IDS)
    feats = eot.text(IDS)
    expect_local = eot.layers(feats.tokens, src_key_padding_mask=~feats.mask)
    assert torch.allclose(local, expect_local)
    assert torch.equal(mask, IDS != 0)  # the last word is a word: it stays in cross-attention
    rows = torch.arange(3)
    assert torch.allclose(t_global, eot.to_global(expect_local[rows, torch.tensor([2, 0, 4])]))
    # mean: the masked mean over the real tokens only
    w = (IDS != 0).float().unsqueeze(-1)
    assert torch.allclose(mean(IDS)[2], mean.to_global((expect_local * w).sum(1) / w.sum(1)), atol=1e-6)
    assert not torch.allclose(t_global, mean(IDS)[2])
    # padding after the last word does not move t_global (row 1 padded to 5 vs the word alone)
    assert torch.allclose(eot(IDS[1:2, :1].expand(1, 1))[2][0], t_global[1], atol=1e-5)


def test_clip_eot_is_the_highest_id_and_leaves_t_local(tmp_path: Path) -> None:
    bos, eos = 100, 101  # CLIP's <|startoftext|> and <|endoftext|>, the last ids of its vocabulary
    ids = torch.tensor([[bos, 5, 7, eos, CLIP_PAD, CLIP_PAD], [bos, 9, eos, CLIP_PAD, CLIP_PAD, CLIP_PAD],
                        [bos, 3, 4, 5, 6, eos]])
    assert ClipText.eot_index(ids, ids != CLIP_PAD).tolist() == [3, 2, 5]
    folder = tiny_clip(tmp_path / "clip", text_only=True)
    tokenizer = ClipTokenizer(folder, 8)
    real = tokenizer.encode(["ab c", "a", "abc d ef"])
    eos_id = tokenizer.tokenizer.eos_token_id
    assert [row.tolist().index(eos_id) for row in real] == ClipText.eot_index(real, real != CLIP_PAD).tolist()
    torch.manual_seed(0)
    layers = TextLayers(TextConfig(encoder=f"clip:{folder}", max_len=8, global_pool="eot"), 3, 1, 6).eval()
    local, mask, t_global = layers(real)
    eot = ClipText.eot_index(real, real != CLIP_PAD)
    rows = torch.arange(3)
    assert not mask[rows, eot].any() and mask[:, 0].all()  # EOT out of t_local, SOT kept
    assert torch.equal(mask.sum(1), (real != CLIP_PAD).sum(1) - 1)
    assert torch.allclose(t_global, layers.to_global(local[rows, eot]))


def test_configs_without_the_key_keep_the_mean_and_the_gigagan_recipes_use_eot() -> None:
    old = load_recipe("gigagan").to_dict()
    del old["text"]["global_pool"]
    assert config_from_dict(old).text.global_pool == "mean"
    assert load_recipe("gigagan").text.global_pool == "eot"
    assert load_recipe("gigagan-64").text.global_pool == "eot"
    assert load_recipe("gan-cls").text.global_pool == "mean"  # GAN-CLS has no T: the key is unused
    with pytest.raises(GanforgeError, match="text.global_pool"):
        api.make_config("gigagan", ["text.global_pool=first"])
