"""Class-conditional BatchNorm (BigGAN): BN without affine, then a gain and bias from a condition."""

from __future__ import annotations

import torch
from torch import nn

from ganforge.nn.layers import LayerFactory, embed_classes


class ConditionalBatchNorm2d(nn.Module):
    """out = BN(x) * (1 + gain(c)) + bias(c).

    `cond_dim > 0`: c is a vector (shared class embedding, maybe with a z chunk) mapped by
    bias-free SN linears. `cond_dim == 0`: c is a class index looked up in per-class gain/bias
    embeddings (BigGAN-PyTorch's CIFAR setting, no shared embedding).
    """

    def __init__(
        self,
        num_features: int,
        cond_dim: int,
        n_classes: int,
        layers: LayerFactory,
        eps: float = 1e-5,
        momentum: float = 0.1,
    ) -> None:
        super().__init__()
        self.bn = nn.BatchNorm2d(num_features, eps=eps, momentum=momentum, affine=False)
        self.by_class = cond_dim == 0
        if cond_dim > 0:
            self.gain = layers.linear(cond_dim, num_features, bias=False)
            self.bias = layers.linear(cond_dim, num_features, bias=False)
        else:
            self.gain = layers.embedding(n_classes, num_features, sn=False)
            self.bias = layers.embedding(n_classes, num_features, sn=False)

    def forward(self, x: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        if self.by_class:
            gain, bias = embed_classes(self.gain, cond), embed_classes(self.bias, cond)
        else:
            gain, bias = self.gain(cond), self.bias(cond)
        gain = (1 + gain).view(cond.shape[0], -1, 1, 1)
        bias = bias.view(cond.shape[0], -1, 1, 1)
        return self.bn(x) * gain + bias

