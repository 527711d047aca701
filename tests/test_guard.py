"""The divergence/collapse guard's rules on hand-made readings."""

from __future__ import annotations

import math

import pytest

from ganforge.config import GuardConfig
from ganforge.errors import GanforgeError
from ganforge.objectives import get_objective
from ganforge.training.guard import Guard


def kinds(events: list) -> list[str]:
    return [e.kind for e in events]


def test_nonfinite_steps_are_skipped_counted_and_become_an_event() -> None:
    guard = Guard(GuardConfig(max_nonfinite=3))
    assert guard.step_is_finite(1.0, 2.0)
    assert not guard.step_is_finite(math.nan, 1.0)
    assert not guard.step_is_finite(1.0, math.inf)
    assert guard.step_is_finite(1.0, 1.0)  # a finite step resets the streak
    for _ in range(3):
        assert not guard.step_is_finite(math.nan, math.nan)
    assert guard.nonfinite_skips == 5
    assert kinds(guard.check({})) == ["nonfinite"]
    assert guard.check({}) == []  # reported once


def test_skipping_can_be_turned_off() -> None:
    guard = Guard(GuardConfig(skip_nonfinite=False))
    assert guard.step_is_finite(math.nan, 1.0)
    assert guard.nonfinite_skips == 0


def test_sigma_explosion() -> None:
    guard = Guard(GuardConfig(sigma_limit=100.0))
    assert guard.check({"sigma_max_g": 5.0, "sigma_max_d": 99.0}) == []
    assert kinds(guard.check({"sigma_max_g": 5.0, "sigma_max_d": 101.0})) == ["sigma_explosion"]
    assert kinds(guard.check({"sigma_max_g": math.inf})) == ["sigma_explosion"]


def test_d_loss_pinned_at_zero_while_g_loss_rises() -> None:
    guard = Guard(GuardConfig(d_loss_floor=0.01, floor_checks=3))
    readings = [(0.5, 1.0), (0.0, 2.0), (0.0, 3.0), (0.005, 4.0)]
    events = [kinds(guard.check({"loss_d": d, "loss_g": g})) for d, g in readings]
    assert events == [[], [], [], ["d_collapse"]]
    # D near zero but G's loss falling is not the pattern
    guard = Guard(GuardConfig(d_loss_floor=0.01, floor_checks=2))
    for d, g in [(0.0, 4.0), (0.0, 3.0), (0.0, 2.0), (0.0, 1.0)]:
        assert guard.check({"loss_d": d, "loss_g": g}) == []


def test_a_wgan_critic_below_the_floor_is_not_a_collapse() -> None:
    """A critic's loss is negative by design (stargan, wgan, wgan-gp): the floor rule is off."""
    readings = [(-5.0, 1.0), (-6.0, 2.0), (-7.0, 3.0), (-8.0, 4.0)]
    for loss, fires in (("wasserstein", False), ("hinge", True)):
        guard = Guard(GuardConfig(d_loss_floor=0.01, floor_checks=3),
                      d_loss_bounded=get_objective(loss).d_loss_bounded)
        events = [kinds(guard.check({"loss_d": d, "loss_g": g})) for d, g in readings]
        assert (["d_collapse"] in events) is fires


def test_diversity_rule_waits_for_the_end_of_the_opening() -> None:
    guard = Guard(GuardConfig(diversity_drop=0.3, diversity_after=500))
    assert guard.check({"step": 50, "diversity": 0.31}) == []
    assert guard.check({"step": 100, "diversity": 0.09}) == []  # the MNIST opening's swing
    assert guard.best_diversity is None  # the opening sets no best either
    assert guard.check({"step": 500, "diversity": 0.2}) == []
    assert kinds(guard.check({"step": 525, "diversity": 0.05})) == ["diversity_drop"]


def test_diversity_drop_relative_to_best() -> None:
    guard = Guard(GuardConfig(diversity_drop=0.3))
    assert guard.check({"diversity": 0.2}) == []
    assert guard.check({"diversity": 0.5}) == []  # new best
    assert guard.check({"diversity": 0.16}) == []  # 0.32 of best
    assert kinds(guard.check({"diversity": 0.14})) == ["diversity_drop"]


def test_disabled_guard_reports_nothing() -> None:
    guard = Guard(GuardConfig(enabled=False, sigma_limit=1.0))
    assert guard.check({"sigma_max_g": 10.0}) == []


def test_rollback_compounds_the_remedy_and_has_a_budget() -> None:
    guard = Guard(GuardConfig(lr_factor=0.5, augment_p_boost=0.1, max_rollbacks=2))
    guard.after_rollback()
    guard.after_rollback()
    assert guard.lr_scale == pytest.approx(0.25)
    assert guard.p_boost == pytest.approx(0.2)
    with pytest.raises(GanforgeError, match="max_rollbacks"):
        guard.after_rollback()
    restored = Guard(GuardConfig())
    restored.load_state_dict(guard.state_dict())
    assert restored.rollbacks == 3 and restored.lr_scale == pytest.approx(0.25)


@pytest.mark.parametrize("key,value", [("lr_factor", 0.0), ("max_nonfinite", 0),
                                       ("diversity_drop", 1.0), ("sigma_limit", -1.0)])
def test_bad_settings_name_the_key(key: str, value: float) -> None:
    with pytest.raises(GanforgeError, match="guard."):
        Guard(GuardConfig(**{key: value}))
