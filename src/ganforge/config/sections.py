"""The sections of a config. `model`, `method` and `translation` are bases: each architecture,
method and translation mode extends its base with its own settings, beside its code
(`models/biggan.py`, `training/methods/acgan.py`, `translation/settings.py`, ...).

Choice strings are `Literal` types and numbers declare their valid range (`setting`); both are
checked once, when a config is read (`coerce.py`).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

from ganforge.config.fields import setting
from ganforge.config.registry import Dispatched

# ---- choices shared by more than one component (the test suite checks them against the code
# that implements them: objectives, precision, fast_conv, nn.layers, nn.norm, augment, metrics)
Loss = Literal["hinge", "ns", "minimax", "ls", "wasserstein"]
Optimizer = Literal["adam", "rmsprop"]
Precision = Literal["fp32", "bf16", "fp16"]
ConvAlgorithm = Literal["torch", "winograd"]
Init = Literal["ortho", "normal", "xavier"]
TruncationConvention = Literal["resample", "scale", "tfhub", "psi"]
Head = Literal["classes", "codes"]
AugmentKind = Literal["none", "ada", "fixed", "diffaug"]
AugmentOp = Literal[
    "xflip", "rotate90", "xint", "scale", "rotate", "aniso", "xfrac",
    "brightness", "contrast", "lumaflip", "hue", "saturation", "cutout", "noise",
]
Features = Literal["auto", "inception", "digits", "mnist"]
TranslationFeatures = Literal["auto", "none", "inception", "digits", "mnist", "digit_attributes",
                              "digit_segmenter"]
TranslationNorm = Literal["batch", "instance", "none"]
PatchDiscriminator = Literal["basic", "n_layers", "pixel"]
InferenceMode = Literal["batch_stats", "running_stats"]
Task = Literal["generation", "translation", "inversion"]
InversionMode = Literal["encoder", "hyperstyle"]
EmaBuffers = Literal["average", "copy"]
GlobalPool = Literal["mean", "eot"]

POSITIVE = "(0, inf)"
AT_LEAST_1 = "[1, inf)"
AT_LEAST_0 = "[0, inf)"
UNIT = "[0, 1]"
# image sides: 8x BigGAN-deep's largest; beyond, one image alone would not fit in memory
PIXELS = "[1, 4096]"
TRUNCATION = "[0.001, inf)"  # sampling.MIN_TRUNCATION: re-drawing z below it never ends


@dataclass
class ModelConfig(Dispatched):
    """Architecture of G and D: what every architecture has. `model.arch` picks the registered
    subclass that adds the architecture's own settings (`models/<arch>.py`)."""

    section: ClassVar[str] = "model"
    key: ClassVar[str] = "arch"
    supports_heads: ClassVar[bool] = False  # whether D can carry model.d_heads / InfoGAN codes
    style_based: ClassVar[bool] = False  # G truncates its own W by psi (eval.truncation_convention=psi)

    arch: str = "biggan"
    resolution: int = setting(32, bounds=PIXELS)
    img_channels: int = setting(3, bounds=AT_LEAST_1)
    n_classes: int = setting(10, bounds=AT_LEAST_1)  # replaced by the dataset's class count
    dim_z: int = setting(128, bounds=AT_LEAST_1)
    conditional: bool = True  # G and D see the class label; false: unconditional
    # the latent layout and D's outputs, read by methods and samplers for any architecture
    d_heads: list[Head] = field(default_factory=list)  # extra D outputs: classes (acgan, sgan), codes (infogan)
    codes_cat: list[int] = setting(factory=list, each="[2, inf)")  # infogan: sizes of categorical codes
    codes_cont: int = setting(0, bounds=AT_LEAST_0)  # infogan: continuous codes, uniform in [-1, 1]


