"""GigaGAN's layers against their formulas: sample-adaptive kernel selection equals convolving
each sample with its explicitly mixed, modulated and demodulated filter; L2-distance attention
equals its definition computed by loops; cross-attention ignores padded text tokens."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ganforge.nn.adaptive_conv import AdaptiveKernelConv
from ganforge.nn.l2_attention import CrossAttention, L2SelfAttention, l2_logits


def test_kernel_selection_equals_the_explicit_weighted_filter() -> None:
    torch.manual_seed(0)
    conv = AdaptiveKernelConv(3, 5, style_dim=6, n_kernels=4)
    x, w = torch.randn(2, 3, 7, 7), torch.randn(2, 6)
    y = conv(x, w)
    for b in range(2):
        mix = torch.softmax(conv.select.weight @ w[b] + conv.select.bias, dim=0)
        filt = sum(mix[n] * conv.bank[n] for n in range(4))
        filt = filt * (conv.modulate.weight @ w[b] + conv.modulate.bias + 1).view(1, 3, 1, 1)
        filt = filt / torch.sqrt((filt**2).sum((1, 2, 3), keepdim=True) + 1e-8)
        expected = F.conv2d(x[b : b + 1], filt, conv.bias, padding=1)
        assert torch.allclose(y[b : b + 1], expected, atol=1e-5)
    # one kernel, no modulation, no demodulation: a plain convolution with that kernel
    plain = AdaptiveKernelConv(3, 5, style_dim=6, n_kernels=1, demodulate=False)
    torch.nn.init.zeros_(plain.modulate.weight)
    assert torch.allclose(plain(x, w), F.conv2d(x, plain.bank[0], plain.bias, padding=1), atol=1e-5)


def test_l2_attention_logits_and_layer_follow_the_formula() -> None:
    torch.manual_seed(1)
    q, k = torch.randn(3, 4), torch.randn(5, 4)
    by_loops = torch.tensor([[-((q[i] - k[j]) ** 2).sum() / 2.0 for j in range(5)] for i in range(3)])
    assert torch.allclose(l2_logits(q, k), by_loops, atol=1e-5)
    layer = L2SelfAttention(8, heads=2)
    x = torch.randn(2, 6, 8)
    out = layer(x)
    qk, v = layer.to_qk(x), layer.to_v(x)  # tied queries and keys
    heads = []
    for h in range(2):
        qh, vh = qk[..., 4 * h : 4 * h + 4], v[..., 4 * h : 4 * h + 4]
        logits = -((qh[:, :, None] - qh[:, None, :]) ** 2).sum(-1) / 2.0
        heads.append(torch.softmax(logits, -1) @ vh)
    assert torch.allclose(out, layer.to_out(torch.cat(heads, -1)), atol=1e-5)


def test_cross_attention_masks_padded_tokens() -> None:
    torch.manual_seed(2)
    layer = CrossAttention(8, context_dim=6, heads=2)
    x, text = torch.randn(2, 5, 8), torch.randn(2, 4, 6)
    mask = torch.tensor([[True, True, False, False], [True, True, True, False]])
    out = layer(x, text, mask)
    changed = text.clone()
    changed[0, 2:] = 100.0  # padding of sample 0 and 1 changed
    changed[1, 3] = -50.0
    assert torch.allclose(out, layer(x, changed, mask), atol=1e-6)
    changed[0, 1] += 1.0  # a real token changes the output
    assert not torch.allclose(out[0], layer(x, changed, mask)[0])
