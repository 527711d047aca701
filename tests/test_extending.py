"""docs/extending.md's worked example: RaSGAN added as one method file plus one recipe.

The loss is checked against its closed form on hand-made logits and replayed by hand with the
real networks; the recipe trains through the CLI; and nothing outside the method's file and
its recipe names it (the measure of "a new method touches one file").
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

from ganforge.cli import main
from ganforge.config.registry import COMPONENTS
from ganforge.training.methods import METHODS
from ganforge.training.methods.relativistic import RelativisticAverage, relativistic_average_loss
from ganforge.training.run_dir import read_metrics
from test_family import make_trainer

SRC = Path(__file__).resolve().parents[1] / "src" / "ganforge"


def softplus(t: float) -> float:
    return math.log1p(math.exp(t))


def test_relativistic_average_loss_closed_form() -> None:
    real, fake = torch.tensor([2.0, 0.0]), torch.tensor([-1.0, 1.0])  # means: real 1, fake 0
    d = (softplus(-(2 - 0)) + softplus(-(0 - 0))) / 2 + (softplus(-1 - 1) + softplus(1 - 1)) / 2
    g = (softplus(-(-1 - 1)) + softplus(-(1 - 1))) / 2 + (softplus(2 - 0) + softplus(0 - 0)) / 2
    assert float(relativistic_average_loss(real, fake)) == pytest.approx(d, rel=1e-6)
    assert float(relativistic_average_loss(fake, real)) == pytest.approx(g, rel=1e-6)
    # D fully confident that reals beat fakes: its loss goes to 0 while G's grows
    assert float(relativistic_average_loss(torch.tensor([50.0]), torch.tensor([-50.0]))) < 1e-12


def test_one_file_registers_the_method_and_its_settings() -> None:
    assert METHODS["ragan"] is RelativisticAverage
    assert COMPONENTS["method"]["ragan"].__module__ == RelativisticAverage.__module__
    assert set(METHODS) == set(COMPONENTS["method"])  # every method has settings, and back
    mentions = sorted(str(p.relative_to(SRC)) for p in SRC.rglob("*.*")
                      if p.suffix in (".py", ".yaml") and "ragan" in p.read_text(encoding="utf-8"))
    assert mentions == ["recipes/ragan.yaml", "training/methods/relativistic.py"]


def test_d_and_g_losses_replayed_by_hand(tmp_path: Path) -> None:
    trainer = make_trainer("ragan", tmp_path)
    task = trainer.task
    task.G.eval(), task.D.eval()  # no batch-norm drift between the method's call and ours
    real, y_real = task.real_batch()
    state = (task.noise_gen.get_state(), task.label_gen.get_state())
    out = task.method.d_loss(real, y_real)
    task.noise_gen.set_state(state[0]), task.label_gen.set_state(state[1])
    z, y = task.noise(real.shape[0])
    with torch.no_grad():
        fake = task.G(z, y)
        by_hand = relativistic_average_loss(task.D(real, y_real).float(), task.D(fake, y).float())
    torch.testing.assert_close(out.loss.detach(), by_hand)


def test_the_recipe_trains_from_the_cli(tmp_path: Path) -> None:
    run = tmp_path / "ragan"
    assert main(["train", "--recipe", "ragan", "--out", str(run), "--steps", "2", "--no-progress",
                 "model.ch=8", "train.batch_size=16", "train.log_every=1", "monitor.plot=false"]) == 0
    rows = [r for r in read_metrics(run) if r["kind"] == "train"]
    assert [r["step"] for r in rows] == [1, 2] and all(math.isfinite(r["loss_d"]) for r in rows)
