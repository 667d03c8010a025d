"""Exceptions: every bad input gives a ValueError/TypeError whose message names the argument and value."""

from __future__ import annotations

import polars as pl
import pytest

from models import DesignSpec, estimate, leave_one_out_share, mde, person_folds

FAST = dict(n_folds=3, n_estimators=20, seed=1, sensitivity=False)


@pytest.fixture(scope="module")
def tab(table_factory):
    return table_factory(n_persons=300, seed=4)


@pytest.mark.parametrize(
    "kwargs, exc, match",
    [
        (dict(model="ols"), ValueError, "model must be one of"),
        (dict(score="ATT"), ValueError, "score must be one of"),
        (dict(learner="xgb"), ValueError, "learner must be one of"),
        (dict(n_folds=1), ValueError, "n_folds must be at least 2; got 1"),
        (dict(n_folds=2.0), TypeError, "n_folds must be an int"),
        (dict(n_reps=0), ValueError, "n_reps must be at least 1"),
        (dict(trim=(0.6, 0.9)), ValueError, "trim must satisfy"),
        (dict(trim="0.01"), TypeError, "trim must be a pair"),
        (dict(model="pliv"), ValueError, "instrument must name a column"),
        (dict(model="randomized"), ValueError, "assignment_prob must be given"),
        (dict(model="randomized", assignment_prob=1.5), ValueError, "assignment_prob must be in"),
        (dict(cf_y=1.0), ValueError, "cf_y must be in"),
        (dict(rho=2.0), ValueError, "rho must be in"),
        (dict(group_cols="sex"), TypeError, "group_cols must be a tuple"),
        (dict(benchmark_sets=("a",)), TypeError, "benchmark_sets must hold"),
    ],
)
def test_spec_validation(kwargs, exc, match):
    with pytest.raises(exc, match=match):
        DesignSpec(**kwargs)


def test_wrong_column_names(tab, covariates):
    with pytest.raises(ValueError, match="outcome: column 'nope' not in the table"):
        estimate(tab, "nope", "digital", covariates, DesignSpec(**FAST))
    with pytest.raises(ValueError, match="treatment: column 'dig' not in the table"):
        estimate(tab, "weeks_selfsupport_26w", "dig", covariates, DesignSpec(**FAST))
    with pytest.raises(ValueError, match=r"covariates: column\(s\) \['zz'\] not in the table"):
        estimate(tab, "weeks_selfsupport_26w", "digital", covariates + ["zz"], DesignSpec(**FAST))
    with pytest.raises(ValueError, match="person: column 'id' not in the table"):
        estimate(tab, "weeks_selfsupport_26w", "digital", covariates, DesignSpec(person="id", **FAST))
    with pytest.raises(TypeError, match="covariates must be a list of column names, not a string"):
        estimate(tab, "weeks_selfsupport_26w", "digital", "age", DesignSpec(**FAST))


def test_bad_types(tab, covariates):
    with pytest.raises(TypeError, match="table must be a polars.DataFrame"):
        estimate(tab.to_pandas(), "weeks_selfsupport_26w", "digital", covariates, DesignSpec(**FAST))
    with pytest.raises(TypeError, match="spec must be a DesignSpec"):
        estimate(tab, "weeks_selfsupport_26w", "digital", covariates, {"model": "irm"})
    with pytest.raises(TypeError, match=r"covariates: column\(s\) \['calendar_month'\] are not numeric"):
        estimate(tab, "weeks_selfsupport_26w", "digital", covariates + ["calendar_month"], DesignSpec(**FAST))
    with pytest.raises(ValueError, match="covariates must not contain the outcome"):
        estimate(tab, "weeks_selfsupport_26w", "digital", covariates + ["digital"], DesignSpec(**FAST))


def test_non_binary_treatment_for_irm(tab, covariates):
    with pytest.raises(ValueError, match="treatment: column 'education_level' must be binary 0/1"):
        estimate(tab, "weeks_selfsupport_26w", "education_level", ["age"], DesignSpec(**FAST))


def test_constant_columns(tab, covariates):
    t = tab.with_columns(pl.lit(1.0).alias("const"))
    with pytest.raises(ValueError, match=r"covariates: constant column\(s\) \['const'\]"):
        estimate(t, "weeks_selfsupport_26w", "digital", covariates + ["const"], DesignSpec(**FAST))
    with pytest.raises(ValueError, match=r"outcome: constant column\(s\) \['const'\]"):
        estimate(t, "const", "digital", covariates, DesignSpec(**FAST))


def test_missing_values_are_errors_not_imputed(tab, covariates):
    t = tab.with_columns(pl.when(pl.col("age") == 30).then(None).otherwise(pl.col("age")).alias("age"))
    with pytest.raises(ValueError, match=r"covariates: missing or non-finite values in \{'age': \d+\}"):
        estimate(t, "weeks_selfsupport_26w", "digital", covariates, DesignSpec(**FAST))
    t = tab.with_columns(
        pl.when(pl.col("age") == 30).then(None).otherwise(pl.col("digital")).alias("digital")
    )
    with pytest.raises(ValueError, match="treatment: missing or non-finite values"):
        estimate(t, "weeks_selfsupport_26w", "digital", covariates, DesignSpec(**FAST))
    t = tab.with_columns(
        pl.when(pl.col("age") == 30).then(float("nan")).otherwise(pl.col("x_noise")).alias("x_noise")
    )
    with pytest.raises(ValueError, match="x_noise"):
        estimate(t, "weeks_selfsupport_26w", "digital", covariates, DesignSpec(**FAST))
    t = tab.with_columns(pl.lit(None, dtype=pl.Float64).alias("weeks_selfsupport_26w"))
    with pytest.raises(ValueError, match="missing in every row"):
        estimate(t, "weeks_selfsupport_26w", "digital", covariates, DesignSpec(**FAST))


def test_single_class_training_fold(tab, covariates):
    # exactly one treated person: the fold holding that person trains on controls only
    first = tab["pnr"][0]
    t = tab.with_columns((pl.col("pnr") == first).cast(pl.Int8).alias("digital"))
    with pytest.raises(ValueError, match="single class"):
        estimate(t, "weeks_selfsupport_26w", "digital", covariates, DesignSpec(**FAST))


def test_too_few_persons_for_folds():
    import numpy as np

    with pytest.raises(ValueError, match="n_folds=5 is larger than the number of persons"):
        person_folds(np.array([1, 1, 2, 3]), n_folds=5)


def test_other_validators(tab):
    with pytest.raises(ValueError, match="by: column 'kom' not in the table"):
        leave_one_out_share(tab, by=("kom", "calendar_month"))
    with pytest.raises(ValueError, match="n must be an int of at least 2"):
        mde(1.0, 1)
    with pytest.raises(ValueError, match="share_treated must be in"):
        mde(1.0, 100, share_treated=1.0)
    with pytest.raises(ValueError, match="benchmark_sets"):
        estimate(tab, "weeks_selfsupport_26w", "digital", ["age"],
                 DesignSpec(benchmark_sets=(("b", ("x_noise",)),), **FAST))  # fmt: skip


def test_fixed_effects_only_for_partially_linear_models():
    with pytest.raises(ValueError, match="fixed_effects is for model 'plr' or 'pliv'; got model='irm'"):
        DesignSpec(model="irm", fixed_effects=("kommune",))
