"""`check_config`: a recipe with overrides assembled as `ganforge train` would, then validated
(`training/validation.py`) without reading data or building a network."""

from __future__ import annotations

from ganforge.api.runs import make_config
from ganforge.config import Config
from ganforge.training.validation import validate_config

__all__ = ["check_config", "validate_config"]


def check_config(recipe: str, overrides: list[str] | None = None, data: str | None = None,
                 world: int = 1) -> Config:
    """A recipe (name or YAML path, a run's config.yaml included) with overrides, assembled as
    `ganforge train` would and validated: the config, or the first mistake as a GanforgeError."""
    config = make_config(recipe, overrides, data=data)
    validate_config(config, world)
    return config
