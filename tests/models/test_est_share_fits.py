"""Shared nuisance fits (models/nuisance_cache.py): a fit another cell already made is read, not refitted,
and gives the very numbers a fit of its own would; the key changes with anything a fit reads."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest

import models.engine as engine_mod
import models.tuning as tuning_mod
from models import nuisance_cache as nc
from models.engine import Engine, FitJob, FoldData, LearnerSpec
from models.estimate import DesignSpec, estimate
from models.folds import person_folds
from models.nuisance_cache import NuisanceCache, fit_key
from models.tuning import Choice

COVS = ["age", "sex_woman", "education_level", "benefit_weeks_pre_spell_52w", "elapsed_weeks", "x_noise"]
# two folds, two repetitions, few trees, no trimming (so the count of jobs is fixed) and no sensitivity
FAST = dict(learner="lgbm", n_folds=2, n_reps=2, n_estimators=20, trim=None, sensitivity=False)


@pytest.fixture(scope="module")
def table(table_factory):
    return table_factory(n_persons=400, seed=5)


@pytest.fixture()
def fold_fits(monkeypatch):
    """Counts the learner fits made in this process (every fold of every job goes through fit_fold)."""
    calls = []
    real = engine_mod.fit_fold

    def spy(X, fold_ids, columns, job, k):
        calls.append((job.target, job.rep, k))
        return real(X, fold_ids, columns, job, k)

    monkeypatch.setattr(engine_mod, "fit_fold", spy)
    return calls


def _same(a, b):
    """Two results equal in every scalar but the wall time, and in the per-repetition estimates."""
    ra, rb = a.row(), b.row()
    ra.pop("seconds"), rb.pop("seconds")
    nan = [k for k, v in ra.items() if isinstance(v, float) and np.isnan(v)]
    assert nan == [k for k, v in rb.items() if isinstance(v, float) and np.isnan(v)]
    assert {k: v for k, v in ra.items() if k not in nan} == {k: v for k, v in rb.items() if k not in nan}
    assert a.estimates_by_rep == b.estimates_by_rep
    assert a.nuisance_losses.equals(b.nuisance_losses)


def test_irm_ate_after_irm_att_fits_nothing_and_equals_its_own_fit(table, tmp_path, fold_fits):
    engine = Engine(NuisanceCache(tmp_path))
    att = estimate(table, "weeks_selfsupport_26w", "digital", COVS, DesignSpec(score="ATTE", **FAST), engine)
    # rep 0: propensity, then g0 and g1 (ATT fits g1 too only with sensitivity; here the ATE needs it);
    # rep 1: propensity, g0, g1 -> ATT without sensitivity: m, g0 (rep 0), m, g0 (rep 1) = 4 jobs x 2 folds
    assert len(fold_fits) == 4 * 2
    assert engine.cache.counts()["fits_made"] == 4
    ate = estimate(table, "weeks_selfsupport_26w", "digital", COVS, DesignSpec(score="ATE", **FAST), engine)
    # the ATE's m and g0 are the ATT's; only g1 (one per repetition) is new
    assert len(fold_fits) == 4 * 2 + 2 * 2
    again = estimate(table, "weeks_selfsupport_26w", "digital", COVS, DesignSpec(score="ATE", **FAST), engine)
    assert len(fold_fits) == 6 * 2  # the second ATE: zero new fits
    assert engine.cache.counts() == {"fits_requested": 16, "fits_made": 6, "choices_requested": 0,
                                     "choices_made": 0}  # fmt: skip
    # identical to the per-cell fits
    for shared, score in ((att, "ATTE"), (ate, "ATE"), (again, "ATE")):
        own = estimate(table, "weeks_selfsupport_26w", "digital", COVS, DesignSpec(score=score, **FAST))
        _same(shared, own)


def test_a_second_outcome_with_the_same_sample_reuses_the_propensity(table, tmp_path, fold_fits):
    engine = Engine(NuisanceCache(tmp_path))
    spec = DesignSpec(score="ATE", **FAST)
    estimate(table, "weeks_selfsupport_26w", "digital", COVS, spec, engine)
    assert engine.cache.counts()["fits_made"] == 6  # m, g0, g1 in each of two repetitions
    # same rows (no missing value in either outcome): the two propensities are read, the outcome models fitted
    other = estimate(table, "weeks_selfsupport_pre52w", "digital", COVS, spec, engine)
    assert engine.cache.counts()["fits_made"] == 6 + 4
    assert len(fold_fits) == 10 * 2
    # PLR's propensity is IRM's in the first repetition (same classifier, seed, folds and rows): only
    # that one is shared; in the second repetition PLR seeds every learner with the design's seed
    plr = estimate(table, "weeks_selfsupport_26w", "digital", COVS, DesignSpec(model="plr", **FAST), engine)
    assert engine.cache.counts()["fits_made"] == 10 + 3
    # an outcome with missing values has another sample: nothing is shared
    estimate(table, "y_exit_13w", "digital", COVS, spec, engine)
    assert engine.cache.counts()["fits_made"] == 13 + 6
    _same(other, estimate(table, "weeks_selfsupport_pre52w", "digital", COVS, spec))
    _same(plr, estimate(table, "weeks_selfsupport_26w", "digital", COVS, DesignSpec(model="plr", **FAST)))


def test_a_changed_input_changes_the_key(table):
    rng = np.random.default_rng(0)
    n = 300
    X = rng.normal(size=(n, 4)).astype(np.float32)
    persons = np.arange(n)
    folds = person_folds(persons, 3, 2, 7)
    y = rng.normal(size=n)
    mask = rng.random(n) < 0.5
    cols = {"y": y, "m": mask, "all": np.ones(n, bool)}
    lrn = LearnerSpec("lgbm", "regression", seed=3, n_estimators=20)
    job = FitJob(lrn, "y", 0, None, "m")
    base = fit_key(FoldData(X, cols, folds), job)
    # the same content in new objects (and under other column names or another description): same key
    assert fit_key(FoldData(X.copy(), {"t": y.copy(), "f": mask.copy()}, folds), FitJob(lrn, "t", 0, None, "f",
                                                                                       what="other")) == base  # fmt: skip
    # every row and an all-true mask are the same rows: same fit, same predictions, same key
    assert fit_key(FoldData(X, cols, folds), FitJob(lrn, "y", 0, "all", "m")) == base
    X2 = X.copy()
    X2[5, 2] += 1e-3
    y2 = y.copy()
    y2[0] += 1e-9
    m2 = mask.copy()
    m2[np.flatnonzero(mask)[0]] = False
    changed = {
        "covariates": fit_key(FoldData(X2, cols, folds), job),
        "target": fit_key(FoldData(X, {**cols, "y": y2}, folds), job),
        "training mask": fit_key(FoldData(X, {**cols, "m": m2}, folds), job),
        "rows": fit_key(FoldData(X, {**cols, "r": m2}, folds), FitJob(lrn, "y", 0, "r", "m")),
        "folds": fit_key(FoldData(X, cols, person_folds(persons, 3, 2, 8)), job),
        "repetition's folds": fit_key(FoldData(X, cols, folds), dataclasses.replace(job, rep=1)),
        "number of folds": fit_key(FoldData(X, cols, person_folds(persons, 4, 2, 7)), job),
        "seed": fit_key(FoldData(X, cols, folds), dataclasses.replace(job, learner=dataclasses.replace(lrn, seed=4))),
        "learner": fit_key(FoldData(X, cols, folds), dataclasses.replace(job, learner=dataclasses.replace(lrn, kind="rf"))),
        "settings": fit_key(FoldData(X, cols, folds), dataclasses.replace(
            job, learner=dataclasses.replace(lrn, params=(("num_leaves", 4),)))),
        "task": fit_key(FoldData(X, cols, folds), dataclasses.replace(
            job, learner=dataclasses.replace(lrn, task="classification"))),
    }  # fmt: skip
    assert all(v != base for v in changed.values()), [k for k, v in changed.items() if v == base]
    assert len(set(changed.values())) == len(changed)
    # a column replaced between two runs of the same FoldData (as trimming adds 'keep') is hashed anew
    data = FoldData(X, dict(cols), folds)
    assert fit_key(data, job) == base
    data.columns["y"] = y2
    assert fit_key(data, job) == changed["target"]


def test_a_code_or_library_change_changes_the_key(monkeypatch):
    before = nc.make_key("fit", "x")
    monkeypatch.setattr(nc, "code_version", lambda: "another version")
    assert nc.make_key("fit", "x") != before
    # the version covers the libraries and the modules a fit runs
    assert {"learners.py", "engine.py", "tuning.py"} <= set(nc.SOURCES)
    assert set(nc.LIBRARIES) == {"numpy", "scikit-learn", "lightgbm"}


def test_a_damaged_entry_is_refitted_not_read(table, tmp_path, fold_fits):
    spec = DesignSpec(score="ATTE", **FAST)
    engine = Engine(NuisanceCache(tmp_path))
    first = estimate(table, "weeks_selfsupport_26w", "digital", COVS, spec, engine)
    made = len(fold_fits)
    entries = sorted(tmp_path.glob("*/*.npy"))
    assert len(entries) == 4
    entries[0].write_bytes(entries[0].read_bytes()[:100])  # truncated (as no atomic write leaves one)
    again = estimate(table, "weeks_selfsupport_26w", "digital", COVS, spec, engine)
    assert len(fold_fits) == made + 2  # that one job's two folds, and nothing else
    _same(first, again)


def test_learner_choices_are_shared_and_read_back_exactly(table, tmp_path, monkeypatch):
    calls = []
    real = tuning_mod.choose_learner

    def spy(*args, **kwargs):
        calls.append(args[3])
        return real(*args, **kwargs)

    monkeypatch.setattr(tuning_mod, "choose_learner", spy)
    cache = NuisanceCache(tmp_path)
    rng = np.random.default_rng(1)
    X = rng.normal(size=(600, 3)).astype(np.float32)
    d = (rng.random(600) < 1 / (1 + np.exp(-X[:, 0]))).astype(float)
    persons = np.arange(600) // 2
    kw = dict(seed=3, n_estimators=20, candidates=("lgbm", "lasso"))
    a = cache.choose_learner(X, d, persons, "classification", **kw)
    b = cache.choose_learner(X, d, persons, "classification", **kw)

    def same(c1: Choice, c2: Choice) -> bool:  # field by field, NaN equal to NaN (z of the reference)
        return json.dumps(nc._choice_to_json(c1)) == json.dumps(nc._choice_to_json(c2))

    assert len(calls) == 1 and same(a, b) and isinstance(b, Choice)
    assert same(a, real(X, d, persons, "classification", **kw))
    cache.choose_learner(X, d, persons, "classification", rows=d == 0, **kw)
    cache.choose_learner(X, d, persons, "classification", **{**kw, "seed": 4})
    assert len(calls) == 3
    assert cache.counts()["choices_requested"] == 4 and cache.counts()["choices_made"] == 3
    # infinite and missing losses survive the file
    odd = Choice("lasso", (("C", 0.1),), "logloss", float("nan"), 5, (("lgbm", float("inf")), ("lasso", 0.5)))
    back = nc._choice_from_json(json.loads(json.dumps(nc._choice_to_json(odd))))
    assert back.candidates == odd.candidates and np.isnan(back.loss) and back.params == odd.params
    # a stack's nested members and weights come back as the tuples they were, with the rule's columns
    stack = Choice("stack", (("members", (("lgbm", (("num_leaves", 4),)), ("lasso", ()))), ("weights", (0.6, 0.4))),
                   "rmse", 0.3, 9, (("a", 0.4), ("b", 0.5)), (0.6, 0.4), (float("nan"), 2.5), "stack")  # fmt: skip
    back = nc._choice_from_json(json.loads(json.dumps(nc._choice_to_json(stack))))
    assert (
        same(back, stack)
        and back.params == stack.params
        and back.rule == "stack"
        and back.weights == (0.6, 0.4)
    )


def test_auto_learner_with_shared_fits_equals_its_own_fit(table, tmp_path, fold_fits):
    spec = DesignSpec(score="ATTE", **{**FAST, "learner": "auto", "n_reps": 1, "tune_max_rows": 600})
    engine = Engine(NuisanceCache(tmp_path))
    shared = estimate(table, "weeks_selfsupport_26w", "digital", COVS, spec, engine)
    ate = estimate(
        table, "weeks_selfsupport_26w", "digital", COVS, dataclasses.replace(spec, score="ATE"), engine
    )
    counts = engine.cache.counts()
    # the ATT chose m and g0; the ATE reads both and chooses g1 only
    assert (counts["choices_requested"], counts["choices_made"]) == (5, 3)
    own = estimate(table, "weeks_selfsupport_26w", "digital", COVS, spec)
    _same(shared, own)
    assert shared.learner_choice.equals(own.learner_choice)
    own_ate = estimate(
        table, "weeks_selfsupport_26w", "digital", COVS, dataclasses.replace(spec, score="ATE")
    )
    _same(ate, own_ate)


def test_usage_records_and_pruning_keep_what_the_named_cells_used(table, tmp_path):
    cache = NuisanceCache(tmp_path)
    engine = Engine(cache)
    estimate(table, "weeks_selfsupport_26w", "digital", COVS, DesignSpec(score="ATTE", **FAST), engine)
    cache.write_usage("a__irm_att")
    cache.reset_usage()
    estimate(table, "y_exit_13w", "digital", COVS, DesignSpec(score="ATTE", **FAST), engine)
    cache.write_usage("b__irm_att")
    record = json.loads((tmp_path / "used" / "b__irm_att.json").read_text())
    assert record["fits_made"] == 4 and len(record["keys"]) == 4
    assert len(list(tmp_path.glob("*/*.npy"))) == 8
    stats = cache.prune(["a__irm_att"])
    assert (stats["kept"], stats["removed"]) == (4, 4)
    assert sorted(p.stem for p in tmp_path.glob("*/*.npy")) == sorted(
        json.loads((tmp_path / "used" / "a__irm_att.json").read_text())["keys"]
    )
    assert not (tmp_path / "used" / "b__irm_att.json").exists()


def test_engine_refuses_a_cache_of_another_type():
    with pytest.raises(
        TypeError, match="cache must be a models.nuisance_cache.NuisanceCache or None; got str"
    ):
        Engine("folder")
