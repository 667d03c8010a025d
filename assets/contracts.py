"""The table contracts (``data_contracts/tables.py``) at work: schemas, writes that enforce them, key counts.

No Dagster import: the stages' logic writes through :func:`write_query` and :func:`write_frame`, which
check the written file's schema (its Parquet footer) before it is put in place, so a producer that breaks
its contract fails naming the table, the column and what was expected, and leaves the last good file as it
was. ``assets/contract_defs.py`` turns the same checks into blocking Dagster asset checks, and
:func:`contract_frame` builds test fixtures from the contracts so that they cannot drift.

Messages name tables, columns and types only, never a value (no PNR in errors or metadata).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import duckdb
import polars as pl

from assets.io import atomic_path, connect, sql_path
from data_contracts.registers import Column
from data_contracts.tables import TABLES, TableContract


class ContractError(ValueError):
    """A table that does not match its contract (the message names table, column and expectation)."""


def polars_dtype(name: str) -> pl.DataType:
    """The Polars type of a contract's physical type name (``"Int8"`` -> ``pl.Int8``)."""
    return getattr(pl, name)()


def _check_contract(contract: TableContract | str) -> TableContract:
    if isinstance(contract, TableContract):
        return contract
    if contract not in TABLES:
        raise KeyError(f"contract: no table {contract!r} (known: {', '.join(TABLES)})")
    return TABLES[contract]


def schema_problems(contract: TableContract | str, schema: Mapping[str, pl.DataType]) -> list[str]:
    """Every way ``schema`` (column -> Polars type) breaks the contract, one message each; [] if none.

    A column must be a fixed column of the contract or match one of its patterns, with the declared type;
    every required fixed column must be there (a key column is required unless declared otherwise: the
    group effects' ``contrast`` exists only with the modality design).
    """
    t = _check_contract(contract)
    out = []
    for name, dtype in schema.items():
        spec = t.spec(name)
        if spec is None:
            out.append(
                f"table {t.name}, column {name}: not declared (no column of the contract and no pattern "
                f"{', '.join(p.pattern for p in t.patterns) or '(none)'} matches)"
            )
        elif str(dtype) != spec.dtype:
            what = f"column {name}" if isinstance(spec, Column) else f"column {name} (pattern {spec.pattern})"
            out.append(f"table {t.name}, {what}: expected type {spec.dtype}, written {dtype}")
    for c in t.columns:
        if c.name not in schema and c.required:
            out.append(f"table {t.name}, column {c.name}: missing (expected type {c.dtype}, role {c.role})")
    return out


def file_problems(contract: TableContract | str, path: str | Path) -> list[str]:
    """:func:`schema_problems` of a Parquet file (reads its footer only), or that the file is missing."""
    t = _check_contract(contract)
    if not Path(path).is_file():
        return [f"table {t.name}: no file {Path(path).name} in {Path(path).parent}"]
    return schema_problems(t, pl.read_parquet_schema(path))


def enforce(contract: TableContract | str, schema: Mapping[str, pl.DataType], where: str = "") -> None:
    """Raise :class:`ContractError` listing every problem of ``schema`` (``where``: who wrote it)."""
    problems = schema_problems(contract, schema)
    if problems:
        head = f"regdml: {where} wrote a table that breaks its contract:\n" if where else ""
        raise ContractError(head + "\n".join(f"  {p}" for p in problems))


def write_query(
    contract: TableContract | str, con: duckdb.DuckDBPyConnection, query: str, out_dir: str | Path
) -> Path:
    """``COPY (query)`` to ``<out_dir>/<file>`` as ZSTD Parquet (out of core), put in place only if the
    written file matches the contract (the same bytes as :func:`assets.io.copy_query_to_parquet`).

    Raises
    ------
    ContractError
        Naming the table, each column and what was expected; the previous file is left as it was.
    """
    t = _check_contract(contract)
    target = Path(out_dir) / t.file
    with atomic_path(target) as tmp:
        con.execute(f"COPY ({query}) TO {sql_path(tmp)} (FORMAT PARQUET, COMPRESSION ZSTD)")
        enforce(t, pl.read_parquet_schema(tmp), where=f"the {t.stage} stage")
    return target


