"""ISO-week helpers: a continuous week index, in Python and as DuckDB macros that agree.

``week_index`` = number of weeks since the ISO week containing 1990-01-01 (a Monday, ISO 1990-W01),
i.e. ``(monday_of_week - date(1990, 1, 1)).days // 7`` (docs/design.md). A week's month (the month whose
``grad_YYYY_MM`` applies) is the month of its Thursday. Week arithmetic is always on ``week_index``:
2020-W53 + 1 = 2021-W01.
"""

from __future__ import annotations

import datetime as dt
import re

import duckdb

from data_contracts.dream_columns import DEFAULT_CENTURY_PIVOT, dream_week_iso

EPOCH = dt.date(1990, 1, 1)  # Monday of ISO 1990-W01
_DREAM_Y = re.compile(r"^y_(\d{2})(\d{2})$", re.IGNORECASE)
_DREAM_GRAD = re.compile(r"^grad_(\d{4})_(\d{2})$", re.IGNORECASE)


def week_index(d: dt.date) -> int:
    """Week index of the ISO week containing date ``d``."""
    return (d - EPOCH).days // 7


def iso_to_week_index(iso_year: int, iso_week: int) -> int:
    """Week index of ISO week (``iso_year``, ``iso_week``); raises ValueError for a week that does not exist."""
    return week_index(dt.date.fromisocalendar(iso_year, iso_week, 1))


def week_monday(idx: int) -> dt.date:
    """Monday (first day) of week ``idx``."""
    return EPOCH + dt.timedelta(days=7 * idx)


def week_thursday(idx: int) -> dt.date:
    """Thursday (DREAM's reference day) of week ``idx``."""
    return EPOCH + dt.timedelta(days=7 * idx + 3)


def week_label(idx: int) -> str:
    """ISO label ``YYYY-Www`` of week ``idx``."""
    y, w, _ = week_monday(idx).isocalendar()
    return f"{y}-W{w:02d}"


def label_to_week_index(label: str) -> int:
    """Inverse of :func:`week_label`."""
    m = re.fullmatch(r"(\d{4})-W(\d{2})", label)
    if not m:
        raise ValueError(f"not an ISO week label: {label!r}")
    return iso_to_week_index(int(m.group(1)), int(m.group(2)))


def week_month(idx: int) -> tuple[int, int]:
    """(year, month) of the week's Thursday: the month whose ``grad_YYYY_MM`` applies to the week."""
    t = week_thursday(idx)
    return t.year, t.month


def month_index(year: int, month: int) -> int:
    """A continuous month number (``year * 12 + month - 1``)."""
    return year * 12 + month - 1


def week_month_index(idx: int) -> int:
    return month_index(*week_month(idx))


def dream_column_week_index(col: str, pivot: int = DEFAULT_CENTURY_PIVOT) -> int:
    """Week index of a DREAM column ``y_YYWW``: ISO week WW of 19YY for YY >= ``pivot``, else of 20YY.

    The pivot is the codebook's ``dream_century_pivot`` (default 90: real DREAM starts with ``y_9130``).
    """
    return iso_to_week_index(*dream_week_iso(col, pivot))


def dream_grad_column_month(col: str) -> tuple[int, int]:
    """(year, month) of a DREAM column ``grad_YYYY_MM``."""
    m = _DREAM_GRAD.match(col)
    if not m:
        raise ValueError(f"not a DREAM grad column: {col!r}")
    return int(m.group(1)), int(m.group(2))


def is_dream_week_column(col: str) -> bool:
    return bool(_DREAM_Y.match(col))


def is_dream_grad_column(col: str) -> bool:
    return bool(_DREAM_GRAD.match(col))


def grad_column_of_week(idx: int) -> str:
    y, m = week_month(idx)
    return f"grad_{y}_{m:02d}"


# ---- SQL ---------------------------------------------------------------------------------------
# DuckDB macros with the same meaning as the Python functions above. ``date - date`` is avoided in
# favour of date_diff, and floor division is explicit so negative indexes agree with Python's ``//``.
SQL_MACROS: tuple[str, ...] = (
    "CREATE OR REPLACE MACRO rl_week_index(d) AS "
    "CAST(floor(date_diff('day', DATE '1990-01-01', CAST(d AS DATE)) / 7.0) AS INTEGER)",
    "CREATE OR REPLACE MACRO rl_week_monday(i) AS CAST(DATE '1990-01-01' + CAST(7 * (i) AS INTEGER) AS DATE)",
    "CREATE OR REPLACE MACRO rl_week_thursday(i) AS CAST(DATE '1990-01-01' + CAST(7 * (i) + 3 AS INTEGER) AS DATE)",
    # ISO week 1 contains 4 January; its Monday is 4 January minus (ISO weekday - 1) days.
    "CREATE OR REPLACE MACRO rl_iso_to_week_index(y, w) AS "
    "rl_week_index(make_date(CAST(y AS BIGINT), 1, 4)) + CAST(w AS INTEGER) - 1",
    "CREATE OR REPLACE MACRO rl_week_label(i) AS "
    "CAST(isoyear(rl_week_monday(i)) AS VARCHAR) || '-W' || lpad(CAST(weekofyear(rl_week_monday(i)) AS VARCHAR), 2, '0')",
    "CREATE OR REPLACE MACRO rl_month_index(d) AS CAST(year(CAST(d AS DATE)) * 12 + month(CAST(d AS DATE)) - 1 AS INTEGER)",
    "CREATE OR REPLACE MACRO rl_week_month_index(i) AS rl_month_index(rl_week_thursday(i))",
    "CREATE OR REPLACE MACRO rl_month_key(mi) AS "
    "CAST(CAST(floor((mi) / 12) AS INTEGER) AS VARCHAR) || '-' || lpad(CAST(CAST((mi) % 12 + 1 AS INTEGER) AS VARCHAR), 2, '0')",
    # y_YYWW: 19YY for YY >= the default century pivot (90), else 20YY (data_contracts.dream_columns)
    "CREATE OR REPLACE MACRO rl_dream_column_week_index(c) AS "
    "rl_iso_to_week_index(CASE WHEN CAST(substr(c, 3, 2) AS INTEGER) >= "
    f"{DEFAULT_CENTURY_PIVOT} THEN 1900 ELSE 2000 END + CAST(substr(c, 3, 2) AS INTEGER), "
    "CAST(substr(c, 5, 2) AS INTEGER))",
    "CREATE OR REPLACE MACRO rl_grad_column_month_index(c) AS "
    "CAST(substr(c, 6, 4) AS INTEGER) * 12 + CAST(substr(c, 11, 2) AS INTEGER) - 1",
    "CREATE OR REPLACE MACRO rl_age(birth, d) AS "
    "year(d) - year(birth) - CASE WHEN month(d) * 100 + day(d) < month(birth) * 100 + day(birth) THEN 1 ELSE 0 END",
)


def register_sql_macros(con: duckdb.DuckDBPyConnection) -> duckdb.DuckDBPyConnection:
    """Create the ``rl_*`` week macros on a DuckDB connection (idempotent)."""
    for stmt in SQL_MACROS:
        con.execute(stmt)
    return con
