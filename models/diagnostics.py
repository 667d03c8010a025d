"""Diagnostics reported with every estimate; every output is an aggregate (counts, means, coefficients).

- :func:`overlap_table`: binned cross-fitted propensity, treated and control counts per bin.
- :func:`balance_table`: standardized mean differences before and after ATT/ATE weighting.
- :func:`sensitivity_table`: DoubleML's sensitivity bounds, RV and RVa at given strengths, with clustered
  variances (:func:`clustered_sensitivity`).
- :func:`group_effects_table`: subgroup estimates from the same scores (no refit), person-clustered.
- :func:`permute_within`: the permuted-treatment placebo (treatment shuffled within cells, seeded).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import polars as pl

from models._checks import _check_column, _check_int, _check_table
from models.disclosure import is_small
from models.folds import group_codes
from models.inference import estimate_from_scores


def overlap_table(propensity: np.ndarray, d: np.ndarray, n_bins: int = 20) -> pl.DataFrame:
    """Counts of treated and control units per equal-width propensity bin on [0, 1].

    Parameters
    ----------
    propensity : numpy.ndarray
        Cross-fitted propensity scores (before trimming), shape (n,).
    d : numpy.ndarray
        Treatment 0/1, shape (n,).
    n_bins : int
        Number of bins.

    Returns
    -------
    polars.DataFrame
        bin_low, bin_high, n_treated, n_control (unsuppressed counts: the report stage applies disclosure
        control).
    """
    _check_int("n_bins", n_bins, 2)
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    idx = np.clip(np.searchsorted(edges, propensity, side="right") - 1, 0, n_bins - 1)
    treated = np.bincount(idx[d == 1], minlength=n_bins)
    control = np.bincount(idx[d == 0], minlength=n_bins)
    return pl.DataFrame(
        {
            "bin_low": edges[:-1].round(6),
            "bin_high": edges[1:].round(6),
            "n_treated": treated.astype(np.int64),
            "n_control": control.astype(np.int64),
        }
    )


def _wmean_var(X: np.ndarray, rows: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Weighted mean and variance of the columns of ``X[rows]``, one column at a time in float64 (so the
    peak memory is a few columns, not a float64 copy of the matrix)."""
    w = w / w.sum()
    mean = np.empty(X.shape[1])
    var = np.empty(X.shape[1])
    for j in range(X.shape[1]):
        col = X[rows, j].astype(np.float64)
        mean[j] = w @ col
        var[j] = w @ (col - mean[j]) ** 2
    return mean, var


def balance_table(
    X: np.ndarray,
    d: np.ndarray,
    names: Sequence[str],
    keep: np.ndarray,
    propensity: np.ndarray | None,
    target: str = "ATT",
) -> pl.DataFrame:
    """Standardized mean differences of covariates, before and after weighting.

    ``smd_before`` uses all rows, unweighted; ``smd_after`` uses the kept (untrimmed) rows weighted by the
    cross-fitted propensity p: ATT weights 1 for treated and p/(1-p) for controls; ATE weights 1/p and
    1/(1-p). Both use the same denominator, sqrt((var_treated + var_control) / 2) of the unweighted
    sample before trimming, so they are comparable.

    Returns
    -------
    polars.DataFrame
        covariate, smd_before, smd_after (null when there is no propensity).
    """
    if target not in ("ATT", "ATE"):
        raise ValueError(f"target must be 'ATT' or 'ATE'; got {target!r}")
    t, c = np.flatnonzero(d == 1), np.flatnonzero(d == 0)
    mt, vt = _wmean_var(X, t, np.ones(t.size))
    mc, vc = _wmean_var(X, c, np.ones(c.size))
    sd = np.sqrt((vt + vc) / 2.0)
    sd = np.where(sd > 0, sd, np.nan)
    before = (mt - mc) / sd
    after = np.full(len(names), np.nan)
    if propensity is not None:
        kept = np.flatnonzero(keep)
        dk = d[kept]
        pk = np.clip(propensity, 1e-6, 1 - 1e-6)
        if target == "ATT":
            w = np.where(dk == 1, 1.0, pk / (1 - pk))
        else:
            w = np.where(dk == 1, 1.0 / pk, 1.0 / (1 - pk))
        mt_w, _ = _wmean_var(X, kept[dk == 1], w[dk == 1])
        mc_w, _ = _wmean_var(X, kept[dk == 0], w[dk == 0])
        after = (mt_w - mc_w) / sd
    return pl.DataFrame(
        {"covariate": list(names), "smd_before": before.astype(float), "smd_after": after.astype(float)},
        schema={"covariate": pl.String, "smd_before": pl.Float64, "smd_after": pl.Float64},
    ).with_columns(pl.col("smd_before", "smd_after").fill_nan(None))


