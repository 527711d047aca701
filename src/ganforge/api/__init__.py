"""The Python API: every CLI command is a thin wrapper over one of these functions.

`runs`: configs, training and resuming; `generators`: loading, sampling, sharing and exploring
generators; `translation`: translating images with a translation run.
"""

from ganforge.api.checks import check_config, validate_config
from ganforge.api.generators import (
    arithmetic,
    code_sweep,
    convert,
    explore,
    export,
    interpolate,
    load_generator,
    load_run_generator,
    sample,
)
from ganforge.api.runs import (
    DEFAULT_RECIPE,
    default_run_dir,
    info,
    is_translation_run,
    make_config,
    plot,
    refuse_translation_run,
    resume,
    train,
)
from ganforge.api.translation import evaluate_translation, translate

__all__ = [
    "DEFAULT_RECIPE", "arithmetic", "code_sweep", "convert", "default_run_dir", "evaluate_translation",
    "explore", "export", "info", "interpolate", "is_translation_run", "load_generator",
    "load_run_generator", "make_config", "plot", "refuse_translation_run", "resume", "sample",
    "train", "translate", "check_config", "validate_config",
]
