"""Settings per component: registration, dispatch on model.arch / method.name /
translation.mode, typed choices, declared ranges and `validate_config` / `ganforge
check-config` (issues 17 point 4 and 25 points 1-2)."""

from __future__ import annotations

import copy
import dataclasses
import pickle
import subprocess
import sys
import typing
from pathlib import Path

import pytest

from ganforge import api
from ganforge.cli import main
from ganforge.config import (
    Config,
    MethodConfig,
    ModelConfig,
    TranslationConfig,
    apply_overrides,
    config_from_dict,
    list_recipes,
    load_recipe,
)
from ganforge.config import sections as S
from ganforge.config.fields import declared_range
from ganforge.config.registry import COMPONENTS, component
from ganforge.errors import GanforgeError


def test_every_builtin_component_is_registered_by_importing_ganforge() -> None:
    assert sorted(COMPONENTS["model"]) == ["began", "biggan", "dcgan", "gancls", "gigagan",
                                           "gigagan-upsampler", "lapgan", "lostgan", "lostgan-v2", "mlp",
                                           "stylegan2"]
    assert sorted(COMPONENTS["method"]) == ["acgan", "adversarial", "began", "gan-cls", "gigagan",
                                            "gigagan-upsampler", "infogan", "lapgan", "lostgan", "lostgan-v2", "ragan",
                                            "sgan", "stylegan2"]
    assert sorted(COMPONENTS["translation"]) == ["bicyclegan", "cyclegan", "instagan", "pix2pix", "spade",
                                                 "stargan"]


