"""`ganforge convert biggan-pytorch DIR`: a BigGAN-PyTorch weights folder as a ganforge export
or, with `--run`, as a run directory that `ganforge train --resume` continues.

The folder is what BigGAN-PyTorch's `utils.save_weights` writes (G.pth, G_ema.pth, D.pth,
G_optim.pth, D_optim.pth, state_dict.pth), read with `torch.load(weights_only=True)`. The
architecture is read off the weights; what the weights do not hold (eps values, training
settings) comes from flags, else state_dict.pth's config, else a launch script's preset, else
the ganforge recipe of that resolution (whose values are BGP's launch scripts').
"""

from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ganforge.config import Config, apply_overrides, load_recipe, save_config
from ganforge.data.cifar import DEFAULT_NAMES as CIFAR10_NAMES
from ganforge.errors import GanforgeError
from ganforge.generator import Generator
from ganforge.generators.bgp_keys import convert_state, infer_settings, parameter_names, source_of
from ganforge.generators.convert import find_class_names
from ganforge.generators.export import parameter_count, save_generator_folder
from ganforge.generators.networks import for_loading, gan_generator
from ganforge.models import build_models
from ganforge.training import launch

RECIPES = {32: "biggan-32", 64: "biggan-64", 128: "biggan-128", 256: "biggan-256", 512: "biggan-512"}
# BGP's launch scripts as BGP settings; each is its ganforge recipe plus these differences.
PRESETS: dict[str, tuple[str, dict[str, Any]]] = {
    "cifar_ema": ("biggan-32", {}),
    "BigGAN_bs256x8": ("biggan-128", {}),
    "BigGAN_bs512x4": ("biggan-128", {"batch_size": 512, "num_G_accumulations": 4}),
    "BigGAN_ch64_bs256x8": ("biggan-128", {"G_ch": 64, "D_ch": 64}),
}
# settings the weights decide, and the file key that decides each (for error messages)
ARCHITECTURE = {"resolution": "blocks.N.0.* of G.pth", "G_ch": "the last G block's conv2.weight",
                "D_ch": "D.pth's blocks.0.0.conv2.weight", "n_classes": "shared.weight / bn gain",
                "shared_dim": "shared.weight", "hier": "blocks.0.0.bn1.gain.weight",
                "dim_z": "linear.weight", "G_attn": "G.pth's blocks.N.1.*", "D_attn": "D.pth's blocks.N.1.*"}
FLAGS = {"resolution": "--resolution", "G_ch": "--ch", "D_ch": "--ch", "G_attn": "--attention",
         "D_attn": "--attention"}


def is_biggan_pytorch_folder(path: Path | str) -> bool:
    """A folder with BigGAN-PyTorch's G_ema.pth or G.pth (and no ganforge config.yaml)."""
    path = Path(path)
    return path.is_dir() and any((path / f"{n}.pth").is_file() for n in ("G_ema", "G"))


def _torch_load(path: Path) -> Any:
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any unpickling failure: an unusable file
        if path.name.startswith("state_dict"):  # BGP pickles its activation modules in the config
            try:
                with torch.serialization.safe_globals([nn.ReLU]):
                    return torch.load(path, map_location="cpu", weights_only=True)
            except Exception:  # noqa: BLE001
                pass
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise GanforgeError(f"'{path}' could not be read safely ({first}); move it aside to "
                            "convert without it") from None


