"""`ganforge convert stylegan2-ada network-snapshot.pkl --out DIR`: an NVlabs/stylegan2-ada-pytorch
network pickle (a training snapshot, or a published ffhq/afhq/metfaces pickle) as a ganforge
StyleGAN2 export, read by `safe_pickle` without running the code embedded in it.

The generator is the pickle's G_ema. Its constructor arguments (the `_init_kwargs` that
`torch_utils.persistence` records: z_dim, w_dim, c_dim, img_resolution, img_channels,
mapping_kwargs, synthesis_kwargs) become the `model` section of a `stylegan2` config; each one
ganforge's StyleGAN2 cannot honour stops the conversion, naming it. The weights map key by key
(the official state-dict keys are ganforge's): every key used, every ganforge key filled, every
shape equal; the official `*.resample_filter` buffers must be the [1,3,3,1] filter that
ganforge keeps as a constant. Per-block fp16 (`num_fp16_res`) is not built: ganforge runs the
network in float32, which is the official `force_fp32=True` (benchmarks/stylegan2_pickle.py
compares the two on a snapshot made by the official code).
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import torch

from ganforge.checksums import file_sha256
from ganforge.config import Config, apply_overrides, load_recipe
from ganforge.errors import GanforgeError
from ganforge.generator import Generator
from ganforge.generators.convert import find_class_names
from ganforge.generators.export import parameter_count, save_generator_folder
from ganforge.generators.networks import gan_generator
from ganforge.generators.safe_pickle import PersistentRecord, module_tensors, read_network_pickle
from ganforge.models.stylegan.resample import FIR_TAPS, fir_filter

BASE_RECIPE = "stylegan2-1024"  # training settings of config F; the model section is the pickle's
# constructor arguments -> ganforge model settings (None: accepted and not needed)
G_ARGS = {"z_dim": "dim_z", "w_dim": "w_dim", "img_resolution": "resolution", "img_channels": "img_channels",
          "c_dim": None, "mapping_kwargs": None, "synthesis_kwargs": None}
MAPPING_ARGS = {"num_layers": "mapping_layers", "lr_multiplier": "mapping_lr_mul", "w_avg_beta": "w_avg_beta"}
SYNTHESIS_ARGS = {"channel_base": "channel_base", "channel_max": "channel_max", "conv_clamp": "conv_clamp"}
# official arguments ganforge accepts only at one value (the official default), and ones it ignores
FIXED = {"architecture": "skip", "activation": "lrelu", "use_noise": True, "kernel_size": 3,
         "resample_filter": list(FIR_TAPS)}
IGNORED = {"num_fp16_res": "fp16 blocks (ganforge computes in float32: the official force_fp32)",
           "fp16_channels_last": "a memory layout", "channels_last": "a memory layout"}


def is_network_pickle(path: Path | str) -> bool:
    """A `.pkl` file (what stylegan2-ada-pytorch writes); its content is checked when read."""
    path = Path(path)
    return path.is_file() and path.suffix == ".pkl"


def _fixed(name: str, key: str, value: Any) -> None:
    expected = FIXED[key]
    try:
        same = [float(v) for v in value] == expected if key == "resample_filter" else value == expected
    except (TypeError, ValueError):
        same = False
    if not same:
        raise GanforgeError(f"{name}={value!r} is not supported by ganforge's StyleGAN2 (it builds "
                            f"{key}={expected!r} only)")


def model_settings(g: PersistentRecord, d: PersistentRecord | None) -> dict[str, Any]:
    """ganforge model settings from G_ema's (and D's) constructor arguments, strictly."""
    kwargs = g.init_kwargs
    if g.state.get("_init_args"):
        raise GanforgeError("G_ema was built with positional arguments; expected keyword arguments only")
    missing = [k for k in ("z_dim", "w_dim", "c_dim", "img_resolution", "img_channels") if k not in kwargs]
    if missing:
        raise GanforgeError(f"G_ema's constructor arguments lack {', '.join(missing)}: not a "
                            "stylegan2-ada-pytorch Generator")
    out: dict[str, Any] = {}
    for key, value in kwargs.items():
        if key not in G_ARGS:
            raise GanforgeError(f"G_ema's constructor argument {key}={value!r} is not one ganforge's "
                                "StyleGAN2 knows (stylegan2-ada-pytorch's Generator only)")
        if G_ARGS[key]:
            out[G_ARGS[key]] = int(value)
    c_dim = int(kwargs["c_dim"])
    out.update(conditional=c_dim > 0, n_classes=max(c_dim, 1))
    for key, value in dict(kwargs.get("mapping_kwargs") or {}).items():
        name = f"mapping_kwargs.{key}"
        if key in MAPPING_ARGS:
            if value is None:
                raise GanforgeError(f"{name}=None is not supported by ganforge's StyleGAN2 (it tracks w_avg)")
            out[MAPPING_ARGS[key]] = float(value) if key != "num_layers" else int(value)
        elif key in ("embed_features", "layer_features"):
            if value is not None and int(value) != out["w_dim"]:
                raise GanforgeError(f"{name}={value} is not supported by ganforge's StyleGAN2 (w_dim wide only)")
        elif key in FIXED:
            _fixed(name, key, value)
        else:
            raise GanforgeError(f"{name}={value!r} is not an argument ganforge's StyleGAN2 knows")
    for key, value in dict(kwargs.get("synthesis_kwargs") or {}).items():
        name = f"synthesis_kwargs.{key}"
        if key in SYNTHESIS_ARGS:
            out[SYNTHESIS_ARGS[key]] = 0.0 if value is None and key == "conv_clamp" else value
        elif key in FIXED:
            _fixed(name, key, value)
        elif key not in IGNORED:
            raise GanforgeError(f"{name}={value!r} is not an argument ganforge's StyleGAN2 knows")
    if d is not None:  # D's shape settings, for a config that describes the whole network pair
        dk = d.init_kwargs
        if dk.get("architecture", "resnet") in ("resnet", "orig"):
            out["d_arch"] = dk.get("architecture", "resnet")
        epilogue = dict(dk.get("epilogue_kwargs") or {})
        if epilogue.get("mbstd_group_size", 4) is not None:
            out["mbstd_group"] = int(epilogue.get("mbstd_group_size", 4))
        out["mbstd_channels"] = int(epilogue.get("mbstd_num_channels", 1))
        out["d_mapping_layers"] = int(dict(dk.get("mapping_kwargs") or {}).get("num_layers", 8))
        out["cmap_dim"] = int(dk.get("cmap_dim") or 0)
    return out


def snapshot_config(settings: dict[str, Any], overrides: list[str] | None = None,
                    data: str | None = None) -> Config:
    """Config F's training settings with the pickle's model; `data` the dataset it records."""
    base = load_recipe(BASE_RECIPE)
    if data:
        base = replace(base, data=replace(base.data, source=data))
    config = replace(base, model=replace(base.model, **settings), description=(
        f"StyleGAN2 {settings['resolution']}px converted from a stylegan2-ada-pytorch network pickle "
        "(its G_ema); training settings are config F's"))
    config = apply_overrides(config, list(overrides or []))
    config.model.check(config)
    return config


def copy_weights(theirs: dict[str, torch.Tensor], net: torch.nn.Module, where: str) -> dict[str, torch.Tensor]:
    """ganforge's state dict for `net` filled from the official one; every key and shape checked."""
    mine = net.state_dict()
    fir, filled, out = fir_filter(), set(), {}
    for key, value in theirs.items():
        if key.endswith("resample_filter"):
            if value.shape != fir.shape or not torch.allclose(value.float(), fir, atol=1e-7):
                raise GanforgeError(f"{where}: '{key}' is not the [1,3,3,1] filter ganforge's StyleGAN2 uses")
            continue
        if key not in mine:
            raise GanforgeError(f"{where}: unexpected key '{key}' (ganforge's StyleGAN2 has no such "
                                "parameter or buffer)")
        if tuple(value.shape) != tuple(mine[key].shape):
            raise GanforgeError(f"{where}: '{key}' has shape {tuple(value.shape)}; the model of its "
                                f"constructor arguments needs {tuple(mine[key].shape)}")
        out[key] = value.detach().to(mine[key].dtype).clone()
        filled.add(key)
    missing = sorted(set(mine) - filled)
    if missing:
        raise GanforgeError(f"{where}: key '{missing[0]}' is missing ({len(missing)} in all)")
    return out