def write_frame(
    contract: TableContract | str, frame: pl.DataFrame | pl.LazyFrame, out_dir: str | Path
) -> Path:
    """Write a Polars frame to ``<out_dir>/<file>`` (a LazyFrame is streamed) after checking its schema
    against the contract (the same bytes as :func:`assets.io.write_parquet_atomic`)."""
    t = _check_contract(contract)
    schema = frame.collect_schema() if isinstance(frame, pl.LazyFrame) else frame.schema
    enforce(t, schema, where=f"the {t.stage} stage")
    target = Path(out_dir) / t.file
    with atomic_path(target) as tmp:
        if isinstance(frame, pl.LazyFrame):
            frame.sink_parquet(tmp)
        else:
            frame.write_parquet(tmp)
    return target


# A key whose last column is an integer is counted with one bitstring of that column's values per group of
# the other key columns (``bitstring_agg``: rows beyond the first of each key = rows - set bits), instead of
# a hash table with one entry per key: at 5,000,000 persons the 338 million person-months of
# ``employment_months`` ran DuckDB out of memory under the 4GB budget (its aggregate did not spill). The
# bitstring has a bit for every value between the column's min and max, so it is used only when that range
# is small enough: per group (a person's months or weeks) or for the whole table (``meeting_id``).
BITSTRING_MAX_BITS_PER_GROUP = 8_192
# one group (a whole-table key such as meeting_id): at most 2^28 bits, a 32 MB bitstring, well inside
# DuckDB's share of the smallest memory budget; a wider range is grouped by the key as before
BITSTRING_MAX_BITS = 1 << 28
_INTEGER_TYPES = ("Int8", "Int16", "Int32", "Int64")


def _bitstring_duplicates(
    con: duckdb.DuckDBPyConnection, src: str, groups: list[str], index: str
) -> int | None:
    """Rows beyond the first of each key ``(*groups, index)`` with a bitstring of ``index`` per group, or
    None when the index's range is too wide for it. Exactly :func:`duplicate_keys`' count: within a group,
    rows minus distinct index values sums ``n - 1`` over the keys. Rows with a null index are counted
    apart (as a value of their own, as ``GROUP BY`` does)."""
    lo, hi = con.execute(f'SELECT min("{index}"), max("{index}") FROM {src}').fetchone()
    if lo is None:
        width = 0
    else:
        width = int(hi) - int(lo) + 1
        if width > (BITSTRING_MAX_BITS_PER_GROUP if groups else BITSTRING_MAX_BITS):
            return None
    by = f"GROUP BY {', '.join(groups)}" if groups else ""
    dup = 0
    if width:
        dup = con.execute(
            f"""SELECT coalesce(sum(n - d), 0) FROM (
                  SELECT count(*) AS n, bit_count(bitstring_agg("{index}", {int(lo)}, {int(hi)})) AS d
                  FROM {src} WHERE "{index}" IS NOT NULL {by})"""
        ).fetchone()[0]
    # the rows without an index (none in a sound file): grouped by the other key columns, as GROUP BY does
    # (without other key columns the count is one row, 0 when there is no such row: hence greatest)
    nulls = con.execute(
        f"""SELECT coalesce(sum(greatest(n - 1, 0)), 0) FROM (
              SELECT count(*) AS n FROM {src} WHERE "{index}" IS NULL {by})"""
    ).fetchone()[0]
    return int(dup) + int(nulls)


