"""`ganforge convert stylegan2-ada network-snapshot-NNNNNN.pkl --out DIR --run`: a
stylegan2-ada-pytorch training snapshot as a ganforge run directory that `ganforge train --resume
DIR` continues, read by `safe_pickle` without running the code embedded in it.

The run's first checkpoint holds the snapshot's G, D and G_ema (key by key, as the export does
for G_ema) and ADA's p from its augment_pipe. Its step is the snapshot's images shown divided by
the run's batch: `cur_nimg` when the pickle holds one, else the kimg in the official file name
(network-snapshot-000200.pkl: 200 kimg), else 0. A snapshot holds no optimizer states, so the
Adam moments start fresh, as the official `--resume` starts them too; so do ADA's statistics and
the lazy-regularisation counters. The training settings are config F's (`stylegan2-1024`) with
the snapshot's networks, changed with KEY=VALUE overrides (e.g. the cifar preset's
method.r1_gamma=0.01); `--data` is what the run continues on (default: the folder the snapshot
records).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from ganforge.config import save_config
from ganforge.errors import GanforgeError
from ganforge.generator import Generator
from ganforge.generators.export import parameter_count
from ganforge.generators.safe_pickle import PersistentRecord, module_tensors, read_network_pickle
from ganforge.generators.stylegan2_ada import copy_weights, model_settings, snapshot_config
from ganforge.training import launch

SNAPSHOT_NAME = re.compile(r"network-snapshot-(\d+)\.pkl$")
# official Discriminator defaults of the settings ganforge's D shares with G
D_DEFAULTS = {"channel_base": 32768, "channel_max": 512, "conv_clamp": None}


def _networks(data: dict[str, Any], path: Path) -> dict[str, PersistentRecord]:
    nets = {key: data.get(key) for key in ("G", "D", "G_ema")}
    missing = [key for key, net in nets.items() if not isinstance(net, PersistentRecord)]
    if missing:
        raise GanforgeError(f"'{path}' lacks {', '.join(missing)}: --run needs a training snapshot's G, D "
                            "and G_ema (without --run, G_ema alone makes an export)")
    for key, net in nets.items():
        expected = "Discriminator" if key == "D" else "Generator"
        if net.class_name != expected:
            raise GanforgeError(f"'{path}': {key} is a {net.class_name}, not stylegan2-ada-pytorch's {expected}")
    return nets  # type: ignore[return-value]


def check_discriminator(g: PersistentRecord, d: PersistentRecord, path: Path) -> None:
    """D's constructor arguments that ganforge shares with G (or builds one way) must agree."""
    gk, dk = g.init_kwargs, d.init_kwargs
    for key in ("c_dim", "img_resolution", "img_channels"):
        if dk.get(key) != gk.get(key):
            raise GanforgeError(f"'{path}': D's {key}={dk.get(key)!r} differs from G's {gk.get(key)!r}")
    synthesis = dict(gk.get("synthesis_kwargs") or {})
    for key, default in D_DEFAULTS.items():
        if dk.get(key, default) != synthesis.get(key, default):
            raise GanforgeError(f"'{path}': D's {key}={dk.get(key, default)!r} differs from G's "
                                f"synthesis_kwargs.{key}={synthesis.get(key, default)!r} (ganforge's "
                                "StyleGAN2 builds both with one setting)")
    if dk.get("architecture", "resnet") not in ("resnet", "orig"):
        raise GanforgeError(f"'{path}': D's architecture={dk.get('architecture')!r} is not supported by "
                            "ganforge's StyleGAN2 (resnet or orig only)")


def snapshot_nimg(data: dict[str, Any], path: Path) -> tuple[int, str]:
    """Images shown so far and where that number came from."""
    nimg = data.get("cur_nimg")
    if isinstance(nimg, int | float) and not isinstance(nimg, bool) and nimg >= 0:
        return int(nimg), "the snapshot's cur_nimg"
    match = SNAPSHOT_NAME.search(path.name)
    if match:
        return int(match.group(1)) * 1000, f"the file name ({int(match.group(1))} kimg)"
    return 0, "unknown (neither cur_nimg nor a network-snapshot-NNNNNN.pkl name): step 0"


def write_stylegan2_ada_run(path: Path | str, out: Path | str, overrides: list[str] | None = None,
                            data_source: str | None = None) -> dict[str, Any]:
    """A run directory whose first checkpoint holds the snapshot's networks and ADA p."""
    path, out = Path(path), Path(out)
    if not path.is_file():
        raise GanforgeError(f"'{path}' is not a file (a stylegan2-ada-pytorch network snapshot, .pkl)")
    data = read_network_pickle(path)
    nets = _networks(data, path)
    check_discriminator(nets["G_ema"], nets["D"], path)
    try:
        settings = model_settings(nets["G_ema"], nets["D"])
    except (TypeError, ValueError, AttributeError) as exc:
        raise GanforgeError(f"'{path}': G_ema's constructor arguments are not what stylegan2-ada-pytorch "
                            f"writes ({type(exc).__name__}: {exc})") from None
    recorded = data.get("training_set_kwargs")
    recorded = recorded.get("path") if isinstance(recorded, dict) else None
    if data_source is None and isinstance(recorded, str) and recorded:
        data_source = f"folder:{recorded}"
    config = snapshot_config(settings, overrides, data_source)
    loop, dataset = launch.loop_for_converted(config, out, "snapshot's model")
    task = loop.task
    for key, net in (("G", task.G), ("D", task.D), ("G_ema", task.G_ema)):
        where = f"{path.name}: {key}"
        net.load_state_dict(copy_weights(module_tensors(nets[key], where), net, where))
    augment = data.get("augment_pipe")
    p = augment.state.get("_buffers", {}).get("p") if isinstance(augment, PersistentRecord) else None
    ada_p = float(p) if p is not None else None
    if ada_p is not None and task.augment is not None:
        task.augment.p = ada_p
        if task.ada is not None:
            task.ada.p = ada_p
    nimg, nimg_source = snapshot_nimg(data, path)
    tc = config.train
    loop.step = nimg // (tc.batch_size * tc.accumulate)
    task.g_steps = loop.step
    run = launch.prepare_run_dir(out, overwrite=False)
    save_config(config, run.config)
    run.write_classes(list(dataset.class_names), dataset.source)
    checkpoint = loop.save()
    return {"path": str(out), "checkpoint": str(checkpoint), "step": loop.step, "recipe": config.name,
            "resolution": config.model.resolution, "kind": "run", "nimg": nimg, "step_from": nimg_source,
            "ada_p": ada_p if task.augment is not None else None,
            "optimizers": "fresh Adam states (a stylegan2-ada-pytorch snapshot holds none)",
            "params": parameter_count(Generator(task.G_ema, list(dataset.class_names), config=config)),
            "class_names": f"the classes of {dataset.source}"}