def clustered_sensitivity(
    thetas: np.ndarray,
    scaled_psi: np.ndarray,
    max_bias: np.ndarray,
    psi_max_bias: np.ndarray,
    clusters: list[np.ndarray] | None,
    cf_y: float,
    cf_d: float,
    rho: float = 1.0,
    level: float = 0.95,
) -> dict[str, float]:
    """Sensitivity bounds and their confidence limits with clustered variances (DoubleML's formulas).

    DoubleML (``DoubleMLFramework._calc_sensitivity_analysis``; Chernozhukov et al. 2022, "Long story
    short") per repetition r: with confounding strength ``s = |rho| sqrt(cf_y cf_d / (1 - cf_d))`` and
    ``max_bias = sqrt(sigma2 nu2)``, the bounds are ``theta_r -+ s max_bias_r`` and their scores
    ``psi_scaled -+ s psi_max_bias`` (``psi_max_bias = (sigma2 psi_nu2 + nu2 psi_sigma2) / (2 max_bias)``).
    DoubleML's variance of a bound is ``mean(psi^2) / n`` (iid); here it is the clustered
    ``sum_g (sum_{i in g} psi_i)^2 / n^2`` (one-way, or two-way as :func:`models.inference.clustered_variance`),
    which equals DoubleML's when every row is its own cluster. The confidence limits are
    ``lower - q sigma_lower`` and ``upper + q sigma_upper`` with ``q = norm.ppf(level)`` (DoubleML's
    one-sided quantile); bounds and their standard errors are aggregated over repetitions as DoubleML does
    (median; :func:`models.inference.aggregate`), the limits as the median of the per-repetition limits.

    Parameters
    ----------
    thetas : numpy.ndarray
        Estimates per repetition, shape (R,).
    scaled_psi, psi_max_bias : numpy.ndarray
        Per-row scaled score ``psi / mean(psi_a)`` and bias score, shape (n, R).
    max_bias : numpy.ndarray
        ``sqrt(sigma2 nu2)`` per repetition, shape (R,).
    clusters : list of numpy.ndarray or None
        One or two integer code arrays (0..G-1) of length n; ``None``: every row its own cluster.
    cf_y, cf_d, rho, level : float
        DoubleML's ``sensitivity_analysis`` arguments.

    Returns
    -------
    dict
        theta_lower, theta_upper, se_lower, se_upper, ci_lower, ci_upper.
    """
    from scipy.stats import norm

    from models.inference import aggregate, clustered_variance

    n, R = scaled_psi.shape
    if clusters is None:
        clusters = [np.arange(n)]
    strength = abs(rho) * np.sqrt(cf_y * cf_d / (1.0 - cf_d))
    lower = thetas - strength * max_bias
    upper = thetas + strength * max_bias
    ones = np.ones(n)
    s_lo = np.empty(R)
    s_hi = np.empty(R)
    for r in range(R):
        s_lo[r] = np.sqrt(
            clustered_variance(scaled_psi[:, r] - strength * psi_max_bias[:, r], ones, clusters)
        )
        s_hi[r] = np.sqrt(
            clustered_variance(scaled_psi[:, r] + strength * psi_max_bias[:, r], ones, clusters)
        )
    q = float(norm.ppf(level))
    t_lo, se_lo = aggregate(lower, s_lo)
    t_hi, se_hi = aggregate(upper, s_hi)
    return {
        "theta_lower": t_lo,
        "theta_upper": t_hi,
        "se_lower": se_lo,
        "se_upper": se_hi,
        "ci_lower": float(np.median(lower - q * s_lo)),
        "ci_upper": float(np.median(upper + q * s_hi)),
    }


