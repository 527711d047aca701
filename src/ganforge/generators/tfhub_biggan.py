"""`ganforge convert tfhub-biggan MODULE_DIR`: DeepMind's TF-Hub BigGAN (biggan-128/256/512,
TF1 hub format, unpacked) as a ganforge export, read without TensorFlow.

The module's variables (MODULE_DIR/variables/variables.{index,data-*}) hold each weight twice,
as trained (`.../w`) and as its exponential moving average (`.../w/ema_b999900`, used by
default, as the module's own graph does), spectral-norm vectors `u0` (left, used) and `u1`
(right), and BN accumulators. Names, layouts and the TF->PyTorch reorderings follow
BigGAN-PyTorch's TFHub/converter.py: TF kernels are (kh, kw, in, out); the first linear layer
outputs (h, w, c); the conditional BNs read [z chunk, class embedding] where ganforge (and
BigGAN-PyTorch) concatenate [class embedding, z chunk]. Every variable is accounted for: used,
or one of the known unused kinds; anything else stops the conversion, naming it.

Truncation: the module is sampled with z = t * TN(-2, 2) ("tfhub" convention) and recomputes
its BN accumulators whenever the truncation changes (its changelog: "batch statistics for previous
truncation value"); the checkpoint holds the set for t = 1 (what BigGAN-PyTorch's converter loads).
The export therefore samples with `--bn per-truncation` by default: the stored statistics at t = 1,
standing statistics computed at t (16 passes of 64, seeded) and kept for it otherwise. The number
of samples the module accumulates is not in the checkpoint; 16 x 64 is BigGAN-PyTorch's default.
"""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch

from ganforge.config import Config, apply_overrides, load_recipe
from ganforge.errors import GanforgeError
from ganforge.generator import Generator
from ganforge.generators.convert import find_class_names
from ganforge.generators.export import parameter_count, save_generator_folder
from ganforge.generators.networks import gan_generator
from ganforge.generators.tf_bundle import TensorBundle
from ganforge.nn.spectral import spectral_keys, vectors_after_one_iteration

EMA = "ema_b999900"
BLOCKS = {128: 5, 256: 6, 512: 7}
EMBED = 128  # the shared class embedding's width in every TF-Hub BigGAN
CONVENTION = "tfhub"
BN_MODE = "per-truncation:16x64"  # the default BN mode of the export (see the docstring)
SETTINGS = {"ch": 96, "n_classes": 1000, "shared_dim": EMBED, "hierarchical_z": True,
            "bn_eps": 1e-4, "sn_eps": 1e-4}  # + dim_z and attention from the biggan-R recipe


def module_prefix(path: Path | str) -> Path:
    """MODULE_DIR, MODULE_DIR/variables or the prefix itself -> .../variables/variables."""
    path = Path(path)
    for prefix in (path / "variables" / "variables", path / "variables", path):
        if Path(f"{prefix}.index").is_file():
            return prefix
    raise GanforgeError(f"'{path}' has no variables/variables.index: unpack the TF-Hub module "
                        "(the .tar.gz from tfhub.dev) and give its folder")


def is_tfhub_module(path: Path | str) -> bool:
    path = Path(path)
    return path.is_dir() and (path / "variables" / "variables.index").is_file()


def resolution_of(names: list[str]) -> int:
    blocks = {0 if m[1] is None else int(m[1]) for n in names
              if (m := re.match(r"Generator/GBlock(?:_(\d+))?/", n))}
    for res, count in BLOCKS.items():
        if blocks == set(range(count)):
            return res
    raise GanforgeError(f"the module has {len(blocks)} generator blocks (Generator/GBlock_N); TF-Hub "
                        "BigGAN has 5 (128 px), 6 (256) or 7 (512): is this a BigGAN module?")


