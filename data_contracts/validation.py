"""Pure validators of delivered register files against their contracts (``registers.py``).

No Dagster import. Every problem is a :class:`Problem` naming the file, the column and how many rows are
affected; :class:`DeliveryError` carries all problems of a delivery. Messages show counts, column names and
code values (codes are not microdata) but never a PNR or any other per-person value.

The checks, in the order a file meets them:

1. column names (:func:`check_columns`): lower-cased, required columns present (a misspelt column is named
   with the closest expected name), duplicate names; for DREAM every ``y_YYWW`` must be a valid ISO week
   (19YY/20YY by the codebook's century pivot) and every ``grad_YYYY_MM`` a valid month, both contiguous;
2. rows, chunk by chunk (:class:`FileValidator`): values castable to the contract's type (failing rows
   counted), no missing values where the contract forbids them, codes in the codebook (unknown codes counted
   and listed), values and dates inside the contract's range;
3. whole file: empty files, key uniqueness (:func:`duplicate_key_problem`, counted by staging in DuckDB).
"""

from __future__ import annotations

import datetime as dt
import difflib
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Literal

import polars as pl

from data_contracts.codebook import Codebook
from data_contracts.dream_columns import (
    DEFAULT_CENTURY_PIVOT,
    dream_week_monday,  # noqa: F401  (re-exported: staging and tests read it from here)
    month_gaps,
    valid_dream_month,
    valid_dream_week,
    week_gaps,
)
from data_contracts.registers import (
    Column,
    DType,
    RegisterContract,
)

POLARS_TYPES: dict[str, pl.DataType] = {
    "str": pl.String(),
    "int": pl.Int32(),
    "float": pl.Float64(),
    "date": pl.Date(),
}
DREAM_GRAD_TYPE = pl.Int16()
# A numeric value in a date column whose absolute value is below this is a SAS date (days since
# 1960-01-01, i.e. years -777..4697); above it, a SAS datetime (seconds since 1960-01-01 00:00).
SAS_DATETIME_THRESHOLD = 1_000_000
SAS_EPOCH = dt.date(1960, 1, 1)
MAX_SHOWN_CODES = 10
MAX_CODE_CHARS = 12


# ---------------------------------------------------------------------------------------------------
# Problems


@dataclass(frozen=True)
class Problem:
    """One contract violation (or a warning) in one delivered file."""

    file: str
    column: str | None
    count: int | None
    problem: str
    severity: Literal["error", "warning"] = "error"

    def __str__(self) -> str:
        where = f"{self.file}: column '{self.column}'" if self.column else self.file
        return f"{where}: {self.problem}"

    def as_row(self) -> dict[str, object]:
        return {
            "file": self.file,
            "column": self.column,
            "count": self.count,
            "problem": self.problem,
            "severity": self.severity,
        }


class DeliveryError(Exception):
    """A delivery that breaks its contract. ``problems`` holds every error found (not only the first).

    ``file``, ``column``, ``count`` and ``problem`` are those of the first problem, for convenience.
    """

    def __init__(self, problems: Sequence[Problem] | Problem):
        if isinstance(problems, Problem):
            problems = [problems]
        self.problems: list[Problem] = [p for p in problems if p.severity == "error"] or list(problems)
        first = self.problems[0]
        self.file, self.column, self.count, self.problem = (
            first.file,
            first.column,
            first.count,
            first.problem,
        )
        super().__init__(format_problems(self.problems))


def format_problems(problems: Iterable[Problem]) -> str:
    """Problems as lines of text, one per problem."""
    return "\n".join(str(p) for p in problems)


def errors(problems: Iterable[Problem]) -> list[Problem]:
    return [p for p in problems if p.severity == "error"]


def _rows(n: int) -> str:
    return f"{n} row{'s' if n != 1 else ''}"


def _rows_have(n: int) -> str:
    return f"{n} row has" if n == 1 else f"{n} rows have"


# ---------------------------------------------------------------------------------------------------
# Codes


def allowed_codes(codebook: Codebook, field_name: str) -> set[int] | set[str]:
    """The allowed values of a codebook field, as ints or 3-digit strings (DREAM)."""
    if field_name == "dream_codes":
        return {str(r["code"]) for r in codebook.dream_code_table()}
    if field_name == "hfaudd":
        out: set[int] = set()
        for lvl in codebook.hfaudd_levels:
            out.update(range(lvl.from_, lvl.to + 1))
        return out
    if field_name == "samtaletype":
        lo, hi = codebook.samtaletype.allowed_range
        return set(range(lo, hi + 1)) | set(codebook.samtaletype.known)
    value = getattr(codebook, field_name, None)
    if not isinstance(value, dict):
        raise KeyError(f"codebook has no code field {field_name!r}")
    return set(value)


