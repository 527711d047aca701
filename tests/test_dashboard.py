"""The run dashboard: which panels are drawn, a valid PNG, clear errors, atomic replacement."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image

from ganforge import api
from ganforge.cli import main
from ganforge.errors import GanforgeError
from ganforge.training.dashboard import dashboard_panels, plot_dashboard


def write_rows(run: Path, rows: list[dict]) -> None:
    run.mkdir(parents=True, exist_ok=True)
    (run / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))


FULL = {"loss_d": 1.0, "loss_g": 0.5, "d_acc_real": 0.6, "d_acc_fake": 0.7, "logit_real": 0.2,
        "logit_fake": -0.3, "r_t": 0.4, "ada_p": 0.1, "grad_norm_g": 2.0, "grad_norm_d": 3.0,
        "sigma_max_g": 1.5, "sigma_max_d": 4.0, "diversity": 0.3, "images_per_s": 100.0,
        "nonfinite_skips": 0}


def test_full_run_gets_every_panel_and_a_png(tmp_path: Path) -> None:
    rows = [{"step": s, "time": 0.0, "kind": "train", **FULL} for s in (10, 20, 30)]
    rows[1]["loss_d"] = None  # a non-finite value logged as null: a gap
    rows += [{"step": 30, "time": 0.0, "kind": "eval", "fid": 12.0, "class_accuracy": 0.9,
              "features": "mnist"},
             {"step": 20, "time": 0.0, "kind": "guard", "event": "sigma_explosion", "detail": "x"}]
    write_rows(tmp_path, rows)
    assert dashboard_panels(rows) == [
        ("Losses", ["loss_d", "loss_g"]), ("D accuracy", ["d_acc_real", "d_acc_fake"]),
        ("D logits (mean)", ["logit_real", "logit_fake"]),
        ("r_t = E[sign D(real)] and ADA p", ["r_t", "ada_p"]),
        ("Gradient norms", ["grad_norm_g", "grad_norm_d"]),
        ("Largest singular value", ["sigma_max_g", "sigma_max_d"]),
        ("eval: class_accuracy", ["class_accuracy"]), ("eval: fid", ["fid"]),
        ("diversity", ["diversity"]),
    ]
    path = plot_dashboard(tmp_path)
    assert path == tmp_path / "dashboard.png"
    with Image.open(path) as image:
        assert image.format == "PNG" and image.width >= 1000 and image.height >= 900


def test_only_losses_and_unknown_keys_get_their_own_panels() -> None:
    rows = [{"step": 1, "time": 0.0, "kind": "train", "loss_d": 1.0, "loss_g": 2.0}]
    assert dashboard_panels(rows) == [("Losses", ["loss_d", "loss_g"])]
    rows[0]["gp"] = 0.5
    assert dashboard_panels(rows)[-1] == ("gp", ["gp"])


def test_missing_run_or_metrics_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(GanforgeError, match="does not exist"):
        plot_dashboard(tmp_path / "nope")
    with pytest.raises(GanforgeError, match="no metrics.jsonl"):
        plot_dashboard(tmp_path)
    assert main(["plot", str(tmp_path)]) == 2


def test_existing_dashboard_is_replaced_without_temporaries(tmp_path: Path) -> None:
    write_rows(tmp_path, [{"step": 1, "time": 0.0, "kind": "train", "loss_d": 1.0}])
    (tmp_path / "dashboard.png").write_text("old")
    out = api.plot(tmp_path)
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dashboard.png", "metrics.jsonl"]
    assert main(["plot", str(tmp_path), "--out", str(tmp_path / "d2.png")]) == 0
    assert (tmp_path / "d2.png").is_file()
