"""DREAM's wide column names as DST writes them: ``y_YYWW`` weeks and ``grad_YYYY_MM`` months.

No Dagster import. ``y_YYWW`` is ISO week WW of ISO year 19YY when YY is at or above the century pivot
(default 90: real DREAM starts in mid-1991 with ``y_9130``), else 20YY. The pivot is the codebook's
``dream_century_pivot`` (a project whose DREAM reaches past 2089 would need another one).

A delivered DREAM's week columns must be contiguous ISO weeks from the first to the last, and its grad
columns contiguous months (analysis plan, "Time"); :func:`week_gaps` and :func:`month_gaps` list the
columns a delivery lacks.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable

from data_contracts.registers import DREAM_MONTH_PATTERN, DREAM_WEEK_PATTERN

DEFAULT_CENTURY_PIVOT = 90
_EPOCH = dt.date(1990, 1, 1)  # Monday of ISO 1990-W01 (the week index's origin, docs/design.md)
_WEEK_RE = re.compile(DREAM_WEEK_PATTERN, re.IGNORECASE)
_MONTH_RE = re.compile(DREAM_MONTH_PATTERN, re.IGNORECASE)


def _check_pivot(pivot: int) -> int:
    if not isinstance(pivot, int) or isinstance(pivot, bool) or not 0 <= pivot <= 100:
        raise ValueError(f"dream_century_pivot must be an integer in 0..100, got {pivot!r}")
    return pivot


def iso_year_of_yy(yy: int, pivot: int = DEFAULT_CENTURY_PIVOT) -> int:
    """ISO year of DREAM's two-digit year: 19YY for ``yy >= pivot``, else 20YY."""
    return (1900 if yy >= _check_pivot(pivot) else 2000) + yy


def dream_week_iso(name: str, pivot: int = DEFAULT_CENTURY_PIVOT) -> tuple[int, int]:
    """(ISO year, ISO week) of a DREAM column ``y_YYWW``.

    Raises
    ------
    ValueError
        When ``name`` is not ``y_YYWW`` or names a week that does not exist (``y_2153``: 2021 has 52 weeks).
    """
    m = _WEEK_RE.match(name)
    if not m:
        raise ValueError(f"not a DREAM week column: {name!r}")
    year, week = iso_year_of_yy(int(m["yy"]), pivot), int(m["ww"])
    dt.date.fromisocalendar(year, week, 1)  # raises ValueError for a week the year does not have
    return year, week


def valid_dream_week(name: str, pivot: int = DEFAULT_CENTURY_PIVOT) -> bool:
    """True when ``name`` is ``y_YYWW`` of an existing ISO week (``y_2053`` yes, ``y_2153`` no)."""
    try:
        dream_week_iso(name, pivot)
    except ValueError:
        return False
    return True


def dream_week_monday(name: str, pivot: int = DEFAULT_CENTURY_PIVOT) -> dt.date:
    """Monday of the ISO week a ``y_YYWW`` column names."""
    return dt.date.fromisocalendar(*dream_week_iso(name, pivot), 1)


def dream_week_index(name: str, pivot: int = DEFAULT_CENTURY_PIVOT) -> int:
    """Continuous week index (weeks since ISO 1990-W01) of a ``y_YYWW`` column."""
    return (dream_week_monday(name, pivot) - _EPOCH).days // 7


def dream_week_name(index: int) -> str:
    """The ``y_YYWW`` column of week ``index`` (inverse of :func:`dream_week_index`)."""
    year, week, _ = (_EPOCH + dt.timedelta(days=7 * index)).isocalendar()
    return f"y_{year % 100:02d}{week:02d}"


def dream_month(name: str) -> tuple[int, int]:
    """(year, month) of a ``grad_YYYY_MM`` column; ValueError when it is not one."""
    m = _MONTH_RE.match(name)
    if not m or not 1 <= int(m["month"]) <= 12 or not 1900 <= int(m["year"]) <= 2100:
        raise ValueError(f"not a DREAM month column: {name!r}")
    return int(m["year"]), int(m["month"])


def valid_dream_month(name: str) -> bool:
    try:
        dream_month(name)
    except ValueError:
        return False
    return True


def _month_number(year: int, month: int) -> int:
    return year * 12 + month - 1


def week_gaps(names: Iterable[str], pivot: int = DEFAULT_CENTURY_PIVOT) -> list[str]:
    """The ``y_YYWW`` columns missing between the first and the last delivered week, in week order.

    Invalid names are ignored here (they are reported as such by the column check).
    """
    idx = {dream_week_index(n, pivot) for n in names if valid_dream_week(n, pivot)}
    if not idx:
        return []
    return [dream_week_name(i) for i in range(min(idx), max(idx) + 1) if i not in idx]


def month_gaps(names: Iterable[str]) -> list[str]:
    """The ``grad_YYYY_MM`` columns missing between the first and the last delivered month."""
    months = {_month_number(*dream_month(n)) for n in names if valid_dream_month(n)}
    if not months:
        return []
    return [
        f"grad_{i // 12}_{i % 12 + 1:02d}" for i in range(min(months), max(months) + 1) if i not in months
    ]
