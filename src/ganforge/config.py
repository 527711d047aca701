"""Typed configuration: dataclasses filled from a YAML recipe plus dotted `a.b=c` overrides.

Every key is checked against the dataclasses, so a typo or a wrong type is a one-line
`GanforgeError` naming the valid keys instead of a silent default.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from ganforge.errors import GanforgeError


@dataclass
class ModelConfig:
    """Architecture of G and D. Channel lists are multipliers of `ch`, as in BigGAN-PyTorch."""

    arch: str = "biggan"
    resolution: int = 32
    img_channels: int = 3
    n_classes: int = 10  # replaced by the dataset's class count when training
    ch: int = 64
    # G: width entering the first block, then the width each block outputs (len = blocks + 1).
    g_channels: list[int] = field(default_factory=lambda: [4, 4, 4, 4])
    # D: width each block outputs; the first block reads the image.
    d_channels: list[int] = field(default_factory=lambda: [4, 4, 4, 4])
    d_downsample: list[bool] = field(default_factory=lambda: [True, True, False, False])
    g_attention: list[int] = field(default_factory=list)  # resolutions with self-attention
    d_attention: list[int] = field(default_factory=list)
    dim_z: int = 128
    shared_dim: int = 0  # 0: per-class gain/bias embeddings in each CBN (BGP's CIFAR setting)
    hierarchical_z: bool = False
    sn_eps: float = 1e-6
    bn_eps: float = 1e-5
    init: str = "ortho"  # ortho | normal | xavier
    # ---- the GAN family (see each recipe's comments for its paper's values) ----
    conditional: bool = True  # G and D see the class label; false: unconditional
    g_spectral_norm: bool = True  # biggan arch: SN in G too (BigGAN, SAGAN) or D only (SNGAN)
    g_norm: str = "batch"  # dcgan/mlp G: batch | none
    d_norm: str = "batch"  # dcgan D: batch | layer | none (WGAN-GP's critic has no batch norm)
    d_spectral_norm: bool = False  # dcgan/mlp D: spectral norm on every layer
    hidden: list[int] = field(default_factory=lambda: [1200, 1200])  # mlp G hidden widths
    d_hidden: list[int] = field(default_factory=lambda: [240, 240])  # mlp D maxout units
    maxout_pieces: int = 5  # mlp D (Goodfellow et al. 2014)
    dropout: float = 0.5  # mlp D
    d_heads: list[str] = field(default_factory=list)  # extra D outputs: classes (acgan, sgan), codes (infogan)
    codes_cat: list[int] = field(default_factory=list)  # infogan: sizes of categorical codes
    codes_cont: int = 0  # infogan: number of continuous codes, uniform in [-1, 1]
    levels: int = 3  # lapgan: pyramid levels (coarsest = resolution / 2^(levels - 1))


@dataclass
class DataConfig:
    """Where images come from; see `ganforge.data.spec` for the accepted forms."""

    source: str = "digits"
    hflip: bool = False  # random horizontal flips of real images
    limit: int = 0  # train on a class-balanced subset of this many images (0: all); eval uses all
    limit_seed: int = 0  # which subset


@dataclass
class TrainConfig:
    """Optimisation schedule, EMA and the run directory's logging cadence."""

    steps: int = 1000  # generator steps
    batch_size: int = 50  # per optimizer micro-step, over all ranks (split evenly under torchrun)
    lr_g: float = 2e-4
    lr_d: float = 2e-4
    betas_g: list[float] = field(default_factory=lambda: [0.0, 0.999])
    betas_d: list[float] = field(default_factory=lambda: [0.0, 0.999])
    adam_eps: float = 1e-6
    d_steps: int = 2  # discriminator steps per generator step
    accumulate: int = 1  # micro-batches accumulated per optimizer step (BigGAN's num_accumulations)
    loss: str = "hinge"  # hinge | ns | minimax | ls | wasserstein
    optimizer: str = "adam"  # adam | rmsprop (WGAN)
    ortho_reg: float = 0.0  # BigGAN's off-diagonal orthogonal regularisation strength (paper 1e-4)
    ema_decay: float = 0.999
    ema_start: int = 0  # G step from which EMA averages; before it G_ema copies G
    seed: int = 0
    precision: str = "fp32"  # fp32 | bf16 | fp16 (autocast; fp16 adds loss scaling)
    channels_last: bool = False  # NHWC memory format for G, D and the images
    compile: bool = False  # torch.compile G's and D's training forwards
    fused_adam: bool = False  # Adam's fused kernel (one launch for all parameters)
    conv_algorithm: str = "torch"  # torch | winograd (CPU, fp32: fewer multiplications, nn/fast_conv.py)
    sync_bn: bool = False  # cross-replica BatchNorm statistics under torchrun (BigGAN)
    data_on_device: bool = True  # keep the uint8 dataset on the GPU: batches are an index op
    device: str = "auto"  # auto | cpu | cuda[:N]
    log_every: int = 10
    sample_every: int = 100
    checkpoint_every: int = 250
    keep_checkpoints: int = 3
    sample_truncation: float | None = None  # threshold of z for the progress grids; null: none


