"""The propensity on the whole unit (``DesignSpec.propensity_rows='unit'``): IRM's and PLR's propensity is
fitted on every row with a treatment and covariates, missing outcome or not, with person folds drawn on all
of them; each outcome's folds are their restriction. Checked against a hand-written cross-fit, for the
folds' consistency, for equality with the outcome's own rows when no outcome is missing, and for the
sharing across outcomes it exists for."""

from __future__ import annotations

import dataclasses

import numpy as np
import polars as pl
import pytest

from models.engine import Engine, LearnerSpec
from models.estimate import DesignSpec, _estimate, _fit_irm, _prepare, estimate
from models.folds import group_codes, person_folds, restrict_folds
from models.nuisance_cache import NuisanceCache

COVS = ["age", "sex_woman", "education_level", "benefit_weeks_pre_spell_52w", "elapsed_weeks", "x_noise"]
FAST = dict(learner="lgbm", n_folds=3, n_reps=2, n_estimators=20, trim=None, sensitivity=False,
            diagnostics=False, propensity_rows="unit")  # fmt: skip


@pytest.fixture(scope="module")
def table(unit_table):
    return unit_table


def _hand_propensity(table: pl.DataFrame, spec: DesignSpec, rep: int) -> np.ndarray:
    """A cross-fitted propensity written out by hand: person folds on every row, a LightGBM classifier
    with the design's settings fitted outside each fold and predicted inside it."""
    persons = group_codes(table.get_column("pnr").to_numpy())
    X = table.select(COVS).cast(pl.Float32).to_numpy()
    d = table.get_column("digital").to_numpy().astype(float)
    out = np.full(table.height, np.nan)
    for train, test in person_folds(persons, spec.n_folds, spec.n_reps, spec.seed)[rep]:
        lrn = LearnerSpec("lgbm", "classification", seed=spec.seed + rep, n_estimators=spec.n_estimators)
        model = lrn.make().fit(X[train], d[train])
        out[test] = model.predict_proba(X[test])[:, 1]
    return out


def test_the_propensity_is_cross_fitted_on_every_row_and_read_on_the_outcomes(table):
    spec = DesignSpec(score="ATTE", **FAST)
    p = _prepare(table, "y_exit_13w", "digital", COVS, spec)
    assert p.unit is not None and p.unit.obs.shape[0] == table.height
    assert int((~p.unit.obs).sum()) == table.get_column("y_exit_13w").null_count() > 0
    p.unit.folds = person_folds(p.unit.persons, spec.n_folds, spec.n_reps, spec.seed)
    folds = restrict_folds(p.unit.folds, p.unit.obs)
    fit = _fit_irm(p, spec, "lgbm", folds, p.X, p.x_cols, False, Engine())
    has_y = table.get_column("y_exit_13w").is_not_null().to_numpy()
    np.testing.assert_allclose(fit.propensity_all, _hand_propensity(table, spec, 0)[has_y], rtol=1e-9)
    both = np.column_stack([_hand_propensity(table, spec, r)[has_y] for r in range(spec.n_reps)])
    np.testing.assert_allclose(fit.propensity, both.mean(axis=1), rtol=1e-9)


def test_a_person_is_in_the_same_fold_for_every_outcome(table):
    spec = DesignSpec(score="ATTE", **FAST)
    fold_of_person = []
    for outcome in ("y_exit_13w", "y_late"):
        p = _prepare(table, outcome, "digital", COVS, spec)
        folds = restrict_folds(person_folds(p.unit.persons, spec.n_folds, 1, spec.seed), p.unit.obs)[0]
        pnr = table.filter(pl.col(outcome).is_not_null()).get_column("pnr").to_numpy()
        fold_of_person.append({pnr[i]: k for k, (_, test) in enumerate(folds) for i in test})
    shared = fold_of_person[0].keys() & fold_of_person[1].keys()
    assert len(shared) > 400
    assert all(fold_of_person[0][q] == fold_of_person[1][q] for q in shared)


def test_without_missing_outcomes_unit_and_outcome_rows_give_the_same_result(table):
    full = table.filter(pl.col("y_exit_13w").is_not_null())
    a = estimate(full, "y_exit_13w", "digital", COVS, DesignSpec(score="ATTE", **FAST))
    b = estimate(
        full,
        "y_exit_13w",
        "digital",
        COVS,
        DesignSpec(score="ATTE", **{**FAST, "propensity_rows": "outcome"}),
    )
    assert (a.estimate, a.se, a.estimates_by_rep) == (b.estimate, b.se, b.estimates_by_rep)
    assert not any("propensity fitted on all" in n for n in a.notes)


