"""Typed configuration: dataclasses filled from a YAML recipe plus dotted `a.b=c` overrides.

Every key is checked against the dataclasses, so a typo, a wrong type, an unknown choice or a
value out of range is a one-line `GanforgeError` naming what is valid instead of a silent
default. `model`, `method` and `translation` hold the settings of the component they name
(`registry.py`); `sections.py` declares the rest.
"""

from ganforge.config.fields import setting
from ganforge.config.files import (
    RECIPE_DIR,
    apply_overrides,
    config_from_dict,
    list_recipes,
    load_config_file,
    load_recipe,
    recipe_description,
    save_config,
)
from ganforge.config.registry import available, component, register
from ganforge.config.sections import (
    AugmentConfig,
    Config,
    DataConfig,
    EvalConfig,
    GuardConfig,
    InversionConfig,
    MethodConfig,
    ModelConfig,
    MonitorConfig,
    TextConfig,
    TrainConfig,
    TranslationConfig,
)

__all__ = [
    "RECIPE_DIR", "AugmentConfig", "Config", "DataConfig", "EvalConfig", "GuardConfig", "InversionConfig",
    "MethodConfig", "ModelConfig", "MonitorConfig", "TextConfig", "TrainConfig", "TranslationConfig",
    "apply_overrides", "available", "component", "config_from_dict", "list_recipes",
    "load_config_file", "load_recipe", "recipe_description", "register", "save_config", "setting",
]
