"""Shared helpers for pure transformation functions: DuckDB connections with limits, atomic writes.

No Dagster import. Outputs are written to a temporary file in the target folder and renamed into place,
so a failed run leaves the last good output intact.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterator, Mapping
from pathlib import Path

import duckdb
import polars as pl

DEFAULT_DUCKDB_SETTINGS: dict[str, str | int] = {
    "memory_limit": "2400MB",  # 60% of the default budget (pipelines.resources.DEFAULT_MEMORY)
    "threads": 2,
    "preserve_insertion_order": "false",
    "autoinstall_known_extensions": "false",
    "autoload_known_extensions": "false",
}


def connect(
    settings: Mapping[str, str | int] | None = None, database: str = ":memory:"
) -> duckdb.DuckDBPyConnection:
    """Open a DuckDB connection with a memory limit, a spill folder and no extension downloads."""
    merged = {**DEFAULT_DUCKDB_SETTINGS, **(settings or {})}
    con = duckdb.connect(database)
    for key, value in merged.items():
        if isinstance(value, str):
            con.execute(f"SET {key} = '{value}'")
        else:
            con.execute(f"SET {key} = {value}")
    return con


def sql_path(path: str | Path) -> str:
    """A path as a quoted SQL string literal (forward slashes work on Windows too)."""
    return "'" + Path(path).as_posix().replace("'", "''") + "'"


@contextlib.contextmanager
def atomic_path(target: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside ``target``; rename it onto ``target`` only if the block succeeds."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{uuid.uuid4().hex}.tmp")
    try:
        yield tmp
        os.replace(tmp, target)
    finally:
        if tmp.exists():
            tmp.unlink()


def write_parquet_atomic(frame: pl.DataFrame | pl.LazyFrame, target: str | Path) -> Path:
    """Write a Polars frame (a LazyFrame is streamed with ``sink_parquet``) atomically."""
    with atomic_path(target) as tmp:
        if isinstance(frame, pl.LazyFrame):
            frame.sink_parquet(tmp)
        else:
            frame.write_parquet(tmp)
    return Path(target)


def copy_query_to_parquet(con: duckdb.DuckDBPyConnection, query: str, target: str | Path) -> Path:
    """Run ``query`` in DuckDB and write the result atomically as Parquet (out of core)."""
    with atomic_path(target) as tmp:
        con.execute(f"COPY ({query}) TO {sql_path(tmp)} (FORMAT PARQUET, COMPRESSION ZSTD)")
    return Path(target)


def write_text_atomic(text: str, target: str | Path) -> Path:
    with atomic_path(target) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(target)