def duplicate_keys(
    contract: TableContract | str, path: str | Path, duckdb_settings: Mapping[str, str | int] | None = None
) -> dict[str, int]:
    """Rows beyond the first of each primary key, and rows with a null key column, counted out of core.

    A key whose last column is an integer (a person's months, a meeting_id) is counted with a bitstring
    of that column per group of the others (:func:`_bitstring_duplicates`: memory per person, not per
    key); any other key by DuckDB grouping by the key under the run's memory limit, spilling to its
    temporary folder. A table without a key gives zeros. A key column declared nullable (the modality's
    ``contrast``, null for the binary designs) is grouped with its nulls as one value and not counted as a
    null key; an optional key column the file does not have is left out.
    """
    t = _check_contract(contract)
    if not t.key:
        return {"n_duplicate_keys": 0, "n_null_keys": 0}
    present = pl.read_parquet_schema(path)
    key = [k for k in t.key if k in present or t.spec(k).required]
    cols = ", ".join(f'"{k}"' for k in key)
    src = f"read_parquet({sql_path(path)})"
    any_null = " OR ".join(f'"{k}" IS NULL' for k in key if not t.spec(k).nullable) or "false"
    con = connect(duckdb_settings)
    try:
        dup = None
        if t.spec(key[-1]).dtype in _INTEGER_TYPES:
            dup = _bitstring_duplicates(con, src, [f'"{k}"' for k in key[:-1]], key[-1])
        if dup is None:
            dup = con.execute(
                f"SELECT coalesce(sum(n - 1), 0) FROM (SELECT count(*) AS n FROM {src} GROUP BY {cols} HAVING n > 1)"
            ).fetchone()[0]
        nulls = con.execute(f"SELECT count(*) FROM {src} WHERE {any_null}").fetchone()[0]
    finally:
        con.close()
    return {"n_duplicate_keys": int(dup), "n_null_keys": int(nulls)}


def contract_report(
    contract: TableContract | str,
    work_dir: str | Path,
    duckdb_settings: Mapping[str, str | int] | None = None,
) -> dict[str, object]:
    """The contract check of one output in ``work_dir``: schema problems, duplicate and null keys, passed.

    The key is not counted when the schema is broken (the count could fail on a missing column) or when
    the contract names a stage check that counts it (``key_checked_by``).
    """
    t = _check_contract(contract)
    path = t.path(work_dir)
    if not t.required_file and not path.is_file():
        # a table the stage writes for some configurations only (data_contracts/tables.py required_file)
        return {"passed": True, "problems": [], "n_duplicate_keys": 0, "n_null_keys": 0, "key": list(t.key),
                "path": path, "note": f"{t.file} not written (optional for this configuration)"}  # fmt: skip
    problems = file_problems(t, path)
    keys = {"n_duplicate_keys": 0, "n_null_keys": 0}
    if not problems and not t.key_checked_by:
        keys = duplicate_keys(t, path, duckdb_settings)
    passed = not problems and keys["n_duplicate_keys"] == 0 and keys["n_null_keys"] == 0
    return {"passed": passed, "problems": problems, **keys, "key": list(t.key), "path": path}


def contract_frame(
    contract: TableContract | str, data: Mapping[str, Sequence] | None = None, n: int | None = None
) -> pl.DataFrame:
    """A frame with the contract's schema for a test fixture: the given columns cast to their declared types
    (generated ones by their pattern), every other required column null; fixed columns in contract order.

    Raises
    ------
    ContractError
        When ``data`` names a column the contract does not declare.
    """
    t = _check_contract(contract)
    data = dict(data or {})
    for name in data:
        if t.spec(name) is None:
            raise ContractError(f"table {t.name}, column {name}: not declared (fixture)")
    rows = n if n is not None else (len(next(iter(data.values()))) if data else 0)
    cols = {}
    names = [c.name for c in t.columns if c.required or c.name in data] + [
        k for k in data if not any(c.name == k for c in t.columns)
    ]
    for name in names:
        dtype = polars_dtype(t.spec(name).dtype)
        values = data.get(name, [None] * rows)
        cols[name] = pl.Series(name, values, dtype=dtype)
    return pl.DataFrame(cols)
