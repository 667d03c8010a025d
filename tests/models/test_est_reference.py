"""Estimators against hand-written reference implementations (same folds, same predictions)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import polars as pl
import pytest

from models import DesignSpec, estimate, leave_one_out_share, person_folds
from models.estimate import crossfit
from models.folds import group_codes
from models.learners import make_learner


def _cluster_se(psi: np.ndarray, psi_a: np.ndarray, groups: np.ndarray) -> float:
    """Liang-Zeger by pandas group sums (independent of models.inference)."""
    s = pd.Series(psi).groupby(groups).sum().to_numpy()
    return float(np.sqrt(np.sum(s**2)) / abs(np.sum(psi_a)))


def _data(table: pl.DataFrame, outcome: str, COVARIATES):
    t = table.filter(pl.col(outcome).is_not_null())
    X = t.select(COVARIATES).cast(pl.Float32).to_numpy()
    return (
        t,
        X,
        t[outcome].to_numpy().astype(float),
        t["digital"].to_numpy().astype(float),
        t["pnr"].to_numpy(),
    )


@pytest.mark.parametrize("score", ["ATTE", "ATE"])
def test_irm_equals_hand_aipw(register_table, fast_spec_kwargs, covariates, score):
    spec = DesignSpec(model="irm", score=score, trim=None, sensitivity=False, **fast_spec_kwargs)
    res = estimate(register_table, "weeks_selfsupport_26w", "digital", covariates, spec)
    t, X, y, d, pnr = _data(register_table, "weeks_selfsupport_26w", covariates)
    folds = person_folds(pnr, spec.n_folds, 1, spec.seed)[0]

    def mk(task):
        return lambda: make_learner("lgbm", task, seed=spec.seed, n_estimators=spec.n_estimators)

    m = np.clip(crossfit(mk("classification"), X, d, folds, proba=True), 0.01, 0.99)
    g0 = crossfit(mk("regression"), X, y, folds, fit_mask=d == 0)
    g1 = crossfit(mk("regression"), X, y, folds, fit_mask=d == 1)
    if score == "ATTE":
        p = d.mean()
        b = (d * (y - g0) - m / (1 - m) * (1 - d) * (y - g0)) / p
        a = -d / p
    else:
        b = g1 - g0 + d * (y - g1) / m - (1 - d) * (y - g0) / (1 - m)
        a = -np.ones_like(y)
    theta = -b.sum() / a.sum()
    se = _cluster_se(a * theta + b, a, pnr)
    assert res.estimate == pytest.approx(theta, rel=1e-9, abs=1e-12)
    assert res.se == pytest.approx(se, rel=1e-9)
    assert res.n == y.size and res.n_treated == int(d.sum()) and res.n_trimmed == 0
    assert res.n_missing_outcome == 0
    assert res.n_persons == np.unique(pnr).size


def test_naive_equals_hand_difference_with_person_clustered_se(register_table):
    res = estimate(register_table, "y_exit_13w", "digital", [], DesignSpec(model="naive"))
    t = register_table.filter(pl.col("y_exit_13w").is_not_null())
    y, d, pnr = t["y_exit_13w"].to_numpy(), t["digital"].to_numpy().astype(float), t["pnr"].to_numpy()
    diff = y[d == 1].mean() - y[d == 0].mean()
    assert res.estimate == pytest.approx(diff, rel=1e-12)
    # OLS y ~ 1 + d with cluster-robust (CR0) variance, by hand
    Z = np.column_stack([np.ones_like(d), d])
    beta = np.linalg.solve(Z.T @ Z, Z.T @ y)
    u = y - Z @ beta
    bread = np.linalg.inv(Z.T @ Z)
    codes = group_codes(pnr)
    S = np.column_stack([np.bincount(codes, Z[:, j] * u) for j in range(2)])
    V = bread @ (S.T @ S) @ bread
    assert beta[1] == pytest.approx(diff)
    assert res.se == pytest.approx(np.sqrt(V[1, 1]), rel=1e-9)
    assert res.n_missing_outcome == register_table["y_exit_13w"].null_count()


def test_randomized_known_probability_equals_hand_ipw(register_table):
    t = register_table.with_columns(pl.lit(0.4).alias("prob"))
    res = estimate(
        t, "weeks_selfsupport_26w", "digital", [], DesignSpec(model="randomized", assignment_prob="prob")
    )
    y, d = t["weeks_selfsupport_26w"].to_numpy(), t["digital"].to_numpy().astype(float)
    mu1 = np.sum(d * y / 0.4) / np.sum(d / 0.4)
    mu0 = np.sum((1 - d) * y / 0.6) / np.sum((1 - d) / 0.6)
    assert res.estimate == pytest.approx(mu1 - mu0, rel=1e-12)
    res2 = estimate(
        t, "weeks_selfsupport_26w", "digital", [], DesignSpec(model="randomized", assignment_prob=0.4)
    )
    assert res2.estimate == pytest.approx(res.estimate) and res2.se == pytest.approx(res.se)


def test_person_folds_never_split_a_person():
    groups = np.repeat(np.arange(200), np.random.default_rng(0).integers(1, 5, 200))
    all_folds = person_folds(groups, n_folds=5, n_reps=3, seed=11)
    assert len(all_folds) == 3
    for folds in all_folds:
        test_all = np.concatenate([te for _, te in folds])
        assert np.array_equal(np.sort(test_all), np.arange(groups.size))  # a partition
        for train, test in folds:
            assert not set(groups[train]) & set(groups[test])
            assert np.intersect1d(train, test).size == 0
    # seeded: same seed, same folds; repetitions differ
    again = person_folds(groups, n_folds=5, n_reps=3, seed=11)
    assert all(np.array_equal(a[1], b[1]) for a, b in zip(all_folds[0], again[0], strict=True))
    assert not np.array_equal(all_folds[0][0][1], all_folds[1][0][1])


def test_leave_one_out_share_by_hand():
    t = pl.DataFrame({
        "pnr": ["a", "a", "b", "c", "d", "e"],
        "kommune": [1, 1, 1, 1, 2, 2],
        "calendar_month": ["m1"] * 6,
        "digital": [1, 0, 1, 0, 1, 1],
    })  # fmt: skip
    out = leave_one_out_share(t)
    # kommune 1: a has (1,0), b 1, c 0. For a: others b,c -> 1/2. For b: a,a,c -> 1/3. For c: a,a,b -> 2/3.
    # kommune 2: d -> e: 1; e -> d: 1.
    assert out["z_loo_share"].to_list() == pytest.approx([0.5, 0.5, 1 / 3, 2 / 3, 1.0, 1.0])
    single = leave_one_out_share(pl.DataFrame({"pnr": ["a", "a"], "kommune": [1, 1], "calendar_month": ["m"] * 2,
                                               "digital": [1, 0]}))  # fmt: skip
    assert single["z_loo_share"].to_list() == [None, None]


def test_person_clustered_se_matches_doubleml_cluster_cols(register_table, fast_spec_kwargs, covariates):
    """Our score-based person-clustered SE equals DoubleML's own cluster_cols SE on the same folds."""
    import doubleml as dml

    spec = DesignSpec(model="plr", trim=None, sensitivity=False, **fast_spec_kwargs)
    res = estimate(register_table, "weeks_selfsupport_26w", "digital", covariates, spec)
    t, X, y, d, pnr = _data(register_table, "weeks_selfsupport_26w", covariates)
    codes = group_codes(pnr)
    frame = pd.DataFrame(X, columns=covariates).assign(y=y, d=d, pnr=codes)
    data = dml.DoubleMLData(frame, y_col="y", d_cols="d", x_cols=covariates, cluster_cols="pnr")
    folds = person_folds(pnr, spec.n_folds, 1, spec.seed)
    smpls_cluster = [[([np.unique(codes[tr])], [np.unique(codes[te])]) for tr, te in folds[0]]]
    mk = dict(seed=spec.seed, n_estimators=spec.n_estimators)
    model = dml.DoubleMLPLR(data, make_learner("lgbm", "regression", **mk), make_learner("lgbm", "classification", **mk),
                            n_folds=spec.n_folds, draw_sample_splitting=False)  # fmt: skip
    model.set_sample_splitting(folds, smpls_cluster)
    model.fit()
    assert res.estimate == pytest.approx(float(model.coef[0]), rel=2e-3)
    assert res.se == pytest.approx(float(model.se[0]), rel=2e-2)


