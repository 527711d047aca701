"""The Python API: every CLI command is a thin wrapper over one of these functions.

`runs`: configs, training and resuming; `data`: preparing datasets on disk; `generators`: loading, sampling, sharing and exploring
generators; `evaluation`: eval and the truncation sweep; `translation`: translating images with a
translation generator (run or export).
"""

from ganforge.api.checks import check_config, validate_config
from ganforge.api.data import prepare_data
from ganforge.api.editing import directions, edit, encode, project, train_encoder, train_hyperstyle
from ganforge.api.evaluation import evaluate, sweep
from ganforge.api.generators import (
    BIGGAN_PYTORCH_PRESETS,
    CONVERT_KINDS,
    arithmetic,
    code_sweep,
    convert,
    explore,
    export,
    interpolate,
    load_generator,
    mix,
    sample,
)
from ganforge.api.runs import (
    DEFAULT_RECIPE,
    info,
    is_translation_run,
    make_config,
    plot,
    resume,
    train,
)
from ganforge.api.translation import evaluate_translation, translate
from ganforge.generators import load
from ganforge.training.launch import default_run_dir

__all__ = [
    "BIGGAN_PYTORCH_PRESETS", "CONVERT_KINDS", "DEFAULT_RECIPE", "arithmetic", "check_config", "code_sweep", "convert", "default_run_dir",
    "directions", "edit", "evaluate", "evaluate_translation", "explore", "export", "info", "interpolate",
    "is_translation_run", "load", "load_generator", "make_config", "mix", "plot", "prepare_data", "project",
    "resume", "sample", "sweep", "train", "translate", "validate_config",
    "encode", "train_encoder", "train_hyperstyle",
]