def clustered_robustness_values(
    thetas: np.ndarray,
    scaled_psi: np.ndarray,
    max_bias: np.ndarray,
    psi_max_bias: np.ndarray,
    clusters: list[np.ndarray] | None,
    rho: float = 1.0,
    level: float = 0.95,
    null_hypothesis: float = 0.0,
) -> tuple[float, float]:
    """RV and RVa as DoubleML finds them (``_calc_robustness_value``): the strength cf_y = cf_d = v in
    [0, 0.9999] at which the relevant bound (RV) or its confidence limit (RVa) reaches ``null_hypothesis``,
    by bounded scalar minimisation of the squared distance; the limits use clustered variances
    (:func:`clustered_sensitivity`), so RVa depends on the clustering (RV does not)."""
    from scipy.optimize import minimize_scalar

    bound = "upper" if null_hypothesis > float(np.median(thetas)) else "lower"

    def dist(v: float, key: str) -> float:
        res = clustered_sensitivity(thetas, scaled_psi, max_bias, psi_max_bias, clusters, v, v, rho, level)
        return (res[f"{key}_{bound}"] - null_hypothesis) ** 2

    rv = minimize_scalar(dist, bounds=(0, 0.9999), method="bounded", args=("theta",)).x
    rva = minimize_scalar(dist, bounds=(0, 0.9999), method="bounded", args=("ci",)).x
    return float(rv), float(rva)


def sensitivity_elements(model) -> dict[str, np.ndarray]:
    """From a fitted DoubleML model: thetas (R,), scaled_psi (n, R), max_bias (R,), psi_max_bias (n, R)."""
    fw = model.framework
    se = fw.sensitivity_elements
    return {
        "thetas": np.asarray(fw.all_thetas, dtype=float)[0],
        "scaled_psi": np.asarray(fw.scaled_psi, dtype=float)[:, 0, :],
        "max_bias": np.asarray(se["max_bias"], dtype=float)[0, 0, :],
        "psi_max_bias": np.asarray(se["psi_max_bias"], dtype=float)[:, 0, :],
    }


def sensitivity_table(
    model,
    cf_y: float,
    cf_d: float,
    rho: float = 1.0,
    benchmark: str = "default",
    clusters: list[np.ndarray] | None = None,
) -> pl.DataFrame:
    """Sensitivity bounds and robustness values at (cf_y, cf_d, rho): one row.

    The sensitivity elements (sigma2, nu2 and their scores) are DoubleML's, from the fitted ``model``; the
    variances of the bounds are clustered by ``clusters`` (the estimate's own clustering, e.g. by person:
    :func:`clustered_sensitivity`), so the confidence limits and RVa are cluster-robust. DoubleML's own
    ``sensitivity_analysis`` would treat every row as independent, because its data object has no clusters.

    Returns
    -------
    polars.DataFrame
        cf_y, cf_d, rho, theta, theta_lower, theta_upper, ci_lower, ci_upper, rv, rva, benchmark.
        ``theta`` is DoubleML's point estimate of the fitted model (median over repetitions).
    """
    el = sensitivity_elements(model)
    res = clustered_sensitivity(**el, clusters=clusters, cf_y=cf_y, cf_d=cf_d, rho=rho)
    rv, rva = clustered_robustness_values(**el, clusters=clusters, rho=rho)
    return pl.DataFrame(
        [
            {
                "cf_y": float(cf_y),
                "cf_d": float(cf_d),
                "rho": float(rho),
                "theta": float(np.median(el["thetas"])),
                "theta_lower": res["theta_lower"],
                "theta_upper": res["theta_upper"],
                "ci_lower": res["ci_lower"],
                "ci_upper": res["ci_upper"],
                "rv": rv,
                "rva": rva,
                "benchmark": benchmark,
            }
        ]
    )