@dataclass
class DataConfig:
    """Where images come from; see `ganforge.data.spec` for the accepted forms."""

    source: str = "digits"
    hflip: bool = False  # random horizontal flips of real images
    # train on a class-balanced subset of this many images (0: all); eval uses all
    limit: int = setting(0, bounds=AT_LEAST_0, hint="0: all images")
    limit_seed: int = 0  # which subset
    # prepared:, hdf5: and stream: data: threads reading (or decoding) batches ahead, and how
    # many batches they keep ready
    workers: int = setting(2, bounds="[1, 64]")
    prefetch: int = setting(4, bounds="[0, 256]", hint="0: read each batch when it is needed")
    # prepared:URL (s3://, gs://, https://): a local folder keeping verified copies of the shards
    # ("": ranged reads of each batch, every image checked against its digest)
    cache: str = ""


@dataclass
class TrainConfig:
    """Optimisation schedule, EMA and the run directory's logging cadence."""

    steps: int = setting(1000, bounds=AT_LEAST_1)  # generator steps
    # per optimizer micro-step, over all ranks (split evenly under torchrun)
    batch_size: int = setting(50, bounds=AT_LEAST_1)
    lr_g: float = setting(2e-4, bounds=POSITIVE)
    lr_d: float = setting(2e-4, bounds=POSITIVE)
    betas_g: list[float] = setting(factory=lambda: [0.0, 0.999], each="[0, 1)", length=2)
    betas_d: list[float] = setting(factory=lambda: [0.0, 0.999], each="[0, 1)", length=2)
    adam_eps: float = setting(1e-6, bounds=POSITIVE)
    d_steps: int = setting(2, bounds="[1, 1000]")  # discriminator steps per generator step
    # micro-batches accumulated per optimizer step (BigGAN's num_accumulations)
    accumulate: int = setting(1, bounds="[1, 1024]")
    loss: Loss = "hinge"
    optimizer: Optimizer = "adam"  # rmsprop: WGAN's
    # BigGAN's off-diagonal orthogonal regularisation strength (paper 1e-4)
    ortho_reg: float = setting(0.0, bounds=AT_LEAST_0)
    ema_decay: float = setting(0.999, bounds=UNIT)
    ema_start: int = setting(0, bounds=AT_LEAST_0)  # G step from which EMA averages; before: a copy
    # EMA half-life in thousands of images instead of ema_decay (StyleGAN2-ADA's ema_kimg)
    ema_kimg: float = setting(0.0, bounds=AT_LEAST_0, hint="0: train.ema_decay per G step")
    # with ema_kimg: half-life at most ema_rampup x images seen (StyleGAN2-ADA's ema_rampup)
    ema_rampup: float = setting(0.0, bounds=AT_LEAST_0, hint="0: no ramp-up")
    ema_buffers: EmaBuffers = "average"  # copy: G_ema takes G's buffers as they are
    seed: int = 0
    precision: Precision = "fp32"  # autocast; fp16 adds loss scaling
    channels_last: bool = False  # NHWC memory format for G, D and the images
    compile: bool = False  # torch.compile G's and D's training forwards
    fused_adam: bool = False  # Adam's fused kernel (one launch for all parameters)
    conv_algorithm: ConvAlgorithm = "torch"  # winograd: CPU, fp32, fewer multiplications
    sync_bn: bool = False  # cross-replica BatchNorm statistics under torchrun (BigGAN)
    data_on_device: bool = True  # keep the uint8 dataset on the GPU: batches are an index op
    device: str = setting("auto", pattern=r"auto|cpu|mps|cuda(:\d+)?", hint="use auto, cpu or cuda[:N]")
    log_every: int = setting(10, bounds=AT_LEAST_1)
    sample_every: int = setting(100, bounds=AT_LEAST_1)
    checkpoint_every: int = setting(250, bounds=AT_LEAST_1)
    keep_checkpoints: int = setting(3, bounds=AT_LEAST_1)
    # threshold of z for the progress grids; null: none
    sample_truncation: float | None = setting(None, bounds=TRUNCATION)