def _is_staged_code(value: object, dream_code: bool) -> bool:
    """Whether an allowed code is unchanged by staging's normalizing and casting of strings."""
    if not isinstance(value, str) or value == "" or value != value.strip():
        return False
    return not (dream_code and re.fullmatch(r"\d{1,2}", value))


def _show_codes(values: Iterable[object]) -> str:
    shown = sorted({str(v)[:MAX_CODE_CHARS] for v in values})
    more = "" if len(shown) <= MAX_SHOWN_CODES else f", ... {len(shown) - MAX_SHOWN_CODES} more"
    return ", ".join(shown[:MAX_SHOWN_CODES]) + more


# ---------------------------------------------------------------------------------------------------
# Column names


# DREAM's column names (19YY/20YY by the codebook's century pivot) live in data_contracts.dream_columns;
# valid_dream_week, valid_dream_month and dream_week_monday are imported from there.
MAX_SHOWN_COLUMNS = 20


def _show_columns(names: Sequence[str]) -> str:
    more = "" if len(names) <= MAX_SHOWN_COLUMNS else f", ... and {len(names) - MAX_SHOWN_COLUMNS} more"
    return ", ".join(names[:MAX_SHOWN_COLUMNS]) + more


def dream_gap_problems(
    file: str, week_columns: Sequence[str], month_columns: Sequence[str], pivot: int = DEFAULT_CENTURY_PIVOT
) -> list[Problem]:
    """Errors for a DREAM whose ``y_`` weeks or ``grad_`` months are not contiguous.

    A missing week column would read as a week without benefit (self-support for a person on benefit) and
    split spells; a missing month would read as no employment. The delivery format calls either a broken
    delivery, so it is refused, naming every missing column (the first 20 and how many more) and the count.
    """
    problems = []
    for kind, gaps, first_last in (
        ("week", week_gaps(week_columns, pivot), "ISO weeks"),
        ("month", month_gaps(month_columns), "months"),
    ):
        if gaps:
            n = len(gaps)
            problems.append(
                Problem(
                    file,
                    gaps[0],
                    n,
                    f"DREAM's {kind} columns must be contiguous {first_last} from the first to the last; "
                    f"{n} column{'s are' if n != 1 else ' is'} missing: {_show_columns(gaps)}. "
                    "Ask for the extract again with every column (a gap would read as weeks without benefit "
                    "or months without employment)",
                )
            )
    return problems


@dataclass
class ColumnPlan:
    """What a file's header means: which delivered column becomes which staged column."""

    # delivered (original) name -> staged (lower-case) name, for the columns staging reads
    rename: dict[str, str] = field(default_factory=dict)
    # staged name -> contract column (for DREAM: the template column)
    columns: dict[str, Column] = field(default_factory=dict)
    # staged names of required columns missing from the file
    missing: list[str] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)

    @property
    def staged_names(self) -> list[str]:
        return list(self.columns)


