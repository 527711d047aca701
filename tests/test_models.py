"""BigGAN architecture: exact parameter counts, shapes at every resolution, conditioning, SN."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from conftest import small_model
from ganforge import api
from ganforge.models import build_models
from ganforge.models.biggan import upsample_nearest
from ganforge.nn import ConditionalBatchNorm2d, LayerFactory, SelfAttention


@pytest.mark.parametrize(
    ("recipe", "g_params", "d_params"),
    [
        ("biggan-128", 70_433_988, 87_982_370),  # BigGAN-PyTorch, REFERENCE.md
        ("biggan-32", 4_304_387, 4_207_361),  # BigGAN-PyTorch's CIFAR script
    ],
)
def test_exact_parameter_counts_match_biggan_pytorch(recipe: str, g_params: int, d_params: int) -> None:
    result = api.info(recipe)
    assert result["generator_params"] == g_params
    assert result["discriminator_params"] == d_params


def test_256_and_ch64_counts_match_reference_to_published_precision() -> None:
    r256 = api.info("biggan-256")
    assert round(r256["generator_params"] / 1e6, 2) == 82.10
    assert round(r256["discriminator_params"] / 1e6, 2) == 99.19
    r64 = api.info("biggan-128", ["model.ch=64"])
    assert round(r64["generator_params"] / 1e6, 2) == 31.98
    assert round(r64["discriminator_params"] / 1e6, 2) == 39.45


@pytest.mark.parametrize("resolution", [32, 64, 128, 256, 512])
def test_shapes_at_every_resolution(resolution: int) -> None:
    cfg = small_model(resolution, ch=4, g_attention=[], d_attention=[])
    G, D = build_models(cfg)
    z = torch.randn(2, cfg.dim_z)
    y = torch.tensor([0, 4])
    with torch.no_grad():
        x = G(z, y)
    assert x.shape == (2, 3, resolution, resolution)
    assert float(x.abs().max()) <= 1.0
    assert D(x, y).shape == (2,)


def test_every_recipe_table_is_consistent() -> None:
    for name in ("biggan-digits", "biggan-32", "biggan-64", "biggan-128", "biggan-256", "biggan-512"):
        assert api.info(name)["generator_params"] > 0


def test_generator_and_discriminator_use_the_label() -> None:
    torch.manual_seed(0)
    G, D = build_models(small_model())
    G.eval()
    z = torch.randn(1, G.dim_z).repeat(2, 1)
    x = G(z, torch.tensor([1, 2]))
    assert not torch.allclose(x[0], x[1])
    same = x[:1].repeat(2, 1, 1, 1)
    logits = D(same, torch.tensor([1, 2]))
    assert not torch.allclose(logits[0], logits[1])


def test_projection_head_is_linear_plus_inner_product() -> None:
    torch.manual_seed(0)
    _, D = build_models(small_model())
    D.eval()
    x, y = torch.randn(3, 3, 32, 32), torch.tensor([0, 3, 4])
    h = D.features(x)
    expected = D.linear(h).squeeze(1) + (D.embed.weight[y] * h).sum(1)
    torch.testing.assert_close(D(x, y), expected)


def test_conditional_bn_is_bn_times_one_plus_gain_plus_bias() -> None:
    torch.manual_seed(0)
    layers = LayerFactory(spectral_norm=False)
    cbn = ConditionalBatchNorm2d(4, cond_dim=3, n_classes=0, layers=layers)
    x, c = torch.randn(5, 4, 6, 6), torch.randn(5, 3)
    gain = c @ cbn.gain.weight.t()
    bias = c @ cbn.bias.weight.t()
    ref = F.batch_norm(x, None, None, training=True, eps=1e-5)
    expected = ref * (1 + gain)[:, :, None, None] + bias[:, :, None, None]
    torch.testing.assert_close(cbn(x, c), expected, rtol=1e-4, atol=1e-5)
    assert cbn.gain.bias is None and cbn.bias.bias is None  # BigGAN: bias-free linears


def test_hierarchical_z_feeds_each_block_its_own_chunk() -> None:
    torch.manual_seed(0)
    G, _ = build_models(small_model())
    G.eval()
    z = torch.randn(1, G.dim_z)
    y = torch.tensor([2])
    base = G(z, y)
    for chunk in range(len(G.blocks) + 1):
        z2 = z.clone()
        z2[0, chunk * G.chunk : (chunk + 1) * G.chunk] += 1.0
        assert not torch.allclose(G(z2, y), base), f"chunk {chunk} has no effect"


def test_spectral_norm_updates_u_only_in_train_mode_and_normalises() -> None:
    torch.manual_seed(0)
    layer = LayerFactory(spectral_norm=True).linear(20, 10)
    u = layer.parametrizations.weight[0]._u
    before = u.clone()
    layer.eval()
    layer(torch.randn(2, 20))
    assert torch.equal(u, before)
    layer.train()
    for _ in range(30):
        layer(torch.randn(2, 20))
    assert not torch.equal(u, before)
    sigma = torch.linalg.matrix_norm(layer.weight.detach(), ord=2)
    assert abs(float(sigma) - 1.0) < 1e-3


def test_orthogonal_init_is_orthogonal() -> None:
    layer = LayerFactory(spectral_norm=False, init="ortho").linear(16, 32)
    w = layer.weight.detach()
    torch.testing.assert_close(w.t() @ w, torch.eye(16), atol=1e-5, rtol=0)


def test_shared_embedding_has_no_spectral_norm_but_layers_do() -> None:
    G, D = build_models(small_model())
    assert not hasattr(G.shared, "parametrizations")
    assert hasattr(G.linear, "parametrizations")
    assert hasattr(D.embed, "parametrizations")
    assert hasattr(G.blocks[0].bn1.gain, "parametrizations")


def test_self_attention_matches_explicit_formula() -> None:
    torch.manual_seed(0)
    attn = SelfAttention(16, LayerFactory(spectral_norm=False)).eval()
    x = torch.randn(2, 16, 8, 8)
    torch.testing.assert_close(attn(x), x)  # gamma starts at 0
    with torch.no_grad():
        attn.gamma.fill_(0.7)
    theta = attn.theta(x).flatten(2)  # B, C/8, N
    phi = F.max_pool2d(attn.phi(x), 2).flatten(2)  # B, C/8, N/4
    g = F.max_pool2d(attn.g(x), 2).flatten(2)  # B, C/2, N/4
    beta = torch.softmax(theta.transpose(1, 2) @ phi, dim=-1)  # B, N, N/4
    o = attn.o((g @ beta.transpose(1, 2)).view(2, 8, 8, 8))
    torch.testing.assert_close(attn(x), x + 0.7 * o, rtol=1e-4, atol=1e-5)


def test_attention_sits_at_the_configured_resolution() -> None:
    G, D = build_models(small_model(64, g_attention=[32], d_attention=[16]))
    assert list(G.attention) == ["2"]  # blocks output 8, 16, 32 -> third block
    assert list(D.attention) == ["1"]  # 64 -> 32 -> 16 after the second block


def test_fast_upsample_equals_interpolate() -> None:
    x = torch.randn(2, 3, 5, 7)
    torch.testing.assert_close(upsample_nearest(x), F.interpolate(x, scale_factor=2, mode="nearest"))
