"""Cluster-robust sensitivity analysis: DoubleML's bounds with clustered variances (issue 17, point 3)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from scipy.stats import norm

from models.diagnostics import clustered_sensitivity, sensitivity_elements, sensitivity_table


def _irm_with_predictions(y, d, m, g0, g1, n_folds=2):
    """DoubleMLIRM (ATE) fed fixed predictions: the sensitivity elements are then known in closed form."""
    import doubleml as dml
    import pandas as pd
    from doubleml.utils import DMLDummyClassifier, DMLDummyRegressor

    n = y.size
    frame = pd.DataFrame({"x": np.zeros(n) + np.arange(n) % 3, "y": y, "d": d})
    data = dml.DoubleMLData(frame, y_col="y", d_cols="d", x_cols=["x"])
    folds = [(np.flatnonzero(np.arange(n) % n_folds != k), np.flatnonzero(np.arange(n) % n_folds == k))
             for k in range(n_folds)]  # fmt: skip
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = dml.DoubleMLIRM(data, ml_g=DMLDummyRegressor(), ml_m=DMLDummyClassifier(), n_folds=n_folds,
                                score="ATE", draw_sample_splitting=False)  # fmt: skip
        model.set_sample_splitting([folds])
        model.fit(
            external_predictions={"d": {"ml_g0": g0[:, None], "ml_g1": g1[:, None], "ml_m": m[:, None]}}
        )
    return model


@pytest.fixture(scope="module")
def clustered_table():
    """12 persons with 1-4 meetings; a person's meetings share a person effect in y (correlated units)."""
    rng = np.random.default_rng(3)
    k = np.array([1, 4, 2, 3, 4, 1, 2, 4, 3, 4, 2, 4])
    person = np.repeat(np.arange(k.size), k)
    n = person.size
    d = np.repeat(np.arange(k.size) % 2, k).astype(float)  # a person's meetings share the form
    m = 0.3 + 0.4 * rng.random(n)
    g0 = rng.normal(size=n)
    g1 = g0 + 0.5
    y = g0 + np.repeat(rng.normal(0, 2, k.size), k) + d * 3.0 + rng.normal(0, 0.5, n)
    return y, d, m, g0, g1, person


def test_without_clusters_equals_doubleml(clustered_table):
    y, d, m, g0, g1, _ = clustered_table
    model = _irm_with_predictions(y, d, m, g0, g1)
    ours = sensitivity_table(model, 0.04, 0.03, 1.0).row(0, named=True)
    model.sensitivity_analysis(cf_y=0.04, cf_d=0.03, rho=1.0)
    sp = model.sensitivity_params
    for key, ref in [("theta_lower", sp["theta"]["lower"]), ("theta_upper", sp["theta"]["upper"]),
                     ("ci_lower", sp["ci"]["lower"]), ("ci_upper", sp["ci"]["upper"]), ("rv", sp["rv"]),
                     ("rva", sp["rva"])]:  # fmt: skip
        assert ours[key] == pytest.approx(float(np.ravel(ref)[0]), rel=1e-6, abs=1e-6), key


def test_clustered_bounds_equal_a_hand_computation(clustered_table):
    """sigma2, nu2, their scores and the person-clustered variance of the bounds, written out by hand."""
    y, d, m, g0, g1, person = clustered_table
    n = y.size
    model = _irm_with_predictions(y, d, m, g0, g1)
    cf_y, cf_d, rho = 0.04, 0.03, 1.0
    got = sensitivity_table(model, cf_y, cf_d, rho, clusters=[person]).row(0, named=True)

    psi_b = g1 - g0 + d * (y - g1) / m - (1 - d) * (y - g0) / (1 - m)
    theta = psi_b.mean()
    psi = psi_b - theta  # psi_a = -1: the scaled score is -psi (the sign does not matter below)
    s2_el = (y - d * g1 - (1 - d) * g0) ** 2
    sigma2 = s2_el.mean()
    rr = d / m - (1 - d) / (1 - m)
    nu2_el = 2 * (1 / m + 1 / (1 - m)) - rr**2
    nu2 = nu2_el.mean()
    max_bias = np.sqrt(sigma2 * nu2)
    psi_bias = (sigma2 * (nu2_el - nu2) + nu2 * (s2_el - sigma2)) / (2 * max_bias)
    strength = rho * np.sqrt(cf_y * cf_d / (1 - cf_d))
    lower, upper = theta - strength * max_bias, theta + strength * max_bias

    def clustered_se(score):
        total = 0.0
        for p in np.unique(person):  # a loop over 12 persons: this is the reference, not the code
            total += score[person == p].sum() ** 2
        return np.sqrt(total) / n

    se_lo = clustered_se(-psi - strength * psi_bias)
    se_hi = clustered_se(-psi + strength * psi_bias)
    q = norm.ppf(0.95)
    assert got["theta"] == pytest.approx(theta, rel=1e-10)
    assert got["theta_lower"] == pytest.approx(lower, rel=1e-10)
    assert got["theta_upper"] == pytest.approx(upper, rel=1e-10)
    assert got["ci_lower"] == pytest.approx(lower - q * se_lo, rel=1e-10)
    assert got["ci_upper"] == pytest.approx(upper + q * se_hi, rel=1e-10)
    # RVa: the strength at which the confidence limit of the bound nearest zero reaches zero
    el = sensitivity_elements(model)
    at_rva = clustered_sensitivity(**el, clusters=[person], cf_y=got["rva"], cf_d=got["rva"])
    side = "lower" if theta > 0 else "upper"
    assert 0 < got["rva"] < got["rv"] < 0.999
    assert at_rva[f"ci_{side}"] == pytest.approx(0.0, abs=1e-3)


def test_clustered_bounds_are_wider_with_correlated_units(clustered_table):
    y, d, m, g0, g1, person = clustered_table
    model = _irm_with_predictions(y, d, m, g0, g1)
    iid = sensitivity_table(model, 0.04, 0.03).row(0, named=True)
    clu = sensitivity_table(model, 0.04, 0.03, clusters=[person]).row(0, named=True)
    # the bounds themselves do not depend on the clustering; their confidence limits and RVa do
    assert clu["theta_lower"] == pytest.approx(iid["theta_lower"], rel=1e-12)
    assert clu["rv"] == pytest.approx(iid["rv"], rel=1e-6)
    assert clu["ci_lower"] < iid["ci_lower"] - 0.05
    assert clu["ci_upper"] > iid["ci_upper"] + 0.05
    assert clu["rva"] < iid["rva"]
