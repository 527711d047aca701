"""Configs written by ganforge 0.1 (run directories' `config.yaml`, exports' `config.json` and
`.safetensors` metadata) hold the union of every architecture's, method's and translation mode's
settings. Reading one drops the union keys that the chosen component does not have.

Nothing a run used is lost: in 0.1 a component read only its own keys (the others sat at their
defaults, or at values no code of that component looked at), and every key the component has is
kept with its value. A section is migrated only when it holds *every* 0.1 union key, which only a
0.1 dump does; a hand-written recipe never does, so its stray keys remain errors.
"""

from __future__ import annotations

from typing import Any

from ganforge.config.registry import COMPONENTS, field_names
from ganforge.config.sections import MethodConfig, ModelConfig, TranslationConfig

# the flat sections of ganforge 0.1.0, key for key
LEGACY_UNION: dict[str, tuple[type, tuple[str, ...]]] = {
    "model": (ModelConfig, (
        "arch", "resolution", "img_channels", "n_classes", "ch", "g_channels", "d_channels",
        "d_downsample", "g_attention", "d_attention", "dim_z", "shared_dim", "hierarchical_z",
        "sn_eps", "bn_eps", "init", "conditional", "g_spectral_norm", "g_norm", "d_norm",
        "d_spectral_norm", "hidden", "d_hidden", "maxout_pieces", "dropout", "d_heads",
        "codes_cat", "codes_cont", "levels",
    )),
    "method": (MethodConfig, (
        "name", "gp", "clip", "separate_d_calls", "aux_weight", "labelled", "labelled_fraction",
        "holdout", "info_weight", "began_gamma", "began_lambda_k",
    )),
    "translation": (TranslationConfig, (
        "mode", "direction", "generator", "discriminator", "n_layers_d", "ngf", "ndf", "norm",
        "dropout", "init_gain", "channels_a", "channels_b", "load_size", "crop_size", "lambda_l1",
        "lambda_cycle", "lambda_identity", "pool_size", "epochs", "epochs_decay",
        "steps_per_epoch", "inference", "eval_every", "eval_n", "features",
    )),
}


def is_legacy_section(section: str, data: Any) -> bool:
    """Whether `data` is a whole 0.1 dump of `section` (every union key present)."""
    if section not in LEGACY_UNION or not isinstance(data, dict):
        return False
    return set(LEGACY_UNION[section][1]) <= set(data)


def migrate_legacy(data: dict[str, Any]) -> dict[str, Any]:
    """A copy of a config dict with 0.1's union sections cut to their component's keys; other
    dicts come back unchanged. An unknown component is left for the reader to report."""
    if not isinstance(data, dict):
        return data
    out = dict(data)
    for section, (base, union) in LEGACY_UNION.items():
        values = data.get(section)
        if not is_legacy_section(section, values):
            continue
        cls = COMPONENTS.get(section, {}).get(values.get(base.key))
        if cls is None:
            continue
        keep = set(field_names(cls))
        out[section] = {k: v for k, v in values.items() if k in keep or k not in union}
    return out


def dropped_keys(data: dict[str, Any]) -> dict[str, list[str]]:
    """Per section, the 0.1 keys that `migrate_legacy` drops (for tests and `check-config`)."""
    migrated = migrate_legacy(data)
    return {s: [k for k in data[s] if k not in migrated[s]] for s in LEGACY_UNION
            if isinstance(data.get(s), dict) and migrated.get(s) is not data[s]}