@dataclass
class MethodConfig:
    """How a D step and a G step compute their losses (see `training/methods/`)."""

    name: str = "adversarial"  # adversarial | acgan | sgan | infogan | began | lapgan
    gp: float = 0.0  # WGAN-GP: weight of the gradient penalty on real/fake interpolates (paper 10)
    clip: float = 0.0  # WGAN: clip every critic weight to [-clip, clip] after its step (paper 0.01)
    separate_d_calls: bool = False  # D sees real and fake as two batches (DCGAN) or one (BigGAN)
    aux_weight: float = 1.0  # acgan: weight of the class log-likelihood terms
    labelled: int = 100  # sgan: labelled real images, class-balanced; the rest are unlabelled
    labelled_fraction: float = 0.0  # sgan: if > 0, this fraction of the training images instead
    holdout: float = 0.1  # sgan: fraction of the data held out to measure D's classification
    info_weight: float = 1.0  # infogan: lambda of the mutual-information term
    began_gamma: float = 0.5  # began: diversity ratio E[L(G(z))] / E[L(x)] to hold
    began_lambda_k: float = 0.001  # began: learning rate of the equilibrium term k_t


@dataclass
class EvalConfig:
    """Periodic evaluation of G_ema during training, and which checkpoint counts as best."""

    every: int = 0  # G steps between evaluations; 0 turns it off
    metrics: list[str] = field(default_factory=lambda: ["fid", "is", "acc"])
    n: int = 1000  # generated images per evaluation
    features: str = "auto"  # auto: domain classifier for digits/MNIST, else inception
    truncation: float | None = None
    seed: int = 0
    best_metric: str = ""  # e.g. fid or class_accuracy: keeps checkpoints/best.pt


@dataclass
class AugmentConfig:
    """Augmentation of every image D sees (real and fake, in D and G steps); see `augment/`."""

    kind: str = "none"  # none | ada | fixed | diffaug
    p: float = 0.0  # ada: starting probability; fixed: the probability of every op
    target: float = 0.6  # ada: the r_t = E[sign(D(real))] the controller steers towards
    ada_kimg: float = 500.0  # ada: thousands of real images for p to move from 0 to 1
    interval: int = 4  # ada: D steps between adjustments (r_t averaged over them)
    ops: list[str] = field(default_factory=lambda: [
        "xflip", "rotate90", "xint", "scale", "rotate", "aniso", "xfrac",
        "brightness", "contrast", "lumaflip", "hue", "saturation",
    ])  # ada/fixed pipeline; also available: cutout, noise
    policy: str = "color,translation,cutout"  # diffaug


@dataclass
class MonitorConfig:
    """Training-health statistics logged with the losses (see `training/monitors.py`)."""

    every: int = 0  # G steps between singular-value / diversity readings; 0: with each log
    diversity: bool = True  # fixed-batch within-class sample diversity (a G forward of the grid)
    plot: bool = True  # write RUN_DIR/dashboard.png at the end of training


@dataclass
class GuardConfig:
    """Divergence and collapse detection (see `training/guard.py`)."""

    enabled: bool = True
    skip_nonfinite: bool = True  # skip an optimizer step whose loss or gradients are not finite
    max_nonfinite: int = 20  # consecutive skipped steps that count as a divergence
    sigma_limit: float = 1.0e4  # largest singular value (sigma_0) of any weight that counts as explosion
    d_loss_floor: float = 0.01  # D loss at or below this while G loss rises ...
    floor_checks: int = 3  # ... in this many consecutive monitor readings counts as collapse
    diversity_drop: float = 0.3  # fixed-batch sample diversity below this fraction of its best
    diversity_after: int = 500  # G step from which the diversity rule applies: in the opening,
    # G's blobs swing in diversity (0.31 -> 0.09 at step 100 on MNIST) without any collapse
    rollback: bool = False  # on an event restore the last healthy checkpoint and apply the remedy
    lr_factor: float = 0.5  # remedy: multiply both learning rates by this
    augment_p_boost: float = 0.1  # remedy: raise augmentation p by this (ada/fixed)
    max_rollbacks: int = 3  # then stop the run with a clear message