def read_folder(directory: Path, need_training: bool) -> dict[str, Any]:
    """The folder's files that exist: G, G_ema, D, G_optim, D_optim, state (dicts); without
    `need_training` only G_ema (or G) and state."""
    if not directory.is_dir():
        raise GanforgeError(f"'{directory}' is not a folder (expected BigGAN-PyTorch's G.pth, "
                            "G_ema.pth, D.pth, ...)")
    files = {name: directory / f"{name}.pth" for name in ("G", "G_ema", "D", "G_optim", "D_optim")}
    files["state"] = directory / "state_dict.pth"
    if not need_training:  # an export needs G_ema (else G): skip the optimizers' gigabytes
        keep = ("G_ema" if files["G_ema"].is_file() else "G", "state")
        files = {name: path for name, path in files.items() if name in keep}
    found = {name: _torch_load(path) for name, path in files.items() if path.is_file()}
    if "G" not in found and "G_ema" not in found:
        raise GanforgeError(f"'{directory}' has neither G.pth nor G_ema.pth: not a BigGAN-PyTorch "
                            "weights folder")
    if need_training:
        missing = [f"{n}.pth" for n in ("G", "D", "G_optim", "D_optim") if n not in found]
        if missing:
            raise GanforgeError(f"'{directory}' lacks {', '.join(missing)}: --run needs G, D and both "
                                "optimizers (without --run, G_ema alone makes an export)")
    for name in ("G", "G_ema", "D"):
        if name in found and not isinstance(found[name], dict):
            raise GanforgeError(f"'{files[name]}' is not a state dict")
    return found


def preset(name: str) -> tuple[str, dict[str, Any]]:
    key = name.removeprefix("launch_").removesuffix(".sh")
    if key not in PRESETS:
        raise GanforgeError(f"unknown --preset '{name}'; available: {', '.join(PRESETS)}")
    return PRESETS[key]


def resolve_settings(
    found: dict[str, Any], flags: dict[str, Any], preset_name: str | None
) -> tuple[str, dict[str, Any]]:
    """(ganforge recipe, BGP-named settings): the weights' facts, checked against what was asked."""
    g = found.get("G_ema", found.get("G"))
    facts = infer_settings(g, found.get("D"))
    recipe, asked = (preset(preset_name) if preset_name else (None, {}))
    saved = found.get("state", {}).get("config", {}) if isinstance(found.get("state"), dict) else {}
    requested = {**asked, **{k: v for k, v in flags.items() if v is not None}}
    for key, value in requested.items():
        if key in facts and key in ARCHITECTURE and _normal(key, value) != _normal(key, facts[key]):
            flag = FLAGS.get(key, key) if flags.get(key) is not None else f"--preset {preset_name}: {key}"
            raise GanforgeError(f"{flag}={value} does not fit the weights: {ARCHITECTURE[key]} says "
                                f"{facts[key]}")
    recipe = recipe or RECIPES[facts["resolution"]]
    if recipe != RECIPES[facts["resolution"]]:
        raise GanforgeError(f"--preset {preset_name} is a {load_recipe(recipe).model.resolution} px "
                            f"setting; the weights are a {facts['resolution']} px model")
    settings = {**{k: v for k, v in saved.items() if k not in ARCHITECTURE}, **asked, **requested, **facts}
    return recipe, settings


def _normal(key: str, value: Any) -> Any:
    if key in ("G_attn", "D_attn"):  # BGP writes "64", "32_64" or "0"
        items = value if isinstance(value, list) else str(value).replace(",", "_").split("_")
        return sorted(int(v) for v in items if int(v) > 0)
    return value


