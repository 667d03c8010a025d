"""The jobcentre-practice instrument: leave-one-out municipality-month share of digital meetings."""

from __future__ import annotations

import polars as pl

from models._checks import _check_column, _check_table


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
