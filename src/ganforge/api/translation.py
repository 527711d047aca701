"""The Python API for image-to-image translation generators (a run, or its export)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

from ganforge.errors import GanforgeError
from ganforge.generator import Generator
from ganforge.generators import load
from ganforge.metrics.translation import Evaluator
from ganforge.sampling import save_image, to_uint8
from ganforge.translation.conditions import latent_codes, target_label
from ganforge.translation.data import load_translation_data
from ganforge.translation.instance_inference import read_input_masks
from ganforge.translation.translate import (
    checked_size,
    input_files,
    output_names,
    read_inputs,
    read_instances,
)


def translate(source: Path | str, inputs: list[Path | str], out: Path | str = "translated",
              direction: str | None = None, checkpoint: Path | str | None = None,
              size: int | None = None, seed: int = 0, device: str = "cpu",
              to: str | None = None, n: int | None = None,
              masks: Path | str | None = None, instances: Path | str | None = None) -> dict[str, Any]:
    """Translate image files (or folders of them) with a translation generator (run directory
    or export): OUT/<name>.png per input. `direction` defaults to the run's (pix2pix,
    BicycleGAN) or AtoB (CycleGAN). StarGAN needs `to`, the attributes to turn on ("A,B"; every
    other one off); BicycleGAN draws `n` codes from `seed` (default 1) and writes
    OUT/<name>_<k>.png for each when n > 1. InstaGAN needs `masks`, the folder of the inputs'
    instance masks (<name>_<k>.png), and also writes the translated masks to
    OUT/masks/<name>_<k>.png. A SPADE run trained with instance edges takes `instances`, the
    instance map of the one input or a folder of them named as the inputs (Cityscapes:
    *_gtFine_instanceIds.png); without them its edge channel is made from the label maps' class
    boundaries (`instance_edges` in the result says which)."""
    g = translation_generator(source, checkpoint, device)
    direction = direction or g.directions[0]
    g.network(direction)  # an unknown or missing direction fails before any file is read
    tc = g.config.translation
    condition = _condition_of(g, to, n, seed)
    size = checked_size(tc, size)
    channels = tc.channels_a if direction == "AtoB" else tc.channels_b
    files = input_files(inputs)
    out_dir = Path(out)
    if out_dir.suffix.lower() == ".png" or (out_dir.exists() and not out_dir.is_dir()):
        raise GanforgeError(f"--out '{out}' must be a folder (one PNG per input is written there)")
    images, names = read_inputs(files, size, channels, tc), output_names(files)
    instagan = tc.mode == "instagan"
    if (masks is not None) != instagan:
        raise GanforgeError("this InstaGAN run needs --masks DIR (the inputs' instance masks, "
                            "<name>_<k>.png)" if instagan else
                            f"--masks gives InstaGAN's instance masks; this is a {tc.mode} run")
    packed, edges = read_instances(files, instances, size, tc)
    if packed is not None:
        images = torch.cat([images, packed], 1)
    numbers: list[list[int]] = []
    if instagan:
        mask_channels, numbers = read_input_masks(files, masks, size, tc.max_instances)
        images = torch.cat([images, mask_channels], 1)
    if g.condition == "latent" and len(condition) > 1:
        count = len(condition)
        images = images.repeat_interleave(count, 0)
        names = [f"{name[:-4]}_{k}.png" for name in names for k in range(count)]
    if condition is not None:
        condition = condition.repeat(len(images) // len(condition), 1)
    outputs = g.translate(images, direction, seed, condition)
    written = []
    for array, name in zip(to_uint8(outputs[:, :channels] if instagan else outputs), names, strict=True):
        path = out_dir / name
        save_image(array, path)
        written.append(str(path))
    mask_files = []
    for i, own in enumerate(numbers):
        for k in own:
            path = out_dir / "masks" / f"{names[i][:-4]}_{k}.png"
            save_image(to_uint8(outputs[i : i + 1, channels + k : channels + k + 1])[0], path)
            mask_files.append(str(path))
    return {"files": written, "masks": mask_files, "direction": direction, "size": size, "to": to, "n": n,
            "step": int(g.card.get("steps", 0)), "inference": tc.inference, "instance_edges": edges}


def _condition_of(g: Generator, to: str | None, n: int | None, seed: int) -> torch.Tensor | None:
    """StarGAN's target label (1, K) from `to`, BicycleGAN's codes (n, nz) from `n`, or None;
    an option the run does not take is a one-line error."""
    mode, tc = g.config.translation.mode, g.config.translation
    if to is not None and g.condition != "attributes":
        raise GanforgeError(f"--to sets StarGAN's target attributes; this is a {mode} run")
    if n is not None and g.condition != "latent":
        raise GanforgeError(f"--n draws BicycleGAN's latent codes; this is a {mode} run")
    if g.condition == "attributes":
        if to is None:
            raise GanforgeError(f"this StarGAN run needs --to ATTR[,ATTR...] (the attributes to turn "
                                f"on, the rest off); its attributes: {', '.join(tc.attributes)}")
        return target_label(tc.attributes, to, getattr(tc, "attribute_sets", ()))[None]
    if g.condition == "latent":
        return latent_codes(1 if n is None else n, tc.nz, seed)
    return None


def evaluate_translation(source: Path | str, checkpoint: Path | str | None = None,
                         device: str = "cpu") -> dict[str, Any]:
    """L1/PSNR/SSIM (with ground truth), FID/KID and cycle error of a translation generator on
    the test split of its data, with the protocol."""
    g = translation_generator(source, checkpoint, device)
    data = load_translation_data(g.config.data.source, g.config.translation)
    evaluator = Evaluator(g.config, data, torch.device(device))
    metrics = evaluator(_Directions(g))
    return {"run": str(source), "step": int(g.card.get("steps", 0)), "metrics": metrics,
            "protocol": evaluator.protocol(), "source": data.source}


def translation_generator(source: Path | str, checkpoint: Path | str | None = None,
                          device: str | torch.device = "cpu") -> Generator:
    g = load(source, device=device, checkpoint=checkpoint)
    if not g.is_translator:
        raise GanforgeError(
            f"'{source}' is not an image-to-image translation run (nor an export of one): it holds "
            f"a {g.card.get('recipe') or g.architecture} generator; draw from it with: "
            f"ganforge sample {source}"
        )
    return g


class _Directions:
    """What the translation evaluator asks of a model: its directions and each one's network."""

    def __init__(self, g: Generator) -> None:
        self.g, self.directions = g, g.directions

    def generator(self, direction: str) -> nn.Module:
        return self.g.network(direction)
