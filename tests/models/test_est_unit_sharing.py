"""Sharing restored across the grid (issue 22): the benchmarked sensitivity's refits and the modality design
read the unit's matrix, folds and row masks like IRM's main fit (``propensity_rows='unit'``), so that

- the benchmark's long refit is the main fit's first repetition (its fits are read, not made), and the
  short refit's propensity is made once for every outcome of the unit;
- the modality design's generalized propensity (every level, first fit and refit) is made once for every
  outcome of the unit, and its in-person outcome model's learner choice is IRM's ``ml_g0`` choice.

Each count is checked together with equality to the same estimate without a cache (the numbers a cell
computes on its own), and the modality design's propensity against a cross-fit written out by hand."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from models.apos import estimate_apos
from models.engine import Engine, LearnerSpec
from models.estimate import DesignSpec, estimate
from models.folds import group_codes, person_folds
from models.nuisance_cache import NuisanceCache

COVS = ["age", "sex_woman", "education_level", "benefit_weeks_pre_spell_52w", "elapsed_weeks", "x_noise"]
LEVELS = ["in_person", "telephone", "video"]
FAST = dict(learner="lgbm", n_folds=3, n_reps=2, n_estimators=20, diagnostics=False, propensity_rows="unit")
BENCH = (("history", ("benefit_weeks_pre_spell_52w",)),)


@pytest.fixture(scope="module")
def table(unit_table):
    return unit_table


def _same_sensitivity(a, b) -> None:
    assert a.sensitivity.columns == b.sensitivity.columns
    for col in a.sensitivity.columns:
        x, y = a.sensitivity.get_column(col).to_list(), b.sensitivity.get_column(col).to_list()
        if isinstance(x[0], float):
            np.testing.assert_allclose(np.array(x, float), np.array(y, float), rtol=1e-10, atol=1e-12)
        else:
            assert x == y, col


@pytest.mark.parametrize("trim", [None, (0.3, 0.7)])
def test_the_benchmark_long_refit_is_the_main_fit_and_the_short_propensity_is_shared(table, tmp_path, trim):
    spec = DesignSpec(score="ATTE", trim=trim, benchmark_sets=BENCH, **FAST)
    cache = NuisanceCache(tmp_path)
    first = estimate(table, "y_exit_13w", "digital", COVS, spec, Engine(cache))
    c = cache.counts()
    assert first.n_trimmed > 0 if trim else first.n_trimmed == 0
    assert first.sensitivity.filter(pl.col("benchmark") == "history").height > 0
    # the long refit's propensity and two outcome models are the main fit's first repetition: read
    assert c["fits_requested"] - c["fits_made"] == 3
    cache.reset_usage()
    second = estimate(table, "y_late", "digital", COVS, spec, Engine(cache))
    c = cache.counts()
    # the second outcome reads the unit's propensity (first fit, and the refits of both repetitions) and
    # the short refit's propensity; it makes its outcome models (main and short) only
    assert c["fits_made"] == 2 * 2 + 2
    assert c["fits_requested"] - c["fits_made"] == (3 if trim else 2) + 3 + 1
    # the same numbers as a cell that shares nothing
    for outcome, shared in (("y_exit_13w", first), ("y_late", second)):
        own = estimate(table, outcome, "digital", COVS, spec)
        assert (own.estimate, own.se) == (shared.estimate, shared.se)
        _same_sensitivity(own, shared)


def test_the_benchmark_subsample_is_drawn_on_the_unit_and_shared_by_the_outcomes(table, tmp_path):
    # beyond benchmark_max_n kept rows the refits read a matrix of the drawn persons' rows only: the
    # same draw for every outcome, so the short refit's propensity is read by the second outcome
    spec = DesignSpec(score="ATTE", trim=None, benchmark_sets=BENCH, benchmark_max_n=300, **FAST)
    cache = NuisanceCache(tmp_path)
    first = estimate(table, "y_exit_13w", "digital", COVS, spec, Engine(cache))
    made_first = cache.counts()["fits_made"]
    cache.reset_usage()
    second = estimate(table, "y_late", "digital", COVS, spec, Engine(cache))
    c = cache.counts()
    # main: propensity read (2 repetitions); long and short: the propensities read, outcome models made
    assert c["fits_requested"] == 2 * 3 + 3 + 3 and c["fits_made"] == 2 * 2 + 2 + 2
    assert made_first == 2 * 3 + 3 + 3
    for outcome, shared in (("y_exit_13w", first), ("y_late", second)):
        _same_sensitivity(estimate(table, outcome, "digital", COVS, spec), shared)


def _hand_generalized_propensity(table: pl.DataFrame, spec: DesignSpec, level: int) -> np.ndarray:
    """P(form = level | X) cross-fitted by hand on every row (missing outcome or not): person folds on
    all rows, a LightGBM classifier with the design's settings fitted outside each fold."""
    persons = group_codes(table.get_column("pnr").to_numpy())
    X = table.select(COVS).cast(pl.Float32).to_numpy()
    d = (table.get_column("meeting_form").to_numpy() == LEVELS[level]).astype(float)
    out = np.full(table.height, np.nan)
    for train, test in person_folds(persons, spec.n_folds, spec.n_reps, spec.seed)[0]:
        lrn = LearnerSpec("lgbm", "classification", seed=spec.seed, n_estimators=spec.n_estimators)
        out[test] = lrn.make().fit(X[train], d[train]).predict_proba(X[test])[:, 1]
    return out