@dataclass
class TranslationConfig:
    """Image-to-image translation (`task: translation`): pix2pix and CycleGAN; see
    `ganforge.translation`. The optimiser, batch, seed, device and logging cadence come from
    `train.*` (`train.loss`: ns = the papers' vanilla GAN, ls = LSGAN); the data from `data.*`."""

    mode: str = "pix2pix"  # pix2pix (paired, one G, conditional D) | cyclegan (two G, two D)
    direction: str = "AtoB"  # pix2pix: AtoB translates A -> B, BtoA the reverse
    generator: str = "unet_256"  # unet_N (N = 2^downsamplings) | resnet_Kblocks (6, 9)
    discriminator: str = "basic"  # basic (70x70 PatchGAN) | n_layers (n_layers_d) | pixel
    n_layers_d: int = 3
    ngf: int = 64  # generator width (filters of its first layer)
    ndf: int = 64  # discriminator width
    norm: str = "batch"  # batch | instance | none
    dropout: bool = True  # U-Net: dropout 0.5 in the 512->512 decoder blocks; ResNet: in blocks
    init_gain: float = 0.02  # weights ~ N(0, init_gain)
    channels_a: int = 3
    channels_b: int = 3
    load_size: int = 286  # training images are resized to this square ...
    crop_size: int = 256  # ... and randomly cropped to this (test images are resized to it)
    lambda_l1: float = 100.0  # pix2pix: weight of L1(G(x), y)
    lambda_cycle: float = 10.0  # cyclegan: weight of each cycle-consistency L1 term
    lambda_identity: float = 0.5  # cyclegan: identity L1 weight, relative to lambda_cycle
    pool_size: int = 0  # history of generated images D trains on (CycleGAN: 50; 0: none)
    steps: int = 0  # stop at this step (`--steps`); 0: after the epochs below
    ema: bool = False  # keep an EMA of the generators (train.ema_decay, train.ema_start) for
    # grids, evaluation, translate and export
    epochs: int = 100  # epochs at the initial learning rate ...
    epochs_decay: int = 100  # ... then epochs of linear decay towards zero
    steps_per_epoch: int = 0  # 0: one pass over the (larger) training domain per epoch
    inference: str = "batch_stats"  # batch_stats (pix2pix paper: test-time batch statistics,
    # dropout on, seeded) | running_stats (eval mode: running averages, no dropout)
    eval_every: int = 1  # epochs between test-split evaluations (0: only at the end)
    eval_n: int = 0  # test images evaluated (0: all)
    features: str = "auto"  # FID/KID features: auto (digits classifier for demo data, else
    # inception) | inception | digits | mnist | none


@dataclass
class Config:
    """A whole run: what a recipe file describes and what lands in `RUN_DIR/config.yaml`."""

    name: str = "custom"
    description: str = ""
    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    method: MethodConfig = field(default_factory=MethodConfig)
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    monitor: MonitorConfig = field(default_factory=MonitorConfig)
    guard: GuardConfig = field(default_factory=GuardConfig)
    task: str = "generation"  # generation (the GAN family) | translation (pix2pix, CycleGAN)
    translation: TranslationConfig = field(default_factory=TranslationConfig)
    # dotted overrides applied (before the user's) when data.source is a built-in demo task
    # (demo:NAME): a recipe states the paper's settings and, here, how its CPU demo differs
    demo_overrides: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


RECIPE_DIR = "recipes"


def _recipe_files() -> dict[str, Any]:
    root = resources.files("ganforge") / RECIPE_DIR
    return {p.name[: -len(".yaml")]: p for p in root.iterdir() if p.name.endswith(".yaml")}


def list_recipes() -> list[str]:
    """Names of the recipes shipped inside the package."""
    return sorted(_recipe_files())


def recipe_description(name: str) -> str:
    return str(_read_yaml_text(_recipe_path_text(name), f"recipe '{name}'").get("description", ""))


def _recipe_path_text(name: str) -> str:
    files = _recipe_files()
    if name not in files:
        raise GanforgeError(
            f"unknown recipe '{name}'; available recipes: {', '.join(sorted(files))}"
        )
    return files[name].read_text(encoding="utf-8")