@dataclass
class MethodConfig(Dispatched):
    """How a D step and a G step compute their losses: `method.name` picks the registered
    subclass that adds the method's own settings (`training/methods/<name>.py`)."""

    section: ClassVar[str] = "method"
    key: ClassVar[str] = "name"
    required_heads: ClassVar[tuple[str, ...]] = ()  # model.d_heads the method reads
    paired_arch: ClassVar[str] = ""  # the one model.arch it trains (and that only it trains)
    single_process: ClassVar[bool] = False  # its extra state is not yet reduced over ranks

    name: str = "adversarial"


@dataclass
class EvalConfig:
    """Periodic evaluation of G_ema during training, and which checkpoint counts as best."""

    every: int = setting(0, bounds=AT_LEAST_0, hint="0: off")  # G steps between evaluations
    metrics: list[str] = setting(factory=lambda: ["fid", "is", "acc"], nonempty=True)
    n: int = setting(1000, bounds="[1, 1000000]")  # generated images per evaluation
    features: Features = "auto"  # auto: domain classifier for digits/MNIST, else inception
    truncation: float | None = setting(None, bounds=TRUNCATION)
    truncation_convention: TruncationConvention = "resample"  # or scale (BGP), tfhub
    bn: str = "running"  # G_ema's BN statistics: running | batch[:B] | standing:N[xB] | per-truncation
    seed: int = 0
    best_metric: str = ""  # e.g. fid or class_accuracy: keeps checkpoints/best.pt


@dataclass
class AugmentConfig:
    """Augmentation of every image D sees (real and fake, in D and G steps); see `augment/`."""

    kind: AugmentKind = "none"
    p: float = setting(0.0, bounds=UNIT)  # ada: starting probability; fixed: every op's
    target: float = setting(0.6, bounds="(-1, 1)")  # ada: the r_t = E[sign(D(real))] to steer to
    ada_kimg: float = setting(500.0, bounds=POSITIVE)  # ada: kimg for p to move from 0 to 1
    interval: int = setting(4, bounds=AT_LEAST_1)  # ada: D steps between adjustments
    ops: list[AugmentOp] = field(default_factory=lambda: [
        "xflip", "rotate90", "xint", "scale", "rotate", "aniso", "xfrac",
        "brightness", "contrast", "lumaflip", "hue", "saturation",
    ])  # ada/fixed pipeline; also available: cutout, noise
    policy: str = "color,translation,cutout"  # diffaug


@dataclass
class MonitorConfig:
    """Training-health statistics logged with the losses (see `training/monitors.py`)."""

    every: int = setting(0, bounds=AT_LEAST_0, hint="0: with each log")  # G steps between readings
    diversity: bool = True  # fixed-batch within-class sample diversity (a G forward of the grid)
    plot: bool = True  # write RUN_DIR/dashboard.png at the end of training


@dataclass
class GuardConfig:
    """Divergence and collapse detection (see `training/guard.py`)."""

    enabled: bool = True
    skip_nonfinite: bool = True  # skip an optimizer step whose loss or gradients are not finite
    max_nonfinite: int = setting(20, bounds=AT_LEAST_1)  # consecutive skipped steps = divergence
    sigma_limit: float = setting(1.0e4, bounds=POSITIVE)  # largest singular value that counts as explosion
    d_loss_floor: float = 0.01  # D loss at or below this while G loss rises ...
    floor_checks: int = setting(3, bounds=AT_LEAST_1)  # ... in this many readings counts as collapse
    # fixed-batch sample diversity below this fraction of its best
    diversity_drop: float = setting(0.3, bounds="[0, 1)")
    # G step from which the diversity rule applies: in the opening, G's blobs swing in
    # diversity (0.31 -> 0.09 at step 100 on MNIST) without any collapse
    diversity_after: int = setting(500, bounds=AT_LEAST_0)
    rollback: bool = False  # on an event restore the last healthy checkpoint and apply the remedy
    lr_factor: float = setting(0.5, bounds="(0, 1]")  # remedy: multiply both learning rates by this
    augment_p_boost: float = setting(0.1, bounds=UNIT)  # remedy: raise augmentation p by this
    max_rollbacks: int = setting(3, bounds=AT_LEAST_1)  # then stop the run with a clear message


