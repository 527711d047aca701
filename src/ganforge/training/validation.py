"""`validate_config`: every check a config allows without its data and without building a
network, so that `ganforge check-config` and, before it builds or writes anything, every
`ganforge train` (the launch path calls it) answer a mistake with one line.

Single settings (types, choices, ranges) were checked when the config was read; here come the
rules among settings: each component's own (`check` of its settings class), then the ones
across sections. Importing this module registers every built-in component's settings.
"""

from __future__ import annotations

import ganforge.models  # noqa: F401  registers the architectures' settings
import ganforge.training.methods  # noqa: F401  registers the methods' settings
import ganforge.translation.settings  # noqa: F401  registers the translation modes' settings
from ganforge.augment.diffaugment import parse_policy
from ganforge.config import Config
from ganforge.config.registry import COMPONENTS
from ganforge.errors import GanforgeError
from ganforge.metrics.evaluate import METRIC_KEYS, parse_metrics
from ganforge.nn.bn_modes import parse_bn_mode
from ganforge.training.size import check_size
from ganforge.translation.checks import check_translation_config


def validate_config(config: Config, world: int = 1) -> None:
    """Raise the first GanforgeError found; `world`: the number of processes (torchrun) the run
    will use. Reads nothing from disk and allocates nothing (the size check builds on the meta
    device)."""
    check_loop(config, world)
    if config.task == "inversion":  # a frozen generator and the network that inverts it
        check_inversion(config)
        return
    if config.task == "translation":
        check_translation_config(config)
    else:
        check_components(config)
        check_training(config, world)
        check_evaluation(config)
        if config.augment.kind == "diffaug":
            parse_policy(config.augment.policy)
    check_size(config)  # last: a build on the meta device, once every single rule holds


def check_components(config: Config) -> None:
    """The architecture's and the method's own rules, and whether they fit each other."""
    model, method = config.model, config.method
    if model.img_channels not in (1, 3):  # the data readers make grey or RGB images only
        raise GanforgeError(f"model.img_channels must be 1 (grey) or 3 (RGB), got {model.img_channels}")
    model.check(config)
    missing = [h for h in type(method).required_heads if h not in model.d_heads]
    if missing:
        raise GanforgeError(
            f"method.name={method.name} needs D heads {missing}: add them to model.d_heads "
            f"(with model.arch=dcgan or mlp)"
        )
    if model.d_heads and not type(model).supports_heads:
        raise GanforgeError(f"model.arch={model.arch} has no extra D heads; use model.arch=dcgan or mlp")
    paired = {c.paired_arch for c in COMPONENTS.get("method", {}).values() if c.paired_arch}
    for arch in paired:
        if (method.paired_arch == arch) != (model.arch == arch):
            raise GanforgeError(f"method.name={arch} and model.arch={arch} go together: their "
                                "D is trained only by their own method")
    method.check(config)


INVERSION_METRICS = ("recon_mse", "recon_psnr", "latent_mse", "real_recon_mse", "real_recon_psnr")


def check_inversion(config: Config) -> None:
    """What an inversion run's settings must agree on (its generator and encoder run are its
    inputs, like data: checked when they are opened)."""
    best = config.eval.best_metric
    if best and best not in INVERSION_METRICS:
        raise GanforgeError(f"eval.best_metric '{best}' is not an inversion metric; use one of "
                            f"{', '.join(INVERSION_METRICS)}")


def check_loop(config: Config, world: int) -> None:
    """What the loop needs of every task: a global batch that splits among the processes."""
    tc = config.train
    if tc.batch_size % world:
        raise GanforgeError(
            f"train.batch_size={tc.batch_size} does not split evenly among {world} processes; "
            f"use a multiple of {world} (it is the global batch)"
        )


def check_training(config: Config, world: int) -> None:
    """Settings of a GAN's schedule that must agree with each other and with the process count."""
    tc = config.train
    if world > 1 and type(config.method).single_process:
        raise GanforgeError(
            f"method.name={config.method.name} trains on one process only; "
            "run it without torchrun (or with --nproc_per_node 1)"
        )
    if tc.conv_algorithm != "torch":
        clashes = [f"train.precision={tc.precision}"] if tc.precision != "fp32" else []
        clashes += ["train.compile=true"] if tc.compile else []
        clashes += [f"train.device={tc.device}"] if tc.device not in ("auto", "cpu") else []
        if clashes:
            raise GanforgeError(f"train.conv_algorithm={tc.conv_algorithm} is a float32 eager CPU lever and "
                                f"cannot run with {' or '.join(clashes)}; set train.conv_algorithm=torch")


def check_evaluation(config: Config) -> None:
    """eval.metrics are known metrics and eval.best_metric is one of the numbers they give."""
    ec = config.eval
    if ec.truncation_convention == "psi" and not type(config.model).style_based:
        raise GanforgeError(f"eval.truncation_convention=psi truncates StyleGAN's W; model.arch="
                            f"{config.model.arch} has none (use resample, scale or tfhub)")
    names = parse_metrics(ec.metrics)
    try:
        parse_bn_mode(ec.bn)
    except GanforgeError as exc:
        raise GanforgeError(f"eval.bn: {exc}".replace("--bn ", "")) from None
    if ec.best_metric:
        valid = [k for m in names for k in METRIC_KEYS[m]]
        if ec.best_metric not in valid:
            raise GanforgeError(
                f"eval.best_metric '{ec.best_metric}' is not produced by eval.metrics "
                f"{names}; choose one of: {', '.join(valid)}"
            )