def build_config(recipe: str, s: dict[str, Any], found: dict[str, Any], data: str | None,
                 overrides: list[str]) -> Config:
    """The ganforge config of these BGP settings (training values from the optimizers' own)."""
    base = load_recipe(recipe)
    m, t = base.model, base.train
    ch = math.gcd(s["G_ch"], s.get("D_ch", s["G_ch"]))
    g_scale, d_scale = s["G_ch"] // ch, s.get("D_ch", s["G_ch"]) // ch
    model = replace(
        m, ch=ch, n_classes=s["n_classes"],
        g_channels=[c * g_scale for c in m.g_channels],
        d_channels=[c * d_scale for c in m.d_channels],
        g_attention=_normal("G_attn", s["G_attn"]),
        d_attention=_normal("D_attn", s.get("D_attn", m.d_attention)),
        dim_z=s["dim_z"], shared_dim=s["shared_dim"], hierarchical_z=s["hier"],
        sn_eps=float(s.get("SN_eps", m.sn_eps)), bn_eps=float(s.get("BN_eps", m.bn_eps)),
        g_spectral_norm=s["G_SN"],
    )
    train = replace(
        t, lr_g=float(s.get("G_lr", t.lr_g)), lr_d=float(s.get("D_lr", t.lr_d)),
        betas_g=[float(s.get("G_B1", t.betas_g[0])), float(s.get("G_B2", t.betas_g[1]))],
        betas_d=[float(s.get("D_B1", t.betas_d[0])), float(s.get("D_B2", t.betas_d[1]))],
        adam_eps=float(s.get("adam_eps", t.adam_eps)), d_steps=int(s.get("num_D_steps", t.d_steps)),
        batch_size=int(s.get("batch_size", t.batch_size)),
        accumulate=int(s.get("num_G_accumulations", t.accumulate)),
        ema_decay=float(s.get("ema_decay", t.ema_decay)), ema_start=int(s.get("ema_start", t.ema_start)),
        ortho_reg=float(s.get("G_ortho", t.ortho_reg)),
    )
    for net, key in (("g", "G_optim"), ("d", "D_optim")):  # the optimizer's values are facts
        groups = found.get(key, {}).get("param_groups") if isinstance(found.get(key), dict) else None
        if groups:
            group = groups[0]
            train = replace(train, **{f"lr_{net}": float(group["lr"]),
                                      f"betas_{net}": [float(b) for b in group["betas"]]})
            train = replace(train, adam_eps=float(group.get("eps", train.adam_eps)))
    config = replace(base, model=model, train=train,
                     description=f"{base.description}; converted from BigGAN-PyTorch weights")
    if data is not None:
        config = replace(config, data=replace(config.data, source=data))
    config = apply_overrides(config, list(overrides))
    config.model.check(config)
    return config


def class_names(directory: Path, settings: dict[str, Any], given: Path | str | None) -> tuple[list[str], str]:
    if not given and settings["n_classes"] == 10 and settings.get("dataset") == "C10":
        return list(CIFAR10_NAMES), "CIFAR-10 (the checkpoint's dataset C10)"
    return find_class_names(directory, settings["n_classes"], given)


def _convert_nets(found: dict[str, Any], config: Config, with_d: bool) -> dict[str, dict[str, torch.Tensor]]:
    """ganforge state dicts of G_ema (G's when there is no G_ema.pth), and G and D if asked."""
    torch.manual_seed(0)  # the fresh networks only give shapes; every value is replaced
    if with_d:
        g_net, d_net = build_models(for_loading(config).model)
    else:
        g_net, d_net = gan_generator(config), None
    eps = config.model.sn_eps
    out = {"G_ema": convert_state(found.get("G_ema", found.get("G")), g_net, eps,
                                  "G_ema.pth" if "G_ema" in found else "G.pth")}
    if d_net is not None:
        out["G"] = convert_state(found["G"], g_net, eps, "G.pth")
        out["D"] = convert_state(found["D"], d_net, eps, "D.pth")
    return out


def convert_optimizer(reference: dict[str, Any], ref_state: dict[str, Any], model: nn.Module,
                      template: dict[str, Any], file: str) -> dict[str, Any]:
    """BGP's Adam state (numbered in its parameter order) renumbered for ganforge's model."""
    names = parameter_names(ref_state)
    groups = reference.get("param_groups") or [{}]
    if len(groups[0].get("params", [])) != len(names):
        raise GanforgeError(f"{file}: {len(groups[0].get('params', []))} parameters, but its network "
                            f"has {len(names)}; is it the optimizer of these weights?")
    index = dict(zip(names, groups[0]["params"], strict=True))
    state = {}
    for position, (name, param) in enumerate(model.named_parameters()):
        _, ref_key = source_of(name)
        entry = reference.get("state", {}).get(index.get(ref_key, -1))
        if entry is None:
            continue  # never stepped (BGP creates Adam state lazily too)
        state[position] = {k: (torch.as_tensor(v, dtype=torch.float32) if k == "step" else
                               v.reshape(param.shape).clone()) for k, v in entry.items()}
    return {"state": state, "param_groups": template["param_groups"]}