def check_columns(
    file: str,
    delivered: Sequence[str],
    contract: RegisterContract,
    century_pivot: int = DEFAULT_CENTURY_PIVOT,
) -> ColumnPlan:
    """Match a file's column names (any case) to the contract.

    A required column that is missing is an error; if a delivered column that is not in the contract is
    close to it, the message names both (``did you mean``). Unknown columns are warnings and are not staged.
    For DREAM (``contract.wide``) every ``y_`` / ``grad_`` column name must be a valid ISO week / month
    (``y_YYWW`` of 19YY for YY >= ``century_pivot``, else 20YY), the weeks and the months must each be
    contiguous, and there must be ``grad_`` columns (employment outcomes need them). Column order does not
    matter.
    """
    plan = ColumnPlan()
    seen: dict[str, str] = {}
    for orig in delivered:
        low = str(orig).strip().lower()
        if low in seen:
            plan.problems.append(
                Problem(file, low, None, f"appears twice in the file (as '{seen[low]}' and '{orig}')")
            )
            continue
        seen[low] = str(orig)

    expected = {c.name: c for c in contract.columns}
    unexpected: list[str] = []
    if contract.wide:
        week_t, month_t = contract.column("y_YYWW"), contract.column("grad_YYYY_MM")
        for low, orig in seen.items():
            if low in expected and low not in ("y_yyww", "grad_yyyy_mm"):
                plan.rename[orig] = low
                plan.columns[low] = expected[low]
            elif low.startswith("y_"):
                if valid_dream_week(low, century_pivot):
                    plan.rename[orig] = low
                    plan.columns[low] = week_t
                else:
                    plan.problems.append(
                        Problem(
                            file, low, None, "is not a valid DREAM week column (y_YYWW with a valid ISO week)"
                        )
                    )
            elif low.startswith("grad_"):
                if valid_dream_month(low):
                    plan.rename[orig] = low
                    plan.columns[low] = month_t
                else:
                    plan.problems.append(
                        Problem(
                            file,
                            low,
                            None,
                            "is not a valid DREAM month column (grad_YYYY_MM with a valid month)",
                        )
                    )
            else:
                unexpected.append(low)
        if not any(n.startswith("y_") for n in plan.columns):
            plan.problems.append(Problem(file, "y_YYWW", None, "the file has no y_YYWW week columns"))
        if not any(n.startswith("grad_") for n in plan.columns):
            plan.problems.append(
                Problem(
                    file,
                    "grad_YYYY_MM",
                    None,
                    "the file has no grad_YYYY_MM month columns: exit to employment and self-support need "
                    "the monthly degree of employment (ask for DREAM with its grad_ columns)",
                )
            )
        plan.problems.extend(
            dream_gap_problems(
                file,
                [n for n in plan.columns if n.startswith("y_")],
                [n for n in plan.columns if n.startswith("grad_")],
                century_pivot,
            )
        )
        fixed = [c for c in contract.columns if c.name not in ("y_YYWW", "grad_YYYY_MM")]
    else:
        for low, orig in seen.items():
            if low in expected:
                plan.rename[orig] = low
                plan.columns[low] = expected[low]
            else:
                unexpected.append(low)
        fixed = list(contract.columns)

    for col in fixed:
        if col.name in plan.columns:
            continue
        if not col.required:
            plan.columns[col.name] = col
            continue
        plan.missing.append(col.name)
        plan.columns[col.name] = col  # staged as null so the other columns can still be checked
        close = difflib.get_close_matches(col.name, unexpected, n=1, cutoff=0.6)
        if close:
            unexpected.remove(close[0])
            plan.problems.append(
                Problem(
                    file,
                    close[0],
                    None,
                    f"is not in the contract; did you mean '{col.name}'? (required column '{col.name}' is missing)",
                )
            )
        else:
            plan.problems.append(Problem(file, col.name, None, "required column is missing"))
    if unexpected:
        plan.problems.append(
            Problem(
                file,
                None,
                None,
                f"{len(unexpected)} column(s) not in the contract are ignored: {', '.join(sorted(unexpected))}",
                severity="warning",
            )
        )
    return plan


# ---------------------------------------------------------------------------------------------------
# Casting


def staged_type(col: Column, contract: RegisterContract) -> pl.DataType:
    if contract.wide and col.name == "grad_YYYY_MM":
        return DREAM_GRAD_TYPE
    return POLARS_TYPES[col.dtype]


def _normalize_expr(name: str, source: pl.DataType) -> pl.Expr:
    """Strip strings and turn empty strings into nulls; other types unchanged."""
    c = pl.col(name)
    if source == pl.String or isinstance(source, pl.Categorical | pl.Enum):
        s = c.cast(pl.String).str.strip_chars()
        return pl.when(s == "").then(None).otherwise(s).alias(name)
    if source.is_float():
        return pl.when(c.is_nan()).then(None).otherwise(c).alias(name)
    return c


def _integral(x: pl.Expr, target: pl.DataType) -> pl.Expr:
    return pl.when(x == x.round(0)).then(x.cast(target, strict=False)).otherwise(None)


