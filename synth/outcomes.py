"""The analysis plan's outcome definitions, vectorised in numpy (independent of the pipeline's code).

Inputs are one row per meeting: the person's weekly DREAM codes (``codes``, int, 0 = no benefit), the
monthly degrees of employment (``grads``, int, -1 = null), and the meeting week ``m`` (local week index).
Missing outcomes are NaN.

Rules (``shared/docs/analysis_plan.md``):

* exit week = first week w > m with weeks w..w+3 benefit-free and grad of w's month (month of its
  Thursday) above 0 (weeks beyond the last DREAM week cannot be checked: no exit there);
* ``y_exit_{k}w`` = 1 if m < exit week <= m + k, else 0; missing if there is no exit week in m+1..m+k
  and either DREAM ends before week m + k + 3 or a censoring code appears in weeks m+1..m+k+3;
  an other-exit code gives 0, not missing;
* ``weeks_selfsupport_{k}w`` = number of weeks in m+1..m+k without a benefit code and with grad above
  0 in the week's month; missing if DREAM ends before m + k or a censoring code appears in m+1..m+k;
* ``weeks_selfsupport_pre52w`` = the same count over the 52 weeks ending 1 week before the spell
  starts (the spell: the maximal run of weeks with codes of the meeting week's target group that
  contains m); missing if those weeks begin before the first DREAM week.
"""

from __future__ import annotations

import numpy as np

from synth.codes import KIND_CENSOR

EXIT_HORIZONS = (4, 13, 26, 52)
SELFSUPPORT_HORIZONS = (26, 52)
PLACEBO_WEEKS = 52
OUTCOMES = (
    "y_exit_4w",
    "y_exit_13w",
    "y_exit_26w",
    "y_exit_52w",
    "weeks_selfsupport_26w",
    "weeks_selfsupport_52w",
    "weeks_selfsupport_pre52w",
)


