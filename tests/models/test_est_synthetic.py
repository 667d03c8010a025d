"""Behaviour on a synthetic register-shaped table with a known effect and confounding; diagnostics; power."""

from __future__ import annotations

import json
import math

import numpy as np
import polars as pl
import pytest

from models import DesignSpec, estimate, mde, mde_table, permute_within
from models.diagnostics import balance_table, overlap_table

TRUTH = -2.0


@pytest.fixture(scope="module")
def big_table(table_factory):
    return table_factory(n_persons=2500, seed=3)


@pytest.fixture(scope="module")
def att(big_table, covariates):
    spec = DesignSpec(model="irm", score="ATTE", n_folds=5, n_reps=1, n_estimators=150, seed=5,
                      group_cols=("benefit_group", "sex_woman"),
                      benchmark_sets=(("benefit_history", ("benefit_weeks_pre_spell_52w", "benefit_weeks_pre_spell_104w")),),
                      benchmark_max_n=2000)  # fmt: skip
    return estimate(big_table, "weeks_selfsupport_26w", "digital", covariates, spec)


def test_irm_att_covers_truth_and_beats_naive(big_table, att):
    naive = estimate(big_table, "weeks_selfsupport_26w", "digital", [], DesignSpec(model="naive"))
    assert att.ci_low <= TRUTH <= att.ci_high, (att.estimate, att.se)
    assert abs(naive.estimate - TRUTH) > abs(att.estimate - TRUTH) + 2 * att.se
    assert not (naive.ci_low <= TRUTH <= naive.ci_high)


def test_result_fields_and_json(att):
    d = att.to_dict()
    text = json.dumps(d)
    assert "NaN" not in text
    for k in ("estimate", "se", "ci_low", "ci_high", "p_value", "n", "n_treated", "n_trimmed", "learner", "folds",
              "reps", "seed", "nuisance_losses", "overlap", "balance", "sensitivity", "group_effects"):  # fmt: skip
        assert k in d
    assert att.learner == "lgbm(150)" and att.folds == 5 and att.reps == 1
    assert {r["nuisance"] for r in d["nuisance_losses"]} == {"ml_m", "ml_g0", "ml_g1"}
    import dataclasses

    with pytest.raises(dataclasses.FrozenInstanceError):
        att.estimate = 0  # frozen


def test_diagnostics_are_aggregates(att, big_table):
    ov = att.overlap
    assert ov.columns == ["bin_low", "bin_high", "n_treated", "n_control"] and ov.height == 20
    n_rows = big_table.height
    assert int(ov["n_treated"].sum() + ov["n_control"].sum()) == n_rows  # before trimming
    bal = att.balance
    b = bal.filter(pl.col("covariate") == "benefit_weeks_pre_spell_52w").row(0, named=True)
    assert abs(b["smd_before"]) > 0.3 and abs(b["smd_after"]) < abs(b["smd_before"]) / 3
    s = att.sensitivity
    assert s["benchmark"].to_list() == ["default", "benefit_history"]
    row = s.row(0, named=True)
    assert row["theta_lower"] <= row["theta"] <= row["theta_upper"] and 0 < row["rv"] < 1
    ge = att.group_effects
    assert set(ge["group_var"]) == {"benefit_group", "sex_woman"}
    assert ge.filter(pl.col("group_var") == "sex_woman")["n"].sum() == att.n
    for r in ge.iter_rows(named=True):  # constant effect: every group covers the truth (loosely)
        assert abs(r["estimate"] - TRUTH) < 4 * r["se"] + 0.3
    # nothing per person anywhere
    for frame in (ov, bal, s, ge, att.nuisance_losses):
        assert frame.height < 100


def test_trimming_counts_and_refits(big_table, covariates):
    spec = DesignSpec(
        model="irm", score="ATTE", n_folds=3, n_estimators=60, seed=5, trim=(0.2, 0.8), sensitivity=False
    )
    r = estimate(big_table, "weeks_selfsupport_26w", "digital", covariates, spec)
    assert r.n_trimmed > 0 and r.n + r.n_trimmed == big_table.height
    assert int(r.overlap["n_treated"].sum() + r.overlap["n_control"].sum()) == big_table.height


def test_missing_outcome_dropped_and_counted(big_table, covariates):
    spec = DesignSpec(model="irm", score="ATE", n_folds=3, n_estimators=60, seed=5, sensitivity=False)
    r = estimate(big_table, "y_exit_13w", "digital", covariates, spec)
    n_miss = big_table["y_exit_13w"].null_count()
    assert n_miss > 0 and r.n_missing_outcome == n_miss and r.n == big_table.height - n_miss
    assert any("missing outcome" in n for n in r.notes)
    assert {x["metric"] for x in r.to_dict()["nuisance_losses"]} == {"logloss"}  # binary outcome: classifiers


def test_placebo_outcome_and_permuted_treatment_show_nothing(big_table, covariates):
    spec = DesignSpec(
        model="irm", score="ATTE", n_folds=3, n_estimators=150, seed=5, sensitivity=False, diagnostics=False
    )
    pre = estimate(big_table, "weeks_selfsupport_pre52w", "digital", covariates, spec)
    assert pre.ci_low < 0 < pre.ci_high
    perm = permute_within(big_table, "digital", ("kommune", "calendar_month"), seed=9)
    r = estimate(perm, "weeks_selfsupport_26w", "digital", covariates, spec)
    assert abs(r.estimate) < 3 * r.se