def _cast_expr(
    name: str, source: pl.DataType, dtype: DType, target: pl.DataType, *, dream_code: bool
) -> pl.Expr:
    """Cast a normalized column to its staged type; a value that cannot be cast becomes null."""
    c = pl.col(name)
    is_str = source == pl.String or isinstance(source, pl.Categorical | pl.Enum)
    if dtype == "str":
        if is_str:
            out = c.cast(pl.String)
            if dream_code:
                out = pl.when(out.str.contains(r"^\d{1,3}$")).then(out.str.zfill(3)).otherwise(out)
        elif source.is_numeric():
            as_int = _integral(c.cast(pl.Float64), pl.Int64)
            out = as_int.cast(pl.String)
            if dream_code:
                out = out.str.zfill(3)
        else:
            out = c.cast(pl.String, strict=False)
    elif dtype in ("int", "float"):
        if is_str:
            s = c.cast(pl.String)
            if dtype == "float":
                # Danish CSV files may use a decimal comma
                s = (
                    pl.when(s.str.contains(",") & ~s.str.contains(r"\."))
                    .then(s.str.replace(",", "."))
                    .otherwise(s)
                )
            num = s.cast(pl.Float64, strict=False)
        elif source.is_numeric() or source == pl.Boolean:
            num = c.cast(pl.Float64)
        else:
            num = c.cast(pl.Float64, strict=False)
        out = _integral(num, target) if dtype == "int" else num
    elif dtype == "date":
        if source == pl.Date:
            out = c
        elif isinstance(source, pl.Datetime):
            out = c.dt.date()
        elif source.is_numeric():
            v = c.cast(pl.Float64)
            days = pl.when(v.abs() < SAS_DATETIME_THRESHOLD).then(v).otherwise((v / 86400.0).floor())
            out = (
                pl.lit(SAS_EPOCH, dtype=pl.Date) + pl.duration(days=days.cast(pl.Int64, strict=False))
            ).cast(pl.Date)
        elif is_str:
            out = c.cast(pl.String).str.slice(0, 10).str.to_date("%Y-%m-%d", strict=False)
        else:
            out = c.cast(pl.Date, strict=False)
    else:  # pragma: no cover
        raise ValueError(dtype)
    return out.cast(target, strict=False).alias(name)


# ---------------------------------------------------------------------------------------------------
# Row-level validation, chunk by chunk


@dataclass
class _Acc:
    rows: int = 0
    cast_failed: dict[str, int] = field(default_factory=dict)
    nulls: dict[str, int] = field(default_factory=dict)
    unknown: dict[str, int] = field(default_factory=dict)
    unknown_values: dict[str, set] = field(default_factory=dict)
    out_of_range: dict[str, int] = field(default_factory=dict)
    bad_pattern: dict[str, int] = field(default_factory=dict)
    pnr_numeric: bool = False

    def add(self, d: dict[str, int], key: str, n: int) -> None:
        if n:
            d[key] = d.get(key, 0) + int(n)