def _read_yaml_text(text: str, where: str) -> dict[str, Any]:
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise GanforgeError(f"{where} is not valid YAML: {str(exc).splitlines()[0]}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise GanforgeError(f"{where} must be a mapping of settings, got {type(data).__name__}")
    return data


def load_recipe(name_or_path: str) -> Config:
    """A shipped recipe by name, or a YAML file by path, resolved onto the defaults."""
    path = Path(name_or_path)
    if name_or_path.endswith((".yaml", ".yml")) or path.is_file():
        if not path.is_file():
            raise GanforgeError(f"recipe file '{name_or_path}' does not exist")
        data = _read_yaml_text(path.read_text(encoding="utf-8"), f"recipe file '{path}'")
        data.setdefault("name", path.stem)
    else:
        data = _read_yaml_text(_recipe_path_text(name_or_path), f"recipe '{name_or_path}'")
        data.setdefault("name", name_or_path)
    return config_from_dict(data)


def config_from_dict(data: dict[str, Any]) -> Config:
    """Build a Config from nested dicts, checking every key and type."""
    return _build(Config, data, "")


def _build(cls: type, data: dict[str, Any], prefix: str) -> Any:
    if not isinstance(data, dict):
        raise GanforgeError(f"config section '{prefix.rstrip('.') or 'root'}' must be a mapping")
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    kwargs: dict[str, Any] = {}
    for key, value in data.items():
        if key not in hints:
            raise GanforgeError(
                f"unknown config key '{prefix}{key}'; valid keys"
                f"{' in ' + repr(prefix.rstrip('.')) if prefix else ''}: {', '.join(names)}"
            )
        kwargs[key] = _coerce(value, hints[key], f"{prefix}{key}")
    return cls(**kwargs)


def _type_name(hint: Any) -> str:
    return getattr(hint, "__name__", None) or str(hint).replace("typing.", "")


def _coerce(value: Any, hint: Any, key: str) -> Any:
    """Check `value` against a type hint, converting only where it is lossless and obvious."""
    if dataclasses.is_dataclass(hint):
        return _build(hint, value, key + ".")
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _coerce(value, arg, key)
            except GanforgeError as exc:
                errors.append(str(exc))
        raise GanforgeError(errors[0] if errors else f"config key '{key}' has an invalid value")
    if origin is list:
        if not isinstance(value, (list, tuple)):
            raise GanforgeError(
                f"config key '{key}' must be a list of {_type_name(args[0])}, got {value!r}"
            )
        return [_coerce(v, args[0], f"{key}[{i}]") for i, v in enumerate(value)]
    if hint is bool:
        if isinstance(value, bool):
            return value
        raise GanforgeError(f"config key '{key}' must be true or false, got {value!r}")
    if hint is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise GanforgeError(f"config key '{key}' must be an integer, got {value!r}")
    if hint is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str):  # YAML 1.1 reads "1e-4" as a string
            try:
                return float(value)
            except ValueError:
                pass
        raise GanforgeError(f"config key '{key}' must be a number, got {value!r}")
    if hint is str:
        if isinstance(value, str):
            return value
        raise GanforgeError(f"config key '{key}' must be a string, got {value!r}")
    raise GanforgeError(f"config key '{key}' has an unsupported type {_type_name(hint)}")


def apply_overrides(config: Config, overrides: list[str]) -> Config:
    """Apply `section.key=value` strings (values parsed as YAML) and re-validate."""
    data = config.to_dict()
    for item in overrides:
        if "=" not in item:
            raise GanforgeError(
                f"override '{item}' is not of the form key=value (e.g. train.lr_g=1e-4)"
            )
        dotted, raw = item.split("=", 1)
        parts = dotted.strip().split(".")
        try:
            value = yaml.safe_load(raw) if raw.strip() else ""
        except yaml.YAMLError:
            value = raw
        node: Any = data
        for depth, part in enumerate(parts[:-1]):
            if not isinstance(node, dict) or part not in node or not isinstance(node[part], dict):
                valid = ", ".join(k for k, v in node.items() if isinstance(v, dict))
                where = ".".join(parts[: depth + 1])
                raise GanforgeError(f"unknown config section '{where}'; valid sections: {valid}")
            node = node[part]
        leaf = parts[-1]
        if leaf not in node:
            section = ".".join(parts[:-1])
            raise GanforgeError(
                f"unknown config key '{dotted}'; valid keys"
                f"{' in ' + repr(section) if section else ''}: {', '.join(node)}"
            )
        node[leaf] = value
    return config_from_dict(data)


def save_config(config: Config, path: Path) -> None:
    path.write_text(yaml.safe_dump(config.to_dict(), sort_keys=False), encoding="utf-8")


def load_config_file(path: Path) -> Config:
    if not path.is_file():
        raise GanforgeError(f"config file '{path}' does not exist")
    return config_from_dict(_read_yaml_text(path.read_text(encoding="utf-8"), f"'{path}'"))
