"""Layout-to-image sampling (LostGAN runs): `ganforge sample RUN --layout layout.json`."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import torch

from ganforge.data.layouts import parse_layouts, read_layout_file
from ganforge.errors import GanforgeError
from ganforge.generator import Generator
from ganforge.sampling import make_grid, save_image, to_uint8


def layouts_for(g: Generator, layout: str | Path | dict | list) -> torch.Tensor:
    """A layout file (or its parsed JSON) -> (L, slots, 5) for this generator's classes."""
    if not g.takes_layout:
        raise GanforgeError("--layout needs a layout-to-image run (recipe lostgan)")
    slots = int(g.config.model.max_objects) if g.config is not None else int(g.generator.cfg.max_objects)
    if isinstance(layout, (dict, list)):
        return parse_layouts(layout, list(g.class_names), slots, "layout")
    return read_layout_file(Path(layout), list(g.class_names), slots)


def sample_layout(g: Generator, out: Path | str, layout: str | Path | dict | list | None, n: int,
                  truncation: float | None, seed: int, individual: bool) -> dict[str, Any]:
    """One row of n images per layout; the same seed keeps every object slot's style."""
    if layout is None:
        raise GanforgeError("this generator draws from layouts: give --layout FILE.json "
                            '({"objects": [{"label": "3", "box": [x, y, w, h]}]}, boxes as fractions)')
    out_path = Path(out)
    if out_path.suffix.lower() != ".png":
        raise GanforgeError(f"--out '{out}' must be a .png file")
    layouts = layouts_for(g, layout)
    images = g.sample_layout(layouts, n, truncation, seed)
    save_image(make_grid(images, n), out_path)
    written = [str(out_path)]
    if individual:
        for i, array in enumerate(to_uint8(images)):
            path = out_path.with_suffix("") / f"{i:04d}_layout{i // n}.png"
            save_image(array, path)
            written.append(str(path))
    return {"grid": str(out_path), "files": written, "layouts": int(layouts.shape[0]), "n": n,
            "truncation": g.check_truncation(truncation), "seed": seed,
            "objects": [[g.class_names[int(o[0])] for o in row if o[0] >= 0] for row in layouts.tolist()],
            "note": re.sub(r"\s+", " ", "object k of a layout uses style slot k (or its \"slot\")")}
