"""Small argument validators in DoubleML style: the message names the argument and the value."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import polars as pl

from data_contracts.config import TRIM_RULE, trim_is_valid


def _check_in(name: str, value: Any, allowed: Iterable[Any]) -> Any:
    allowed = tuple(allowed)
    if value not in allowed:
        raise ValueError(f"{name} must be one of {list(allowed)}; got {value!r}")
    return value


def _check_int(name: str, value: Any, low: int | None = None, high: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int; got {value!r} of type {type(value).__name__}")
    if low is not None and value < low:
        raise ValueError(f"{name} must be at least {low}; got {value}")
    if high is not None and value > high:
        raise ValueError(f"{name} must be at most {high}; got {value}")
    return value


def _check_trim(name: str, value: Any) -> tuple[float, float] | None:
    if value is None:
        return None
    try:
        lo, hi = (float(v) for v in value)
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be a pair (low, high) of floats or None; got {value!r}") from None
    if not trim_is_valid(lo, hi):
        raise ValueError(f"{name} must satisfy {TRIM_RULE}; got {value!r}")
    return (lo, hi)


def _check_table(name: str, table: Any) -> pl.DataFrame:
    if not isinstance(table, pl.DataFrame):
        raise TypeError(f"{name} must be a polars.DataFrame; got {type(table).__name__}")
    if table.height == 0:
        raise ValueError(f"{name} has no rows")
    return table


def _check_columns(name: str, table: pl.DataFrame, columns: Sequence[str]) -> list[str]:
    if isinstance(columns, str):
        raise TypeError(f"{name} must be a list of column names, not a string; got {columns!r}")
    cols = list(columns)
    missing = [c for c in cols if c not in table.columns]
    if missing:
        raise ValueError(
            f"{name}: column(s) {missing} not in the table (it has {len(table.columns)} columns)"
        )
    dup = sorted({c for c in cols if cols.count(c) > 1})
    if dup:
        raise ValueError(f"{name}: duplicated column(s) {dup}")
    return cols


def _check_column(name: str, table: pl.DataFrame, column: Any) -> str:
    if not isinstance(column, str):
        raise TypeError(f"{name} must be a column name (str); got {column!r}")
    if column not in table.columns:
        raise ValueError(f"{name}: column {column!r} not in the table")
    return column


def _check_numeric(name: str, table: pl.DataFrame, columns: Sequence[str]) -> None:
    bad = [c for c in columns if not (table.schema[c].is_numeric() or table.schema[c] == pl.Boolean)]
    if bad:
        raise TypeError(
            f"{name}: column(s) {bad} are not numeric (dtypes {[str(table.schema[c]) for c in bad]}); "
            "encode categories upstream"
        )


def _check_no_missing(name: str, table: pl.DataFrame, columns: Sequence[str]) -> None:
    if not columns:
        return
    counts = table.select([pl.col(c).is_null().sum().alias(c) for c in columns]).row(0, named=True)
    bad = {c: n for c, n in counts.items() if n}
    if not bad:
        floats = [c for c in columns if table.schema[c] in (pl.Float32, pl.Float64)]
        if floats:
            nan = table.select(
                [(pl.col(c).is_nan() | pl.col(c).is_infinite()).sum().alias(c) for c in floats]
            )
            bad = {c: n for c, n in nan.row(0, named=True).items() if n}
    if bad:
        raise ValueError(f"{name}: missing or non-finite values in {bad} (nothing is imputed; fix upstream)")


def _check_binary(name: str, table: pl.DataFrame, column: str) -> None:
    vals = set(table.get_column(column).drop_nulls().unique().to_list())
    if not vals <= {0, 1} or len(vals) < 2:
        shown = sorted(vals, key=str)[:6]
        raise ValueError(
            f"{name}: column {column!r} must be binary 0/1 with both values present; values {shown}"
        )


def _check_not_constant(name: str, table: pl.DataFrame, columns: Sequence[str]) -> None:
    if not columns:
        return
    nu = table.select([pl.col(c).n_unique().alias(c) for c in columns]).row(0, named=True)
    const = [c for c, k in nu.items() if k < 2]
    if const:
        raise ValueError(f"{name}: constant column(s) {const} (drop them before estimating)")
