"""Shared helpers for pure transformation functions: DuckDB connections with limits, atomic writes.

No Dagster import. Outputs are written to a temporary file in the target folder and renamed into place,
so a failed run leaves the last good output intact.

Windows: a file cannot be replaced, nor a folder moved, while a process has it (or a file in it) open.
Every rename of an output goes through :func:`replace_path`, which waits out the brief locks of virus
scanners and the search indexer and names the path when the lock lasts (see docs/windows.md).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sys
import time
import uuid
from collections.abc import Iterator, Mapping
from pathlib import Path

import duckdb
import polars as pl

DEFAULT_DUCKDB_SETTINGS: dict[str, str | int] = {
    "memory_limit": "2400MB",  # 60% of the default budget (assets.resources.DEFAULT_MEMORY)
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
            # Values include folder paths, which may hold a quote (C:/Users/O'Brien/...).
            quoted = value.replace("'", "''")
            con.execute(f"SET {key} = '{quoted}'")
        else:
            con.execute(f"SET {key} = {value}")
    return con


def sql_path(path: str | Path) -> str:
    """A path as a quoted SQL string literal (forward slashes work on Windows too)."""
    return "'" + Path(path).as_posix().replace("'", "''") + "'"


# On Windows, how often and how long to retry a rename that a momentary lock refused (about 3 s in all).
REPLACE_ATTEMPTS = 12
REPLACE_DELAY_S = 0.25


def replace_path(
    src: str | Path, dst: str | Path, attempts: int | None = None, delay: float = REPLACE_DELAY_S
) -> None:
    """``os.replace(src, dst)``, retried while Windows reports the target locked.

    Parameters
    ----------
    src, dst : str or Path
        A file or folder and the path it takes (an existing file there is replaced; a folder must not
        exist there).
    attempts : int, optional
        Tries before giving up; default :data:`REPLACE_ATTEMPTS` on Windows and 1 elsewhere, where a
        ``PermissionError`` is a real permission problem that waiting does not cure.
    delay : float
        Seconds between tries.

    Raises
    ------
    PermissionError
        When the lock lasts, naming ``dst`` and what to close; ``src`` is left as it was.
    """
    if attempts is None:
        attempts = REPLACE_ATTEMPTS if sys.platform == "win32" else 1
    for attempt in range(1, attempts + 1):
        try:
            os.replace(src, dst)
            return
        except PermissionError as exc:
            if attempt < attempts:
                time.sleep(delay)
                continue
            raise PermissionError(
                exc.errno,
                f"regdml: cannot put {Path(src).name} in place of {dst} ({exc.strerror}; tried {attempts} "
                f"time(s)). On Windows a program has {dst} or a file in it open (DuckDB, Excel, a preview): "
                "close it and run again; the previous version was left as it was",
            ) from exc


def swap_dir(new: str | Path, target: str | Path) -> None:
    """Put the folder ``new`` in the place of ``target``; the old ``target`` is deleted only afterwards.

    If ``new`` cannot be moved in, the old folder is moved back, so ``target`` never goes missing.
    """
    new, target = Path(new), Path(target)
    old = target.with_name(f".{target.name}.old-{uuid.uuid4().hex}")
    if target.exists():
        replace_path(target, old)
    try:
        replace_path(new, target)
    except BaseException:
        if old.exists():
            replace_path(old, target)
        raise
    shutil.rmtree(old, ignore_errors=True)


@contextlib.contextmanager
def atomic_path(target: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside ``target``; rename it onto ``target`` only if the block succeeds."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{uuid.uuid4().hex}.tmp")
    try:
        yield tmp
        replace_path(tmp, target)
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