def biggan_pytorch_generator(
    directory: Path | str, flags: dict[str, Any] | None = None, preset_name: str | None = None,
    class_names_file: Path | str | None = None, overrides: list[str] | None = None,
) -> Generator:
    """The folder's EMA generator (G when it has no G_ema.pth) as a ganforge generator."""
    directory = Path(directory)
    found = read_folder(directory, need_training=False)
    recipe, settings = resolve_settings(found, flags or {}, preset_name)
    config = build_config(recipe, settings, found, None, overrides or [])
    generator = gan_generator(config)
    generator.load_state_dict(_convert_nets(found, config, with_d=False)["G_ema"])
    names, names_source = class_names(directory, settings, class_names_file)
    state = found.get("state", {})
    card = {
        "recipe": recipe, "description": config.description, "source": str(directory.resolve()),
        "class_names_source": names_source,
        "weights": "BigGAN-PyTorch G_ema" if "G_ema" in found else "BigGAN-PyTorch G (no G_ema.pth)",
        "steps": int(state.get("itr", 0)) if isinstance(state, dict) else 0,
        "data": str(settings.get("dataset", "?")),
    }
    return Generator(generator, names, "ganforge", config=config, card=card)


def convert_biggan_pytorch(
    directory: Path | str, out: Path | str, flags: dict[str, Any] | None = None,
    preset_name: str | None = None, class_names_file: Path | str | None = None,
    overrides: list[str] | None = None, run: bool = False, data: str | None = None,
) -> dict[str, Any]:
    """Write an export folder (default) or, with `run`, a resumable run directory."""
    if run:
        return write_run(directory, out, flags, preset_name, overrides, data)
    if data is not None:
        raise GanforgeError("--data is for --run (the data a converted run continues on)")
    g = biggan_pytorch_generator(directory, flags, preset_name, class_names_file, overrides)
    folder = save_generator_folder(g, Path(out))
    return {"path": str(folder), "params": parameter_count(g), "resolution": g.resolution,
            "class_names": g.card["class_names_source"], "kind": "export"}


def write_run(
    directory: Path | str, out: Path | str, flags: dict[str, Any] | None, preset_name: str | None,
    overrides: list[str] | None, data: str | None,
) -> dict[str, Any]:
    """A run directory whose first checkpoint holds the converted G, D, G_ema, both Adam states
    and BGP's iteration as the step; the loop that wrote it is the one `--resume` rebuilds."""
    directory, out = Path(directory), Path(out)
    found = read_folder(directory, need_training=True)
    recipe, settings = resolve_settings(found, flags or {}, preset_name)
    config = build_config(recipe, settings, found, data, overrides or [])
    nets = _convert_nets(found, config, with_d=True)
    loop, dataset = launch.loop_for_converted(config, out, "converted model")
    task = loop.task
    task.G.load_state_dict(nets["G"])
    task.D.load_state_dict(nets["D"])
    task.G_ema.load_state_dict(nets["G_ema"])
    for opt, key, net in ((task.opt_g, "G_optim", task.G), (task.opt_d, "D_optim", task.D)):
        ref_net = found["G" if key == "G_optim" else "D"]
        opt.load_state_dict(convert_optimizer(found[key], ref_net, net, opt.state_dict(), f"{key}.pth"))
    state = found.get("state") if isinstance(found.get("state"), dict) else {}
    loop.step = int(state.get("itr", 0))
    task.g_steps = loop.step
    run = launch.prepare_run_dir(out, overwrite=False)
    save_config(config, run.config)
    run.write_classes(list(dataset.class_names), dataset.source)  # the labels it trains on
    path = loop.save()
    return {"path": str(out), "checkpoint": str(path), "step": loop.step, "recipe": recipe,
            "resolution": config.model.resolution, "kind": "run",
            "params": parameter_count(Generator(task.G_ema, list(dataset.class_names), config=config)),
            "class_names": f"the classes of {dataset.source}"}
