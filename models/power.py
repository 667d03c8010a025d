"""Power for the reversed trial: minimum detectable effects for given numbers of randomized persons."""

from __future__ import annotations

import math
from collections.abc import Sequence

import polars as pl
from scipy.stats import norm

from models._checks import _check_column, _check_table


def mde(sd: float, n: int, share_treated: float = 0.5, alpha: float = 0.05, power: float = 0.8) -> float:
    """Minimum detectable difference in means of a two-arm trial (two-sided test of size ``alpha``).

    MDE = (z_{1-alpha/2} + z_{power}) * sd * sqrt(1 / (n q) + 1 / (n (1 - q))), q = ``share_treated``.

    Parameters
    ----------
    sd : float
        Outcome standard deviation (taken equal in both arms).
    n : int
        Randomized persons in total.
    share_treated : float
        Allocation share (0.5 = 1:1).
    alpha, power : float
        Size and power.
    """
    if not (isinstance(n, int) and n >= 2):
        raise ValueError(f"n must be an int of at least 2; got {n!r}")
    if not 0 < share_treated < 1:
        raise ValueError(f"share_treated must be in (0, 1); got {share_treated!r}")
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be in (0, 1); got {alpha!r}")
    if not 0 < power < 1:
        raise ValueError(f"power must be in (0, 1); got {power!r}")
    if not (sd >= 0 and math.isfinite(sd)):
        raise ValueError(f"sd must be a finite non-negative number; got {sd!r}")
    z = norm.ppf(1 - alpha / 2) + norm.ppf(power)
    return float(z * sd * math.sqrt(1 / (n * share_treated) + 1 / (n * (1 - share_treated))))


def mde_table(
    table: pl.DataFrame,
    outcomes: Sequence[str],
    trial_sizes: Sequence[int],
    share_treated: float = 0.5,
    alpha: float = 0.05,
    power: float = 0.8,
) -> pl.DataFrame:
    """MDE per outcome and trial size, from the observed outcome means and standard deviations.

    The standard deviation is the sample SD of the observed (non-missing) outcome over all rows; for a 0/1
    outcome this is sqrt(p (1 - p)) up to the n-1 factor. One meeting per randomized person is assumed
    (several meetings per person would need a design effect).

    Returns
    -------
    polars.DataFrame
        outcome, trial_size, baseline_mean, sd, mde, n_observed.
    """
    _check_table("table", table)
    rows = []
    for y in outcomes:
        _check_column("outcomes", table, y)
        s = table.get_column(y).cast(pl.Float64).drop_nulls().drop_nans()
        if s.len() < 2:
            raise ValueError(f"outcomes: column {y!r} has fewer than 2 observed values")
        mean, sd = float(s.mean()), float(s.std())
        for n in trial_sizes:
            rows.append({"outcome": y, "trial_size": int(n), "baseline_mean": mean, "sd": sd,
                         "mde": mde(sd, int(n), share_treated, alpha, power), "n_observed": int(s.len())})  # fmt: skip
    return pl.DataFrame(rows)