class FileValidator:
    """Validate and cast one delivered file, chunk by chunk.

    ``process(chunk)`` takes a raw chunk whose columns are the delivered names, returns it cast to the
    staged types (columns in the contract's order; missing columns as nulls; unknown columns dropped) and
    accumulates counts. ``finish()`` returns every problem found in the file.
    """

    def __init__(self, file: str, delivered: Sequence[str], contract: RegisterContract, codebook: Codebook):
        self.file = file
        self.contract = contract
        self.plan = check_columns(file, delivered, contract, codebook.dream_century_pivot)
        self.acc = _Acc()
        self.schema: dict[str, pl.DataType] = {
            name: staged_type(col, contract) for name, col in self.plan.columns.items()
        }
        # allowed codes per (codebook field, staged type), as a one-element list column for is_in
        self._codes: dict[tuple[str, pl.DataType], pl.Series] = {}
        for name, col in self.plan.columns.items():
            if col.codebook_field:
                dtype = self.schema[name]
                if (col.codebook_field, dtype) not in self._codes:
                    allowed = sorted(allowed_codes(codebook, col.codebook_field))  # type: ignore[type-var]
                    self._codes[(col.codebook_field, dtype)] = pl.Series(allowed, dtype=dtype).implode()
        # String code columns whose allowed codes are already in their staged form (stripped, non-empty,
        # DREAM codes 3 digits): a chunk column holding only nulls and such codes needs no normalizing or
        # casting, which is most of DREAM's several hundred week columns.
        self._passthrough: dict[str, pl.Series] = {}
        staged_form: dict[tuple[str, pl.DataType], bool] = {}  # once per code list, not per column
        for name, col in self.plan.columns.items():
            key = (col.codebook_field, self.schema[name])
            if col.codebook_field and col.dtype == "str" and key in self._codes:
                if key not in staged_form:
                    allowed_values = self._codes[key].explode(empty_as_null=True).to_list()
                    staged_form[key] = all(
                        _is_staged_code(v, col.codebook_field == "dream_codes") for v in allowed_values
                    )
                if staged_form[key]:
                    self._passthrough[name] = self._codes[key]

    def _clean_code_columns(self, frame: pl.DataFrame) -> set[str]:
        """Staged names of string code columns whose every value is null or an allowed code, as delivered."""
        schema = frame.schema
        if frame.height == 0:
            return set()
        candidates = [n for n in self._passthrough if n in schema and schema[n] == pl.String]
        # an all-null column (a real DREAM's weeks before a person's first benefit) is clean without a look
        empty = {n for n in candidates if frame.get_column(n).null_count() == frame.height}
        exprs = [
            (pl.col(n).is_not_null() & ~pl.col(n).is_in(self._passthrough[n])).any().alias(n)
            for n in candidates
            if n not in empty
        ]
        if not exprs:
            return empty
        return empty | {n for n, dirty in frame.select(exprs).row(0, named=True).items() if not dirty}

    def process(self, chunk: pl.DataFrame) -> pl.DataFrame:
        acc = self.acc
        acc.rows += chunk.height
        delivered = set(
            chunk.columns
        )  # a set: DREAM has ~2,000 columns, a list lookup per column is quadratic
        present = {orig: low for orig, low in self.plan.rename.items() if orig in delivered}
        # Eager column operations, not one wide select: Polars plans a select over DREAM's ~2,000 columns in
        # ~80 ms, so each wide step cost more than the chunk's data. Code columns that hold only allowed codes
        # (most of DREAM's weeks) pass through untouched; only the others are normalized, cast and counted.
        frame = pl.DataFrame([chunk.get_column(o).alias(n) for o, n in present.items()])
        clean = self._clean_code_columns(frame)
        work = [n for n in frame.columns if n not in clean]
        frame_work = pl.DataFrame([frame.get_column(n) for n in work]) if work else pl.DataFrame()
        work_schema = frame_work.schema
        norm = frame_work.select([_normalize_expr(n, work_schema[n]) for n in work]) if work else frame_work
        norm_schema = norm.schema
        cast_exprs = []
        for name, col in self.plan.columns.items():
            if name in clean or name not in norm_schema:
                continue
            src = norm_schema[name]
            if name == "pnr" and src.is_numeric():
                acc.pnr_numeric = True
            cast_exprs.append(
                _cast_expr(
                    name, src, col.dtype, self.schema[name], dream_code=col.codebook_field == "dream_codes"
                )
            )
        cast = norm.select(cast_exprs) if cast_exprs else norm
        columns = []
        for name in self.plan.columns:
            if name in clean:
                columns.append(frame.get_column(name))
            elif name in norm_schema:
                columns.append(cast.get_column(name))
            else:
                columns.append(pl.Series(name, [None] * chunk.height, dtype=self.schema[name]))
        typed = pl.DataFrame(columns)
        if chunk.height == 0:
            return typed

        in_cols = list(norm_schema)
        nn_in = (
            norm.select([pl.col(n).is_not_null().sum() for n in in_cols]).row(0, named=True)
            if in_cols
            else {}
        )
        nn_out = (
            cast.select([pl.col(n).is_not_null().sum() for n in in_cols]).row(0, named=True)
            if in_cols
            else {}
        )
        for n in in_cols:
            acc.add(acc.cast_failed, n, nn_in[n] - nn_out[n])
        for name, col in self.plan.columns.items():
            if col.nullable or name not in present.values():
                continue
            n_nonnull = nn_in[name] if name in nn_in else chunk.height - frame.get_column(name).null_count()
            acc.add(acc.nulls, name, chunk.height - n_nonnull)

        # codes
        code_exprs = {}
        for name, col in self.plan.columns.items():
            if col.codebook_field and name in norm_schema and name not in clean:
                allowed = self._codes[(col.codebook_field, self.schema[name])]
                code_exprs[name] = pl.col(name).is_not_null() & ~pl.col(name).is_in(allowed)
        if code_exprs:
            counts = typed.select([e.sum().alias(n) for n, e in code_exprs.items()]).row(0, named=True)
            for n, k in counts.items():
                if k:
                    acc.add(acc.unknown, n, k)
                    vals = (
                        typed.filter(code_exprs[n]).get_column(n).unique().head(MAX_SHOWN_CODES + 1).to_list()
                    )
                    acc.unknown_values.setdefault(n, set()).update(vals)

        # ranges
        range_exprs = {}
        for name, col in self.plan.columns.items():
            if col.value_range is None or name not in norm_schema:
                continue
            lo, hi = col.value_range
            if col.dtype == "date":
                lo_l, hi_l = dt.date.fromisoformat(str(lo)), dt.date.fromisoformat(str(hi))
            else:
                lo_l, hi_l = lo, hi
            range_exprs[name] = (pl.col(name) < lo_l) | (pl.col(name) > hi_l)
        if range_exprs:
            counts = typed.select([e.sum().alias(n) for n, e in range_exprs.items()]).row(0, named=True)
            for n, k in counts.items():
                acc.add(acc.out_of_range, n, k or 0)

        # patterns (str columns)
        pattern_exprs = {
            name: pl.col(name).is_not_null() & ~pl.col(name).str.contains(col.pattern)
            for name, col in self.plan.columns.items()
            if col.pattern and col.dtype == "str" and name in norm_schema
        }
        if pattern_exprs:
            counts = typed.select([e.sum().alias(n) for n, e in pattern_exprs.items()]).row(0, named=True)
            for n, k in counts.items():
                acc.add(acc.bad_pattern, n, k or 0)
        return typed

    def finish(self) -> list[Problem]:
        """All problems of the file (errors and warnings), after the last chunk."""
        acc, f = self.acc, self.file
        out = list(self.plan.problems)
        if acc.rows == 0:
            out.append(Problem(f, None, 0, "the file is empty (0 rows)"))
        # a missing required column affects every row
        out = [
            Problem(p.file, p.column, acc.rows, f"{p.problem} ({_rows(acc.rows)} affected)", p.severity)
            if p.count is None and p.severity == "error" and acc.rows and ("missing" in p.problem)
            else p
            for p in out
        ]
        if acc.pnr_numeric:
            out.append(
                Problem(
                    f,
                    "pnr",
                    acc.rows,
                    f"is numeric in the file ({_rows(acc.rows)}); PNR must be delivered as "
                    "a string (leading zeros would be lost)",
                )
            )
        for name, col in self.plan.columns.items():
            dtype = "int (0-100)" if self.schema[name] == DREAM_GRAD_TYPE else col.dtype
            if acc.cast_failed.get(name):
                n = acc.cast_failed[name]
                out.append(Problem(f, name, n, f"{_rows(n)} cannot be read as {dtype}"))
            if acc.nulls.get(name):
                n = acc.nulls[name]
                out.append(Problem(f, name, n, f"{_rows_have(n)} no value (the contract requires one)"))
            if acc.unknown.get(name):
                n = acc.unknown[name]
                codes = _show_codes(acc.unknown_values.get(name, ()))
                out.append(Problem(f, name, n, f"{_rows_have(n)} codes not in the codebook ({codes})"))
            if acc.out_of_range.get(name):
                n = acc.out_of_range[name]
                lo, hi = col.value_range  # type: ignore[misc]
                out.append(Problem(f, name, n, f"{_rows_have(n)} values outside {lo}..{hi}"))
            if acc.bad_pattern.get(name):
                n = acc.bad_pattern[name]
                out.append(Problem(f, name, n, f"{_rows_have(n)} values not of the form {col.pattern}"))
        return out


