"""The PLIV instrument a reviewer can judge (issue 17, point 2): the split-sample instrument, the first
stage (coefficient, cluster-robust partial F, partial R-squared) and the Anderson-Rubin set, each against a
hand computation (statsmodels OLS with cluster-robust covariance, no small-sample correction)."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
import statsmodels.api as sm
from scipy.stats import chi2

from models import DesignSpec, estimate
from models.estimate import within
from models.folds import group_codes
from models.instrument import (
    anderson_rubin_set,
    first_stage,
    iv_diagnostics,
    leave_one_out_share,
    split_sample_share,
)

K95 = float(chi2.ppf(0.95, 1))


def _cluster_ols(y, x, groups):
    fit = sm.OLS(y, x[:, None]).fit(cov_type="cluster", cov_kwds={"groups": groups, "use_correction": False,
                                                                   "df_correction": False})  # fmt: skip
    return float(fit.params[0]), float(fit.bse[0]), float(fit.rsquared)


def _iv_data(n_persons=400, pi=0.6, beta=1.5, seed=0):
    """Residual-like data: persons with 1-3 rows, a person effect in d and y, z correlated within persons."""
    rng = np.random.default_rng(seed)
    k = rng.integers(1, 4, n_persons)
    person = np.repeat(np.arange(n_persons), k)
    n = person.size
    z = np.repeat(rng.normal(size=n_persons), k) + 0.5 * rng.normal(size=n)
    u = np.repeat(rng.normal(size=n_persons), k) + rng.normal(size=n)
    d = pi * z + 0.5 * u + rng.normal(size=n)
    y = beta * d + u + rng.normal(size=n)
    return y - y.mean(), d - d.mean(), z - z.mean(), person


def test_first_stage_equals_clustered_ols():
    y, d, z, person = _iv_data()
    fs = first_stage(d, z, [person])
    coef, se, r2 = _cluster_ols(d, z, person)
    assert fs["coef"] == pytest.approx(coef, rel=1e-10)
    assert fs["se"] == pytest.approx(se, rel=1e-8)
    assert fs["f"] == pytest.approx((coef / se) ** 2, rel=1e-8)
    assert fs["partial_r2"] == pytest.approx(r2, rel=1e-10)
    # and the reduced form over the first stage is the 2SLS estimate z'y / z'd
    reduced, _, _ = _cluster_ols(y, z, person)
    assert reduced / coef == pytest.approx(float(z @ y / (z @ d)), rel=1e-10)


def test_anderson_rubin_set_equals_grid_of_clustered_tests():
    y, d, z, person = _iv_data(pi=0.35, seed=2)
    low, high, kind = anderson_rubin_set(y, d, z, [person])
    assert kind == "interval" and low < float(z @ y / (z @ d)) < high

    def wald(beta):
        coef, se, _ = _cluster_ols(y - beta * d, z, person)
        return (coef / se) ** 2

    # the end points are where the clustered test statistic crosses the chi-squared(1) quantile
    assert wald(low) == pytest.approx(K95, rel=1e-6)
    assert wald(high) == pytest.approx(K95, rel=1e-6)
    grid = np.linspace(low - 1.0, high + 1.0, 81)
    inside = np.array([wald(b) <= K95 for b in grid])
    assert np.array_equal(inside, (grid >= low) & (grid <= high))


def test_anderson_rubin_two_way_and_unbounded_sets():
    y, d, z, person = _iv_data(pi=0.0, seed=4)
    kommune = person % 7
    # with no first stage the set cannot be a bounded interval
    _, _, kind = anderson_rubin_set(y, d, z, [person, kommune])
    assert kind in ("whole_line", "two_rays")
    # two-way: the quadratic's meat is V_person + V_kommune - V_intersection, as the clustered variance
    y, d, z, person = _iv_data(pi=0.8, seed=5)
    kommune = person % 7
    low, high, kind = anderson_rubin_set(y, d, z, [person, kommune])
    from models.inference import clustered_variance

    for beta in (low, high):
        u = y - beta * d
        g = float(z @ u / (z @ z))
        v = clustered_variance(z * (u - g * z), z * z, [person, kommune])
        assert g**2 / v == pytest.approx(K95, rel=1e-6)


def test_split_sample_share_by_hand():
    t = pl.DataFrame({
        "pnr": ["a", "a", "b", "c", "d", "e"], "kommune": [1, 1, 1, 1, 1, 2],
        "calendar_month": ["m", "m", "m", "m", "m", "m"], "digital": [1, 1, 0, 1, 0, 1],
    })  # fmt: skip
    out = split_sample_share(t, seed=3, min_other=1)
    half = dict(zip(out["pnr"], out["z_half"], strict=True))
    assert sorted(np.bincount(list({p: h for p, h in half.items()}.values()))) == [2, 3]  # balanced split
    for row in out.iter_rows(named=True):
        others = t.filter(
            (pl.col("kommune") == row["kommune"]) & (pl.col("calendar_month") == row["calendar_month"])
        )
        others = others.filter(pl.col("pnr").replace_strict(half) != row["z_half"])
        want = others["digital"].mean() if others.height else None
        assert row["z_split_share"] == (pytest.approx(want) if want is not None else None)
    # a minimum size of the other half's cell
    strict = split_sample_share(t, seed=3, min_other=3)
    n_other = {0: int(sum(1 for p in t.filter(pl.col("kommune") == 1)["pnr"] if half[p] == 1)),
               1: int(sum(1 for p in t.filter(pl.col("kommune") == 1)["pnr"] if half[p] == 0))}  # fmt: skip
    for row in strict.filter(pl.col("kommune") == 1).iter_rows(named=True):
        assert (row["z_split_share"] is None) == (n_other[row["z_half"]] < 3)


def _cells(seed: int, n_persons=3000, n_kommuner=80, n_months=10):
    rng = np.random.default_rng(seed)
    k = rng.integers(1, 4, n_persons)
    pnr = np.repeat(np.arange(n_persons), k)
    n = pnr.size
    kom = np.repeat(rng.integers(0, n_kommuner, n_persons), k)
    mon = rng.integers(0, n_months, n)
    inter = rng.normal(0, 0.4, (n_kommuner, n_months))
    p = 1 / (
        1
        + np.exp(-(rng.normal(0, 0.5, n_kommuner)[kom] + rng.normal(0, 0.5, n_months)[mon] + inter[kom, mon]))
    )
    d = (rng.random(n) < p).astype(float)
    return pl.DataFrame({"pnr": pnr, "kommune": kom, "calendar_month": mon, "digital": d, "p": p})


def test_split_sample_removes_the_mechanical_first_stage_term():
    """With small cells and additive kommune and month effects, the leave-one-out share's first stage is
    pulled towards zero by the own-treatment term; the split-sample share with the effects absorbed within
    each half has the first stage of the true cell probability (z'd after the within transformation)."""
    loo, loo_true, split, split_true = [], [], [], []
    for seed in range(8):
        t = _cells(seed)
        t = split_sample_share(leave_one_out_share(t), seed=seed)
        d, p = t["digital"].to_numpy(), t["p"].to_numpy()
        kom, mon, half = (t[c].to_numpy() for c in ("kommune", "calendar_month", "z_half"))

        def cov(zc, codes, ok, d=d):
            w = within(np.column_stack([d[ok], zc[ok]]), [group_codes(c[ok]) for c in codes])
            return float(w[:, 0] @ w[:, 1])

        z_loo = t["z_loo_share"].fill_null(np.nan).to_numpy()
        z_split = t["z_split_share"].fill_null(np.nan).to_numpy()
        ok_loo, ok_split = ~np.isnan(z_loo), ~np.isnan(z_split)
        by_half = [kom * 2 + half, mon * 2 + half]
        loo.append(cov(z_loo, [kom, mon], ok_loo))
        loo_true.append(cov(p, [kom, mon], ok_loo))
        split.append(cov(z_split, by_half, ok_split))
        split_true.append(cov(p, by_half, ok_split))
    # the split-sample share: the first stage of the true probability on the same rows and effects
    se = np.std(split) / np.sqrt(len(split))
    assert abs(np.mean(split) - np.mean(split_true)) < 3 * se
    assert np.mean(split) > 0.75 * np.mean(split_true)
    # the leave-one-out share: pulled far below its own truth by the mechanical term
    assert np.mean(loo) < 0.75 * np.mean(loo_true)


@pytest.fixture(scope="module")
def iv_table():
    rng = np.random.default_rng(11)
    n_persons = 1200
    k = rng.integers(1, 3, n_persons)
    pnr = np.repeat(np.arange(n_persons), k)
    n = pnr.size
    x1, x2 = rng.normal(size=n), rng.normal(size=n)
    z_strong, z_weak = rng.normal(size=n), rng.normal(size=n)
    u = rng.normal(size=n)
    d_strong = 0.5 * z_strong + 0.3 * x1 + 0.5 * u + rng.normal(size=n)
    d_weak = 0.03 * z_weak + 0.3 * x1 + 0.5 * u + rng.normal(size=n)
    return pl.DataFrame({
        "pnr": pnr.astype(str), "kommune": pnr % 40, "x1": x1, "x2": x2, "z_strong": z_strong, "z_weak": z_weak,
        "d_strong": d_strong, "d_weak": d_weak, "y_strong": 1.0 * d_strong + 0.5 * x1 + u,
        "y_weak": 1.0 * d_weak + 0.5 * x1 + u,
    })  # fmt: skip


@pytest.mark.parametrize("which", ["strong", "weak"])
def test_pliv_reports_the_first_stage_and_warns_when_weak(iv_table, which):
    spec = DesignSpec(model="pliv", instrument=f"z_{which}", learner="lasso", n_folds=3, seed=1, trim=None,
                      sensitivity=False, diagnostics=False, person="pnr", cluster2="kommune")  # fmt: skip
    res = estimate(iv_table, f"y_{which}", f"d_{which}", ["x1", "x2"], spec)
    t = iv_table
    # hand 2SLS with the covariates partialled out linearly (the lasso learners find the linear means)
    X = np.column_stack([np.ones(t.height), t["x1"].to_numpy(), t["x2"].to_numpy()])

    def resid(v):
        return v - X @ np.linalg.lstsq(X, v, rcond=None)[0]

    yr, dr, zr = (resid(t[c].to_numpy()) for c in (f"y_{which}", f"d_{which}", f"z_{which}"))
    clusters = [group_codes(t["pnr"].to_numpy()), group_codes(t["kommune"].to_numpy())]
    hand = iv_diagnostics(yr, dr, zr, clusters)
    weak_note = any(n.startswith("weak instrument") for n in res.notes)
    # the learners' out-of-fold means differ a little from the full-sample linear projection
    assert res.first_stage_f == pytest.approx(hand["first_stage_f"], rel=0.15, abs=1.0)
    assert res.first_stage_partial_r2 == pytest.approx(hand["first_stage_partial_r2"], rel=0.15, abs=0.002)
    d = res.to_dict()
    assert d["first_stage_f"] == pytest.approx(res.first_stage_f) and d["ar_set"] == res.ar_set
    if which == "strong":
        assert res.first_stage_f > 10 and not weak_note
        beta_2sls = float(zr @ yr / (zr @ dr))
        assert res.estimate == pytest.approx(beta_2sls, abs=0.5 * res.se)
        assert abs(res.estimate - 1.0) < 3 * res.se  # covers the truth
        assert res.ar_set == "interval" and res.ar_ci_low < res.estimate < res.ar_ci_high
        assert res.first_stage_coef == pytest.approx(0.5, abs=0.1)
    else:
        assert res.first_stage_f < 10 and weak_note
        assert (
            res.ar_set in ("two_rays", "whole_line")
            or res.ar_ci_high - res.ar_ci_low > res.ci_high - res.ci_low
        )
