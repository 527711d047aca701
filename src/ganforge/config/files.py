"""Recipes (YAML shipped in the package or given by path), dotted overrides and config files."""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from ganforge.config.coerce import build, type_hints, unknown_key_error
from ganforge.config.migrate import migrate_legacy
from ganforge.config.registry import component, discriminator_default, field_names, is_dispatched
from ganforge.config.sections import Config
from ganforge.errors import GanforgeError

RECIPE_DIR = "recipes"


def _text_of(path: Path, what: str) -> str:
    """A YAML file's text; a binary file (an image given as a recipe) is one line, not a decode error."""
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise GanforgeError(f"{what} is not a text (YAML) file; give a recipe name or a .yaml path") from None


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
        data = _read_yaml_text(_text_of(path, f"recipe file '{path}'"), f"recipe file '{path}'")
        data.setdefault("name", path.stem)
    else:
        data = _read_yaml_text(_recipe_path_text(name_or_path), f"recipe '{name_or_path}'")
        data.setdefault("name", name_or_path)
    return config_from_dict(data)


def config_from_dict(data: dict[str, Any]) -> Config:
    """Build a Config from nested dicts, checking every key, type, choice and range.

    A whole section dumped by ganforge 0.1 (the union of every component's keys) is first cut
    to the chosen component's keys (`migrate.py`); anything else is read strictly."""
    return build(Config, migrate_legacy(data), "")


def _parse_override(item: str) -> tuple[str, list[str], Any]:
    if "=" not in item:
        raise GanforgeError(
            f"override '{item}' is not of the form key=value (e.g. train.lr_g=1e-4)"
        )
    dotted, raw = item.split("=", 1)
    dotted = dotted.strip()
    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError:
        value = raw
    return dotted, dotted.split("."), value


def _dispatched_sections() -> dict[str, type]:
    return {name: hint for name, hint in type_hints(Config).items() if is_dispatched(hint)}


def apply_overrides(config: Config, overrides: list[str]) -> Config:
    """Apply `section.key=value` strings (values parsed as YAML) and re-validate.

    Choosing another component (`model.arch=dcgan` on a BigGAN recipe) drops the settings of
    the recipe's component that the new one lacks; the settings both have keep their values."""
    data = config.to_dict()
    parsed = [_parse_override(item) for item in overrides]
    dispatched = _dispatched_sections()
    chosen = {s: getattr(config, s).__class__ for s in dispatched}
    for _, parts, value in parsed:  # the final choice of each component decides valid keys
        if len(parts) == 2 and parts[0] in dispatched and parts[1] == dispatched[parts[0]].key:
            chosen[parts[0]] = component(dispatched[parts[0]], value, parts[0] + ".")
    for dotted, parts, value in parsed:
        node: Any = data
        for depth, part in enumerate(parts[:-1]):
            if not isinstance(node, dict) or part not in node or not isinstance(node[part], dict):
                valid = ", ".join(k for k, v in node.items() if isinstance(v, dict))
                where = ".".join(parts[: depth + 1])
                raise GanforgeError(f"unknown config section '{where}'; valid sections: {valid}")
            node = node[part]
        leaf, section = parts[-1], ".".join(parts[:-1])
        if section in chosen:
            cls = chosen[section]
            if leaf not in field_names(cls):
                picked = f"{section}.{cls.key}={discriminator_default(cls)}"
                raise unknown_key_error(dotted, field_names(cls), section, picked)
        elif leaf not in node:
            raise unknown_key_error(dotted, list(node), section)
        node[leaf] = value
    for section, cls in chosen.items():
        keep = set(field_names(cls))
        data[section] = {k: v for k, v in data[section].items() if k in keep}
    return config_from_dict(data)


def save_config(config: Config, path: Path) -> None:
    path.write_text(yaml.safe_dump(config.to_dict(), sort_keys=False), encoding="utf-8")


def load_config_file(path: Path) -> Config:
    """A run directory's config.yaml; one written by ganforge 0.1 is migrated (`migrate.py`)."""
    if not path.is_file():
        raise GanforgeError(f"config file '{path}' does not exist")
    return config_from_dict(_read_yaml_text(_text_of(path, f"'{path}'"), f"'{path}'"))

