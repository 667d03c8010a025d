"""Inference from linear scores psi = psi_a * theta + psi_b: clustered variances and the median over repetitions.

Every design (DoubleML's IRM/PLR/PLIV/IIVM and the hand-made naive and randomized designs) ends in the
score elements ``psi_a`` and ``psi_b`` of shape (n, n_reps); estimates, person-clustered or two-way
clustered standard errors, subgroup estimates and the aggregation over repetitions are computed here,
with group sums (``numpy.bincount``), so they cost O(n) at any number of persons.
"""

from __future__ import annotations

import numpy as np
from scipy.stats import norm

from models.folds import group_codes

CRITICAL_95 = float(norm.ppf(0.975))


def _meat(psi: np.ndarray, codes: np.ndarray) -> float:
    sums = np.bincount(codes, weights=psi)
    return float(np.dot(sums, sums))


def clustered_variance(psi: np.ndarray, psi_a: np.ndarray, clusters: list[np.ndarray]) -> float:
    """Variance of theta-hat from scores, clustered one-way or two-way.

    One way: sum_g (sum_{i in g} psi_i)^2 / (n * mean(psi_a))^2 (Liang-Zeger, no small-sample factor;
    equal to DoubleML's ``cluster_cols`` variance when its folds are the same clusters). Two ways
    (Cameron, Gelbach and Miller 2011): V1 + V2 - V12 with V12 clustered on the intersection; if that is
    not positive, the larger one-way variance is used.

    Parameters
    ----------
    psi, psi_a : numpy.ndarray
        Score and its derivative for one repetition, shape (n,).
    clusters : list of numpy.ndarray
        One or two integer code arrays (0..G-1), shape (n,).
    """
    n = psi.shape[0]
    denom = (n * float(np.mean(psi_a))) ** 2
    if len(clusters) == 1:
        return _meat(psi, clusters[0]) / denom
    if len(clusters) != 2:
        raise ValueError(f"clusters must hold one or two cluster variables; got {len(clusters)}")
    c1, c2 = clusters
    inter = group_codes(c1.astype(np.int64) * (int(c2.max()) + 1) + c2)
    m1, m2, m12 = _meat(psi, c1), _meat(psi, c2), _meat(psi, inter)
    meat = m1 + m2 - m12
    if meat <= 0:
        meat = max(m1, m2)
    return meat / denom


def aggregate(thetas: np.ndarray, ses: np.ndarray) -> tuple[float, float]:
    """Median over repetitions as DoubleML does it: theta = median(theta_r),
    se = (median(theta_r + c * se_r) - theta) / c with c = 1.96 (``utils/_estimation.py``)."""
    theta = float(np.median(thetas))
    upper = float(np.median(thetas + 1.96 * ses))
    return theta, (upper - theta) / 1.96


def estimate_from_scores(
    psi_a: np.ndarray, psi_b: np.ndarray, clusters: list[np.ndarray], mask: np.ndarray | None = None
) -> dict[str, float | np.ndarray]:
    """theta_r = -sum(psi_b) / sum(psi_a) per repetition (on ``mask`` rows), clustered SEs, median.

    Returns a dict with estimate, se, ci_low, ci_high, p_value, thetas (per repetition), ses.
    """
    if psi_a.ndim == 1:
        psi_a, psi_b = psi_a[:, None], psi_b[:, None]
    if mask is not None:
        psi_a, psi_b = psi_a[mask], psi_b[mask]
        clusters = [group_codes(c[mask]) for c in clusters]
    n_reps = psi_a.shape[1]
    thetas = np.empty(n_reps)
    ses = np.empty(n_reps)
    for r in range(n_reps):
        a, b = psi_a[:, r], psi_b[:, r]
        theta = -float(np.sum(b)) / float(np.sum(a))
        psi = a * theta + b
        thetas[r] = theta
        ses[r] = np.sqrt(clustered_variance(psi, a, clusters))
    theta, se = aggregate(thetas, ses)
    return summary(theta, se) | {"thetas": thetas, "ses": ses}


def summary(theta: float, se: float) -> dict[str, float]:
    """Normal-approximation 95% interval and two-sided p-value."""
    if se > 0 and np.isfinite(se):
        p = float(2 * norm.sf(abs(theta) / se))
    else:
        p = float("nan")
    return {
        "estimate": float(theta),
        "se": float(se),
        "ci_low": float(theta - CRITICAL_95 * se),
        "ci_high": float(theta + CRITICAL_95 * se),
        "p_value": p,
    }