def test_two_way_clustering_runs_and_differs(register_table, fast_spec_kwargs, covariates):
    one = estimate(register_table, "weeks_selfsupport_26w", "digital", covariates,
                   DesignSpec(model="plr", trim=None, sensitivity=False, **fast_spec_kwargs))  # fmt: skip
    two = estimate(register_table, "weeks_selfsupport_26w", "digital", covariates,
                   DesignSpec(model="plr", trim=None, sensitivity=False, cluster2="kommune", **fast_spec_kwargs))  # fmt: skip
    assert one.estimate == two.estimate  # folds stay by person: same fit
    assert two.se > 0 and two.se != one.se
    assert two.cluster == "pnr+kommune"


def test_within_transformation_equals_dummy_regression():
    from models.estimate import within

    rng = np.random.default_rng(3)
    n = 400
    a, b = rng.integers(0, 7, n), rng.integers(0, 5, n)
    M = rng.normal(size=(n, 2)) + a[:, None] * 0.5 - b[:, None] * 0.2
    D = np.column_stack(
        [np.ones(n)]
        + [(a == k).astype(float) for k in range(1, 7)]
        + [(b == k).astype(float) for k in range(1, 5)]
    )
    resid = M - D @ np.linalg.lstsq(D, M, rcond=None)[0]
    assert np.allclose(within(M, [a, b]), resid, atol=1e-7)