def group_effects_table(
    frame: pl.DataFrame,
    group_cols: Sequence[str],
    psi_a: np.ndarray,
    psi_b: np.ndarray,
    clusters: list[np.ndarray],
    min_n: int = 2,
    *,
    d: np.ndarray | None = None,
    min_cell: int = 1,
    own_scores: Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]] | None = None,
) -> pl.DataFrame:
    """Subgroup estimates theta_g = -sum_g psi_b / sum_g psi_a from the design's scores.

    For IRM-ATE this is the group average of the doubly robust signal, for IRM-ATTE the group's ATT, for
    PLR the partialling-out coefficient within the group. The naive and randomized designs pass
    ``own_scores``: their score elements recomputed on the group's rows alone, so the group's estimate is
    its own difference in (weighted) means, with its own treated share. Standard errors are clustered as
    the main estimate.

    A group gets no estimate (the row is kept, with null estimate and a ``reason``) when it has fewer than
    ``min_n`` rows, lacks a treatment arm, or has fewer than ``min_cell`` treated or control units.

    Parameters
    ----------
    d : numpy.ndarray, optional
        The 0/1 treatment of the rows (for ``n_treated``/``n_control`` and the arm rules); ``None`` for a
        continuous treatment (counts null, arm rules not applied).
    min_cell : int
        Disclosure minimum per arm.
    own_scores : callable, optional
        ``mask -> (psi_a, psi_b)`` of the group's rows (1-d or (n_g, R)).

    Returns
    -------
    polars.DataFrame
        group_var, group (as string), estimate, se, ci_low, ci_high, n, n_treated, n_control, reason.
    """
    rows = []
    for col in group_cols:
        values = frame.get_column(col)
        codes = group_codes(values.cast(pl.String).to_numpy())
        labels = np.unique(values.cast(pl.String).to_numpy())
        for k, label in enumerate(labels):
            mask = codes == k
            n = int(mask.sum())
            n_t = int(d[mask].sum()) if d is not None else None
            n_c = n - n_t if n_t is not None else None
            rec: dict[str, Any] = {
                "group_var": col, "group": str(label), "n": n, "n_treated": n_t, "n_control": n_c,
                "estimate": None, "se": None, "ci_low": None, "ci_high": None, "reason": None,
            }  # fmt: skip
            if n < min_n:
                rec["reason"] = f"fewer than {min_n} units"
            elif n_t is not None and (n_t == 0 or n_c == 0):
                rec["reason"] = "no treated units" if n_t == 0 else "no control units"
            elif n_t is not None and is_small(min(n_t, n_c), min_cell):  # type: ignore[type-var]
                rec["reason"] = f"fewer than {min_cell} treated or control units"
            if rec["reason"] is None:
                if own_scores is not None:
                    a, b = own_scores(mask)
                    sub = [group_codes(c[mask]) for c in clusters]
                    r = estimate_from_scores(a, b, sub)
                else:
                    a = psi_a[mask]
                    r = (
                        estimate_from_scores(psi_a, psi_b, clusters, mask=mask)
                        if np.all(np.abs(a.sum(axis=0)) > 0)
                        else None
                    )
                if r is not None and np.isfinite(r["se"]) and r["se"] > 0:
                    rec.update({k2: r[k2] for k2 in ("estimate", "se", "ci_low", "ci_high")})
                else:
                    rec["reason"] = "no variation to estimate from"
            rows.append(rec)
    return pl.DataFrame(
        rows,
        schema={
            "group_var": pl.String, "group": pl.String, "n": pl.Int64, "n_treated": pl.Int64,
            "n_control": pl.Int64, "estimate": pl.Float64, "se": pl.Float64, "ci_low": pl.Float64,
            "ci_high": pl.Float64, "reason": pl.String,
        },
    ).select("group_var", "group", "estimate", "se", "ci_low", "ci_high", "n", "n_treated", "n_control", "reason")  # fmt: skip


def permute_within(table: pl.DataFrame, column: str, by: Sequence[str], seed: int) -> pl.DataFrame:
    """Return ``table`` with ``column`` permuted within the cells ``by`` (seeded, deterministic).

    Every cell keeps its number of treated rows, so the placebo keeps the municipality-month pattern of
    digital meetings but breaks any link to the person. Vectorized: rows are ranked by a seeded random key
    within each cell and take the value of the row with the same rank in the original order.
    """
    _check_table("table", table)
    _check_column("column", table, column)
    for b in by:
        _check_column("by", table, b)
    by = list(by)
    rng = np.random.default_rng(int(seed))
    t = table.with_row_index("__row").with_columns(pl.Series("__key", rng.random(table.height)))
    orig = t.sort(by + ["__row"]).select("__row")
    shuffled = t.sort(by + ["__key"]).select(pl.col(column).alias("__new"))
    mapping = orig.with_columns(shuffled.get_column("__new"))
    out = t.join(mapping, on="__row", how="left").sort("__row")
    return out.with_columns(pl.col("__new").alias(column)).drop("__row", "__key", "__new")