@dataclass
class TranslationConfig(Dispatched):
    """Image-to-image translation (`task: translation`): what pix2pix and CycleGAN share;
    `translation.mode` picks the registered subclass with the mode's own settings
    (`translation/settings.py`). The optimiser, batch, seed, device and logging cadence come
    from `train.*` (`train.loss`: ns = the papers' vanilla GAN, ls = LSGAN); the data from `data.*`."""

    section: ClassVar[str] = "translation"
    key: ClassVar[str] = "mode"

    mode: str = "pix2pix"  # pix2pix (paired, one G, conditional D) | cyclegan (two G, two D)
    generator: str = setting(
        "unet_256", pattern=r"unet_\d+|resnet_\d+blocks",
        hint="use unet_N (N a power of two: unet_32, unet_128, unet_256) or resnet_Kblocks "
             "(resnet_6blocks, resnet_9blocks)",
    )
    discriminator: PatchDiscriminator = "basic"  # basic (70x70 PatchGAN) | n_layers | pixel
    n_layers_d: int = setting(3, bounds="[1, 16]")
    ngf: int = setting(64, bounds=AT_LEAST_1)  # generator width (filters of its first layer)
    ndf: int = setting(64, bounds=AT_LEAST_1)  # discriminator width
    norm: TranslationNorm = "batch"
    dropout: bool = True  # U-Net: dropout 0.5 in the 512->512 decoder blocks; ResNet: in blocks
    init_gain: float = setting(0.02, bounds=AT_LEAST_0)  # weights ~ N(0, init_gain)
    channels_a: int = setting(3, bounds=AT_LEAST_1)
    channels_b: int = setting(3, bounds=AT_LEAST_1)
    load_size: int = setting(286, bounds=PIXELS)  # training images are resized to this ...
    crop_size: int = setting(256, bounds=PIXELS)  # ... and randomly cropped to this
    # history of generated images D trains on (CycleGAN: 50; 0: none)
    pool_size: int = setting(0, bounds=AT_LEAST_0)
    # the run's budget in steps (`--steps`); 0: the epochs below
    steps: int = setting(0, bounds=AT_LEAST_0, hint="0: the epochs' worth of steps")
    # keep an EMA of the generators (train.ema_decay, train.ema_start) for grids, evaluation,
    # translate and export
    ema: bool = False
    epochs: int = setting(100, bounds=AT_LEAST_0)  # epochs at the initial learning rate ...
    epochs_decay: int = setting(100, bounds=AT_LEAST_0)  # ... then epochs of linear decay to zero
    # 0: one pass over the (larger) training domain per epoch
    steps_per_epoch: int = setting(0, bounds=AT_LEAST_0, hint="0: one pass over the data")
    # batch_stats (pix2pix paper: test-time batch statistics, dropout on, seeded) |
    # running_stats (eval mode: running averages, no dropout)
    inference: InferenceMode = "batch_stats"
    eval_every: int = setting(1, bounds=AT_LEAST_0)  # epochs between test evaluations (0: at the end)
    eval_n: int = setting(0, bounds=AT_LEAST_0)  # test images evaluated (0: all)
    # FID/KID features: auto (digits classifier for demo data, else inception) | none | ...
    features: TranslationFeatures = "auto"


@dataclass
class TextConfig:
    """The text condition of text-to-image recipes (gan-cls, gigagan); see `ganforge.text`.

    `builtin`: a small word-level transformer trained first with a joint image-text embedding
    loss on the training captions, then frozen (GAN-CLS's recipe with a smaller encoder);
    `clip:PATH`: a frozen CLIP text tower from local `transformers` weights (no download)."""

    encoder: str = setting("builtin", pattern=r"builtin|clip:.+", hint="use builtin or clip:PATH")
    vocab: list[str] = field(default_factory=list)  # builtin: filled from the training captions
    max_len: int = setting(16, bounds="[2, 512]")  # tokens per caption (longer ones are cut)
    width: int = setting(128, bounds="[1, 4096]")  # builtin: token feature width
    layers: int = setting(2, bounds="[1, 64]")  # builtin: transformer layers
    heads: int = setting(4, bounds="[1, 64]")  # builtin: attention heads (divide width)
    embed_dim: int = setting(128, bounds="[1, 4096]")  # builtin: sentence embedding size
    pretrain_steps: int = setting(300, bounds="[0, 1000000]")  # builtin: joint-embedding steps first
    pretrain_batch: int = setting(64, bounds="[2, 65536]")
    pretrain_lr: float = setting(1e-3, bounds=POSITIVE)
    # GigaGAN's global text code from its learned layers T: the masked mean of T's outputs (mean;
    # what configs without the key ran with) or the end-of-text token's feature (eot, the paper's:
    # CLIP's EOT, taken out of t_local as well; builtin: the last word, which stays in t_local)
    global_pool: GlobalPool = "mean"


