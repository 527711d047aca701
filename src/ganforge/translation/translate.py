"""Loading a trained translation run and translating image files: what `ganforge translate`
and `ganforge eval` (on a translation run) do.

Inputs are images of the source domain (A for AtoB); each is converted to the run's channels,
centre-cropped to a square and resized to `size` (default: the run's crop size, as the
reference implementation tests), translated in the run's inference mode, and written as
OUT_DIR/<name>.png at that size.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from ganforge.config import Config, load_config_file
from ganforge.data.folder import IMAGE_EXTENSIONS, pil_to_model_format
from ganforge.errors import GanforgeError
from ganforge.sampling import save_image, to_uint8
from ganforge.training.checkpoint import load_checkpoint, load_latest_checkpoint
from ganforge.training.run_dir import RunDir
from ganforge.translation.cyclegan import CycleGAN
from ganforge.translation.data import load_translation_data, open_image
from ganforge.translation.evaluate import Evaluator
from ganforge.translation.inference import run_generator
from ganforge.translation.models import CHECKPOINT_TASK, build_model
from ganforge.translation.networks import size_multiple
from ganforge.translation.pix2pix import Pix2Pix


def load_translator(
    source: Path | str, checkpoint: Path | str | None = None, device: str | torch.device = "cpu"
) -> tuple[Pix2Pix | CycleGAN, Config, int]:
    """(model with its trained networks, config, training step) of a translation run."""
    run = RunDir(Path(source))
    if not run.config.is_file():
        raise GanforgeError(
            f"'{source}' is not a ganforge run directory (no config.yaml); "
            "translate takes the run directory of a pix2pix or CycleGAN run"
        )
    config = load_config_file(run.config)
    if config.task != "translation":
        raise GanforgeError(
            f"'{source}' is a {config.name} run, not an image-to-image "
            "translation run; draw from it with: ganforge sample " + str(source)
        )
    if checkpoint is not None:
        state = load_checkpoint(Path(checkpoint))
    else:
        _, state, _ = load_latest_checkpoint(run.checkpoints)
    if state.get("task") != CHECKPOINT_TASK:
        raise GanforgeError(f"checkpoint of '{source}' is not a translation checkpoint")
    model = build_model(config, torch.device(device))
    try:
        for name, net in model.networks.items():
            net.load_state_dict(state["networks"][name])
    except (RuntimeError, KeyError):
        raise GanforgeError(
            f"the checkpoint's networks do not match '{run.config}'; was the config edited?"
        ) from None
    for net in model.networks.values():
        net.requires_grad_(False)
    return model, config, int(state.get("step", 0))


def input_files(inputs: list[Path | str]) -> list[Path]:
    """Image files named directly or found (not recursively) in the named folders."""
    files: list[Path] = []
    for item in inputs:
        path = Path(item).expanduser()
        if path.is_dir():
            found = sorted(
                p
                for p in path.iterdir()
                if p.is_file()
                and not p.name.startswith(".")
                and p.suffix.lower() in IMAGE_EXTENSIONS
            )
            if not found:
                raise GanforgeError(
                    f"no images in {path} (looked for {', '.join(sorted(IMAGE_EXTENSIONS))})"
                )
            files.extend(found)
        elif path.is_file():
            files.append(path)
        else:
            raise GanforgeError(f"input '{path}' does not exist")
    if not files:
        raise GanforgeError("give at least one input image or folder")
    return files


def _output_names(files: list[Path]) -> list[str]:
    """<stem>.png, numbered where two inputs share a stem."""
    names, seen = [], {}
    for path in files:
        count = seen.get(path.stem, 0)
        seen[path.stem] = count + 1
        names.append(f"{path.stem}.png" if count == 0 else f"{path.stem}_{count + 1}.png")
    return names


def translate_files(
    source: Path | str,
    inputs: list[Path | str],
    out: Path | str,
    direction: str | None = None,
    checkpoint: Path | str | None = None,
    size: int | None = None,
    seed: int = 0,
    device: str | torch.device = "cpu",
) -> dict[str, Any]:
    """Translate image files with a run's generator; returns what was written."""
    model, config, step = load_translator(source, checkpoint, device)
    tc = config.translation
    direction = direction or model.directions[0]
    if direction not in ("AtoB", "BtoA"):
        raise GanforgeError(f"--direction must be AtoB or BtoA, got '{direction}'")
    if direction not in model.directions:
        raise GanforgeError(
            f"this pix2pix run translates {model.directions[0]} only; it has no "
            f"{direction} generator (train one with translation.direction={direction})"
        )
    size = size or tc.crop_size
    multiple = size_multiple(tc)
    if size <= 0 or size % multiple:
        raise GanforgeError(
            f"--size {size} does not fit the run's {tc.generator} generator; "
            f"use a positive multiple of {multiple}"
        )
    channels = tc.channels_a if direction == "AtoB" else tc.channels_b
    files = input_files(inputs)
    out_dir = Path(out)
    if out_dir.suffix.lower() == ".png" or (out_dir.exists() and not out_dir.is_dir()):
        raise GanforgeError(f"--out '{out}' must be a folder (one PNG per input is written there)")
    images = torch.from_numpy(
        np.stack(
            [pil_to_model_format(open_image(path), size, channels, str(path)) for path in files]
        )
    )
    outputs = run_generator(model.generator(direction), images, tc.inference, seed)
    written = []
    for array, name in zip(to_uint8(outputs), _output_names(files), strict=True):
        path = out_dir / name
        save_image(array, path)
        written.append(str(path))
    return {
        "files": written,
        "direction": direction,
        "size": size,
        "step": step,
        "inference": tc.inference,
    }


def evaluate_run(
    source: Path | str, checkpoint: Path | str | None = None, device: str | torch.device = "cpu"
) -> dict[str, Any]:
    """The run's metrics on its data's test split (as logged during training)."""
    model, config, step = load_translator(source, checkpoint, device)
    data = load_translation_data(config.data.source, config.translation)
    evaluator = Evaluator(config, data, torch.device(device))
    metrics = evaluator(model)
    return {
        "run": str(source),
        "step": step,
        "metrics": metrics,
        "protocol": evaluator.protocol(),
        "source": data.source,
    }
