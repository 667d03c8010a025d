"""Feasibility (issue 18): MDE from the SE, Kish ESS from the weights, trial size from the MDE, the share of
meetings in small in-person cells, the verdict's wording and the table's disclosure gate, each checked
against a hand computation."""

from __future__ import annotations

import math

import numpy as np
import polars as pl
import pytest

from data_contracts.config import RunConfig
from models.disclosure import gate
from models.estimate import DesignSpec, estimate
from models.feasibility import (
    MDE_FACTOR,
    ess_by_arm,
    feasibility_spec,
    feasibility_table,
    kish_ess,
    mde_80,
    small_cell_share,
    trial_persons_per_arm,
    verdict,
)


def test_mde_factor_and_mde_from_se():
    # z_0.975 = 1.959964, z_0.80 = 0.841621
    assert MDE_FACTOR == pytest.approx(2.801585, abs=1e-6)
    assert mde_80(0.01) == pytest.approx(0.02801585, abs=1e-8)
    with pytest.raises(ValueError, match="se must be a finite positive number; got 0"):
        mde_80(0)


def test_kish_ess_by_hand():
    assert kish_ess(np.array([1.0, 1.0, 2.0])) == pytest.approx(16 / 6)  # (1+1+2)^2 / (1+1+4)
    assert kish_ess(np.ones(7)) == pytest.approx(7.0)
    assert kish_ess(np.zeros(3)) == 0.0
    with pytest.raises(ValueError, match="weights must be"):
        kish_ess(np.array([1.0, -1.0]))


def test_ess_by_arm_att_and_ate_by_hand():
    p = np.array([0.5, 0.8, 0.2, 0.5])
    d = np.array([1, 1, 0, 0])
    # ATT: treated weights 1, 1 -> 2; controls p/(1-p) = 0.25, 1 -> 1.25^2 / (0.0625 + 1)
    t, c = ess_by_arm(p, d, "ATT")
    assert t == pytest.approx(2.0) and c == pytest.approx(1.5625 / 1.0625)
    # ATE: treated 1/p = 2, 1.25; controls 1/(1-p) = 1.25, 2 -> 3.25^2 / (4 + 1.5625)
    t, c = ess_by_arm(p, d, "ATE")
    assert t == pytest.approx(10.5625 / 5.5625) and c == pytest.approx(10.5625 / 5.5625)
    # clipping at 0.1: a control with p = 0.99 gets weight 0.9/0.1 = 9 rather than 99
    t, c = ess_by_arm(np.array([0.5, 0.99, 0.5]), np.array([1, 0, 0]), "ATT", clip=0.1)
    assert c == pytest.approx(100 / 82)  # weights 9, 1
    with pytest.raises(ValueError, match="target must be 'ATT' or 'ATE'; got 'ATX'"):
        ess_by_arm(p, d, "ATX")


def test_trial_persons_from_mde_by_hand():
    # 2 x 2.801585^2 x 0.5^2 / 0.01^2 = 39244.4 -> 39245 per arm
    assert trial_persons_per_arm(0.5, 0.01) == 39245
    # the same MDE as a design with SE 0.01: 2 x sigma^2 / SE^2 per arm, whatever the factor
    assert trial_persons_per_arm(0.4, mde_80(0.01)) == 3200
    with pytest.raises(ValueError, match="sigma must be a finite positive number"):
        trial_persons_per_arm(0.0, 0.01)


def _table() -> pl.DataFrame:
    # kommune 1, month a: 6 in person, 4 digital (not small); kommune 1, month b: 1 in person, 9 digital
    # (small); kommune 2, month a: 0 in person, 5 digital (small) -> small share = 15 / 25
    d = [0] * 6 + [1] * 4 + [0] + [1] * 9 + [1] * 5
    kom = [1] * 20 + [2] * 5
    month = ["a"] * 10 + ["b"] * 10 + ["a"] * 5
    y = [0.0, 1.0] * 12 + [None]
    return pl.DataFrame({"kommune": kom, "calendar_month": month, "digital": d, "y_exit_26w": y})


def test_small_cell_share_by_hand():
    assert small_cell_share(_table(), "digital", ("kommune", "calendar_month")) == pytest.approx(15 / 25)
    assert small_cell_share(
        _table(), "digital", ("kommune", "calendar_month"), min_in_person=1
    ) == pytest.approx(5 / 25)


def _estimates(se_irm: float, se_plr: float = 0.05) -> pl.DataFrame:
    return pl.DataFrame({
        "outcome": ["y_exit_26w"] * 3, "design": ["irm_att", "plr", "naive"], "se": [se_irm, se_plr, 0.001],
        "n": [24, 24, 24], "n_treated": [15, 15, 15], "n_control": [9, 9, 9], "ess_treated": [15.0, 12.0, None],
        "ess_control": [6.5, 8.0, None], "first_stage_f": [None, None, None],
    })  # fmt: skip


def test_feasibility_table_arithmetic():
    f = feasibility_table(_estimates(0.01), _table(), "digital", ("kommune", "calendar_month"), 0.01)
    irm = f.filter(pl.col("design") == "irm_att").row(0, named=True)
    assert irm["mde_80"] == pytest.approx(MDE_FACTOR * 0.01)
    assert irm["mde_to_effect"] == pytest.approx(MDE_FACTOR)
    # sigma: SD (n - 1) of the 24 observed 0/1 values, 12 ones: sqrt(24 x 0.25 / 23)
    sd = math.sqrt(24 * 0.25 / 23)
    assert irm["outcome_sd"] == pytest.approx(sd)
    per_arm = math.ceil(2 * MDE_FACTOR**2 * sd**2 / (MDE_FACTOR * 0.01) ** 2)
    assert irm["trial_persons_per_arm"] == per_arm and irm["trial_persons"] == 2 * per_arm
    # the small-cell share among the rows with the outcome observed (the last row of kommune 2 has none)
    assert irm["share_meetings_small_cells"] == pytest.approx(14 / 24)
    assert irm["ess_control"] == 6.5 and irm["n_trimmed_treated"] is None  # not reported by these estimates


