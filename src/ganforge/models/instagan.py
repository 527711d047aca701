"""InstaGAN's networks (Mo, Cho & Shin, ICLR 2019): a generator and a discriminator that read an
image together with a *set* of instance masks.

Every mask goes through one shared encoder; the mask features are summed, so the networks take
any number of instances in any order (a set function, as DeepSets). Inputs and outputs pack the
image and the masks as channels: (N, C + K, H, W) in [-1, 1], mask k in channel C + k, an absent
instance an all -1 channel.

Generator (the authors' `ResnetSetGenerator`, their default `netG=set` with 9 blocks): an image
encoder and a mask encoder, each c7s1-ngf, d2ngf, d4ngf and `blocks` residual blocks (CycleGAN's
ResNet encoder); an image decoder from [image features, mask-feature sum] (2x the width) and a
mask decoder from [this mask's features, image features, sum] (3x), each u, u, c7s1, tanh. An
absent mask is not encoded (it adds nothing to the sum) and is passed through unchanged.

Discriminator (`NLayerSetDiscriminator`): the 70x70 PatchGAN split the same way: an image and a
mask feature extractor (the first `n_layers` 4x4 stride-2 convs), a classifier (the stride-1 conv
and the 1-channel conv) at twice the width on [image features, mask-feature sum]; spectral norm
on every conv, as the authors'.

The authors' code sums mask features over the whole batch (their training runs one image per
GPU); here each image sums its own masks, which is the same at one image per batch and the
set function the paper describes at any batch. With no mask at all the authors encode the first
(empty) channel anyway; here the sum is over the empty set (zero features).
"""

from __future__ import annotations

import torch
from torch import nn

from ganforge.models.instagan_sequence import present, translate_sequentially
from ganforge.models.resnet_translator import SAMPLINGS, ResidualBlock
from ganforge.nn.layers import spectral_norm
from ganforge.nn.norm import conv_bias, norm_layer

KERNEL = 4  # the PatchGAN's convs


def _summed(features: torch.Tensor, keep: torch.Tensor, n: int, k: int) -> torch.Tensor:
    """Features of the present masks (M, F, h, w) placed at their (image, slot) and summed over
    the slots of each image: (n, F, h, w); images without masks get zeros."""
    total = features.new_zeros((n, *features.shape[1:]))
    image_of = keep.nonzero()[:, 0]
    return total.index_add(0, image_of, features) if k else total


def _encoder(in_channels: int, ngf: int, blocks: int, norm: str, dropout: bool) -> nn.Sequential:
    make_norm, bias = norm_layer(norm), conv_bias(norm)
    layers: list[nn.Module] = [nn.ReflectionPad2d(3), nn.Conv2d(in_channels, ngf, 7, bias=bias),
                               make_norm(ngf), nn.ReLU()]
    width = ngf
    for _ in range(SAMPLINGS):
        layers += [nn.Conv2d(width, 2 * width, 3, 2, 1, bias=bias), make_norm(2 * width), nn.ReLU()]
        width *= 2
    layers += [ResidualBlock(width, norm, dropout) for _ in range(blocks)]
    return nn.Sequential(*layers)


