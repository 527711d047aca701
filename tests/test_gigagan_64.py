"""The 64 px base GigaGAN configuration (recipe gigagan-64): built on the meta device (no memory,
no weights), its structure is the table in BENCHMARKS.md ("GigaGAN 64 px") and its size is
recorded here: a change to the architecture that changes the count must say so."""

from __future__ import annotations

import torch

from ganforge import api
from ganforge.models.gigagan import GigaGANGenerator
from ganforge.models.gigagan_discriminator import GigaGANDiscriminator

# parameters outside the frozen text tower (the builtin encoder in its place here; CLIP's is frozen too)
G_PARAMS = 639_347_804
D_PARAMS = 107_653_400


def _trainable(net: torch.nn.Module) -> int:
    return sum(p.numel() for name, p in net.named_parameters() if not name.startswith("encoder.text."))


def test_gigagan_64_structure_and_recorded_size() -> None:
    config = api.check_config("gigagan-64")
    assert config.text.max_len == 77 and config.text.width == 768  # CLIP ViT-L/14's context and width
    with torch.device("meta"):
        G = GigaGANGenerator(config.model, config.text)
        D = GigaGANDiscriminator(config.model, config.text)
    assert (_trainable(G), _trainable(D)) == (G_PARAMS, D_PARAMS)
    # G: an RGB output at 4, 8, 16, 32, 64 px; a bank of 8 filters per 3x3 layer, widths 1024
    # (4-16 px), 768 (32 px), 512 (64 px); the 4 px block has one convolution on the constant;
    # two attention blocks (L2 self-attention, cross-attention, feed-forward x4) at 8, 16, 32 px
    assert [tuple(b.conv1.bank.shape) for b in G.blocks] == [(8, 1024, 1024, 3, 3)] * 3 + [
        (8, 768, 1024, 3, 3), (8, 512, 768, 3, 3)]
    assert [b.conv2 is None for b in G.blocks] == [True, False, False, False, False]
    assert [len(b.attention) for b in G.blocks] == [0, 2, 2, 2, 0]
    assert G.blocks[1].attention[0].ff[0].out_features == 4 * 1024
    assert len(G.encoder.layers.layers) == 4 and len(G.mapping) == 2 * 4 and G.dim_z == 128
    # D: 5 input levels (64, 32, 16, 8, 4 px), each judged after every block it passes (the 4 px
    # level where it joins the 4x4 features): 11 pairs
    assert D.pairs == [(64, 32), (64, 16), (64, 8), (64, 4), (32, 16), (32, 8), (32, 4), (16, 8), (16, 4), (8, 4),
                       (4, 4)]
    assert D.stem_4px is not None and D.stem_4px.out_channels == 1024
    assert [type(a).__name__ for a in D.attention] == ["Identity", "SelfAttentionBlock", "SelfAttentionBlock",
                                                        "Identity"]
    assert [len(p.hidden) + 1 for p in D.predictors] == [4] * 4
