"""The Python API for image-to-image translation runs."""

from __future__ import annotations

from pathlib import Path
from typing import Any


# ---- image-to-image translation ----------------------------------------------------------------
def translate(source: Path | str, inputs: list[Path | str], out: Path | str = "translated",
              direction: str | None = None, checkpoint: Path | str | None = None,
              size: int | None = None, seed: int = 0, device: str = "cpu") -> dict[str, Any]:
    """Translate image files (or folders of them) with a pix2pix or CycleGAN run's generator:
    OUT/<name>.png per input. `direction` defaults to the run's (pix2pix) or AtoB (CycleGAN)."""
    from ganforge.translation.translate import translate_files

    return translate_files(source, inputs, out, direction, checkpoint, size, seed, device)


def evaluate_translation(source: Path | str, checkpoint: Path | str | None = None,
                         device: str = "cpu") -> dict[str, Any]:
    """L1/PSNR/SSIM (with ground truth), FID/KID and cycle error of a translation run on the
    test split of its data, with the protocol."""
    from ganforge.translation.translate import evaluate_run

    return evaluate_run(source, checkpoint, device)