def _decoder(out_channels: int, ngf: int, norm: str) -> nn.Sequential:
    """From 4 * ngf channels (at 1/4 of the size) to `out_channels` in [-1, 1]."""
    make_norm, bias = norm_layer(norm), conv_bias(norm)
    layers: list[nn.Module] = []
    width = ngf * 2**SAMPLINGS
    for _ in range(SAMPLINGS):
        layers += [nn.ConvTranspose2d(width, width // 2, 3, 2, 1, output_padding=1, bias=bias),
                   make_norm(width // 2), nn.ReLU()]
        width //= 2
    layers += [nn.ReflectionPad2d(3), nn.Conv2d(ngf, out_channels, 7), nn.Tanh()]
    return nn.Sequential(*layers)


class InstaGenerator(nn.Module):
    """(image, masks) packed (N, C_in + K, H, W) -> (translated image, translated masks)
    packed (N, C_out + K, H, W): one pass over the K masks given."""

    def __init__(self, in_channels: int, out_channels: int, blocks: int = 9, ngf: int = 64,
                 norm: str = "instance", dropout: bool = False) -> None:
        super().__init__()
        self.in_channels, self.out_channels = in_channels, out_channels
        self.encoder_img = _encoder(in_channels, ngf, blocks, norm, dropout)
        self.encoder_seg = _encoder(1, ngf, blocks, norm, dropout)
        self.decoder_img = _decoder(out_channels, 2 * ngf, norm)
        self.decoder_seg = _decoder(1, 3 * ngf, norm)

    def single(self, x: torch.Tensor) -> torch.Tensor:
        """One pass: every mask given is translated together with the image."""
        side = 2**SAMPLINGS
        if x.shape[-1] % side or x.shape[-2] % side:
            raise ValueError(f"InstaGAN's generator needs image sides divisible by {side}, "
                             f"got {x.shape[-2]}x{x.shape[-1]}")
        img, masks = x[:, : self.in_channels], x[:, self.in_channels :]
        n, k = masks.shape[:2]
        keep = present(masks)  # (n, k)
        enc_img = self.encoder_img(img)
        flat = masks.reshape(n * k, 1, *masks.shape[-2:])[keep.flatten()]
        enc_segs = self.encoder_seg(flat) if len(flat) else enc_img.new_zeros((0, *enc_img.shape[1:]))
        total = _summed(enc_segs, keep, n, k)
        out_img = self.decoder_img(torch.cat([enc_img, total], 1))
        if not len(flat):
            return torch.cat([out_img, masks], 1)
        image_of = keep.nonzero()[:, 0]
        decoded = self.decoder_seg(torch.cat([enc_segs, enc_img[image_of], total[image_of]], 1))
        out_masks = masks.reshape(n * k, 1, *masks.shape[-2:]).clone().to(decoded.dtype)
        out_masks[keep.flatten()] = decoded
        return torch.cat([out_img, out_masks.view(n, k, *masks.shape[-2:])], 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.single(x)


class InstaTranslator(InstaGenerator):
    """The generator as inference uses it: all K masks, `per_pass` at a time, largest first
    (the authors' test procedure, sequential mini-batch translation); the same parameters as
    InstaGenerator, so a checkpoint's generator loads into it."""

    per_pass: int = 2

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return translate_sequentially(self, x, self.per_pass)


class InstaDiscriminator(nn.Module):
    """(image, masks) packed (N, C + K, H, W) -> PatchGAN logits (N, 1, h, w)."""

    def __init__(self, in_channels: int, ndf: int = 64, n_layers: int = 3, norm: str = "instance") -> None:
        super().__init__()
        if n_layers < 1:
            raise ValueError(f"a PatchGAN needs n_layers >= 1, got {n_layers}")
        self.in_channels = in_channels
        self.feature_img = self._features(in_channels, ndf, n_layers, norm)
        self.feature_seg = self._features(1, ndf, n_layers, norm)
        make_norm = norm_layer(norm)
        width = 2 * ndf * min(2 ** (n_layers - 1), 8)
        out = 2 * ndf * min(2**n_layers, 8)
        self.classifier = nn.Sequential(
            spectral_norm(nn.Conv2d(width, out, KERNEL, 1, 1)), make_norm(out), nn.LeakyReLU(0.2),
            spectral_norm(nn.Conv2d(out, 1, KERNEL, 1, 1)),
        )

    @staticmethod
    def _features(in_channels: int, ndf: int, n_layers: int, norm: str) -> nn.Sequential:
        make_norm, bias = norm_layer(norm), conv_bias(norm)
        layers: list[nn.Module] = [spectral_norm(nn.Conv2d(in_channels, ndf, KERNEL, 2, 1)), nn.LeakyReLU(0.2)]
        width = ndf
        for n in range(1, n_layers):
            out = ndf * min(2**n, 8)
            layers += [spectral_norm(nn.Conv2d(width, out, KERNEL, 2, 1, bias=bias)), make_norm(out),
                       nn.LeakyReLU(0.2)]
            width = out
        return nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        img, masks = x[:, : self.in_channels], x[:, self.in_channels :]
        n, k = masks.shape[:2]
        keep = present(masks)
        feat_img = self.feature_img(img)
        flat = masks.reshape(n * k, 1, *masks.shape[-2:])[keep.flatten()]
        if len(flat):
            total = _summed(self.feature_seg(flat), keep, n, k)
        else:
            total = torch.zeros_like(feat_img)
        return self.classifier(torch.cat([feat_img, total], 1))


class SequentialView(nn.Module):
    """A training generator (or its EMA copy) run as inference runs it: all masks, `per_pass`
    at a time (what grids and evaluation during training use)."""

    def __init__(self, generator: InstaGenerator, per_pass: int) -> None:
        super().__init__()
        self.generator, self.per_pass = generator, per_pass

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return translate_sequentially(self.generator, x, self.per_pass)


def sequential(generator: nn.Module, per_pass: int) -> nn.Module:
    """`generator` as a whole-set translator (an InstaTranslator already is one)."""
    return generator if isinstance(generator, InstaTranslator) else SequentialView(generator, per_pass)
