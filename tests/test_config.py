"""Recipes, dotted overrides and their one-line errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from ganforge.api import make_config
from ganforge.config import (
    apply_overrides,
    list_recipes,
    load_config_file,
    load_recipe,
    save_config,
)
from ganforge.errors import GanforgeError


def test_shipped_recipes() -> None:
    names = list_recipes()
    for expected in ("biggan-digits", "biggan-32", "biggan-64", "biggan-128", "biggan-256", "biggan-512", "lostgan", "lostgan-v2",
                     "encoder", "hyperstyle"):
        assert expected in names


def test_overrides_change_nested_values_with_types() -> None:
    cfg = apply_overrides(
        load_recipe("biggan-digits"),
        ["train.lr_g=1e-4", "model.ch=8", "model.g_attention=[16]", "data.hflip=true",
         "train.sample_truncation=0.5", "train.sample_truncation=null"],
    )
    assert cfg.train.lr_g == 1e-4 and isinstance(cfg.train.lr_g, float)
    assert cfg.model.ch == 8
    assert cfg.model.g_attention == [16]
    assert cfg.data.hflip is True
    assert cfg.train.sample_truncation is None


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("train.lrg=1", "unknown config key 'train.lrg'; valid keys in 'train': steps, batch_size"),
        ("trian.lr_g=1", "unknown config section 'trian'; valid sections: model, data, train"),
        ("model.ch=wide", "config key 'model.ch' must be an integer, got 'wide'"),
        ("model.ch=1.5", "must be an integer"),
        ("data.hflip=3", "must be true or false"),
        ("model.g_channels=4", "must be a list of int"),
        ("train.lr_g", "not of the form key=value"),
    ],
)
def test_override_errors_are_one_line_and_name_the_key(override: str, message: str) -> None:
    with pytest.raises(GanforgeError) as exc:
        apply_overrides(load_recipe("biggan-digits"), [override])
    assert message in str(exc.value)
    assert "\n" not in str(exc.value)


def test_unknown_recipe_lists_the_available_ones() -> None:
    with pytest.raises(GanforgeError, match="unknown recipe 'biggan-99'; available recipes: acgan, began, bicyclegan, biggan-128"):
        load_recipe("biggan-99")


def test_recipe_file_with_a_typo(tmp_path: Path) -> None:
    path = tmp_path / "mine.yaml"
    path.write_text("model:\n  chanels: 3\n")
    with pytest.raises(GanforgeError, match="unknown config key 'model.chanels'"):
        load_recipe(str(path))
    path.write_text("model: [1, 2\n")
    with pytest.raises(GanforgeError, match="not valid YAML"):
        load_recipe(str(path))


def test_round_trip_through_yaml(tmp_path: Path) -> None:
    cfg = make_config("biggan-128", ["train.lr_d=3e-4"], data="digits", steps=7, batch_size=3, seed=9)
    save_config(cfg, tmp_path / "config.yaml")
    again = load_config_file(tmp_path / "config.yaml")
    assert again == cfg
    assert (again.train.steps, again.train.batch_size, again.train.seed) == (7, 3, 9)
    assert again.data.source == "digits"


def test_flags_must_be_positive() -> None:
    with pytest.raises(GanforgeError, match="--batch-size must be a positive integer"):
        make_config(batch_size=0)