def test_permute_within_keeps_cell_counts_and_is_seeded(big_table):
    a = permute_within(big_table, "digital", ("kommune", "calendar_month"), seed=1)
    b = permute_within(big_table, "digital", ("kommune", "calendar_month"), seed=1)
    c = permute_within(big_table, "digital", ("kommune", "calendar_month"), seed=2)
    assert a["digital"].to_list() == b["digital"].to_list() != c["digital"].to_list()
    assert a.drop("digital").equals(big_table.drop("digital"))
    by = ["kommune", "calendar_month"]
    sa = a.group_by(by).agg(pl.col("digital").sum()).sort(by)
    s0 = big_table.group_by(by).agg(pl.col("digital").sum()).sort(by)
    assert sa.equals(s0)


def test_other_designs_run(big_table, covariates):
    from models import leave_one_out_share

    t = leave_one_out_share(big_table)
    kw = dict(n_folds=3, n_estimators=60, seed=5, sensitivity=False)
    plr = estimate(
        t, "weeks_selfsupport_26w", "digital", covariates, DesignSpec(model="plr", trim=None, **kw)
    )
    assert plr.ci_low - 0.5 < TRUTH < plr.ci_high + 0.5
    pliv = estimate(t, "weeks_selfsupport_26w", "digital", covariates,
                    DesignSpec(model="pliv", instrument="z_loo_share", fixed_effects=("kommune", "calendar_month"), **kw))  # fmt: skip
    assert pliv.model == "pliv" and math.isfinite(pliv.se)
    assert pliv.n_missing_instrument == t["z_loo_share"].null_count()
    assert (
        pliv.n_treated is not None and 0 < pliv.n_treated < pliv.n
    )  # counted before the within transformation
    cont = estimate(t, "weeks_selfsupport_26w", "age", ["benefit_weeks_pre_spell_52w", "x_noise"],
                    DesignSpec(model="plr", trim=None, **kw))  # fmt: skip
    assert cont.n_treated is None and cont.to_dict()["n_treated"] is None


def test_auto_learner_reports_choice(big_table, covariates):
    small = big_table.head(600)
    r = estimate(small, "weeks_selfsupport_26w", "digital", covariates,
                 DesignSpec(model="plr", learner="auto", n_folds=3, n_estimators=40, seed=5, sensitivity=False))  # fmt: skip
    # one learner chosen per nuisance, reported in the label, the loss table and the candidates' table
    assert r.learner.startswith("auto(ml_l=") and "ml_m=" in r.learner
    assert any(n.startswith("learner auto") for n in r.notes)
    chosen = r.learner_choice.filter(pl.col("chosen"))
    assert sorted(chosen["nuisance"].to_list()) == ["ml_l", "ml_m"]
    for row in chosen.iter_rows(named=True):
        cands = r.learner_choice.filter(pl.col("nuisance") == row["nuisance"])
        best = cands.sort("loss").row(0, named=True)
        # the guard: the reference (LightGBM's fixed settings) unless the smallest loss beats it beyond 2 SE
        if best["z_vs_lgbm"] is not None and best["z_vs_lgbm"] > 2:
            assert row["candidate"] == best["candidate"]
        else:
            assert row["candidate"] == "lgbm(40)" and row["z_vs_lgbm"] is None, (row, best)
        assert row["weight"] == 1.0 and cands["weight"].sum() == 1.0 and (cands["rule"] == "guard").all()
    losses = r.nuisance_losses.join(chosen, on="nuisance")
    assert (losses["learner"] == losses["candidate"]).all()
    assert (losses["selection_loss"] == losses["loss"]).all()


def test_overlap_and_balance_by_hand():
    p = np.array([0.01, 0.04, 0.05, 0.5, 0.99, 1.0])
    d = np.array([0, 1, 0, 1, 1, 0])
    ov = overlap_table(p, d, 20)
    assert ov["n_treated"].to_list()[0] == 1 and ov["n_control"].to_list()[0] == 1
    assert ov["n_control"].to_list()[1] == 1 and ov["n_treated"].to_list()[10] == 1
    assert ov["n_treated"].to_list()[19] == 1 and ov["n_control"].to_list()[19] == 1
    X = np.array([[1.0], [2.0], [3.0], [4.0]])
    dd = np.array([1, 1, 0, 0])
    bal = balance_table(X, dd, ["x"], np.ones(4, bool), np.array([0.5, 0.5, 0.5, 0.5]), "ATT")
    sd = np.sqrt((0.25 + 0.25) / 2)
    assert bal["smd_before"][0] == pytest.approx((1.5 - 3.5) / sd)
    assert bal["smd_after"][0] == pytest.approx((1.5 - 3.5) / sd)


def test_power_mde_by_hand(big_table):
    from scipy.stats import norm

    z = norm.ppf(0.975) + norm.ppf(0.8)
    assert mde(0.5, 1000) == pytest.approx(z * 0.5 * math.sqrt(4 / 1000))
    assert mde(1.0, 1000, share_treated=0.25) == pytest.approx(z * math.sqrt(1 / 250 + 1 / 750))
    tab = mde_table(big_table, ["y_exit_13w", "weeks_selfsupport_26w"], [2000, 8000])
    assert tab.height == 4
    r = tab.filter((pl.col("outcome") == "y_exit_13w") & (pl.col("trial_size") == 2000)).row(0, named=True)
    s = big_table["y_exit_13w"].drop_nulls()
    assert r["baseline_mean"] == pytest.approx(s.mean()) and r["sd"] == pytest.approx(s.std())
    r4 = tab.filter((pl.col("outcome") == "y_exit_13w") & (pl.col("trial_size") == 8000)).row(0, named=True)
    assert r["mde"] / r4["mde"] == pytest.approx(2.0)
