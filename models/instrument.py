"""The jobcentre-practice instrument and its diagnostics.

- :func:`split_sample_share`: the pipeline's instrument, the municipality-month share of digital meetings
  among the other half of a seeded split of persons (no mechanical own-treatment term).
- :func:`leave_one_out_share`: the leave-one-out share (kept for the command line and comparison).
- :func:`first_stage`, :func:`anderson_rubin_set`, :func:`iv_diagnostics`: first-stage coefficient,
  cluster-robust partial F and partial R-squared, and the weak-instrument-robust Anderson-Rubin set, on
  the residualised y, d, z of the DML fit.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from models._checks import _check_column, _check_int, _check_table

WEAK_F = 10.0  # the rule-of-thumb threshold (Staiger and Stock 1997) below which the instrument is weak


def leave_one_out_share(
    table: pl.DataFrame,
    treatment: str = "digital",
    person: str = "pnr",
    by: tuple[str, ...] = ("kommune", "calendar_month"),
    name: str = "z_loo_share",
) -> pl.DataFrame:
    """Add the share of ``treatment`` among OTHER persons' rows in the same ``by`` cell.

    For a row of person p in cell c: (sum of D in c - sum of D of p in c) / (rows in c - rows of p in c).
    The person's own meetings (all of them, not only the current row) are left out. The value is null
    when no other person has a row in the cell.

    Parameters
    ----------
    table : polars.DataFrame
        One row per meeting with ``treatment`` (0/1), ``person`` and the ``by`` columns.
    treatment, person : str
        Column names.
    by : tuple of str
        The cell (municipality x calendar month by default).
    name : str
        Name of the new column (Float64).
    """
    _check_table("table", table)
    for arg, col in [("treatment", treatment), ("person", person)] + [("by", b) for b in by]:
        _check_column(arg, table, col)
    cell = list(by)
    d = pl.col(treatment).cast(pl.Float64)
    out = table.with_columns(
        d.sum().over(cell).alias("__s_cell"),
        pl.len().over(cell).alias("__n_cell"),
        d.sum().over(cell + [person]).alias("__s_own"),
        pl.len().over(cell + [person]).alias("__n_own"),
    )
    den = pl.col("__n_cell") - pl.col("__n_own")
    out = out.with_columns(
        pl.when(den > 0).then((pl.col("__s_cell") - pl.col("__s_own")) / den).otherwise(None).alias(name)
    )
    return out.drop(["__s_cell", "__n_cell", "__s_own", "__n_own"])


def split_sample_share(
    table: pl.DataFrame,
    treatment: str = "digital",
    person: str = "pnr",
    by: tuple[str, ...] = ("kommune", "calendar_month"),
    seed: int = 20200501,
    min_other: int = 1,
    name: str = "z_split_share",
    half: str = "z_half",
) -> pl.DataFrame:
    """Add a split-sample instrument: the share of ``treatment`` among the OTHER half's rows in the ``by`` cell.

    Persons are split at random (seeded, balanced) into halves 0 and 1 (column ``half``). A row of a
    person in half h gets the treatment share of half 1 - h's rows in its cell, or null when half 1 - h
    has fewer than ``min_other`` rows there. A person's own treatment never enters the instrument of any
    row of its own half; so when the fixed effects are absorbed within each half (municipality x half and
    month x half, see :func:`models.estimate.within`), no row's own treatment enters its own residualised
    instrument either. The leave-one-out share (:func:`leave_one_out_share`) keeps such a term: the
    municipality and month means that the within transformation removes contain the other rows'
    leave-one-out shares, and those contain the row's own treatment, which gives a mechanical negative
    first stage that at small cells nearly cancels the true one (docs/estimation.md).

    Parameters
    ----------
    table : polars.DataFrame
        One row per meeting with ``treatment`` (0/1), ``person`` and the ``by`` columns.
    treatment, person : str
        Column names.
    by : tuple of str
        The cell (municipality x calendar month by default).
    seed : int
        Seed of the split (``numpy.random.default_rng(seed)`` permutes the sorted persons).
    min_other : int
        Fewest rows of the other half in the cell for the share to be used.
    name, half : str
        Names of the new columns: the instrument (Float64) and the person's half (Int8).
    """
    _check_table("table", table)
    for arg, col in [("treatment", treatment), ("person", person)] + [("by", b) for b in by]:
        _check_column(arg, table, col)
    _check_int("min_other", min_other, 1)
    _check_int("seed", seed, 0)
    cell = list(by)
    persons = table.select(pl.col(person).unique().sort())
    rng = np.random.default_rng(int(seed))
    halves = persons.with_columns(pl.Series(half, (rng.permutation(persons.height) % 2).astype(np.int8)))
    out = table.join(halves, on=person, how="left", maintain_order="left")
    other = (
        out.group_by(cell + [half])
        .agg(pl.col(treatment).cast(pl.Float64).sum().alias("__s"), pl.len().alias("__n"))
        .with_columns((1 - pl.col(half)).cast(pl.Int8).alias(half))
    )
    out = out.join(other, on=cell + [half], how="left", maintain_order="left")
    share = pl.when(pl.col("__n") >= min_other).then(pl.col("__s") / pl.col("__n")).otherwise(None)
    return out.with_columns(share.alias(name)).drop("__s", "__n")


def _quadratic_meat(p: np.ndarray, q: np.ndarray, clusters: list[np.ndarray]) -> tuple[float, float, float]:
    """Coefficients (s_pp, s_pq, s_qq) of the clustered meat sum_g (P_g - b Q_g)^2 as a quadratic in b,
    one-way, or two-way as V1 + V2 - V12 (Cameron, Gelbach and Miller)."""
    from models.folds import group_codes

    def one(codes: np.ndarray) -> np.ndarray:
        P = np.bincount(codes, weights=p)
        Q = np.bincount(codes, weights=q)
        return np.array([P @ P, P @ Q, Q @ Q])

    if len(clusters) == 1:
        s = one(clusters[0])
    elif len(clusters) == 2:
        c1, c2 = clusters
        inter = group_codes(c1.astype(np.int64) * (int(c2.max()) + 1) + c2)
        s = one(c1) + one(c2) - one(inter)
    else:
        raise ValueError(f"clusters must hold one or two cluster variables; got {len(clusters)}")
    return float(s[0]), float(s[1]), float(s[2])


def first_stage(d_res: np.ndarray, z_res: np.ndarray, clusters: list[np.ndarray]) -> dict[str, float]:
    """First stage on the residualised treatment and instrument: d_res = pi z_res + e.

    Returns pi (``coef``), its cluster-robust standard error (Liang-Zeger, no small-sample factor; two-way
    as :func:`models.inference.clustered_variance`), the partial F statistic ``F = (pi / se)^2`` (one
    instrument: the cluster-robust Wald F, equal to the Kleibergen-Paap and effective F) and the partial
    R-squared ``(z'd)^2 / (z'z d'd)``.
    """
    from models.inference import clustered_variance

    c = float(z_res @ z_res)
    b = float(z_res @ d_res)
    pi = b / c
    e = d_res - pi * z_res
    var = clustered_variance(z_res * e, z_res * z_res, clusters)
    se = float(np.sqrt(var))
    return {
        "coef": pi,
        "se": se,
        "f": float(pi**2 / var) if var > 0 else float("inf"),
        "partial_r2": b**2 / (c * float(d_res @ d_res)),
    }


def anderson_rubin_set(
    y_res: np.ndarray,
    d_res: np.ndarray,
    z_res: np.ndarray,
    clusters: list[np.ndarray],
    level: float = 0.95,
) -> tuple[float, float, str]:
    """The Anderson-Rubin confidence set of the IV coefficient, solved analytically.

    beta is in the set when the cluster-robust Wald test of g = 0 in the regression of
    ``u(beta) = y_res - beta d_res`` on ``z_res`` (no constant) does not reject at ``level``. With
    a = z'y, b = z'd, c = z'z, g(beta) = (a - beta b) / c and the regression's residual scores
    ``z_i e_i = p_i - beta q_i`` (p_i = z_i y_i - z_i^2 a / c, q_i = z_i d_i - z_i^2 b / c), the clustered
    variance of g is ``(s_pp - 2 beta s_pq + beta^2 s_qq) / c^2``, so the set is
    ``{beta : (a - beta b)^2 <= k (s_pp - 2 beta s_pq + beta^2 s_qq)}``, k the chi-squared(1) quantile: a
    quadratic inequality A beta^2 + B beta + C <= 0. Its test is valid however weak the instrument.

    Returns
    -------
    (low, high, kind)
        kind ``"interval"``: [low, high]; ``"two_rays"``: (-inf, low] and [high, inf) (a weak instrument);
        ``"whole_line"``: every value (low = -inf, high = inf; the instrument has no detectable first
        stage); ``"empty"``: no value (low = high = nan; the model's overidentifying structure is rejected,
        which with one instrument happens only through the cluster-robust variance).
    """
    from scipy.stats import chi2

    k = float(chi2.ppf(level, 1))
    a, b, c = float(z_res @ y_res), float(z_res @ d_res), float(z_res @ z_res)
    p = z_res * y_res - z_res**2 * (a / c)
    q = z_res * d_res - z_res**2 * (b / c)
    s_pp, s_pq, s_qq = _quadratic_meat(p, q, clusters)
    A = b**2 - k * s_qq
    B = -2.0 * a * b + 2.0 * k * s_pq
    C = a**2 - k * s_pp
    scale = max(b**2, k * abs(s_qq), 1e-300)
    if abs(A) <= 1e-12 * scale:  # linear: B beta + C <= 0
        if abs(B) <= 1e-300:
            return (-np.inf, np.inf, "whole_line") if C <= 0 else (np.nan, np.nan, "empty")
        root = -C / B
        return (-np.inf, root, "interval") if B > 0 else (root, np.inf, "interval")
    disc = B**2 - 4.0 * A * C
    if disc < 0:
        return (np.nan, np.nan, "empty") if A > 0 else (-np.inf, np.inf, "whole_line")
    r = np.sqrt(disc)
    lo, hi = sorted(((-B - r) / (2.0 * A), (-B + r) / (2.0 * A)))
    return (float(lo), float(hi), "interval") if A > 0 else (float(lo), float(hi), "two_rays")


def iv_diagnostics(
    y_res: np.ndarray,
    d_res: np.ndarray,
    z_res: np.ndarray,
    clusters: list[np.ndarray],
    level: float = 0.95,
) -> dict[str, float | str]:
    """First stage and Anderson-Rubin set over repetitions (arrays of shape (n, R)).

    The first-stage coefficient, F and partial R-squared are medians over repetitions (as DoubleML
    aggregates estimates). The Anderson-Rubin set's kind is the most common one over repetitions (ties to
    the less informative kind) and its end points are the medians over the repetitions of that kind.

    Returns
    -------
    dict
        first_stage_coef, first_stage_se, first_stage_f, first_stage_partial_r2, ar_ci_low, ar_ci_high,
        ar_set.
    """
    if y_res.ndim == 1:
        y_res, d_res, z_res = y_res[:, None], d_res[:, None], z_res[:, None]
    R = y_res.shape[1]
    fs = [first_stage(d_res[:, r], z_res[:, r], clusters) for r in range(R)]
    ar = [anderson_rubin_set(y_res[:, r], d_res[:, r], z_res[:, r], clusters, level) for r in range(R)]
    order = ["whole_line", "two_rays", "interval", "empty"]
    kinds = [x[2] for x in ar]
    kind = max(order, key=lambda kd: (kinds.count(kd), -order.index(kd)))
    chosen = [x for x in ar if x[2] == kind]
    return {
        "first_stage_coef": float(np.median([f["coef"] for f in fs])),
        "first_stage_se": float(np.median([f["se"] for f in fs])),
        "first_stage_f": float(np.median([f["f"] for f in fs])),
        "first_stage_partial_r2": float(np.median([f["partial_r2"] for f in fs])),
        "ar_ci_low": float(np.median([x[0] for x in chosen])),
        "ar_ci_high": float(np.median([x[1] for x in chosen])),
        "ar_set": kind,
    }