def test_importing_only_the_config_module_sees_every_component() -> None:
    code = ("import ganforge.config as c; from ganforge.config.registry import COMPONENTS as r; "
            "print(len(r['model']), len(r['method']), len(r['translation']), "
            "type(c.load_recipe('cgan').model).__name__)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["11", "13", "6", "MLPModelConfig"]


def test_an_empty_registry_says_what_to_do(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(COMPONENTS, "model", {})
    with pytest.raises(GanforgeError, match="no architectures are registered yet; import ganforge"):
        component(ModelConfig, "biggan", "model.")


@pytest.mark.parametrize("recipe", list_recipes())
def test_every_shipped_recipe_validates(recipe: str) -> None:
    config = api.check_config(recipe)
    for section, base in (("model", ModelConfig), ("method", MethodConfig),
                          ("translation", TranslationConfig)):
        settings = getattr(config, section)
        assert isinstance(settings, base) and type(settings) is not base
        assert type(settings) is COMPONENTS[section][getattr(settings, base.key)]


def test_the_flat_constructors_still_build_the_component() -> None:
    mlp = ModelConfig(arch="mlp", hidden=[30], g_norm="none")
    assert type(mlp).__name__ == "MLPModelConfig" and mlp.hidden == [30]
    big = ModelConfig(ch=8, resolution=64, g_channels=[1] * 5)
    assert type(big).__name__ == "BigGANModelConfig"
    assert type(TranslationConfig(ngf=8)).__name__ == "Pix2PixConfig"
    assert type(MethodConfig(name="acgan", aux_weight=2.0)).__name__ == "ACGANMethodConfig"
    for cfg in (mlp, big, Config()):
        assert copy.deepcopy(cfg) == cfg and pickle.loads(pickle.dumps(cfg)) == cfg
    assert type(dataclasses.replace(mlp, n_classes=3)) is type(mlp)
    with pytest.raises(TypeError):
        ModelConfig(arch="biggan", hidden=[3])


def test_choosing_another_component_by_override_keeps_the_shared_settings() -> None:
    base = load_recipe("biggan-digits")
    cfg = apply_overrides(base, ["model.arch=dcgan", "model.d_norm=layer"])
    assert type(cfg.model).__name__ == "DCGANModelConfig" and cfg.model.d_norm == "layer"
    assert (cfg.model.resolution, cfg.model.ch, cfg.model.dim_z) == (
        base.model.resolution, base.model.ch, base.model.dim_z)
    assert not hasattr(cfg.model, "g_channels")
    with pytest.raises(GanforgeError, match="unknown config key 'model.ch' for model.arch=mlp; valid keys: arch"):
        apply_overrides(base, ["model.arch=mlp", "model.ch=3"])
    with pytest.raises(GanforgeError, match="unknown model.arch 'stylegan'; available: began, biggan"):
        apply_overrides(base, ["model.arch=stylegan"])
    with pytest.raises(GanforgeError, match="unknown config key 'method.bogus' for "
                       "method.name=adversarial; valid keys: name, gp, clip, separate_d_calls"):
        config_from_dict({"method": {"bogus": 1}})


CHOICES = [
    ("objectives", "OBJECTIVES", S.Loss),
    ("training.precision", "PRECISIONS", S.Precision),
    ("nn.fast_conv", "CONV_ALGORITHMS", S.ConvAlgorithm),
    ("nn.layers", "INITS", S.Init),
    ("models.common", "HEADS", S.Head),
    ("augment.build", "KINDS", S.AugmentKind),
    ("augment.pipeline", "ALL_OPS", S.AugmentOp),
    ("nn.norm", "NORMS", S.TranslationNorm),
    ("translation.networks", "DISCRIMINATORS", S.PatchDiscriminator),
    ("translation.inference", "INFERENCE_MODES", S.InferenceMode),
    ("training.optimization", "OPTIMIZERS", S.Optimizer),
    ("training.launch", "TASKS", S.Task),
    ("models.gigagan", "GLOBAL_POOLS", S.GlobalPool),
]


@pytest.mark.parametrize(("module", "name", "hint"), CHOICES, ids=[c[1] for c in CHOICES])
def test_typed_choices_match_the_code_that_implements_them(module: str, name: str, hint: object) -> None:
    import importlib

    implemented = getattr(importlib.import_module(f"ganforge.{module}"), name)
    assert tuple(implemented) == typing.get_args(hint)


def test_feature_choices_match_the_extractors() -> None:
    from ganforge.metrics.features import ATTRIBUTE_EXTRACTORS, EXTRACTORS, SEGMENTERS

    assert typing.get_args(S.Features) == ("auto", *EXTRACTORS)
    assert typing.get_args(S.TranslationFeatures) == ("auto", "none", *EXTRACTORS, *ATTRIBUTE_EXTRACTORS,
                                                      *SEGMENTERS)


RANGES = [
    (["train.lr_g=-1"], "train.lr_g must be > 0, got -1.0"),
    (["train.lr_d=0"], "train.lr_d must be > 0, got 0.0"),
    (["model.ch=0"], "model.ch must be >= 1, got 0"),
    (["train.betas_g=[0.5, 1.0]"], "train.betas_g[1] must lie in [0, 1), got 1.0"),
    (["train.betas_d=[0.5]"], "train.betas_d must have 2 values, got [0.5]"),
    (["train.lr_g=.nan"], "config key 'train.lr_g' must be a finite number, got nan"),
    (["train.adam_eps=.inf"], "config key 'train.adam_eps' must be a finite number, got inf"),
    (["train.lr_g=1e999"], "must be a finite number"),
    (["model.g_channels=[]"], "model.g_channels must not be empty"),
    (["model.g_channels=[4, 0, 4, 4]"], "model.g_channels[1] must be >= 1, got 0"),
    (["eval.metrics=[]"], "eval.metrics must not be empty"),
    (["train.ema_decay=1.5"], "train.ema_decay must lie in [0, 1], got 1.5"),
    (["train.d_steps=0"], "train.d_steps must lie in [1, 1000], got 0"),
    (["train.sample_truncation=0"], "train.sample_truncation must be >= 0.001, got 0.0"),
    (["augment.p=-0.1"], "augment.p must lie in [0, 1], got -0.1"),
    (["guard.diversity_drop=1"], "guard.diversity_drop must lie in [0, 1), got 1.0"),
    (["data.limit=-5"], "data.limit must be >= 0 (0: all images), got -5"),
    (["model.arch=mlp", "model.dropout=1"], "model.dropout must lie in [0, 1), got 1.0"),
    (["model.arch=lapgan", "model.levels=1"], "model.levels must lie in [2, 12], got 1"),
    (["model.arch=dcgan", "model.codes_cat=[1]"], "model.codes_cat[0] must be >= 2, got 1"),
    (["method.name=sgan", "method.holdout=1"], "method.holdout must lie in (0, 1), got 1.0"),
    (["method.name=began", "method.began_gamma=0"], "method.began_gamma must lie in (0, 1], got 0.0"),
    (["method.gp=-10"], "method.gp must be >= 0, got -10.0"),
    (["translation.ngf=0"], "translation.ngf must be >= 1, got 0"),
    (["translation.mode=cyclegan", "translation.lambda_cycle=-1"],
     "translation.lambda_cycle must be >= 0, got -1.0"),
    (["train.loss=wgan"], "unknown train.loss 'wgan'; available: hinge, ns, minimax, ls, wasserstein"),
    (["model.arch=dcgan", "model.g_norm=layer"], "unknown model.g_norm 'layer'; available: batch, none"),
    (["model.arch=dcgan", "model.d_heads=[classes, q]"], "unknown model.d_heads ['q']; available: classes, codes"),
    (["translation.direction=up"], "unknown translation.direction 'up'; available: AtoB, BtoA"),
    (["translation.generator=vgg"], "unknown translation.generator 'vgg'; use unet_N"),
    (["train.device=tpu"], "unknown train.device 'tpu'; use auto, cpu or cuda[:N]"),
    (["task=segmentation"], "unknown task 'segmentation'; available: generation, translation"),
]


@pytest.mark.parametrize(("overrides", "message"), RANGES, ids=[" ".join(r[0]) for r in RANGES])
def test_out_of_range_and_unknown_choices_are_one_line(overrides: list[str], message: str) -> None:
    with pytest.raises(GanforgeError) as exc:
        apply_overrides(load_recipe("biggan-digits"), overrides)
    assert message in str(exc.value) and "\n" not in str(exc.value)


def _declaring_class(cls: type, name: str) -> str:
    return next(k.__name__ for k in reversed(cls.__mro__) if name in getattr(k, "__annotations__", {}))


def test_ranges_are_declared_next_to_the_settings() -> None:
    """Every numeric setting of every section and component declares its range (seeds and
    guard's d_loss_floor, a loss value that may be negative, excepted): issue 25's count."""
    classes = [S.DataConfig, S.TrainConfig, S.EvalConfig, S.AugmentConfig, S.MonitorConfig,
               S.GuardConfig, S.InversionConfig, *[c for table in COMPONENTS.values() for c in table.values()]]
    numeric = (int, float, float | None, list[int], list[float])
    ranged, unranged = set(), set()
    for cls in classes:
        hints = typing.get_type_hints(cls)
        for f in dataclasses.fields(cls):
            if hints[f.name] in numeric:
                where = f"{_declaring_class(cls, f.name)}.{f.name}"
                (ranged if declared_range(f) else unranged).add(where)
    assert unranged == {"DataConfig.limit_seed", "TrainConfig.seed", "EvalConfig.seed",
                        "GuardConfig.d_loss_floor"}
    assert len(ranged) >= 70, len(ranged)


VALIDATION = [
    ("dcgan", ["method.name=acgan"], "method.name=acgan needs D heads ['classes']"),
    ("dcgan", ["method.name=began"], "method.name=began and model.arch=began go together"),
    ("began", ["method.name=adversarial"], "method.name=began and model.arch=began go together"),
    ("biggan-digits", ["model.resolution=48"], "not model.resolution=48"),
    ("biggan-digits", ["model.d_downsample=[true]"], "same length"),
    ("biggan-digits", ["model.g_attention=[12]"], "model.g_attention=[12]: G has no block at [12] px"),
    ("biggan-digits", ["model.d_attention=[64]"], "D has no block at [64] px"),
    ("biggan-digits", ["model.dim_z=65"], "must split evenly into 4 chunks"),
    ("biggan-digits", ["eval.best_metric=ssim"], "eval.best_metric 'ssim' is not produced"),
    ("biggan-digits", ["eval.metrics=[fid, ssim]"], "unknown metric 'ssim'"),
    ("biggan-digits", ["train.conv_algorithm=winograd", "train.precision=bf16"],
     "cannot run with train.precision=bf16"),
    ("began", ["augment.kind=ada"], "use augment.kind=none"),
    ("lapgan", ["method.gp=10"], "supports no augmentation, gradient penalty or clipping"),
    ("sgan", ["method.labelled=5"], "method.labelled must be at least one image per class"),
    ("dcgan", ["model.resolution=24"], "must be a power of two"),
    ("infogan", ["model.codes_cat=[]", "model.codes_cont=0"], "define none"),
    ("lapgan", ["model.conditional=false"], "class-conditional here"),
    ("pix2pix", ["translation.crop_size=100"], "translation.crop_size=100 does not fit"),
    ("pix2pix", ["train.loss=hinge"], "not available for translation"),
    ("cyclegan", ["translation.channels_b=1"], "needs channels_a == channels_b"),
]


@pytest.mark.parametrize(("recipe", "overrides", "message"), VALIDATION,
                         ids=[f"{v[0]} {' '.join(v[1])}" for v in VALIDATION])
def test_validate_config_catches_settings_that_disagree(recipe: str, overrides: list[str],
                                                        message: str) -> None:
    config = apply_overrides(load_recipe(recipe), overrides)
    with pytest.raises(GanforgeError) as exc:
        api.validate_config(config)
    assert message in str(exc.value) and "\n" not in str(exc.value)


def test_validate_config_knows_the_process_count() -> None:
    with pytest.raises(GanforgeError, match="use a multiple of 3"):
        api.validate_config(load_recipe("biggan-digits"), world=3)
    with pytest.raises(GanforgeError, match="method.name=began trains on one process only"):
        api.validate_config(apply_overrides(load_recipe("began"), ["train.batch_size=64"]), world=2)


def test_validate_config_builds_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    import torch

    original = torch.nn.Module.__init__

    def refuse(self: torch.nn.Module, *args: object, **kwargs: object) -> None:
        # the size check builds on the meta device (shapes only); anything else is a real build
        if torch.empty(0).device.type != "meta":
            raise AssertionError("validate_config built a module")
        original(self, *args, **kwargs)

    monkeypatch.setattr(torch.nn.Module, "__init__", refuse)
    for recipe in list_recipes():
        api.validate_config(load_recipe(recipe))


@pytest.mark.parametrize("override", ["train.lr_g=-1", "model.ch=0"])
def test_the_two_reported_tracebacks_are_one_line_and_write_nothing(
    override: str, tmp_path: Path, capsys: pytest.CaptureFixture,
) -> None:
    out = tmp_path / "x"
    status = main(["train", "--steps", "1", "--out", str(out), override])
    err = capsys.readouterr().err
    assert status == 2 and err.startswith("error: ") and len(err.strip().splitlines()) == 1, err
    assert override.split("=")[0] in err and not out.exists()


def test_check_config_command(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["check-config"]) == 0
    assert capsys.readouterr().out.strip() == "ok"
    assert main(["check-config", "--recipe", "cyclegan", "translation.ngf=8"]) == 0
    capsys.readouterr()
    for argv, message in (
        (["check-config", "train.lr_g=-1"], "train.lr_g must be > 0"),
        (["check-config", "--recipe", "dcgan", "method.name=infogan"], "needs D heads"),
        (["check-config", "--nproc", "3"], "use a multiple of 3"),
        (["check-config", "--nproc", "0"], "--nproc must be a positive integer"),
        (["check-config", "--recipe", "biggan-99"], "unknown recipe 'biggan-99'"),
    ):
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert err.startswith("error: ") and message in err and len(err.strip().splitlines()) == 1
    run_config = Path(__file__).parent / "fixtures" / "release_0_1" / "gan_run" / "config.yaml"
    assert main(["check-config", "--recipe", str(run_config)]) == 0  # a 0.1 run's config
    assert not any(tmp_path.iterdir())


def test_fuzzed_settings_are_accepted_or_one_line_errors() -> None:
    """Seeded draws over every setting of every shipped recipe -- in range, out of range, wrong
    type, NaN/inf, empty lists, huge numbers: reading and validating either succeeds or raises
    a one-line GanforgeError, never another exception."""
    import random

    rng = random.Random(0)
    values = [0, -1, 1, 3, 10**12, 1.5, -0.5, 0.999, float("nan"), float("inf"), "x", "", [],
              [0], [1, 2], [-1.0], None, True, {"a": 1}]
    recipes = {name: load_recipe(name).to_dict() for name in list_recipes()}
    messages, draws = set(), 0
    for _ in range(1500):
        name = rng.choice(sorted(recipes))
        data = copy.deepcopy(recipes[name])
        section = rng.choice([k for k, v in data.items() if isinstance(v, dict)])
        key = rng.choice(sorted(data[section]))
        data[section][key] = rng.choice(values)
        draws += 1
        try:
            api.validate_config(config_from_dict(data))
        except GanforgeError as exc:
            assert "\n" not in str(exc) and str(exc), (section, key, data[section][key])
            messages.add(str(exc).split(",")[0][:60])
    assert draws == 1500 and len(messages) > 100
