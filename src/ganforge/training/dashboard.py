"""A one-image dashboard of a run: losses, D's decisions, r_t and ADA p, gradient norms,
singular values, guard events and the evaluation metrics over time.

TensorBoard shows the same scalars interactively; the PNG is what one pastes into an issue or a
paper appendix, and what `ganforge train` leaves behind without any server running.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

import yaml

from ganforge.errors import GanforgeError
from ganforge.training.run_dir import RunDir, read_metrics

TRAIN_PANELS: list[tuple[str, list[str]]] = [
    ("Losses", ["loss_d", "loss_g"]),
    ("D accuracy", ["d_acc_real", "d_acc_fake"]),
    ("D logits (mean)", ["logit_real", "logit_fake"]),
    ("r_t = E[sign D(real)] and ADA p", ["r_t", "ada_p"]),
    ("Gradient norms", ["grad_norm_g", "grad_norm_d"]),
    ("Largest singular value", ["sigma_max_g", "sigma_max_d"]),
]
NOT_PLOTTED = {"step", "time", "kind", "images_per_s", "nonfinite_skips", "event", "detail",
               "epoch"}
EVAL_BOOKKEEPING = ("_std", "_subset_size", "_subsets", "_n")  # protocol details, not curves
LOG_SCALE = {"Gradient norms", "Largest singular value"}
COLUMNS = 3


def _numeric(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def dashboard_panels(rows: list[dict[str, Any]]) -> list[tuple[str, list[str]]]:
    """(title, keys) of every panel the dashboard draws for these metric rows, in order."""
    train_keys = {k for r in rows if r.get("kind") in ("train", "monitor") for k, v in r.items()
                  if _numeric(v)}
    eval_keys = {k for r in rows if r.get("kind") == "eval" for k, v in r.items() if _numeric(v)}
    panels = []
    covered = set()
    for title, keys in TRAIN_PANELS:
        present = [k for k in keys if k in train_keys]
        covered.update(keys)
        if present:
            panels.append((title, present))
    for key in sorted(eval_keys - NOT_PLOTTED):
        if key.endswith(EVAL_BOOKKEEPING):
            continue
        panels.append((f"eval: {key}", [key]))
    for key in sorted(train_keys - covered - NOT_PLOTTED):
        panels.append((key, [key]))
    return panels


def _series(rows: list[dict[str, Any]], key: str, kinds: tuple[str, ...]) -> tuple[list, list]:
    xs, ys = [], []
    for row in rows:
        if row.get("kind") in kinds and key in row:
            value = row[key]
            xs.append(row["step"])
            ys.append(value if _numeric(value) else math.nan)  # null: a gap, not a zero
    return xs, ys


def _run_config(run_root: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(RunDir(run_root).config.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError):
        return {}
    return data if isinstance(data, dict) else {}


def plot_dashboard(run_root: Path, out: Path | None = None) -> Path:
    """Write the dashboard PNG (default RUN_DIR/dashboard.png) atomically; return its path."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    run_root = Path(run_root)
    if not run_root.is_dir():
        raise GanforgeError(f"run directory '{run_root}' does not exist")
    rows = read_metrics(run_root)
    if not rows:
        raise GanforgeError(f"'{run_root}' has no metrics.jsonl; is it a ganforge run directory?")
    panels = dashboard_panels(rows)
    if not panels:
        raise GanforgeError(f"'{run_root}/metrics.jsonl' holds no numeric values to plot")
    config = _run_config(run_root)
    augment = config.get("augment") or {}
    ada_target = augment.get("target") if augment.get("kind") == "ada" else None
    events = [r for r in rows if r.get("kind") == "guard"]

    n_rows = math.ceil(len(panels) / COLUMNS)
    fig = Figure(figsize=(5 * COLUMNS, 3.2 * n_rows), dpi=100)
    FigureCanvasAgg(fig)
    title = run_root.resolve().name + (f"  ({config['name']})" if config.get("name") else "")
    fig.suptitle(title)
    for index, (panel, keys) in enumerate(panels):
        ax = fig.add_subplot(n_rows, COLUMNS, index + 1)
        is_eval = panel.startswith("eval: ")
        for key in keys:
            xs, ys = _series(rows, key, ("eval",) if is_eval else ("train", "monitor"))
            ax.plot(xs, ys, marker="o" if is_eval else None, markersize=3, label=key)
        if panel == "D accuracy":
            ax.set_ylim(-0.02, 1.02)
            ax.axhline(0.5, color="grey", linestyle="--", linewidth=0.8)
        elif panel.startswith("D logits"):
            ax.axhline(0.0, color="grey", linestyle="--", linewidth=0.8)
        elif panel.startswith("r_t"):
            ax.set_ylim(-1.05, 1.05)
            if ada_target is not None:
                ax.axhline(float(ada_target), color="grey", linestyle="--", linewidth=0.8,
                           label=f"ADA target {ada_target}")
        if panel in LOG_SCALE and all(y > 0 for k in keys for y in _series(rows, k, ("train", "monitor"))[1] if not math.isnan(y)):
            ax.set_yscale("log")
        if not is_eval:
            for n, event in enumerate(events):
                ax.axvline(event["step"], color="red", linestyle=":", linewidth=1,
                           label="guard event" if n == 0 else None)
            if panel == "Losses":
                for event in events:
                    ax.annotate(event.get("event", "?"), (event["step"], 1.0),
                                xycoords=("data", "axes fraction"), rotation=90, fontsize=7,
                                color="red", va="top")
        ax.set_title(panel, fontsize=10)
        ax.set_xlabel("G step")
        ax.grid(alpha=0.3)
        if len(ax.get_legend_handles_labels()[0]) > 1:
            ax.legend(fontsize=7)
    fig.tight_layout(rect=(0, 0, 1, 0.97))  # room for the title
    out = Path(out) if out is not None else run_root / "dashboard.png"
    out.parent.mkdir(parents=True, exist_ok=True)
    temporary = out.with_name(f".{out.name}.tmp")
    try:
        fig.savefig(temporary, format="png")
        os.replace(temporary, out)
    finally:
        temporary.unlink(missing_ok=True)
    return out
