"""pix2pix's U-Net and PatchGAN, CycleGAN's ResNet generator: wiring, sizes, receptive field,
initialisation and exact parameter counts of the reference configurations."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from ganforge.config import TranslationConfig
from ganforge.errors import GanforgeError
from ganforge.models import count_parameters
from ganforge.models.patchgan import (
    PatchDiscriminator,
    PixelDiscriminator,
    patch_output_size,
    receptive_field,
)
from ganforge.models.resnet_translator import ResidualBlock, ResNetTranslator
from ganforge.models.unet import UNetGenerator, unet_width
from ganforge.translation.networks import build_discriminator, build_generator, generator_kind


@pytest.mark.parametrize(
    ("build", "expected"),
    [
        # the numbers the reference implementation prints for these networks
        (lambda: UNetGenerator(3, 3, 8, 64, "batch"), 54_413_955),  # unet_256: 54.414 M
        (lambda: UNetGenerator(3, 3, 7, 64, "batch"), 41_828_995),  # unet_128: 41.829 M
        (lambda: PatchDiscriminator(6, 64, 3, "batch"), 2_768_705),  # pix2pix D: 2.769 M
        (lambda: PatchDiscriminator(3, 64, 3, "instance"), 2_764_737),  # CycleGAN D: 2.765 M
        (lambda: ResNetTranslator(3, 3, 9, 64, "instance"), 11_378_179),  # resnet_9blocks: 11.378 M
        (lambda: ResNetTranslator(3, 3, 6, 64, "instance"), 7_837_699),  # resnet_6blocks: 7.838 M
    ],
)
def test_reference_parameter_counts(build, expected: int) -> None:
    with torch.device("meta"):
        assert count_parameters(build()) == expected


def test_patchgan_count_by_hand() -> None:
    # conv 6->64 (+bias), 64->128, 128->256, 256->512 (no bias, BN weight+bias), 512->1 (+bias)
    by_hand = (
        (6 * 64 * 16 + 64)
        + (64 * 128 * 16 + 256)
        + (128 * 256 * 16 + 512)
        + (256 * 512 * 16 + 1024)
        + (512 * 16 + 1)
    )
    assert by_hand == 2_768_705


@pytest.mark.parametrize("downs", [3, 5, 6, 8])
def test_unet_output_size_and_skip_wiring(downs: int) -> None:
    torch.manual_seed(0)
    side = 2**downs
    net = UNetGenerator(3, 2, downs, ngf=4, norm="batch").eval()
    encoded, decoder_inputs = {}, {}
    for k, stage in enumerate(net.encoder):
        stage.register_forward_hook(lambda m, i, o, k=k: encoded.__setitem__(k, o))
    for k, stage in enumerate(net.decoder):
        stage.register_forward_hook(lambda m, i, o, k=k: decoder_inputs.__setitem__(k, i[0]))
    x = torch.randn(2, 3, side, side)
    y = net(x)
    assert y.shape == (2, 2, side, side)
    assert y.abs().max() <= 1.0  # tanh
    assert encoded[downs - 1].shape == (2, unet_width(downs, 4), 1, 1)  # 1x1 bottleneck
    assert torch.equal(decoder_inputs[downs - 1], encoded[downs - 1])  # innermost: no skip
    for k in range(downs - 1):  # every other decoder stage reads [encoder output, decoder output]
        width = unet_width(k + 1, 4)
        assert decoder_inputs[k].shape == (2, 2 * width, side >> (k + 1), side >> (k + 1))
        assert torch.equal(decoder_inputs[k][:, :width], encoded[k])
    # twice the side works too (fully convolutional), an odd size is a clear error
    assert net(torch.randn(1, 3, 2 * side, side)).shape == (1, 2, 2 * side, side)
    with pytest.raises(ValueError, match=f"divisible by {side}"):
        net(torch.randn(1, 3, side + 2, side + 2))


def test_unet_dropout_sits_in_the_three_inner_512_blocks_of_unet_256() -> None:
    with torch.device("meta"):
        net = UNetGenerator(3, 3, 8)
        small = UNetGenerator(3, 3, 5)
    where = [
        k + 1
        for k, stage in enumerate(net.decoder)
        if any(isinstance(m, nn.Dropout) for m in stage)
    ]
    assert where == [5, 6, 7]  # depths 5..7 of 8; not the innermost
    assert not any(isinstance(m, nn.Dropout) for m in small.modules())
    assert len([m for m in net.modules() if isinstance(m, nn.BatchNorm2d)]) == 6 + 7  # enc + dec
    assert isinstance(net.decoder[0][-1], nn.Tanh)


def test_skips_carry_detail_the_bottleneck_cannot() -> None:
    """With the innermost stage's output zeroed, the output still depends on the input."""
    torch.manual_seed(0)
    net = UNetGenerator(1, 1, 4, ngf=4, norm="none").eval()
    net.decoder[-1].register_forward_hook(lambda m, i, o: torch.zeros_like(o))
    a, b = torch.randn(1, 1, 16, 16), torch.randn(1, 1, 16, 16)
    assert not torch.allclose(net(a), net(b))