def width_of(bundle: TensorBundle) -> int:
    """ch, from the output conv's kernel (kh, kw, ch, 3): 96 in the published modules."""
    for name in ("Generator/conv_2d/w", f"Generator/conv_2d/w/{EMA}"):
        if name in bundle.entries and len(bundle.entries[name].shape) == 4:
            return int(bundle.entries[name].shape[2])
    raise GanforgeError(f"'{bundle.index_path}' has no variable 'Generator/conv_2d/w' (the output "
                        "conv): not a TF-Hub BigGAN module")


def tfhub_config(resolution: int, ch: int = 96, overrides: list[str] | None = None) -> Config:
    """The ganforge config of the TF-Hub module of `resolution` (published modules: ch 96)."""
    base = load_recipe(f"biggan-{resolution}")
    model = replace(base.model, **{**SETTINGS, "ch": ch})
    config = replace(base, model=model, description=(
        f"BigGAN {resolution}px (Brock et al. 2019), DeepMind's TF-Hub module biggan-{resolution}, "
        "converted by ganforge"))
    config = apply_overrides(config, list(overrides or []))
    config.model.check(config)
    return config


def _block_scope(i: int) -> str:
    return "Generator/GBlock" + (f"_{i}" if i else "")


def layer_map(config: Config) -> list[tuple[str, str, str]]:
    """(ganforge module, TF scope, kind) of every layer; kind: conv | linear0 | cbn | bn | embed | gamma."""
    m = config.model
    n_blocks = len(m.g_channels) - 1
    layers = [("shared", "linear", "embed"), ("linear", "Generator/G_Z/G_linear", "linear0")]
    for i in range(n_blocks):
        scope = _block_scope(i)
        layers += [(f"blocks.{i}.conv1", f"{scope}/conv0", "conv"),
                   (f"blocks.{i}.conv2", f"{scope}/conv1", "conv"),
                   (f"blocks.{i}.conv_sc", f"{scope}/conv_sc", "conv"),
                   (f"blocks.{i}.bn1", f"{scope}/HyperBN", "cbn"),
                   (f"blocks.{i}.bn2", f"{scope}/HyperBN_1", "cbn")]
        if 4 * 2 ** (i + 1) in m.g_attention:
            for ours, theirs in (("theta", "theta"), ("phi", "phi"), ("g", "g"), ("o", "o_conv")):
                layers.append((f"attention.{i}.{ours}", f"Generator/attention/{theirs}", "conv"))
            layers.append((f"attention.{i}", "Generator/attention", "gamma"))
    layers += [("out_bn", "Generator/ScaledCrossReplicaBN", "bn"), ("out_conv", "Generator/conv_2d", "conv")]
    return layers


def variable_names(config: Config) -> dict[str, str]:
    """Every variable the module holds -> its role: "used" (with EMA weights), "raw" (the
    non-averaged weights), "u1" (the right singular vector) or "counter" (BN accumulation count)."""
    roles: dict[str, str] = {}

    def weight(name: str) -> None:
        roles[f"{name}/{EMA}"], roles[name] = "used", "raw"

    for _, scope, kind in layer_map(config):
        if kind in ("conv", "linear0"):
            weight(f"{scope}/w")
            if not scope.startswith("Generator/attention/"):
                weight(f"{scope}/b")
            roles[f"{scope}/u0"], roles[f"{scope}/u1"] = "used", "u1"
        elif kind == "embed":
            weight(f"{scope}/w")
        elif kind == "gamma":
            weight(f"{scope}/gamma")
        elif kind == "cbn":
            for part in ("gamma", "beta"):
                weight(f"{scope}/{part}/w")
                roles[f"{scope}/{part}/u0"], roles[f"{scope}/{part}/u1"] = "used", "u1"
            _stats(roles, scope.replace("HyperBN", "CrossReplicaBN"))
        elif kind == "bn":
            weight(f"{scope}/gamma")
            weight(f"{scope}/beta")
            _stats(roles, f"{scope}bn")
    return roles


def _stats(roles: dict[str, str], scope: str) -> None:
    roles[f"{scope}/accumulated_mean"] = roles[f"{scope}/accumulated_var"] = "used"
    roles[f"{scope}/accumulation_counter"] = "counter"