def _window_any(mask: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """Row-wise: any ``mask[r, lo[r]..hi[r]]`` (inclusive; bounds clipped to the matrix)."""
    n_w = mask.shape[1]
    c = np.zeros((mask.shape[0], n_w + 1), dtype=np.int32)
    np.cumsum(mask, axis=1, out=c[:, 1:])
    lo_c = np.clip(lo, 0, n_w)
    hi_c = np.clip(hi + 1, 0, n_w)
    rows = np.arange(mask.shape[0])
    return (c[rows, np.maximum(hi_c, lo_c)] - c[rows, lo_c]) > 0


def _window_count(mask: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    n_w = mask.shape[1]
    c = np.zeros((mask.shape[0], n_w + 1), dtype=np.int32)
    np.cumsum(mask, axis=1, out=c[:, 1:])
    lo_c = np.clip(lo, 0, n_w)
    hi_c = np.clip(hi + 1, 0, n_w)
    rows = np.arange(mask.shape[0])
    return c[rows, np.maximum(hi_c, lo_c)] - c[rows, lo_c]


def compute_outcomes(
    codes: np.ndarray,
    grads: np.ndarray,
    m: np.ndarray,
    week_month: np.ndarray,
    kind_lookup: np.ndarray,
    target_lookup: np.ndarray,
    benefit_free_weeks: int = 4,
    min_grad: int = 0,
    week0: int = 0,
    n_weeks_total: int | None = None,
    employment_end: int | None = None,
) -> dict[str, np.ndarray]:
    """Every outcome of the plan for each row (meeting).

    Parameters
    ----------
    codes : ndarray of int, shape (R, W)
        DREAM weekly codes, 0 = no benefit.
    grads : ndarray of int, shape (R, M)
        Monthly degree of employment, -1 = null.
    m : ndarray of int, shape (R,)
        Meeting week (local index).
    week_month : ndarray of int, shape (W,)
        Month index of each week (month of its Thursday).
    kind_lookup, target_lookup : ndarray, shape (1000,)
        Code -> kind id and code -> target-group index (-1 if not a target code), from the codebook.
    benefit_free_weeks, min_grad : int
        The employment rule's parameters (plan defaults 4 and 0).
    week0 : int
        Week index of the first column of ``codes`` (the rows may be a crop of the weeks).
    n_weeks_total : int, optional
        Weeks up to DREAM's last ``y_`` week (uncropped; default ``week0`` + the columns of ``codes``).
    employment_end : int, optional
        Uncropped index of the last week with employment information (its Thursday in a delivered
        ``grad_`` month; default: the last week). Where DREAM "ends" for the outcomes is the earlier of
        this and the last week (analysis plan, "Time"): the missing rules apply from there, and a later
        week is never self-supporting (its grad is unknown), while the benefit-free weeks w+1..w+3 of an
        exit in week w only need ``y_`` weeks.

    Returns
    -------
    dict of str to ndarray of float64
        One array per outcome in :data:`OUTCOMES`, NaN = missing; plus ``exit_week`` (-1 = none) and
        ``spell_start`` (local week index).
    """
    codes = np.asarray(codes)
    n_r, n_w = codes.shape
    total = n_w + week0 if n_weeks_total is None else n_weeks_total
    last_y = total - 1  # last y_ week (uncropped index)
    last = last_y if employment_end is None else min(last_y, int(employment_end))  # where DREAM ends
    m_glob = np.asarray(m, dtype=np.int64)
    m = m_glob - week0
    rows = np.arange(n_r)
    nb = codes == 0
    gpos = grads[:, week_month] > min_grad  # (R, W) grad of the week's month above the threshold
    gpos &= (np.arange(n_w) + week0 <= last)[None, :]  # no grad delivered after the end
    cens = kind_lookup[codes] == KIND_CENSOR
    # w..w+3 benefit-free; weeks beyond the end of DREAM cannot be verified
    free = np.zeros_like(nb)
    span = max(min(n_w, total - week0) - benefit_free_weeks + 1, 0)
    free[:, :span] = nb[:, :span]
    for j in range(1, benefit_free_weeks):
        free[:, :span] &= nb[:, j : j + span]
    exit_ok = free & gpos
    w_idx = np.arange(n_w)
    cand = exit_ok & (w_idx[None, :] > m[:, None])
    has_exit = cand.any(axis=1)
    exit_week = np.where(has_exit, cand.argmax(axis=1), -1)
    out: dict[str, np.ndarray] = {}
    for k in EXIT_HORIZONS:
        hit = has_exit & (exit_week <= m + k)
        missing = ~hit & ((last < m_glob + k + 3) | _window_any(cens, m + 1, m + k + 3))
        y = hit.astype(np.float64)
        y[missing] = np.nan
        out[f"y_exit_{k}w"] = y
    selfsup = nb & gpos
    for k in SELFSUPPORT_HORIZONS:
        cnt = _window_count(selfsup, m + 1, m + k).astype(np.float64)
        missing = (last < m_glob + k) | _window_any(cens, m + 1, m + k)
        cnt[missing] = np.nan
        out[f"weeks_selfsupport_{k}w"] = cnt
    # spell start: maximal run of the meeting week's target group containing m
    grp = target_lookup[codes]
    g_m = grp[rows, np.clip(m, 0, n_w - 1)]
    differs = (grp != g_m[:, None]) & (w_idx[None, :] <= m[:, None])
    last_diff = np.where(differs, w_idx[None, :], -1).max(axis=1)
    spell_start = last_diff + 1
    lo = spell_start - PLACEBO_WEEKS
    pre = _window_count(selfsup, lo, spell_start - 1).astype(np.float64)
    pre[lo + week0 < 0] = np.nan
    out["weeks_selfsupport_pre52w"] = pre
    out["exit_week"] = np.where(exit_week >= 0, exit_week + week0, -1)
    out["spell_start"] = spell_start + week0
    return out
