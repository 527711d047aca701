"""`ganforge sweep`: the truncation trick's quality/diversity curve, measured.

Evaluates a generator at each truncation threshold against one (cached) reference, and writes
a table (JSON + CSV), a plot, and a strip of samples per threshold (same z seeds, same classes).
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ganforge.errors import GanforgeError
from ganforge.generator import Generator
from ganforge.metrics.evaluate import EvalSetup, flatten_metrics, run_eval
from ganforge.sampling import make_grid, save_image

STRIP_COLUMNS = 10


def parse_truncations(text: str) -> list[float | None]:
    """'0.1,0.2,...,1.0' or '0.25:1.5:0.25' (start:stop:step, inclusive); 'none' = untruncated."""
    values: list[float | None] = []
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        if part.lower() == "none":
            values.append(None)
        elif ":" in part:
            try:
                start, stop, step = (float(v) for v in part.split(":"))
            except ValueError:
                raise GanforgeError(f"truncation range '{part}' must be start:stop:step") from None
            if step <= 0:
                raise GanforgeError(f"truncation range '{part}' needs a positive step")
            values += [round(v, 6) for v in np.arange(start, stop + step / 2, step)]
        else:
            try:
                values.append(float(part))
            except ValueError:
                raise GanforgeError(f"truncation '{part}' is not a number") from None
    if not values:
        raise GanforgeError("give at least one truncation threshold, e.g. --truncation 0.25,0.5,1.0")
    for v in values:
        if v is not None and not v > 0:
            raise GanforgeError(f"truncation thresholds must be positive, got {v}")
    return values


def sweep(
    setup: EvalSetup, out: Path | str, truncations: list[float | None], n: int = 5000, seed: int = 0,
) -> dict[str, Any]:
    """Evaluate every threshold; write sweep.json, sweep.csv, sweep.png and strip.png into `out`."""
    if setup.generator is None:
        raise GanforgeError("sweep needs a generator: give a run directory or an exported generator "
                            "as SOURCE")
    for t in truncations:  # before any work: BigGAN-deep takes (0, 1] only
        setup.generator.check_truncation(t)
    out_dir = Path(out)
    out_dir.mkdir(parents=True, exist_ok=True)
    results, rows = [], []
    for t in truncations:
        result = run_eval(setup, n, t, seed)
        results.append(result)
        rows.append({"truncation": "none" if t is None else t, **flatten_metrics(result)})
        print(f"truncation {t}: " + ", ".join(f"{k}={v:.4g}" for k, v in rows[-1].items()
                                               if isinstance(v, float) and k != "truncation"), flush=True)
    table = {"truncations": truncations, "rows": rows, "results": results}
    (out_dir / "sweep.json").write_text(json.dumps(table, indent=1) + "\n", encoding="utf-8")
    keys = sorted({k for row in rows for k in row}, key=lambda k: (k != "truncation", k))
    with (out_dir / "sweep.csv").open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=keys)
        writer.writeheader()
        writer.writerows(rows)
    plot_sweep(rows, out_dir / "sweep.png", setup.extractor.name)
    layouts = setup.layout.take(STRIP_COLUMNS) if setup.layout is not None else None
    write_strip(setup.generator, truncations, seed, out_dir / "strip.png", layouts)
    return {"dir": str(out_dir), "rows": rows}


def write_strip(g: Generator, truncations: list[float | None], seed: int, path: Path,
                layouts: torch.Tensor | None = None) -> None:
    """One row per threshold: the same 10 classes (layout generators: the same 10 layouts) and z
    seeds, truncated at that row's level."""
    labels = torch.arange(STRIP_COLUMNS) % max(len(g.class_names), 1) if layouts is None else layouts
    rows = [g.generate(g.latents(STRIP_COLUMNS, t, seed), labels, t) for t in truncations]
    save_image(make_grid(torch.cat(rows), STRIP_COLUMNS), path)


def plot_sweep(rows: list[dict[str, Any]], path: Path, extractor: str) -> None:
    """Quality metrics against the threshold, and precision against recall."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    xs = [r["truncation"] if r["truncation"] != "none" else np.nan for r in rows]
    finite = [x for x in xs if not np.isnan(x)]
    untruncated_x = (max(finite) * 1.15) if finite else 1.0
    xs = [untruncated_x if np.isnan(x) else x for x in xs]
    panels = [k for k in ("fid", "is_mean", "kid_mean", "class_accuracy", "density", "coverage", "obj_acc",
                          "box_iou")
              if any(k in r for r in rows)]
    has_pr = any("precision" in r for r in rows)
    n_axes = max(len(panels) + int(has_pr), 1)
    cols = min(n_axes, 3)
    rows_n = -(-n_axes // cols)
    fig, grid = plt.subplots(rows_n, cols, figsize=(4 * cols, 3.2 * rows_n), squeeze=False)
    axes = list(grid.flat)
    for ax in axes[n_axes:]:
        ax.axis("off")
    for ax, key in zip(axes, panels, strict=False):
        ax.plot(xs, [r.get(key, np.nan) for r in rows], "o-")
        ax.set_xlabel("truncation threshold")
        ax.set_title(key.replace("_", " "))
        ax.grid(alpha=0.3)
    if has_pr:
        ax = axes[n_axes - 1]
        p = [r.get("precision", np.nan) for r in rows]
        rc = [r.get("recall", np.nan) for r in rows]
        ax.plot(rc, p, "o-")
        for x, y, r in zip(rc, p, rows, strict=True):
            ax.annotate(str(r["truncation"]), (x, y), fontsize=7)
        ax.set_xlabel("recall (diversity)")
        ax.set_ylabel("precision (fidelity)")
        ax.set_title("precision / recall")
        ax.grid(alpha=0.3)
    fig.suptitle(f"truncation sweep ({extractor} features; 'none' plotted at the right)", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