class _Reader:
    """Reads module variables by name, EMA or raw, tracking which were read."""

    def __init__(self, bundle: TensorBundle, ema: bool) -> None:
        self.bundle, self.ema = bundle, ema

    def weight(self, name: str) -> torch.Tensor:
        return self.get(f"{name}/{EMA}" if self.ema else name)

    def get(self, name: str) -> torch.Tensor:
        if name not in self.bundle.entries:
            hint = "; convert the trained weights with --raw" if name.endswith(EMA) else ""
            raise GanforgeError(f"'{self.bundle.index_path}': variable '{name}' is missing{hint}")
        return self.bundle.read(name).float()


def _fit(value: torch.Tensor, target: torch.Tensor, name: str, key: str) -> torch.Tensor:
    """A vector-like TF value (any layout of the right length) or an exact-shape tensor."""
    if value.shape != target.shape and value.numel() == target.numel() and target.dim() <= 1:
        value = value.reshape(target.shape)
    if value.shape != target.shape:
        raise GanforgeError(f"variable '{name}' has shape {tuple(value.shape)} where ganforge's {key} "
                            f"needs {tuple(target.shape)} (after TF->PyTorch reordering)")
    return value


def convert_variables(bundle: TensorBundle, config: Config, ema: bool = True) -> dict[str, torch.Tensor]:
    """The ganforge generator state dict of a TF-Hub BigGAN module's variables."""
    roles = variable_names(config)
    unknown = sorted(set(bundle.names()) - set(roles))
    if unknown:
        raise GanforgeError(f"'{bundle.index_path}': unexpected variable '{unknown[0]}' ({len(unknown)} "
                            "unknown); not a TF-Hub BigGAN module of this resolution?")
    torch.manual_seed(0)
    expected = gan_generator(config).state_dict()
    r = _Reader(bundle, ema)
    chunk = config.model.dim_z // len(config.model.g_channels)
    c0 = config.model.g_channels[0] * config.model.ch
    eps = config.model.sn_eps
    out: dict[str, torch.Tensor] = {}

    def put(key: str, value: torch.Tensor, name: str) -> None:
        out[key] = _fit(value, expected[key], name, key).contiguous()

    def sn_layer(prefix: str, scope: str, weight: torch.Tensor, u: torch.Tensor) -> None:
        original, u_key, v_key = spectral_keys(prefix)
        put(original, weight, f"{scope}/w")
        u = _fit(u.reshape(-1), expected[u_key], f"{scope}/u0", u_key)
        u_next, v = vectors_after_one_iteration(out[original], u, eps)
        put(u_key, u_next, f"{scope}/u0")
        put(v_key, v, f"{scope}/u0")

    for prefix, scope, kind in layer_map(config):
        if kind == "embed":  # (classes, 128) in TF too: a bias-free linear of a one-hot
            put(f"{prefix}.weight", r.weight(f"{scope}/w"), f"{scope}/w")
        elif kind == "linear0":  # outputs (h, w, c) in TF; (c, h, w) here
            w = r.weight(f"{scope}/w").t().reshape(4, 4, c0, -1).permute(2, 0, 1, 3).reshape(16 * c0, -1)
            order = lambda t: t.reshape(4, 4, c0).permute(2, 0, 1).reshape(-1)  # noqa: E731
            sn_layer(prefix, scope, w, order(r.get(f"{scope}/u0")))
            put(f"{prefix}.bias", order(r.weight(f"{scope}/b")), f"{scope}/b")
        elif kind == "conv":
            w = r.weight(f"{scope}/w")
            if w.dim() != 4:
                raise GanforgeError(f"variable '{scope}/w' has shape {tuple(w.shape)}, not a conv kernel")
            sn_layer(prefix, scope, w.permute(3, 2, 0, 1), r.get(f"{scope}/u0"))
            if not scope.startswith("Generator/attention/"):
                put(f"{prefix}.bias", r.weight(f"{scope}/b"), f"{scope}/b")
        elif kind == "gamma":
            put(f"{prefix}.gamma", r.weight(f"{scope}/gamma"), f"{scope}/gamma")
        elif kind == "cbn":
            for ours, theirs in (("gain", "gamma"), ("bias", "beta")):
                w = r.weight(f"{scope}/{theirs}/w").t()  # (C, [z chunk, embedding])
                if w.shape[1] != chunk + EMBED:
                    raise GanforgeError(f"variable '{scope}/{theirs}/w' reads {w.shape[1]} inputs, not "
                                        f"z chunk {chunk} + class embedding {EMBED}")
                w = torch.cat([w[:, chunk:], w[:, :chunk]], dim=1)
                sn_layer(f"{prefix}.{ours}", f"{scope}/{theirs}", w, r.get(f"{scope}/{theirs}/u0"))
            stats = scope.replace("HyperBN", "CrossReplicaBN")
            _bn_stats(put, r, f"{prefix}.bn", stats)
        elif kind == "bn":
            put(f"{prefix}.weight", r.weight(f"{scope}/gamma"), f"{scope}/gamma")
            put(f"{prefix}.bias", r.weight(f"{scope}/beta"), f"{scope}/beta")
            _bn_stats(put, r, prefix, f"{scope}bn")
    for key, target in expected.items():
        if key.endswith("num_batches_tracked"):
            out[key] = torch.zeros_like(target)
    missing = sorted(set(expected) - set(out))
    if missing:  # a mapping gap is ganforge's bug, not the user's: say so plainly
        raise RuntimeError(f"TF-Hub mapping left ganforge keys unset: {missing[:3]}")
    return out