def stylegan2_ada_generator(path: Path | str, class_names: Path | str | None = None,
                            overrides: list[str] | None = None) -> Generator:
    """The pickle's G_ema as a ganforge generator (nothing of the pickle's code is run)."""
    path = Path(path)
    data = read_network_pickle(path)
    g = data.get("G_ema")
    if not isinstance(g, PersistentRecord):
        raise GanforgeError(f"'{path}' has no G_ema network (keys: {', '.join(map(str, data)) or 'none'}): "
                            "not a stylegan2-ada-pytorch snapshot")
    if g.class_name != "Generator":
        raise GanforgeError(f"'{path}': G_ema is a {g.class_name}, not stylegan2-ada-pytorch's Generator")
    d = data.get("D") if isinstance(data.get("D"), PersistentRecord) else None
    dataset = data.get("training_set_kwargs")
    recorded = dataset.get("path") if isinstance(dataset, dict) else None
    try:
        settings = model_settings(g, d)
    except (TypeError, ValueError, AttributeError) as exc:  # e.g. z_dim=None, mapping_kwargs=3
        raise GanforgeError(f"'{path}': G_ema's constructor arguments are not what stylegan2-ada-pytorch "
                            f"writes ({type(exc).__name__}: {exc})") from None
    config = snapshot_config(settings, overrides,
                             f"folder:{recorded}" if isinstance(recorded, str) and recorded else None)
    net = gan_generator(config)
    net.load_state_dict(copy_weights(module_tensors(g, f"{path.name}: G_ema"), net, f"{path.name}: G_ema"))
    n = config.model.n_classes if config.model.conditional else 0
    names, names_source = find_class_names(path.parent, n, class_names) if n else ([], "unconditional")
    augment = data.get("augment_pipe")
    card = {
        "recipe": "stylegan2-ada pickle", "description": config.description, "source": str(path.resolve()),
        "source_sha256": file_sha256(path), "class_names_source": names_source,
        "weights": "G_ema of a stylegan2-ada-pytorch network pickle, read without running its code "
                   f"(embedded source of {g.class_name}: sha256 {g.source_sha256[:16]}..., not executed)",
        "networks_in_pickle": sorted(k for k, v in data.items() if isinstance(v, PersistentRecord)),
    }
    if isinstance(augment, PersistentRecord) and isinstance(augment.state.get("_buffers", {}).get("p"), torch.Tensor):
        card["ada_p"] = round(float(augment.state["_buffers"]["p"]), 6)
    return Generator(net, names, "ganforge", config=config, card=card)


def convert_stylegan2_ada(path: Path | str, out: Path | str, class_names: Path | str | None = None,
                          overrides: list[str] | None = None) -> dict[str, Any]:
    if not Path(path).is_file():
        raise GanforgeError(f"'{path}' is not a file (a stylegan2-ada-pytorch network pickle, .pkl)")
    g = stylegan2_ada_generator(path, class_names, overrides)
    folder = save_generator_folder(g, Path(out))
    return {"path": str(folder), "params": parameter_count(g), "resolution": g.resolution,
            "class_names": g.card["class_names_source"], "kind": "export"}
