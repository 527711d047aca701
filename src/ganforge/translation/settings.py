"""The settings of each translation mode (`translation.mode`): what each mode (pix2pix,
CycleGAN, StarGAN, BicycleGAN) adds to the shared `TranslationConfig`. Torch-free, so that
reading a config never builds a network."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from ganforge.config import TranslationConfig, register, setting
from ganforge.config.sections import AT_LEAST_0, AT_LEAST_1


@register("pix2pix")
@dataclass
class Pix2PixConfig(TranslationConfig):
    """Paired translation: one G, a D conditioned on the input image."""

    mode: str = "pix2pix"
    direction: Literal["AtoB", "BtoA"] = "AtoB"  # AtoB translates A -> B, BtoA the reverse
    lambda_l1: float = setting(100.0, bounds=AT_LEAST_0)  # weight of L1(G(x), y)


@register("cyclegan")
@dataclass
class CycleGANConfig(TranslationConfig):
    """Unpaired translation: two G, two D, cycle consistency."""

    mode: str = "cyclegan"
    lambda_cycle: float = setting(10.0, bounds=AT_LEAST_0)  # weight of each cycle-consistency L1 term
    # identity L1 weight, relative to lambda_cycle
    lambda_identity: float = setting(0.5, bounds=AT_LEAST_0)


@register("stargan")
@dataclass
class StarGANConfig(TranslationConfig):
    """One G for many domains: G(x, c) with the target label c, D with a domain classifier.

    `generator=resnet_Kblocks` gives StarGAN's G with K bottleneck blocks, `n_layers_d` its D's
    stride-2 convs; `norm` must stay `instance` (G's instance norm is affine, as the authors')."""

    mode: str = "stargan"
    # the domain attributes, in label order; []: every attribute the data has
    attributes: list[str] = field(default_factory=list)
    # several datasets (`--data A+B`, the paper's mask vector): how many of `attributes` each
    # labels, in order; filled in from the data ([]: one dataset, no mask)
    attribute_sets: list[int] = setting(factory=list, each=AT_LEAST_1)
    lambda_cls: float = setting(1.0, bounds=AT_LEAST_0)  # domain classification loss weight
    lambda_rec: float = setting(10.0, bounds=AT_LEAST_0)  # cycle reconstruction L1 weight
    lambda_gp: float = setting(10.0, bounds=AT_LEAST_0)  # WGAN-GP gradient penalty weight
    n_critic: int = setting(5, bounds="[1, 1000]")  # D steps per G step (a step is one D step)


@register("bicyclegan")
@dataclass
class BicycleGANConfig(TranslationConfig):
    """Multimodal paired translation: G(x, z), an encoder E(y) -> N(mu, sigma), cVAE-GAN and
    cLR-GAN cycles, a (multi-scale) D for each cycle."""

    mode: str = "bicyclegan"
    direction: Literal["AtoB", "BtoA"] = "AtoB"
    nz: int = setting(8, bounds=AT_LEAST_1)  # latent code size
    z_injection: Literal["all", "input"] = "all"  # z concatenated to every encoder stage, or the input
    nef: int = setting(64, bounds=AT_LEAST_1)  # encoder width
    encoder_blocks: int = setting(5, bounds="[1, 8]")  # E's residual blocks: 5 = resnet_256, 4 = resnet_128
    num_d: int = setting(2, bounds="[1, 4]")  # scales of each multi-scale PatchGAN
    conditional_d: bool = False  # D sees (input, output) pairs; the authors' default: output only
    lambda_l1: float = setting(10.0, bounds=AT_LEAST_0)  # |G(A, E(B)) - B|_1
    lambda_kl: float = setting(0.01, bounds=AT_LEAST_0)  # KL(E(B) || N(0, I)), summed
    lambda_latent: float = setting(0.5, bounds=AT_LEAST_0)  # |E(G(A, z)) - z|_1
    lambda_gan: float = setting(1.0, bounds=AT_LEAST_0)  # D on the cVAE-GAN's outputs
    lambda_gan2: float = setting(1.0, bounds=AT_LEAST_0)  # D2 on the cLR-GAN's outputs


@register("instagan")
@dataclass
class InstaGANConfig(TranslationConfig):
    """Instance-aware unpaired translation: CycleGAN's two G and two D reading the image and a
    set of instance masks, a context-preserving loss, sequential mini-batch training."""

    mode: str = "instagan"
    lambda_cycle: float = setting(10.0, bounds=AT_LEAST_0)  # cycle L1 on image and masks
    # identity L1 weight, relative to lambda_cycle (the authors' lambda_idt 1.0)
    lambda_identity: float = setting(1.0, bounds=AT_LEAST_0)
    # context-preserving L1 outside the masks, relative to lambda_cycle (the authors' lambda_ctx)
    lambda_context: float = setting(1.0, bounds=AT_LEAST_0)
    ins_max: int = setting(4, bounds="[1, 64]")  # instances (largest first) trained per image
    ins_per: int = setting(2, bounds="[1, 64]")  # instances per pass (sequential mini-batch)
    max_instances: int = setting(20, bounds="[1, 256]")  # mask files read per image (<name>_0..)
    set_order: Literal["decreasing", "random"] = "decreasing"  # order of the instances


@register("spade")
@dataclass
class SPADEConfig(TranslationConfig):
    """Semantic image synthesis: a label map (A, class ids) -> an image (B) by a SPADE generator,
    a multi-scale PatchGAN D with feature matching, hinge loss; optionally the VAE style encoder.

    `ngf`/`ndf` are G's and D's widths, `n_layers_d` the PatchGANs' depth (the authors': 4);
    `generator`, `discriminator`, `norm` and `dropout` are not used."""

    mode: str = "spade"
    label_nc: int = setting(11, bounds="[1, 255]")  # classes in the label maps (ids 0..label_nc-1)
    # one more class for id 255 in the label files (ADE20K's 0 after the shift): "don't care"
    contain_dontcare_label: bool = False
    # the instance-edge channel (the authors' default unless --no_instance): auto = on when the
    # data has instance maps (Cityscapes' *_instanceIds.png, instances/ beside labels/)
    instance_edges: bool | Literal["auto"] = "auto"
    num_upsampling_layers: Literal["normal", "more", "most"] = "normal"  # 5, 6 or 7 x2 stages
    param_free_norm: Literal["batch", "instance"] = "batch"  # SPADE's norm before the modulation
    spectral_g: bool = True  # spectral norm on G's convs (norm_G spectralspade...)
    spade_hidden: int = setting(128, bounds=AT_LEAST_1)  # SPADE's embedding width (authors: 128)
    num_d: int = setting(2, bounds="[1, 4]")  # scales of the multi-scale D
    use_vae: bool = False  # the style encoder E: G starts from z ~ E(image) (training) or N(0, I)
    z_dim: int = setting(256, bounds=AT_LEAST_1)  # the VAE's style code size
    lambda_feat: float = setting(10.0, bounds=AT_LEAST_0)  # feature-matching loss weight
    lambda_kld: float = setting(0.05, bounds=AT_LEAST_0)  # KL weight (the VAE)
    lambda_vgg: float = setting(10.0, bounds=AT_LEAST_0)  # VGG perceptual loss weight
    # VGG19 weights (torchvision's vgg19 state dict, .pth or .safetensors) for the perceptual
    # loss; "": the loss is off (reported so at the start of training)
    vgg_weights: str = ""
