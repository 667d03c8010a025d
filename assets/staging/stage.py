"""Stage a register: read its delivered files chunk by chunk, validate them against the contract and
write one typed Parquet file, atomically (no Dagster import).

The staged file is streamed to a temporary file beside the target (pyarrow ``ParquetWriter``). Only when
every file of the register passed every check (including key uniqueness, counted by DuckDB on the
temporary file) is it renamed onto ``staging/<register>.parquet`` with ``os.replace``. On any problem the
temporary file is removed, :class:`DeliveryError` is raised with all problems, and the previous staged
file is left byte-for-byte unchanged.
"""

from __future__ import annotations

import calendar
import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from assets.io import atomic_path, connect, sql_path
from assets.staging.discover import DeliveredFile, discover
from assets.staging.read import DEFAULT_CHUNK_SIZE, FileReadError, iter_chunks, read_columns
from data_contracts.codebook import Codebook
from data_contracts.config import OPTIONAL_REGISTERS
from data_contracts.registers import CONTRACTS, RegisterContract
from data_contracts.validation import (
    DeliveryError,
    FileValidator,
    Problem,
    duplicate_key_problem,
    errors,
    staged_schema,
)

DUCKDB_FILE = "registers.duckdb"
# Upper bound on rows x columns per chunk when no memory budget is given (the pipeline passes the one its
# budget allows): wide files (DREAM, ~515 columns) are read in fewer rows per chunk, about 1 GB resident.
MAX_CELLS_PER_CHUNK = 10_000_000
MIN_CHUNK_ROWS = 1_000