def test_two_outcomes_share_one_propensity_fit_and_plr_reads_it(table, tmp_path):
    cache = NuisanceCache(tmp_path)
    spec = DesignSpec(score="ATTE", **FAST)
    first = estimate(table, "y_exit_13w", "digital", COVS, spec, Engine(cache))
    assert cache.counts()["fits_made"] == 4  # per repetition the propensity and g0
    second = estimate(table, "y_late", "digital", COVS, spec, Engine(cache))
    # the second outcome fits only its outcome models: both repetitions' propensity were read
    assert cache.counts()["fits_made"] == 6 and cache.counts()["fits_requested"] == 8
    assert any("including the" in n and "propensity_rows='unit'" in n for n in second.notes)
    estimate(
        table, "y_late", "digital", COVS, DesignSpec(model="plr", **{**FAST, "n_reps": 1}), Engine(cache)
    )
    # PLR's rep-0 propensity is IRM's (same learner, seed, rows and folds): only its ml_l is new
    assert cache.counts()["fits_made"] == 7
    assert np.isfinite(first.estimate) and np.isfinite(second.estimate)


def test_trimming_on_the_unit_keeps_the_outcome_rows_in_step(table):
    # trimming drops rows by the unit's propensity; the outcome's kept rows are those of the unit's kept
    # rows that have the outcome, and the refitted propensity is read on exactly them
    spec = DesignSpec(score="ATTE", **{**FAST, "trim": (0.3, 0.7)})
    res = estimate(table, "y_exit_13w", "digital", COVS, spec)
    p = _prepare(table, "y_exit_13w", "digital", COVS, spec)
    ref = _hand_propensity(table, spec, 0)
    kept_unit = (ref >= 0.3) & (ref <= 0.7)
    has_y = table.get_column("y_exit_13w").is_not_null().to_numpy()
    assert res.n == int((kept_unit & has_y).sum()) and res.n_trimmed == int((~kept_unit & has_y).sum())
    assert res.n_trimmed > 0 and p.y.shape[0] == int(has_y.sum())


def test_the_outcome_rows_get_no_second_covariate_matrix(table):
    # the learners read the unit's matrix with row masks: one matrix in memory, not the unit's and a copy
    p = _prepare(table, "y_exit_13w", "digital", COVS, DesignSpec(score="ATTE", **FAST))
    assert p.X is None and p.unit.X.shape == (table.height, len(COVS))
    q = _prepare(
        table,
        "y_exit_13w",
        "digital",
        COVS,
        DesignSpec(score="ATTE", **{**FAST, "propensity_rows": "outcome"}),
    )
    assert q.unit is None and q.X.shape[0] == p.y.shape[0]


def test_propensity_rows_is_validated():
    with pytest.raises(ValueError, match="propensity_rows"):
        DesignSpec(propensity_rows="everything")
    assert dataclasses.replace(DesignSpec(), propensity_rows="unit").propensity_rows == "unit"


def test_the_estimate_entry_records_the_unit_in_its_notes(table):
    res = _estimate(table, "y_exit_13w", "digital", COVS, DesignSpec(score="ATTE", **FAST), Engine())
    n_missing = table.get_column("y_exit_13w").null_count()
    assert f"including the {n_missing} whose outcome is missing" in " ".join(res.notes)


def test_diagnostics_and_sensitivity_on_the_unit_use_the_outcome_rows_only(table):
    spec = DesignSpec(score="ATE", **{**FAST, "diagnostics": True, "sensitivity": True, "n_reps": 1,
                                      "benchmark_sets": (("history", ("benefit_weeks_pre_spell_52w",)),)})  # fmt: skip
    res = estimate(table, "y_exit_13w", "digital", COVS, spec)
    rows = table.filter(pl.col("y_exit_13w").is_not_null())
    X, d = rows.select(COVS).cast(pl.Float64).to_numpy(), rows.get_column("digital").to_numpy()
    t, c = X[d == 1], X[d == 0]
    smd = (t.mean(0) - c.mean(0)) / np.sqrt((t.var(0) + c.var(0)) / 2)
    np.testing.assert_allclose(res.balance.get_column("smd_before").to_numpy(), smd, rtol=1e-4)
    assert res.balance.get_column("smd_after").null_count() == 0
    assert res.sensitivity.filter(pl.col("benchmark") == "history").height > 0
    assert res.overlap is not None and res.n == rows.height