def test_verdict_cannot_answer():
    f = feasibility_table(_estimates(0.012, 0.02), _table(), "digital", ("kommune", "calendar_month"), 0.01)
    lines = verdict(f, "y_exit_26w", (0.01, 0.02))
    assert lines[0].startswith("CANNOT ANSWER: this delivery cannot tell an effect of the size that matters "
                               "(1.0-2.0 percentage points) on y_exit_26w from zero. The closest design, IRM-ATT, "
                               "detects only effects of 3.4 percentage points or more")  # fmt: skip
    assert "naive" not in " ".join(lines)  # the naive difference's tiny SE is not a design to believe
    assert "PLR 5.6 percentage points" in lines[1]
    weak = _estimates(0.012, 0.02).with_columns(pl.Series("design", ["irm_att", "pliv", "naive"]),
                                                 pl.Series("first_stage_f", [None, 2.04, None]))  # fmt: skip
    f = feasibility_table(weak, _table(), "digital", ("kommune", "calendar_month"), 0.01)
    assert (
        "PLIV (instrument) 5.6 percentage points (weak instrument: first-stage F 2.0)"
        in verdict(f, "y_exit_26w", 0.01)[1]
    )
    assert any(s.startswith("A 1:1 reversed trial (randomizing the meeting form) of about") for s in lines)


def test_verdict_can_answer_and_only_large_effects():
    f = feasibility_table(_estimates(0.003), _table(), "digital", ("kommune", "calendar_month"), 0.01)
    lines = verdict(f, "y_exit_26w", (0.01, 0.02))
    assert lines[0].startswith("CAN ANSWER: this delivery can tell an effect of 1.0 percentage points on "
                               "y_exit_26w from zero. The closest design, IRM-ATT, detects effects of 0.8")  # fmt: skip
    f = feasibility_table(_estimates(0.006), _table(), "digital", ("kommune", "calendar_month"), 0.01)
    assert verdict(f, "y_exit_26w", (0.01, 0.02))[0].startswith("ONLY LARGE EFFECTS: this delivery can tell an "
                                                                 "effect of 2.0 percentage points")  # fmt: skip
    # only the naive difference: no causal design to judge by
    assert verdict(f.filter(pl.col("design") == "naive"), "y_exit_26w", 0.01)[0].startswith("NOT ASSESSED")
    # a configured exit outcome the run did not estimate: the longest exit horizon that was, said so
    first = verdict(f, "y_exit_52w", (0.01, 0.02))[0]
    assert first.startswith("ONLY LARGE EFFECTS") and "on y_exit_26w from zero" in first
    assert first.endswith("(on y_exit_26w: the configured outcome y_exit_52w was not estimated in this run)")


def test_feasibility_table_passes_the_disclosure_gate():
    f = feasibility_table(_estimates(0.01), _table(), "digital", ("kommune", "calendar_month"), 0.01)
    r = gate(feasibility_spec(f), min_cell=5)
    assert r.approved, r.reason
    assert "n_trimmed_treated" not in r.table.columns  # not reported: left out, not published empty
    assert r.table.filter(pl.col("design") == "irm_att")["mde_80"][0] == pytest.approx(MDE_FACTOR * 0.01)
    # a design with 3 controls: its counts and every value of its row are suppressed
    small = _estimates(0.01).with_columns(pl.Series("n_control", [3, 9, 9]), pl.Series("n", [18, 24, 24]))
    r = gate(
        feasibility_spec(feasibility_table(small, _table(), "digital", ("kommune", "calendar_month"), 0.01)),
        min_cell=5,
    )
    assert r.approved
    row = r.table.filter(pl.col("design") == "irm_att").row(0, named=True)
    assert row["n_control"] is None and row["mde_80"] is None and row["ess_control"] is None


def test_irm_and_plr_results_carry_kish_ess(register_table, covariates, fast_spec_kwargs):
    r = estimate(register_table, "weeks_selfsupport_26w", "digital", covariates,
                 DesignSpec(model="irm", score="ATTE", sensitivity=False, **fast_spec_kwargs))  # fmt: skip
    # ATT: every treated meeting weighs 1; controls are reweighted, so fewer effective than actual
    assert r.ess_treated == pytest.approx(r.n_treated)
    assert 0 < r.ess_control < r.n - r.n_treated
    plr = estimate(register_table, "weeks_selfsupport_26w", "digital", covariates,
                   DesignSpec(model="plr", sensitivity=False, trim=None, **fast_spec_kwargs))  # fmt: skip
    assert 0 < plr.ess_treated < plr.n_treated and 0 < plr.ess_control < plr.n - plr.n_treated
    naive = estimate(register_table, "weeks_selfsupport_26w", "digital", covariates,
                     DesignSpec(model="naive", trim=None, **fast_spec_kwargs))  # fmt: skip
    assert naive.ess_treated is None and "ess_control" in naive.row()


def test_config_feasibility_defaults():
    e = RunConfig().estimation
    assert e.feasibility_outcome == "y_exit_26w" and e.feasibility_effect == (0.01, 0.02)
    with pytest.raises(ValueError, match="feasibility_effect"):
        RunConfig(estimation={"feasibility_effect": (0.02, 0.01)})