def duplicate_key_problem(file: str, key: Sequence[str], n_keys: int, n_rows: int) -> Problem:
    """A key that is not unique in a file (e.g. duplicate PNRs in a BEF snapshot)."""
    what = "PNRs" if tuple(key) == ("pnr",) else f"keys ({', '.join(key)})"
    return Problem(
        file,
        ", ".join(key),
        n_rows,
        f"{n_keys} {what} occur more than once ({_rows(n_rows)} share a duplicated key)",
    )


def staged_schema(contract: RegisterContract, columns: Sequence[str] | None = None) -> dict[str, pl.DataType]:
    """The staged Polars schema of a register (for DREAM, pass the staged wide ``columns``)."""
    out: dict[str, pl.DataType] = {}
    if contract.wide:
        week_t, month_t = contract.column("y_YYWW"), contract.column("grad_YYYY_MM")
        for name in columns or [c.name for c in contract.columns]:
            if name.startswith("y_"):
                out[name] = staged_type(week_t, contract)
            elif name.startswith("grad_"):
                out[name] = staged_type(month_t, contract)
            elif name != "source_file":
                out[name] = staged_type(contract.column(name), contract)
    else:
        for c in contract.columns:
            out[c.name] = staged_type(c, contract)
    for name, dtype, _ in contract.derived:
        out[name] = POLARS_TYPES[dtype]
    return out