def test_the_modality_propensity_is_fitted_on_the_unit_and_shared_by_the_outcomes(table, tmp_path):
    spec = DesignSpec(trim=(0.01, 0.99), **FAST)
    cache = NuisanceCache(tmp_path)
    first = estimate_apos(table, "y_exit_13w", "meeting_form", COVS, spec, LEVELS, Engine(cache))
    cache.reset_usage()
    second = estimate_apos(table, "y_late", "meeting_form", COVS, spec, LEVELS, Engine(cache))
    c = cache.counts()
    K, R = 3, 2
    trimmed = first[0].potential_outcomes["n_trimmed"].sum() > 0
    # the second outcome makes its outcome models only; the propensities (first fit, refits) are read
    assert c["fits_made"] == K * R
    assert c["fits_requested"] == K * R + K * R + (K if trimmed else 0)
    assert any("generalized propensity fitted on all" in n for n in second[0].notes)
    # the propensity's range by arm is the hand cross-fit's on every row, read on the outcome's rows
    has_y = table.get_column("y_late").is_not_null().to_numpy()
    form = table.get_column("meeting_form").to_numpy()[has_y]
    po = second[0].potential_outcomes
    for k, lvl in enumerate(LEVELS):
        hand = _hand_generalized_propensity(table, spec, k)[has_y][form == lvl]
        row = po.filter(pl.col("level") == lvl).row(0, named=True)
        assert row["propensity_min"] == pytest.approx(hand.min(), rel=1e-9)
        assert row["propensity_max"] == pytest.approx(hand.max(), rel=1e-9)
    # the same numbers as a cell that shares nothing
    for outcome, shared in (("y_exit_13w", first), ("y_late", second)):
        own = estimate_apos(table, outcome, "meeting_form", COVS, spec, LEVELS)
        for a, b in zip(own, shared, strict=True):
            assert (a.contrast, a.estimate, a.se, a.n) == (b.contrast, b.estimate, b.se, b.n)


def test_without_missing_outcomes_the_modality_design_is_unchanged_by_the_unit(table):
    full = table.filter(pl.col("y_exit_13w").is_not_null())
    spec = DesignSpec(trim=(0.01, 0.99), **FAST)
    a = estimate_apos(full, "y_exit_13w", "meeting_form", COVS, spec, LEVELS)
    b = estimate_apos(full, "y_exit_13w", "meeting_form", COVS,
                      DesignSpec(trim=(0.01, 0.99), **{**FAST, "propensity_rows": "outcome"}), LEVELS)  # fmt: skip
    for x, y in zip(a, b, strict=True):
        assert (x.estimate, x.se, x.estimates_by_rep) == (y.estimate, y.se, y.estimates_by_rep)