def _bn_stats(put: Any, r: _Reader, prefix: str, scope: str) -> None:
    put(f"{prefix}.running_mean", r.get(f"{scope}/accumulated_mean"), f"{scope}/accumulated_mean")
    put(f"{prefix}.running_var", r.get(f"{scope}/accumulated_var"), f"{scope}/accumulated_var")


def tfhub_generator(
    module_dir: Path | str, class_names: Path | str | None = None, ema: bool = True,
    overrides: list[str] | None = None,
) -> Generator:
    """The module's generator as a ganforge generator (eval mode)."""
    prefix = module_prefix(module_dir)
    bundle = TensorBundle(prefix)
    resolution = resolution_of(bundle.names())
    config = tfhub_config(resolution, width_of(bundle), overrides)
    generator = gan_generator(config)
    generator.load_state_dict(convert_variables(bundle, config, ema))
    counters = sorted({float(bundle.read(n).float().reshape(-1)[0]) for n in bundle.names()
                       if n.endswith("/accumulation_counter")})
    folder = Path(module_dir)
    names, names_source = find_class_names(folder if folder.is_dir() else prefix.parent,
                                           config.model.n_classes, class_names)
    card = {
        "recipe": f"biggan-{resolution}", "description": config.description,
        "source": str(folder.resolve()), "class_names_source": names_source,
        "weights": f"TF-Hub module, {'EMA (' + EMA + ')' if ema else 'trained (not averaged)'} weights",
        "truncation_convention": CONVENTION,
        "bn": BN_MODE,
        "bn_statistics": "the module's stored accumulators at truncation 1.0 (as BigGAN-PyTorch's "
                         "converter); at any other truncation, standing statistics computed at it "
                         f"({BN_MODE}, seeded) and kept, as the module recomputes its accumulators "
                         "per truncation. The module's own sample count is not in the checkpoint.",
        "bn_accumulation_counters": counters,
        "data": "ImageNet (ILSVRC 2012), 1000 classes",
    }
    return Generator(generator, names, "ganforge", config=config, card=card)


def convert_tfhub_biggan(
    module_dir: Path | str, out: Path | str, class_names: Path | str | None = None,
    ema: bool = True, overrides: list[str] | None = None,
) -> dict[str, Any]:
    g = tfhub_generator(module_dir, class_names, ema, overrides)
    folder = save_generator_folder(g, Path(out))
    return {"path": str(folder), "params": parameter_count(g), "resolution": g.resolution,
            "class_names": g.card["class_names_source"], "kind": "export"}
