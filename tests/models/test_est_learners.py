"""Learners that hold on small and imbalanced data: tuning, the per-nuisance choice of ``auto``, the float32
lasso, the spread over repetitions and the trimming flags."""

from __future__ import annotations

import warnings

import numpy as np
import polars as pl
import pytest

import models.learners as learners
from models import DesignSpec, estimate
from models.estimate import _spread_notes, trimming_notes
from models.tuning import LGBM_GRID, choose_learner, subsample_rows, tuning_rows


def _fit(table, outcome, treatment, x, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return estimate(table, outcome, treatment, x, DesignSpec(**kw))


def test_imbalanced_default_learner_covers_att_and_keeps_controls(imbalanced_table, imbalanced_design):
    """About 1.4% treated: the default learner ('auto') covers the known ATT and trims far fewer than most
    controls; LightGBM with its fixed settings (the old default) trims most of them on the same folds."""
    t = imbalanced_table
    att, x = imbalanced_design
    kw = dict(model="irm", score="ATTE", n_folds=5, n_reps=1, person="pnr", sensitivity=False, seed=20200501)
    auto = _fit(t, "y", "treated", x, learner="auto", **kw)
    n_t = int(t["treated"].sum())
    n_c = t.height - n_t
    assert abs(auto.estimate - att) < 3 * auto.se, (auto.estimate, auto.se)
    assert auto.n_trimmed_treated + auto.n_trimmed_control == auto.n_trimmed
    assert auto.n_trimmed_control < 0.35 * n_c  # the true propensity is below 0.01 for ~13% of controls
    # the propensity rule gives fixed LightGBM up only because it breaks overlap here
    m = auto.learner_choice.filter((pl.col("nuisance") == "ml_m") & pl.col("chosen"))
    assert m["rule"].to_list() == ["overlap"] and m["candidate"][0] != "lgbm(200)"
    naive = _fit(t, "y", "treated", [], model="naive", person="pnr")
    assert abs(naive.estimate - att) > 3 * naive.se  # the table does confound

    fixed = _fit(t, "y", "treated", x, learner="lgbm", **kw)
    assert fixed.n_trimmed_control > 0.5 * n_c  # what the test guards against
    assert any("trimming removed" in n and "control" in n and "estimand changed" in n for n in fixed.notes)
    assert fixed.to_dict()["n_trimmed_control"] == fixed.n_trimmed_control


def test_auto_chooses_per_nuisance_by_out_of_fold_loss():
    """A linear-logistic propensity and a step-shaped outcome: logistic wins the propensity, tuned LightGBM
    the outcome (each nuisance chooses separately), each better than the guard's reference beyond noise."""
    rng = np.random.default_rng(4)
    n = 3000
    X = rng.normal(size=(n, 5)).astype(np.float32)
    d = (rng.random(n) < 1 / (1 + np.exp(-(0.8 * X[:, 0] - 0.6 * X[:, 1])))).astype(float)
    y = 3.0 * (X[:, 2] > 0.3) * (X[:, 3] > -0.2) + 0.5 * d + rng.normal(0, 0.5, n)
    persons = np.arange(n)
    m = choose_learner(X, d, persons, "classification", seed=1)
    g0 = choose_learner(X, y, persons, "regression", rows=d == 0, seed=1)
    assert m.kind == "lasso" and g0.kind == "lgbm"
    assert dict(g0.params)["num_leaves"] in {s["num_leaves"] for s in LGBM_GRID}
    assert 10 <= dict(g0.params)["n_estimators"] <= 500
    assert g0.n_rows == int((d == 0).sum())  # the outcome among controls is chosen on the controls
    # tuned LightGBM, LightGBM's fixed settings (the guard's reference), logistic, forest; logistic beats the
    # reference far beyond noise (the guard's 2 SE), so it replaces it; so does tuned LightGBM for the outcome
    assert m.loss == min(v for _, v in m.candidates) and len(m.candidates) == 4
    assert m.rule == "guard" and m.z_vs_lgbm[2] > 2 and g0.z_vs_lgbm[0] > 2


def test_tuning_rows_by_hand():
    assert tuning_rows(1500, 20000) == 1500  # small: every row
    assert tuning_rows(15000, 20000) == 2000  # the floor
    assert tuning_rows(100_000, 20000) == 10000  # a tenth
    assert tuning_rows(1_000_000, 20000) == 20000  # the cap
    assert tuning_rows(15200, 20000, minority_share=0.014) == 15200  # 300 / 0.014 > 15200: every row
    assert tuning_rows(1_000_000, 20000, minority_share=0.01) == 20000  # never above the cap
    assert tuning_rows(50_000, 20000, minority_share=0.05) == 6000


def test_tuning_subsample_takes_whole_persons():
    persons = np.repeat(np.arange(5000), 3)
    rows = np.arange(persons.size)
    sub = subsample_rows(rows, persons, 1000, seed=3)
    assert 990 <= sub.size <= 1000 and np.all(np.diff(sub) > 0)
    kept = np.unique(persons[sub])
    assert np.isin(rows[np.isin(persons, kept)], sub).all()  # every row of a chosen person
    assert np.array_equal(sub, subsample_rows(rows, persons, 1000, seed=3))  # seeded
    assert subsample_rows(rows[:50], persons, 1000, seed=3).size == 50  # small: all rows


def test_tuning_is_capped_by_tune_max_rows(imbalanced_table, imbalanced_design):
    r = _fit(imbalanced_table.head(4000), "y", "treated", imbalanced_design[1], model="plr", learner="auto",
             n_folds=3, person="pnr", sensitivity=False, tune_max_rows=1000)  # fmt: skip
    assert (r.learner_choice["n_rows"] <= 1000).all()


def test_lasso_on_float32_nearly_collinear_data(collinear_float32_table):
    """The table makes scikit-learn's LassoCV fail its Gram-matrix check in float32; the lasso learner
    casts to float64 first (without the cast the same estimate fails, so the test guards the fix)."""
    t, x = collinear_float32_table
    assert all(t.schema[c] == pl.Float32 for c in x)
    r = _fit(t, "re78", "treat", x, model="plr", learner="lasso", person=None, n_folds=5, sensitivity=False)
    assert np.isfinite(r.estimate) and r.se > 0 and abs(r.estimate - 800) < 4 * r.se
    original = learners.as_float64
    try:
        learners.as_float64 = lambda a: a
        with pytest.raises(ValueError, match="Gram matrix"):
            _fit(
                t, "re78", "treat", x, model="plr", learner="lasso", person=None, n_folds=5, sensitivity=False
            )
    finally:
        learners.as_float64 = original


def test_rep_spread_and_its_warning(register_table, covariates):
    r = _fit(register_table, "weeks_selfsupport_26w", "digital", covariates, model="irm", n_folds=3, n_reps=3,
             n_estimators=40, seed=7, sensitivity=False)  # fmt: skip
    est = np.array(r.estimates_by_rep)
    assert r.rep_spread == pytest.approx(est.max() - est.min())
    assert r.to_dict()["rep_spread"] == pytest.approx(r.rep_spread)
    warned = any(n.startswith("warning: the estimates of the 3 repetitions") for n in r.notes)
    assert warned == (r.rep_spread > 0.5 * r.se)
    one = _fit(register_table, "weeks_selfsupport_26w", "digital", covariates, model="plr", n_folds=3,
               n_estimators=40, seed=7, sensitivity=False)  # fmt: skip
    assert np.isnan(one.rep_spread) and one.to_dict()["rep_spread"] is None
    # the rule by hand
    assert _spread_notes(0.51, 1.0, 5)[0].startswith("warning: the estimates of the 5 repetitions")
    assert _spread_notes(0.49, 1.0, 5) == []
    assert "not measured" in _spread_notes(float("nan"), 1.0, 1)[0]


def test_trimming_flags_by_hand():
    assert trimming_notes(1, 10, 10, 100) == []  # exactly 10% of each arm: no warning
    notes = trimming_notes(2, 10, 5, 100)
    assert len(notes) == 1 and "20% of the treated" in notes[0] and "estimand changed" in notes[0]
    notes = trimming_notes(0, 10, 96, 100)
    assert len(notes) == 1 and "96% of the control" in notes[0]


def test_trimming_counts_by_arm(register_table, covariates):
    r = _fit(register_table, "weeks_selfsupport_26w", "digital", covariates, model="irm", trim=(0.3, 0.7),
             n_folds=3, n_estimators=40, seed=7, sensitivity=False)  # fmt: skip
    assert r.n_trimmed > 0
    assert r.n_trimmed_treated + r.n_trimmed_control == r.n_trimmed
    t = register_table.filter(pl.col("weeks_selfsupport_26w").is_not_null())
    assert r.n_treated + r.n_trimmed_treated == int(t["digital"].sum())


def test_tuned_settings_reach_the_learner():
    from models.engine import LearnerSpec

    m = learners.make_learner("lgbm", "classification", params={"num_leaves": 4, "n_estimators": 17})
    assert m.get_params()["num_leaves"] == 4 and m.get_params()["n_estimators"] == 17
    spec = LearnerSpec("lgbm", "regression", seed=3, params=(("min_child_samples", 50), ("num_leaves", 8)))
    assert spec.make().get_params()["min_child_samples"] == 50  # as data: the same on a Dask worker
    logit = learners.make_learner("lasso", "classification", params={"C": 0.5})
    assert type(logit.steps[-1][1]).__name__ == "LogisticRegression" and logit.steps[-1][1].C == 0.5
    with pytest.raises(ValueError, match=r"params: \['C'\] cannot be set for learner 'rf'"):
        learners.make_learner("rf", "regression", params={"C": 1.0})
    with pytest.raises(ValueError, match="params"):
        learners.make_learner("lasso", "regression", params={"C": 1.0})


@pytest.mark.parametrize("task", ["regression", "classification"])
@pytest.mark.parametrize("poly2", [False, True])
def test_linear_learners_never_change_their_input(task, poly2):
    """The lasso's scaler works in place on the float64 copy made by the pipeline, never on the caller's X."""
    rng = np.random.default_rng(0)
    for dtype in (np.float32, np.float64):
        X = rng.normal(size=(200, 3)).astype(dtype)
        before = X.copy()
        y = X[:, 0] + rng.normal(size=200)
        learners.make_learner("lasso", task, poly2=poly2).fit(
            X, (y > 0).astype(float) if task == "classification" else y
        )
        assert np.array_equal(X, before)