def test_the_modality_in_person_outcome_choice_is_irm_s(table, tmp_path):
    # learner 'auto': IRM's ml_g0 (the outcome among in-person meetings) and the modality design's
    # ml_g_0 are the same choice on the unit's matrix; the modality design reads it
    fast = {**FAST, "learner": "auto", "n_reps": 1, "tune_max_rows": 400}
    cache = NuisanceCache(tmp_path)
    estimate(table, "y_exit_13w", "digital", COVS, DesignSpec(score="ATTE", sensitivity=False, **fast),
             Engine(cache))  # fmt: skip
    cache.reset_usage()
    res = estimate_apos(table, "y_exit_13w", "meeting_form", COVS, DesignSpec(**fast), LEVELS, Engine(cache))
    c = cache.counts()
    assert c["choices_requested"] == 6 and c["choices_made"] == 5
    own = estimate_apos(table, "y_exit_13w", "meeting_form", COVS, DesignSpec(**fast), LEVELS)
    assert [(r.estimate, r.se) for r in own] == [(r.estimate, r.se) for r in res]


PLIV = dict(model="pliv", instrument="z", fixed_effects=("kommune", "calendar_month"), trim=None,
            sensitivity=False, learner="auto", n_folds=3, n_reps=1, n_estimators=20, tune_max_rows=400,
            diagnostics=False, propensity_rows="unit")  # fmt: skip


def test_pliv_chooses_the_instrument_and_treatment_learners_once_on_the_unit(table, tmp_path):
    from models.estimate import WITHIN_BLOCK, within
    from models.tuning import choose_learner

    t = table.with_columns(z=pl.col("benefit_weeks_pre_spell_52w") / 52.0 + pl.col("x_noise"))
    spec = DesignSpec(**PLIV)
    cache = NuisanceCache(tmp_path)
    first = estimate(t, "y_exit_13w", "digital", COVS, spec, Engine(cache))
    assert cache.counts()["choices_made"] == 3
    cache.reset_usage()
    second = estimate(t, "y_late", "digital", COVS, spec, Engine(cache))
    # the second outcome chooses its outcome model only
    assert cache.counts()["choices_requested"] == 3 and cache.counts()["choices_made"] == 1

    def chosen(res, name):
        f = res.learner_choice.filter((pl.col("nuisance") == name) & pl.col("chosen"))
        return f.select("candidate", "loss", "n_rows").row(0)

    # by hand: the choice on every row of the table, within-transformed on all of them
    codes = [group_codes(t.get_column(c).cast(pl.String).to_numpy()) for c in ("kommune", "calendar_month")]
    X = t.select(COVS).cast(pl.Float32).to_numpy().astype(np.float64)
    Xw = np.column_stack(
        [within(X[:, i : i + WITHIN_BLOCK], codes) for i in range(0, len(COVS), WITHIN_BLOCK)]
    )
    dz = within(np.column_stack([t.get_column("digital").cast(pl.Float64), t.get_column("z")]), codes)
    persons = group_codes(t.get_column("pnr").to_numpy())
    for name, target in (("ml_r", dz[:, 0]), ("ml_m", dz[:, 1])):
        hand = choose_learner(Xw.astype(np.float32), target, persons, "regression", seed=spec.seed,
                              n_estimators=20, max_rows=400)  # fmt: skip
        assert chosen(first, name) == chosen(second, name)
        assert chosen(first, name)[1] == pytest.approx(hand.loss, rel=1e-9)
        assert chosen(first, name)[2] == hand.n_rows
    # nothing differs from a cell that shares nothing
    for outcome, shared in (("y_exit_13w", first), ("y_late", second)):
        own = estimate(t, outcome, "digital", COVS, spec)
        assert (own.estimate, own.se, own.learner) == (shared.estimate, shared.se, shared.learner)