def rows_per_chunk(chunk_size: int, n_columns: int, max_cells: int = MAX_CELLS_PER_CHUNK) -> int:
    """Rows per chunk: ``chunk_size``, lowered for wide files to at most ``max_cells`` cells per chunk."""
    return max(min(chunk_size, MIN_CHUNK_ROWS), min(chunk_size, max_cells // max(n_columns, 1)))


@dataclass
class StageResult:
    """What staging wrote: the staged file, its rows per source file, its schema and any warnings."""

    register: str
    path: Path
    rows: int
    rows_per_file: dict[str, int]
    schema: dict[str, pl.DataType]
    warnings: list[Problem] = field(default_factory=list)

    @property
    def files(self) -> list[str]:
        return list(self.rows_per_file)


def reference_date(contract: RegisterContract, year: int | None, month: int | None) -> dt.date | None:
    """The reference date of a file's period (e.g. 30 September for UDDA, the month's last day for BEF)."""
    rule = contract.reference_day
    if rule is None or year is None:
        return None
    if rule == "month_end":
        if month is None:
            return None
        return dt.date(year, month, calendar.monthrange(year, month)[1])
    mm, dd = (int(x) for x in rule.split("-"))
    return dt.date(year, mm, dd)


def _derived_exprs(contract: RegisterContract, f: DeliveredFile) -> list[pl.Expr]:
    out = []
    for name, _dtype, _ in contract.derived:
        if name == "year":
            out.append(pl.lit(f.year, dtype=pl.Int32).alias(name))
        elif name == "month":
            out.append(pl.lit(f.month, dtype=pl.Int32).alias(name))
        elif name == "reference_date":
            out.append(pl.lit(reference_date(contract, f.year, f.month), dtype=pl.Date).alias(name))
        elif name == "source_file":
            out.append(pl.lit(f.name, dtype=pl.String).alias(name))
        else:  # pragma: no cover - a new derived column needs a rule here
            raise KeyError(f"staging: no rule for derived column {name!r}")
    return out


def _arrow_schema(schema: Mapping[str, pl.DataType]) -> pa.Schema:
    return pl.DataFrame(schema=dict(schema)).to_arrow().schema


def count_duplicate_keys(
    path: str | Path,
    key: Sequence[str],
    settings: Mapping[str, str | int] | None = None,
    per: str | None = "source_file",
) -> dict[str, tuple[int, int]]:
    """``per`` value -> (number of duplicated keys, rows sharing them), counted out of core by DuckDB.

    Keys are counted within each value of the column ``per`` (default: each source file); with
    ``per=None`` over the whole file, under the label ``""``. Null keys are not counted (validation
    reports them).
    """
    if not key:
        return {}
    cols = ", ".join(f'"{k}"' for k in key)
    not_null = " AND ".join(f'"{k}" IS NOT NULL' for k in key)
    src = f"read_parquet({sql_path(path)})"
    con = connect(settings)
    rows: list[tuple] = []
    try:
        # One source file at a time: keys are counted within a file, so the hash table holds one file's
        # keys, not every file's (at 5,000,000 persons BEF's 160 million person-quarters in one GROUP BY ran
        # DuckDB out of memory under the 4GB budget). The staged file is written file after file, so its
        # row groups' statistics let each pass skip the other files' rows.
        if per:
            parts = [
                r[0]
                for r in con.execute(
                    f'SELECT DISTINCT CAST("{per}" AS VARCHAR) FROM {src} ORDER BY 1'
                ).fetchall()
            ]
            where = [
                (p, f""" AND CAST("{per}" AS VARCHAR) {"IS NULL" if p is None else "= $part"}""")
                for p in parts
            ]
        else:
            where = [(None, "")]
        for part, cond in where:
            params = {"part": part} if part is not None and per else {}
            # Grouping by one 64-bit hash of the key is faster than by the key's strings; the exact count
            # runs only when two hashes collide (a duplicate, or chance).
            collisions = con.execute(
                f"""SELECT count(*) FROM (SELECT hash({cols}) AS h FROM {src} WHERE {not_null}{cond}
                    GROUP BY h HAVING count(*) > 1)""",
                params,
            ).fetchone()[0]
            if not collisions:
                continue
            k, n = con.execute(
                f"""SELECT count(*), coalesce(sum(n), 0) FROM (
                      SELECT count(*) AS n FROM {src} WHERE {not_null}{cond} GROUP BY {cols} HAVING count(*) > 1)""",
                params,
            ).fetchone()
            if k:
                rows.append(("" if not per else part, k, n))
    finally:
        con.close()
    return {str(f): (int(k), int(n)) for f, k, n in rows}


def _key_hashes(typed: pl.DataFrame, key: Sequence[str]) -> pl.Series:
    """64-bit hashes of the non-null keys of a chunk (null keys are reported by validation, not here)."""
    not_null = pl.all_horizontal([pl.col(k).is_not_null() for k in key])
    keyed = pl.col(key[0]) if len(key) == 1 else pl.struct(list(key))
    return typed.filter(not_null).select(keyed.hash().alias("h")).get_column("h")


def stage_register(
    contract: RegisterContract,
    files: Sequence[DeliveredFile],
    target: str | Path,
    codebook: Codebook,
    *,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    duckdb_settings: Mapping[str, str | int] | None = None,
    max_cells: int = MAX_CELLS_PER_CHUNK,
) -> StageResult:
    """Validate and stage every file of one register into ``target`` (all periods in one Parquet file).

    Files are read in chunks of ``chunk_size`` rows, fewer for wide files so that a chunk holds at most
    ``max_cells`` cells (the memory budget's share, see ``RegdmlResource.staging_cells_per_chunk``).

    Raises
    ------
    DeliveryError
        With every problem of every file of the register; ``target`` is then left as it was.
    """
    target = Path(target)
    if not files and contract.name in OPTIONAL_REGISTERS:
        # An optional register not delivered becomes an empty table of its staged shape, so that every
        # reader has one path to read; its 0 rows say it was not delivered.
        schema = staged_schema(contract)
        with atomic_path(target) as tmp:
            pl.DataFrame(schema=schema).write_parquet(tmp)
        return StageResult(contract.name, target, 0, {}, schema)
    if not files:
        raise DeliveryError(
            Problem(contract.name, None, 0, f"register '{contract.name}' is missing: no file")
        )
    problems: list[Problem] = []
    rows_per_file: dict[str, int] = {}
    schema: dict[str, pl.DataType] | None = None
    validators: list[tuple[DeliveredFile, FileValidator]] = []
    for f in files:
        try:
            header = read_columns(f.path)
        except FileReadError as e:
            problems.append(Problem(e.file, None, 0, e.message))
            continue
        v = FileValidator(f.name, header, contract, codebook)
        validators.append((f, v))
        s = staged_schema(contract, v.plan.staged_names if contract.wide else None)
        if schema is None:
            schema = s
        elif contract.wide and list(s) != list(schema):
            problems.append(
                Problem(f.name, None, 0, "has other y_/grad_ columns than the first file of the register")
            )

    # Keys are screened file by file with 64-bit hashes while streaming; only when two hashes collide
    # (a duplicate, or by chance about once in 10^7 files of a million rows) does DuckDB count exactly.
    maybe_duplicates = False
    with atomic_path(target) as tmp:
        writer: pq.ParquetWriter | None = None
        try:
            if schema is not None:
                arrow_schema = _arrow_schema(schema)
                writer = pq.ParquetWriter(str(tmp), arrow_schema, compression="zstd")
            for f, v in validators:
                n = 0
                key_hashes: list[pl.Series] = []
                try:
                    rows = rows_per_chunk(chunk_size, len(v.plan.rename), max_cells)
                    for chunk in iter_chunks(f.path, rows, columns=list(v.plan.rename)):
                        typed = v.process(chunk)
                        n += typed.height
                        if contract.key:
                            key_hashes.append(_key_hashes(typed, contract.key))
                        if writer is not None and typed.height and not errors(problems):
                            out = typed.with_columns(_derived_exprs(contract, f)).select(list(schema))  # type: ignore[arg-type]
                            writer.write_table(out.to_arrow().cast(arrow_schema))
                except FileReadError as e:
                    problems.append(Problem(e.file, None, n, f"{e.message} after {n} rows"))
                    continue
                rows_per_file[f.name] = n
                problems.extend(v.finish())
                if key_hashes and pl.concat(key_hashes).is_duplicated().any():
                    maybe_duplicates = True
        finally:
            if writer is not None:
                writer.close()
        if not errors(problems) and contract.key and maybe_duplicates:
            for fname, (n_keys, n_rows) in count_duplicate_keys(tmp, contract.key, duckdb_settings).items():
                problems.append(duplicate_key_problem(fname, contract.key, n_keys, n_rows))
        if errors(problems):
            # raising inside atomic_path removes the temporary file and keeps the old target
            raise DeliveryError(problems)
    return StageResult(
        register=contract.name,
        path=target,
        rows=sum(rows_per_file.values()),
        rows_per_file=rows_per_file,
        schema=schema or {},
        warnings=[p for p in problems if p.severity == "warning"],
    )


def validate_staged(
    path: str | Path,
    contract: RegisterContract,
    codebook: Codebook,
    *,
    full: bool = False,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    duckdb_settings: Mapping[str, str | int] | None = None,
) -> list[Problem]:
    """Check a staged file against the contract.

    Always: the file exists, its columns and types are the contract's staged schema, no missing values
    where the contract forbids them, keys unique per source file (DuckDB, out of core). With ``full``
    also every value again (codes, ranges), chunk by chunk, as staging did.
    """
    p = Path(path)
    label = f"staging/{p.name}"
    if not p.is_file():
        return [Problem(label, None, 0, "staged file does not exist")]
    got = pl.read_parquet_schema(p)
    want = staged_schema(contract, list(got) if contract.wide else None)
    problems: list[Problem] = []
    for name, dtype in want.items():
        if name not in got:
            problems.append(Problem(label, name, None, "staged column is missing"))
        elif got[name] != dtype:
            problems.append(Problem(label, name, None, f"staged as {got[name]}, the contract says {dtype}"))
    extra = [c for c in got if c not in want]
    if extra:
        problems.append(Problem(label, None, None, f"staged columns not in the contract: {', '.join(extra)}"))
    if errors(problems):
        return problems
    if contract.name in OPTIONAL_REGISTERS and pq.ParquetFile(p).metadata.num_rows == 0:
        return problems  # an optional register not delivered: its empty table has the staged shape
    if full:
        v = FileValidator(
            label, [c for c in got if c not in {d[0] for d in contract.derived}], contract, codebook
        )
        for chunk in iter_chunks(p, rows_per_chunk(chunk_size, len(got))):
            v.process(chunk)
        problems.extend(v.finish())
    else:
        required = [c.name for c in contract.columns if not c.nullable and c.name in got]
        if required:
            con = connect(duckdb_settings)
            try:
                exprs = ", ".join(f'count(*) FILTER (WHERE "{c}" IS NULL)' for c in required)
                counts = con.execute(f"SELECT {exprs} FROM read_parquet({sql_path(p)})").fetchone() or ()
            finally:
                con.close()
            for c, n in zip(required, counts, strict=True):
                if n:
                    problems.append(
                        Problem(label, c, int(n), f"{n} row(s) have no value (the contract requires one)")
                    )
    if contract.key:
        for fname, (n_keys, n_rows) in count_duplicate_keys(p, contract.key, duckdb_settings).items():
            problems.append(duplicate_key_problem(f"{label} ({fname})", contract.key, n_keys, n_rows))
    return problems


def write_duckdb_views(
    staging_dir: str | Path, registers: Sequence[str], settings: Mapping[str, str | int] | None = None
) -> Path:
    """Build ``staging/registers.duckdb`` with one view per staged register, atomically.

    Views read the staged Parquet files by absolute path (rebuild the database if the folder moves).
    """
    staging_dir = Path(staging_dir)
    target = staging_dir / DUCKDB_FILE
    with atomic_path(target) as tmp:
        con = connect(settings, database=str(tmp))
        try:
            for reg in registers:
                pq_path = (staging_dir / f"{reg}.parquet").resolve()
                if not pq_path.is_file():
                    continue
                con.execute(f'CREATE VIEW "{reg}" AS SELECT * FROM read_parquet({sql_path(pq_path)})')
            con.execute("CHECKPOINT")
        finally:
            con.close()
        wal = Path(str(tmp) + ".wal")
        if wal.exists():
            wal.unlink()
    return target


def stage_delivery_register(
    register: str,
    delivery_dir: str | Path,
    work_dir: str | Path,
    *,
    file_patterns: Mapping[str, str],
    codebook: Codebook,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    duckdb_settings: Mapping[str, str | int] | None = None,
    allow_missing_registers: bool = False,
) -> StageResult:
    """Discover a delivery and stage one register into ``work_dir/staging/<register>.parquet``."""
    disc = discover(delivery_dir, file_patterns)
    disc.raise_for_problems(None if not allow_missing_registers else [register])
    target = Path(work_dir) / "staging" / f"{register}.parquet"
    return stage_register(
        CONTRACTS[register],
        disc.of(register),
        target,
        codebook,
        chunk_size=chunk_size,
        duckdb_settings=duckdb_settings,
    )


__all__ = [
    "StageResult",
    "count_duplicate_keys",
    "reference_date",
    "stage_delivery_register",
    "stage_register",
    "validate_staged",
    "write_duckdb_views",
]
