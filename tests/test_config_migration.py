"""Configs written by ganforge 0.1 (flat union sections) read into the per-component settings,
with the same value for every key the chosen component has; the fixtures still sample and
translate the images 0.1 gave."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from PIL import Image

import ganforge
from ganforge.cli import main
from ganforge.config import config_from_dict, load_config_file, load_recipe
from ganforge.config.migrate import LEGACY_UNION, dropped_keys, migrate_legacy
from ganforge.errors import GanforgeError

FIXTURES = Path(__file__).parent / "fixtures" / "release_0_1"


def _raw(name: str) -> dict:
    if name == "gan_export":
        return json.loads((FIXTURES / name / "config.json").read_text())["config"]
    return yaml.safe_load((FIXTURES / name / "config.yaml").read_text())


def _read(name: str):  # noqa: ANN202
    if name == "gan_export":
        return config_from_dict(_raw(name))
    return load_config_file(FIXTURES / name / "config.yaml")


# settings added after 0.1, with the value that keeps an old run's behaviour
NEW_SINCE_0_1 = {"translation": {"steps": 0, "ema": False}, "data": {"workers": 2, "prefetch": 4, "cache": ""},
                 "train": {"ema_kimg": 0.0, "ema_rampup": 0.0, "ema_buffers": "average"},
                 "eval": {"truncation_convention": "resample", "bn": "running"}}


@pytest.mark.parametrize("name", ["gan_run", "gan_export", "pix2pix_run"])
def test_release_0_1_configs_keep_every_value_their_component_has(name: str) -> None:
    raw, config = _raw(name), _read(name)
    for section in ("model", "method", "translation"):
        assert set(LEGACY_UNION[section][1]) == set(raw[section])  # a whole 0.1 dump
        settings = getattr(config, section)
        new = NEW_SINCE_0_1.get(section, {})
        assert {k: getattr(settings, k) for k in new} == new
        kept = {f.name for f in dataclasses.fields(settings)} - set(new)
        assert kept <= set(raw[section])
        for key in kept:
            assert getattr(settings, key) == raw[section][key], (section, key)
        assert sorted(set(raw[section]) - kept) == sorted(dropped_keys(raw)[section])
    for section in ("data", "train", "eval", "augment", "monitor", "guard"):
        values = dataclasses.asdict(getattr(config, section))
        new = NEW_SINCE_0_1.get(section, {})
        assert {k: values.pop(k) for k in new} == new
        assert values == raw[section]


def test_the_components_are_the_ones_the_runs_used() -> None:
    gan, export, p2p = _read("gan_run"), _read("gan_export"), _read("pix2pix_run")
    assert type(gan.model).__name__ == "BigGANModelConfig" and gan.model.ch == 4
    assert type(gan.method).__name__ == "AdversarialMethodConfig"
    assert export == gan or export.model == gan.model
    assert type(p2p.translation).__name__ == "Pix2PixConfig"
    assert (p2p.translation.direction, p2p.translation.lambda_l1) == ("AtoB", 100.0)
    assert not hasattr(gan.model, "hidden") and not hasattr(p2p.translation, "lambda_cycle")


def test_safetensors_metadata_form_migrates_too() -> None:
    """Exports in one .safetensors file carry the config as YAML text in their metadata."""
    text = yaml.safe_dump(_raw("gan_run"), sort_keys=False)
    assert config_from_dict(yaml.safe_load(text)) == _read("gan_run")


def test_a_migrated_config_saves_only_its_components_keys(tmp_path: Path) -> None:
    from ganforge.config import save_config

    save_config(_read("gan_run"), tmp_path / "config.yaml")
    again = yaml.safe_load((tmp_path / "config.yaml").read_text())
    assert "hidden" not in again["model"] and "aux_weight" not in again["method"]
    assert load_config_file(tmp_path / "config.yaml") == _read("gan_run")


def test_dropped_keys_were_never_read_by_the_component() -> None:
    """0.1 let a BigGAN config carry `hidden: [7]` or `aux_weight: 3` although BigGAN and the
    adversarial method never read them: migration drops them, so the run is the same run."""
    raw = _raw("gan_run")
    raw["model"]["hidden"] = [7]
    raw["method"]["aux_weight"] = 3.0
    assert config_from_dict(raw) == _read("gan_run")


def test_only_whole_legacy_sections_are_migrated(tmp_path: Path) -> None:
    """A hand-written recipe with a key its architecture lacks stays an error."""
    path = tmp_path / "mine.yaml"
    path.write_text("model:\n  arch: biggan\n  hidden: [10]\n")
    with pytest.raises(GanforgeError, match="unknown config key 'model.hidden' for model.arch=biggan"):
        load_recipe(str(path))
    assert migrate_legacy({"model": {"arch": "biggan", "hidden": [10]}})["model"] == {
        "arch": "biggan", "hidden": [10]}


def test_legacy_section_with_an_unknown_component_names_it() -> None:
    raw = _raw("gan_run")
    raw["model"]["arch"] = "stylegan9"
    with pytest.raises(GanforgeError, match="unknown model.arch 'stylegan9'; available: began, biggan"):
        config_from_dict(raw)


@pytest.mark.parametrize("name", ["gan_run", "gan_export"])
def test_release_0_1_generators_sample_the_same_images(name: str) -> None:
    expected = np.load(FIXTURES / "expected_images.npz")
    g = ganforge.load(str(FIXTURES / name))
    for key, kwargs in ((name, dict(classes=[0, 3, 9], n=2, truncation=None, seed=0)),
                        (f"{name}_trunc05", dict(classes=[1], n=3, truncation=0.5, seed=4))):
        images = g.sample(**kwargs)
        as_uint8 = ((images + 1) * 127.5).round().clamp(0, 255).to(torch.uint8).numpy()
        assert np.abs(as_uint8.astype(int) - expected[key].astype(int)).max() <= 1, key


def test_release_0_1_pix2pix_run_translates_the_same_image(tmp_path: Path) -> None:
    expected = np.load(FIXTURES / "expected_images.npz")["pix2pix_translate"]
    status = main(["translate", str(FIXTURES / "pix2pix_run"), str(FIXTURES / "edge_input.png"),
                   "--out", str(tmp_path)])
    assert status == 0
    (written,) = tmp_path.glob("*.png")
    got = np.asarray(Image.open(written))
    assert got.shape == expected.shape
    assert np.abs(got.astype(int) - expected.astype(int)).max() <= 1