@pytest.mark.parametrize(("n_layers", "field"), [(1, 16), (2, 34), (3, 70), (4, 142)])
def test_patchgan_receptive_field(n_layers: int, field: int) -> None:
    assert receptive_field(PatchDiscriminator(6, 4, n_layers, "none")) == field


def test_70x70_patchgan_receptive_field_measured_by_gradient() -> None:
    """One logit's gradient w.r.t. the input is non-zero on exactly a 70x70 window."""
    net = PatchDiscriminator(1, 2, 3, "none")
    for m in net.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.constant_(m.weight, 0.05)  # positive paths: no accidental cancellation
    x = torch.ones(1, 1, 256, 256, requires_grad=True)
    out = net(x)
    assert out.shape == (1, 1, 30, 30)
    out[0, 0, 15, 15].backward()
    rows = (x.grad[0, 0].abs().sum(1) > 0).nonzero()
    cols = (x.grad[0, 0].abs().sum(0) > 0).nonzero()
    assert int(rows.max() - rows.min() + 1) == 70
    assert int(cols.max() - cols.min() + 1) == 70


@pytest.mark.parametrize(
    ("side", "n_layers", "expected"), [(256, 3, 30), (128, 3, 14), (32, 2, 6), (256, 1, 126)]
)
def test_patchgan_output_size(side: int, n_layers: int, expected: int) -> None:
    net = PatchDiscriminator(4, 2, n_layers, "batch")
    assert patch_output_size(side, n_layers) == expected
    assert net(torch.zeros(2, 4, side, side)).shape == (2, 1, expected, expected)


def test_pixel_discriminator_judges_every_pixel() -> None:
    net = PixelDiscriminator(3, 4, "batch")
    assert net(torch.zeros(2, 3, 16, 12)).shape == (2, 1, 16, 12)
    assert receptive_field(net) == 1


def test_resnet_generator_shapes() -> None:
    torch.manual_seed(0)
    net = ResNetTranslator(1, 3, blocks=6, ngf=4, norm="instance")
    assert net(torch.randn(2, 1, 32, 32)).shape == (2, 3, 32, 32)
    assert net(torch.randn(1, 1, 64, 48)).shape == (1, 3, 64, 48)
    assert len([m for m in net.modules() if isinstance(m, ResidualBlock)]) == 6
    assert sum(isinstance(m, nn.ReflectionPad2d) for m in net.modules()) == 2 + 2 * 6
    with pytest.raises(ValueError, match="divisible by 4"):
        net(torch.randn(1, 1, 30, 30))


def test_residual_block_is_identity_when_its_last_conv_is_zero() -> None:
    block = ResidualBlock(4, "none", dropout=False)
    last = [m for m in block.modules() if isinstance(m, nn.Conv2d)][-1]
    nn.init.zeros_(last.weight)
    nn.init.zeros_(last.bias)
    x = torch.randn(2, 4, 8, 8)
    assert torch.equal(block(x), x)


def test_init_is_normal_0_002_with_zero_biases() -> None:
    torch.manual_seed(0)
    tc = TranslationConfig(generator="unet_32", ngf=32, norm="batch")
    net = build_generator(tc, 3, 3)
    weights = torch.cat(
        [
            m.weight.detach().flatten()
            for m in net.modules()
            if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d))
        ]
    )
    assert abs(float(weights.mean())) < 1e-3
    assert float(weights.std()) == pytest.approx(0.02, rel=0.02)
    biases = [
        m.bias for m in net.modules() if isinstance(m, nn.ConvTranspose2d) and m.bias is not None
    ]
    assert biases and all(float(b.detach().abs().max()) == 0.0 for b in biases)
    bn = torch.cat([m.weight.detach() for m in net.modules() if isinstance(m, nn.BatchNorm2d)])
    assert float(bn.mean()) == pytest.approx(1.0, abs=0.01)


def test_names_select_the_networks() -> None:
    assert generator_kind("unet_256") == ("unet", 8)
    assert generator_kind("resnet_9blocks") == ("resnet", 9)
    tc = TranslationConfig(discriminator="n_layers", n_layers_d=2, ndf=4, norm="instance")
    assert receptive_field(build_discriminator(tc, 3)) == 34
    for bad, key in (("unet_100", "translation.generator"), ("vgg", "translation.generator")):
        with pytest.raises(GanforgeError, match=key):
            build_generator(TranslationConfig(generator=bad), 3, 3)
    with pytest.raises(GanforgeError, match="unknown translation.norm 'group'"):
        build_generator(TranslationConfig(norm="group"), 3, 3)
    with pytest.raises(GanforgeError, match="unknown translation.discriminator 'big'"):
        build_discriminator(TranslationConfig(discriminator="big"), 3)