@dataclass
class InversionConfig:
    """Inverting a trained, frozen generator (`task: inversion`, recipes `encoder` and
    `hyperstyle`): a pSp/e4e-style encoder (W+ for StyleGAN2, z + class for BigGAN), or
    HyperStyle's hypernetwork over a trained encoder run, trained on the generator's own samples
    and on `data.source`'s real images (`none`: samples only). Batch, seed, device, precision,
    logging and checkpoints come from `train.*` (Adam with `train.betas_g` and `adam_eps`)."""

    mode: InversionMode = "encoder"
    generator: str = ""  # the generator to invert: run directory, export or hub id (--generator)
    encoder: str = ""  # hyperstyle: the encoder run it refines (--encoder)
    lr: float = setting(1e-3, bounds=POSITIVE)
    width: int = setting(32, bounds="[1, 1024]")  # channels of the first conv stage
    latent_weight: float = setting(1.0, bounds=AT_LEAST_0)  # encoder: latent MSE on samples
    pixel_weight: float = setting(1.0, bounds=AT_LEAST_0)
    perceptual_weight: float = setting(0.5, bounds=AT_LEAST_0)
    delta_weight: float = setting(1e-3, bounds=AT_LEAST_0)  # encoder: e4e's offset regulariser
    class_weight: float = setting(1.0, bounds=AT_LEAST_0)  # encoder: class cross-entropy (BigGAN)
    iterations: int = setting(2, bounds="[1, 100]")  # hyperstyle: refinement steps per image
    # auto: the shipped classifier of the generator's data | none | classifier:NAME | vgg:FILE
    perceptual: str = setting("auto", pattern=r"auto|none|classifier:\w+|vgg:.+",
                              hint="use auto, none, classifier:NAME or vgg:FILE")
    lpips_weights: str = ""  # with perceptual=vgg:FILE: LPIPS's learned weights (lpips' vgg.pth / alex.pth)
    w_samples: int = setting(10000, bounds="[1, 1000000]")  # encoder: mapped z for w_avg and w_std


def _model() -> ModelConfig:
    return ModelConfig(arch="biggan")


def _method() -> MethodConfig:
    return MethodConfig(name="adversarial")


def _translation() -> TranslationConfig:
    return TranslationConfig(mode="pix2pix")


@dataclass
class Config:
    """A whole run: what a recipe file describes and what lands in `RUN_DIR/config.yaml`."""

    name: str = "custom"
    description: str = ""
    model: ModelConfig = field(default_factory=_model)
    data: DataConfig = field(default_factory=DataConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    method: MethodConfig = field(default_factory=_method)
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    monitor: MonitorConfig = field(default_factory=MonitorConfig)
    guard: GuardConfig = field(default_factory=GuardConfig)
    task: Task = "generation"  # generation (the GAN family) | translation (pix2pix, ...) | inversion
    translation: TranslationConfig = field(default_factory=_translation)
    text: TextConfig = field(default_factory=TextConfig)  # text-to-image recipes only
    inversion: InversionConfig = field(default_factory=InversionConfig)  # encoder/hyperstyle recipes
    # dotted overrides applied (before the user's) when data.source is a built-in demo task
    # (demo:NAME): a recipe states the paper's settings and, here, how its CPU demo differs
    demo_overrides: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)
