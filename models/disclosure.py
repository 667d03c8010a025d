"""Disclosure control: the single gate every exported table (and, through its tables, every figure) passes.

Pure Polars; no Dagster import (``models/`` never imports dagster). The gate fails closed: a table it
cannot vouch for is not returned, and the reason is logged.

Rules (``docs/report.md`` has the long form):

1. **Declared structure.** A table is a :class:`TableSpec`. Every column must be declared as a count
   column, a value column backed by one or more count columns, or a key (label) column. An undeclared
   column, a value column whose count column is missing, or an undeclared column that looks like a
   count (``n``, ``n_*``, ``count``, ``antal``, ``units_*``) means the gate cannot vouch for the table:
   it is rejected.
2. **No keys, no microdata.** Columns named like person or firm keys (pnr, cpr, cvr, person_id, id,
   ``*_id``, lbnr, ...) reject the table, as do string values that look like a 10-digit CPR/PNR, numeric
   columns named like per-person quantities (psi, residual, prediction, fitted, score, propensity, ...)
   and tables with as many rows as (or more rows than) the number of units they describe.
3. **Small cells.** A count cell with ``0 < n < min_cell`` (and ``n == 0`` when ``allow_zero`` is
   false) is suppressed (primary suppression), and so is every value column that count backs. Order
   statistics (min, max, median, percentiles) need their backing count to be at least ``min_cell``
   like every other value.
4. **Secondary suppression.** Cells that add up to a total that is published or derivable (a
   *margin*: the cells of one count column that share the values of some key columns, or declared
   count columns within one row) must not have exactly one suppressed cell: if a margin has exactly
   one, the smallest other unsuppressed non-zero cell of that margin is suppressed too (a zero only
   when nothing else is left). This repeats until no margin changes. :func:`gate_breakdown` applies it to a
   one-dimensional breakdown whose parts add up to a total published beside them. Any linear relation
   among a row's counts is such a margin (``units_before - units_removed = units_after``), and so is a
   chain of equal cells across rows (a step's ``units_after`` is the next step's ``units_before``).
5. **Audit.** The margins one at a time do not see what several of them give together: a cell
   suppressed as a complement can follow from another relation of its row (a month's ``n`` from its
   published ``n_digital`` and ``n_in_person``), and two suppression cycles joined by one cell give that
   cell away through the totals although no margin has exactly one suppressed cell. So the gate then
   solves the exact linear relations the published cells obey (each count column's sum within a margin,
   each row's declared ``row_relations`` with their signs, the chaining) for the suppressed cells: while a
   suppressed non-zero cell is determined by them, the smallest unsuppressed cell of one of its relations
   is suppressed too (rule 4 then runs again). A suppressed 0 that is determined gives nothing away. A
   margin of a single cell is the cell itself: it is not a relation the table can hide a cell in (the
   table that publishes that total gates it). A group of more than ``AUDIT_MAX_CELLS`` suppressed cells
   linked through the relations is not solved (cubic cost); the log says "not audited".

6. **Totals published by another table.** When a table's column totals are cells of a table gated before
   it (``TableSpec.linked_totals``: the share table's months add up to the sample flow's final step), a
   linked column's total is that cell: published there, it is a known margin as before; suppressed
   there, it is one more suppressed cell of the margin (rule 4: one suppressed month takes no complement
   if the total is hidden, a hidden total takes one month with it) and an unknown of the audit, which also
   solves the linked table's own relations, so that neither table's suppressed cells follow from both
   tables' published cells. While a linked total is suppressed, the whole-column margins of the other
   count columns (totals published nowhere, derivable only through the linked ones) are not assumed known.
   The complements are always this table's cells: the linked table is already published.

An aggregate whose structure is declared in its table contract (:class:`data_contracts.tables.Disclosure`:
counts, shares, differences, chaining) is offered to the gate through :func:`contract_spec`, so the
structure is written once, in the contract.

The primary rule is :func:`is_small`; code outside this module asks it rather than comparing counts with
``min_cell`` itself (``tests/test_disclosure_path.py``).

The log lists table, row (by its key values), column, action and reason; it never contains a
suppressed value.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import polars as pl

from data_contracts.tables import SAMPLE_FLOW, TableContract

DEFAULT_MIN_CELL = 5

# Column names that are person/firm keys or pseudonymised keys.
KEY_NAME_RE = re.compile(
    r"^(pnr|cpr|cprnr|cpr_nr|person|person_id|personid|pid|id|lbnr|cvr|cvrnr|cvr_nr|arbgnr|"
    r"kontaktnummer|kontakt_nr|.*_id|id_.*|.*pnr.*|.*cpr.*)$",
    re.IGNORECASE,
)
# Numeric columns named like per-person quantities (scores, predictions, residuals).
PER_PERSON_NAME_RE = re.compile(
    r"^(psi.*|.*resid.*|.*prediction.*|pred|preds|pred_.*|.*_pred|fitted.*|.*_fitted|yhat|y_hat|"
    r"mhat|m_hat|ghat|g_hat|ml_[gmlr].*|propensity.*|pscore|p_score|score|scores|.*_score|weight|"
    r"weights|ipw.*)$",
    re.IGNORECASE,
)
# Undeclared columns that look like counts.
COUNT_NAME_RE = re.compile(r"^(n|n_.*|count|count_.*|.*_count|antal|antal_.*|units_.*|.*_n)$", re.IGNORECASE)
# Order statistics: allowed only as value columns backed by a count >= min_cell.
ORDER_STAT_RE = re.compile(
    r"^(min|max|median|minimum|maximum|p\d{1,2}|q\d{1,2}|percentile.*|quantile.*|.*_min|.*_max|"
    r".*_median|min_.*|max_.*|median_.*|.*_p\d{1,2})$",
    re.IGNORECASE,
)
# Names of statistics that are never labels (they must be value columns).
STAT_NAME_RE = re.compile(r"(share|pct|percent|rate|mean|avg|prop|ratio|sum|total|sd|std|var)", re.IGNORECASE)
# A 10-digit CPR/PNR, with or without the dash.
CPR_VALUE_RE = re.compile(r"^\s*\d{6}-?\d{4}\s*$")


class DisclosureError(ValueError):
    """Raised by :func:`require_approved` when a table did not pass the gate."""


@dataclass(frozen=True)
class TableSpec:
    """A table offered for export, with what the gate needs to vouch for it.

    Parameters
    ----------
    name : str
        File-safe name (the CSV and TeX files are ``<name>.csv`` / ``<name>.tex``).
    df : pl.DataFrame
        The aggregate table.
    count_columns : sequence of str
        Columns holding numbers of persons/units (each must be at least the minimum).
    value_columns_by_count : mapping of str to sequence of str
        For each count column, the value columns computed from the units it counts (shares, means,
        estimates, medians, ...). A value column may be listed under several counts; it is suppressed
        when any of them is.
    description : str
        One line for the manifest and the report.
    key_columns : sequence of str
        Labels of the rows (outcome, design, month, municipality, bin edges, parameters).
    rows_per : sequence of str
        Key columns within which the per-person row-count rule applies (e.g. outcome and design for a
        table that stacks one block per estimate); empty = the whole table.
    margins : sequence of tuple of str, optional
        Groups of cells whose sum is published or derivable: each tuple names key columns, and the
        cells of one count column with equal values in those columns form a margin; ``()`` = the whole
        column. Default ``[()]`` (conservative: every count column's total is assumed known).
    row_margins : sequence of tuple of str
        Count columns in one row whose sum is published or derivable (e.g. treated and control).
    allow_zero : bool
        A count of 0 is published (no person is behind it). False suppresses zeros too.
    unit : str
        What the counts count (for the log and the report), e.g. "meetings".
    chained : sequence of tuple of str
        ``(after, before)`` pairs of count columns where row i's ``after`` is the same number as row
        i+1's ``before`` (the sample flow's steps): the two cells are suppressed together.

    linked_totals : LinkedTotals, optional
        A table gated before this one whose cells are this table's column totals (the sample flow's final
        step holds the share table's: :func:`link_totals`). Each linked column's total is that cell,
        published or suppressed there, in place of the whole-column margin; see rule 6 in the module
        docstring.
    row_relations : sequence of mapping of str to float
        Exact linear relations among a row's counts: ``sum(coefficient * cell)`` is published or
        derivable (0 for ``n - n_digital - n_in_person``; a total published elsewhere for ``n_nonmissing
        + n_missing``). Each is a row margin for rule 4 and, with its signs, a relation the audit solves.

    A row margin is any linear relation among a row's counts, signed or not (``before - removed =
    after`` as much as ``treated + control = n``): in each, one suppressed cell could be solved for, so
    none may be alone. The audit (rule 5) solves only the relations whose signs it knows: the column
    margins, ``row_relations`` and ``chained``. A null cell is not part of a relation (e.g. a breakdown
    given on one row only): a row relation with a null cell does not hold on that row.
    """

    name: str
    df: pl.DataFrame
    count_columns: Sequence[str]
    value_columns_by_count: Mapping[str, Sequence[str]]
    description: str
    key_columns: Sequence[str] = ()
    margins: Sequence[tuple[str, ...]] | None = None
    row_margins: Sequence[tuple[str, ...]] = ()
    allow_zero: bool = True
    unit: str = "persons"
    force_suppress: Mapping[str, Sequence[bool]] = field(default_factory=dict)
    rows_per: Sequence[str] = ()
    force_reason: str = "suppressed because a linked table suppresses its total"
    chained: Sequence[tuple[str, str]] = ()
    row_relations: Sequence[Mapping[str, float]] = ()
    linked_totals: LinkedTotals | None = None


@dataclass(frozen=True)
class LinkedTotals:
    """Cells of a table gated before another one that hold that table's column totals (:func:`link_totals`).

    Parameters
    ----------
    name : str
        The linked table's name (its cells enter the gate's audit as ``("<name>.<column>", row)``).
    values : mapping of str to sequence of float or None
        Its count cells (the numbers before suppression; None = no cell).
    suppressed : mapping of str to sequence of bool
        Which of them it suppresses (all of them when it is refused).
    relations : sequence of mapping of (str, int) to float
        The exact relations its cells obey (its own audit's), ``{(column, row): coefficient}``.
    totals : mapping of str to (str, int)
        A count column of the table being gated -> the linked cell equal to its sum over all rows.
    """

    name: str
    values: Mapping[str, Sequence[float | None]]
    suppressed: Mapping[str, Sequence[bool]]
    relations: Sequence[Mapping[tuple[str, int], float]]
    totals: Mapping[str, tuple[str, int]]


@dataclass
class GateResult:
    """What the gate returns: the safe table (or None) and its log."""

    name: str
    description: str
    table: pl.DataFrame | None
    log: list[dict[str, str]] = field(default_factory=list)
    reason: str = ""
    count_columns: tuple[str, ...] = ()
    value_columns: tuple[str, ...] = ()
    key_columns: tuple[str, ...] = ()
    suppressed: dict[str, list[bool]] = field(default_factory=dict)

    @property
    def approved(self) -> bool:
        return self.table is not None

    @property
    def n_suppressed(self) -> int:
        return sum(1 for e in self.log if e["action"] == "suppressed")

    def log_frame(self) -> pl.DataFrame:
        return log_to_frame(self.log)


LOG_SCHEMA = {
    "table": pl.String,
    "row": pl.String,
    "column": pl.String,
    "action": pl.String,
    "reason": pl.String,
}


def log_to_frame(log: Iterable[dict[str, str]]) -> pl.DataFrame:
    rows = list(log)
    if not rows:
        return pl.DataFrame(schema=LOG_SCHEMA)
    return pl.DataFrame(rows, schema=LOG_SCHEMA)


def _entry(table: str, row: str, column: str, action: str, reason: str) -> dict[str, str]:
    return {"table": table, "row": row, "column": column, "action": action, "reason": reason}


def _reject(spec: TableSpec, reason: str, log: list[dict[str, str]]) -> GateResult:
    log.append(_entry(spec.name, "", "", "rejected", reason))
    return GateResult(name=spec.name, description=spec.description, table=None, log=log, reason=reason)


def looks_like_cpr(value: object) -> bool:
    """True for a string that looks like a 10-digit CPR/PNR (``DDMMYYSSSS`` or ``DDMMYY-SSSS``)."""
    return isinstance(value, str) and bool(CPR_VALUE_RE.match(value))


def mask(value: str) -> str:
    """A masked form of a suspected identifier: never print the value itself."""
    s = str(value)
    return s[:2] + "*" * max(len(s) - 2, 0) if len(s) > 2 else "*" * len(s)


def _is_numeric(dtype: pl.DataType) -> bool:
    return dtype.is_numeric() or dtype == pl.Boolean


def _structural_checks(spec: TableSpec, n_units: Iterable[int] | None) -> str | None:
    """The reason the table cannot be vouched for, or None."""
    df = spec.df
    cols = list(df.columns)
    counts = list(spec.count_columns)
    values_by_count = {k: list(v) for k, v in spec.value_columns_by_count.items()}
    values = sorted({v for vs in values_by_count.values() for v in vs})
    keys = list(spec.key_columns)

    if not isinstance(df, pl.DataFrame):
        return "not a Polars DataFrame"
    if len(set(cols)) != len(cols):
        return "duplicate column names"
    for c in cols:
        if KEY_NAME_RE.match(c):
            return f"column '{c}' looks like a person or firm key (PNR/CPR/id)"
    for c in counts:
        if c not in cols:
            return f"declared count column '{c}' is not in the table"
        if not _is_numeric(df.schema[c]):
            return f"count column '{c}' is not numeric"
    for c, vs in values_by_count.items():
        if c not in counts:
            return f"value column(s) {vs} are backed by '{c}', which is not a declared count column"
        for v in vs:
            if v not in cols:
                return f"declared value column '{v}' is not in the table"
    for c in keys:
        if c not in cols:
            return f"declared key column '{c}' is not in the table"
    overlap = (set(counts) & set(values)) | (set(counts) & set(keys)) | (set(values) & set(keys))
    if overlap:
        return f"column(s) {sorted(overlap)} declared in more than one role"
    undeclared = [c for c in cols if c not in counts and c not in values and c not in keys]
    for c in undeclared:
        if COUNT_NAME_RE.match(c):
            return f"column '{c}' looks like a count but is not declared as one"
    if undeclared:
        return f"column(s) {undeclared} are neither counts, values backed by a count, nor labels"
    # no count -> cannot vouch for any value
    if values and not counts:
        return "value columns without any count column"
    for c in cols:
        if PER_PERSON_NAME_RE.match(c) and _is_numeric(df.schema[c]):
            return f"numeric column '{c}' looks like per-person scores, predictions or residuals"
    for c in keys:
        if ORDER_STAT_RE.match(c) or COUNT_NAME_RE.match(c):
            return f"key column '{c}' looks like a statistic or count; declare it as a value or count"
        if _is_numeric(df.schema[c]) and STAT_NAME_RE.search(c) and c not in ("cf_y", "cf_d", "rho"):
            return f"numeric key column '{c}' looks like a statistic; declare it as a value backed by a count"
    # CPR-like values in string columns; 9-10 digit integers in key columns
    for c in cols:
        dt = df.schema[c]
        if dt == pl.String or dt == pl.Categorical:
            s = df[c].cast(pl.String)
            if s.str.contains(r"^\s*\d{6}-?\d{4}\s*$").fill_null(False).any():
                return f"column '{c}' holds values that look like a 10-digit CPR/PNR"
        elif c in keys and dt.is_integer():
            s = df[c].drop_nulls()
            if len(s) and ((s.abs() >= 100_000_000) & (s.abs() < 10_000_000_000)).any():
                return f"key column '{c}' holds 9-10 digit integers that could be a CPR/PNR"
    # per-person tables
    if n_units:
        known = [int(u) for u in n_units if u is not None and int(u) > 0]
        per = [k for k in spec.rows_per if k in keys]
        rows = df.group_by(per).len()["len"].max() if per and df.height else df.height
        rows = int(rows or 0)
        if known and rows >= min(known):
            where = f" per {', '.join(per)}" if per else ""
            return (
                f"the table has {rows} rows{where}, as many as the smallest unit count of the analysis: "
                "it could hold per-person values"
            )
    # every count cell must be integral
    for c in counts:
        s = df[c].drop_nulls()
        if len(s) and s.dtype.is_float() and not (s == s.round(0)).all():
            return f"count column '{c}' holds non-integer values"
        if len(s) and (s < 0).any():
            return f"count column '{c}' holds negative values"
    return None


def is_small(n: float | None, min_cell: int = DEFAULT_MIN_CELL, *, allow_zero: bool = True) -> bool:
    """True when a count may not be published: ``0 < n < min_cell`` (and ``n == 0`` when ``allow_zero`` is
    false). The one primary-suppression rule: the gate, the sample flow's merging and the output scanner
    all ask it, so the threshold is written once.

    Parameters
    ----------
    n : number or None
        The count (None, a cell with no count, is not small: the gate treats it separately).
    min_cell : int
        The minimum number of units behind any published number.
    allow_zero : bool
        A count of 0 is published (no person is behind it).
    """
    if n is None:
        return False
    return 0 < n < min_cell or (n == 0 and not allow_zero)


def _row_label(df: pl.DataFrame, keys: Sequence[str], i: int) -> str:
    if not keys:
        return f"row {i + 1}"
    return ", ".join(f"{k}={df[k][i]}" for k in keys)


Cell = tuple[str, int]


def _exact_relations(
    spec: TableSpec, groups: list[tuple[str, list[int]]], vals: dict[str, list[float | None]], n: int
) -> list[dict[Cell, float]]:
    """The linear relations the audit (rule 5) solves, each ``{cell: coefficient}`` (its value is known):
    each column's sum within a margin (over the non-null cells), each row's ``row_relations`` (on the
    rows where none of its cells is null) and each chained pair (equal). Relations of one cell are left out
    (the cell is its own total, which the table publishing that total gates)."""
    out: list[dict[Cell, float]] = []
    for c, rows in groups:
        out.append({(c, i): 1.0 for i in rows if vals[c][i] is not None})
    for rel in spec.row_relations:
        for i in range(n):
            if all(vals[c][i] is not None for c in rel):
                out.append({(c, i): float(w) for c, w in rel.items() if w})
    for a, b in spec.chained:
        for i in range(n - 1):
            if vals[a][i] is not None and vals[b][i + 1] is not None:
                out.append({(a, i): 1.0, (b, i + 1): -1.0})
    return [r for r in out if len(r) >= 2]


def _linked(cells: list[Cell], relations: list[dict[Cell, float]]) -> list[list[Cell]]:
    """``cells`` in groups linked through shared relations (union-find), each group in the given order."""
    parent = {c: c for c in cells}

    def root(c: Cell) -> Cell:
        while parent[c] != c:
            parent[c] = parent[parent[c]]
            c = parent[c]
        return c

    for rel in relations:
        inside = [c for c in rel if c in parent]
        for c in inside[1:]:
            parent[root(c)] = root(inside[0])
    out: dict[Cell, list[Cell]] = {}
    for c in cells:
        out.setdefault(root(c), []).append(c)
    return list(out.values())


# The audit solves each group of linked suppressed cells with one dense SVD (cubic in the group's size): a
# larger group (a municipality-month table with thousands of suppressed cells linked through its month and
# municipality totals) is left to rule 4 alone, and the log says so.
AUDIT_MAX_CELLS = 1000


def _determined(relations: list[dict[Cell, float]], supp: dict[str, list[bool]]) -> tuple[list[Cell], int]:
    """The suppressed cells that the relations determine from the published ones, in (row, column) order,
    and the number of suppressed cells in groups too large to audit (:data:`AUDIT_MAX_CELLS`).

    The relations restricted to the suppressed cells (the published ones move to the known side) form a
    matrix A; a suppressed cell is determined when its unit vector lies in A's row space, i.e. when the
    null space of A is zero in its coordinate. Solved per group of linked suppressed cells (one SVD each).
    """
    import numpy as np  # here: only the gate's audit needs it

    hidden = sorted({k for rel in relations for k in rel if supp[k[0]][k[1]]}, key=lambda ci: (ci[1], ci[0]))
    if not hidden:
        return [], 0
    rels = [{k: w for k, w in rel.items() if supp[k[0]][k[1]]} for rel in relations]
    rels = [r for r in rels if r]
    out: list[Cell] = []
    too_large = 0
    for group in _linked(hidden, rels):
        if len(group) > AUDIT_MAX_CELLS:
            too_large += len(group)
            continue
        idx = {k: j for j, k in enumerate(group)}
        rows = [r for r in rels if next(iter(r)) in idx]
        a = np.zeros((len(rows), len(group)))
        for i, r in enumerate(rows):
            for k, w in r.items():
                a[i, idx[k]] = w
        _, sv, vt = np.linalg.svd(a, full_matrices=True)
        rank = int((sv > 1e-9 * max(a.shape) * (sv[0] if len(sv) else 1.0)).sum())
        null = vt[rank:]
        for k, j in idx.items():
            if null.shape[0] == 0 or np.abs(null[:, j]).max() < 1e-9:
                out.append(k)
    return sorted(out, key=lambda ci: (ci[1], ci[0])), too_large


def gate(
    spec: TableSpec,
    min_cell: int = DEFAULT_MIN_CELL,
    n_units: Iterable[int] | None = None,
) -> GateResult:
    """Pass one table through disclosure control.

    Parameters
    ----------
    spec : TableSpec
        The table and its declared structure.
    min_cell : int
        The minimum number of units behind any published number (config ``disclosure.min_cell``).
    n_units : iterable of int, optional
        Numbers of units (persons, meetings) in the analysis; a table with at least as many rows as
        the smallest of them is treated as per-person output and rejected.

    Returns
    -------
    GateResult
        ``table`` is the safe table (suppressed cells are null) or None when rejected; ``log`` says
        what was suppressed or rejected and why (never the suppressed value).
    """
    log: list[dict[str, str]] = []
    if min_cell < 1:
        return _reject(spec, f"min_cell must be positive, got {min_cell}", log)
    try:
        reason = _structural_checks(spec, n_units)
    except Exception as e:  # noqa: BLE001 - fail closed on anything unexpected
        reason = f"the gate could not check the table ({type(e).__name__}: {e})"
    if reason:
        return _reject(spec, reason, log)

    df = spec.df
    counts = list(spec.count_columns)
    keys = list(spec.key_columns)
    values_by_count = {k: list(v) for k, v in spec.value_columns_by_count.items()}
    margins = [tuple(m) for m in (spec.margins if spec.margins is not None else [()])]
    for m in margins:
        for k in m:
            if k not in keys:
                return _reject(spec, f"margin key '{k}' is not a declared key column", log)
    for rm in spec.row_margins:
        for c in rm:
            if c not in counts:
                return _reject(spec, f"row margin column '{c}' is not a declared count column", log)
    for pair in spec.chained:
        for c in pair:
            if c not in counts:
                return _reject(spec, f"chained column '{c}' is not a declared count column", log)
    for rel in spec.row_relations:
        for c in rel:
            if c not in counts:
                return _reject(spec, f"row relation column '{c}' is not a declared count column", log)

    n = df.height
    vals = {c: [None if v is None else float(v) for v in df[c].to_list()] for c in counts}
    supp = {c: [False] * n for c in counts}
    reasons: dict[tuple[str, int], str] = {}

    # primary suppression
    for c in counts:
        for i, v in enumerate(vals[c]):
            if v is None:
                continue
            if is_small(v, min_cell, allow_zero=spec.allow_zero):
                supp[c][i] = True
                reasons[(c, i)] = f"count below {min_cell} (primary)"

    # cells that a linked table requires suppressed (e.g. the details of a suppressed total)
    for c, m in spec.force_suppress.items():
        if c not in supp:
            return _reject(spec, f"forced suppression names '{c}', which is not a declared count column", log)
        if len(m) != n:
            return _reject(spec, f"forced suppression mask for '{c}' has the wrong length", log)
        for i, flag in enumerate(m):
            if flag and not supp[c][i]:
                supp[c][i] = True
                reasons[(c, i)] = spec.force_reason

    # cells of a table gated before this one that are this table's column totals (rule 6): its columns
    # enter supp and vals as fixed cells the complements never come from
    link = spec.linked_totals
    linked_cells: dict[str, Cell] = {}
    linked_relations: list[dict[Cell, float]] = []
    hidden_total = False
    if link is not None:
        for c, (lc, li) in link.totals.items():
            if c not in counts:
                return _reject(spec, f"linked total of '{c}', which is not a declared count column", log)
            if lc not in link.values or not 0 <= li < len(link.values[lc]) or link.values[lc][li] is None:
                return _reject(
                    spec, f"linked total of '{c}' names no cell of '{link.name}' ({lc}, {li})", log
                )
        for lc, lv in link.values.items():
            vals[f"{link.name}.{lc}"] = [None if v is None else float(v) for v in lv]
            supp[f"{link.name}.{lc}"] = [bool(x) for x in link.suppressed[lc]]
        linked_cells = {c: (f"{link.name}.{lc}", li) for c, (lc, li) in link.totals.items()}
        hidden_total = any(supp[k][i] for k, i in linked_cells.values())
        linked_relations = [
            {(f"{link.name}.{c}", i): float(w) for (c, i), w in r.items()} for r in link.relations
        ]
        linked_relations += [
            {**{(c, i): 1.0 for i in range(n) if vals[c][i] is not None}, cell: -1.0}
            for c, cell in linked_cells.items()
        ]

    # margin groups: list of (column, [row indices])
    groups: list[tuple[str, list[int]]] = []
    open_totals: list[str] = []
    for c in counts:
        for m in margins:
            if not m:
                # a linked column's total is the linked cell (its relation below); while a linked total is
                # hidden, another column's total is published nowhere: it may be derivable through the
                # linked ones, so it stays a margin of rule 4, and in the audit an unknown of its own
                # (``~total.<column>``) that need not stay hidden
                if c in linked_cells:
                    continue
                if hidden_total:
                    open_totals.append(c)
                else:
                    groups.append((c, list(range(n))))
            else:
                idx = df.select(pl.int_range(pl.len()).alias("_i"), *[pl.col(k) for k in m])
                for sub in idx.group_by(list(m), maintain_order=True).agg(pl.col("_i"))["_i"].to_list():
                    groups.append((c, list(sub)))
    row_groups = [tuple(rm) for rm in spec.row_margins] + [tuple(r) for r in spec.row_relations]
    margin_cells = [[(c, i) for i in rows] for c, rows in groups]
    margin_cells += [[(c, i) for c in rm] for rm in row_groups for i in range(n)]
    margin_cells += [[(a, i), (b, i + 1)] for a, b in spec.chained for i in range(n - 1)]
    margin_cells += [[(c, i) for i in range(n)] + [cell] for c, cell in linked_cells.items()]
    margin_cells += [[(c, i) for i in range(n)] for c in open_totals]
    for c in open_totals:
        vals[f"~total.{c}"] = [sum(v for v in vals[c] if v is not None)]
        supp[f"~total.{c}"] = [True]
        linked_relations.append(
            {**{(c, i): 1.0 for i in range(n) if vals[c][i] is not None}, (f"~total.{c}", 0): -1.0}
        )
    # a null cell is no number: it is neither hidden by a relation nor hides anything in it
    margin_cells = [[(c, i) for c, i in cells if vals[c][i] is not None] for cells in margin_cells]
    margin_cells = [cells for cells in margin_cells if len(cells) >= 2]
    relations = _exact_relations(spec, groups, vals, n) + [r for r in linked_relations if len(r) >= 2]
    own = set(counts)

    def pick_complement(cells: list[tuple[str, int]]) -> tuple[str, int] | None:
        # A zero hides little as a complement (the two suppressed cells add up to the small one), so a
        # non-zero cell is preferred; when the margin has only zeros left, a zero still keeps the small
        # cell from being read off exactly as total minus the published cells.
        free = [(c, i) for c, i in cells if c in own and not supp[c][i]]
        if not free:
            return None
        return min(free, key=lambda ci: (vals[ci[0]][ci[1]] == 0, vals[ci[0]][ci[1]], ci[1], ci[0]))

    def one_per_margin() -> bool:
        """Rule 4 until no margin changes; False when it does not converge."""
        changed = True
        rounds = 0
        while changed and rounds < 1000:
            changed = False
            rounds += 1
            for cells in margin_cells:
                if sum(1 for c, i in cells if supp[c][i]) == 1:
                    comp = pick_complement(cells)
                    if comp is None:
                        continue
                    c, i = comp
                    supp[c][i] = True
                    reasons[(c, i)] = "would reveal a suppressed cell through a total (secondary)"
                    changed = True
        return not changed

    # rule 5: each pass suppresses, per group of linked unknowns, one more cell of a relation of a
    # determined cell, so it ends (at the latest when every cell of those relations is suppressed)
    for _ in range(sum(len(v) for v in vals.values()) + 1):
        if not one_per_margin():
            return _reject(spec, "secondary suppression did not converge", log)
        determined, unaudited = _determined(relations, supp)
        given_away = [
            cell
            for cell in determined
            if not cell[0].startswith("~total.") and (vals[cell[0]][cell[1]] != 0 or not spec.allow_zero)
        ]
        if not given_away:
            if unaudited:
                log.append(
                    _entry(
                        spec.name,
                        "",
                        "",
                        "not audited",
                        f"{unaudited} suppressed cells linked through the totals, more than the audit solves "
                        f"({AUDIT_MAX_CELLS}): protected by one-per-margin suppression only",
                    )
                )
            break
        added = False
        for group in _linked(given_away, relations):
            comp = None
            for cell in group:
                comp = pick_complement(
                    sorted({k for rel in relations if cell in rel for k in rel if k != cell})
                )
                if comp is not None:
                    break
            if comp is not None:
                supp[comp[0]][comp[1]] = True
                reasons[comp] = "would reveal a suppressed cell through several totals together (audit)"
                added = True
        if not added:
            return _reject(
                spec,
                "a suppressed cell follows from the published cells and no further cell can hide it",
                log,
            )
    else:
        return _reject(spec, "the audit of the suppressed cells did not converge", log)

    # value columns follow their counts
    value_supp: dict[str, list[bool]] = {}
    for c, vs in values_by_count.items():
        for v in vs:
            cur = value_supp.setdefault(v, [False] * n)
            for i in range(n):
                if supp[c][i] or vals[c][i] is None:
                    if not cur[i]:
                        cur[i] = True
                        reasons[(v, i)] = (
                            f"backed by the suppressed count '{c}'"
                            if supp[c][i]
                            else f"backing count '{c}' is missing, the gate cannot vouch for it"
                        )

    out = df
    exprs = []
    for c in counts:
        mask_s = pl.Series(supp[c], dtype=pl.Boolean)
        exprs.append(pl.when(mask_s).then(None).otherwise(pl.col(c)).alias(c))
    for v, m in value_supp.items():
        mask_s = pl.Series(m, dtype=pl.Boolean)
        exprs.append(pl.when(mask_s).then(None).otherwise(pl.col(v)).alias(v))
    if exprs:
        out = df.with_columns(exprs)

    for (c, i), why in sorted(reasons.items(), key=lambda x: (x[0][1], x[0][0])):
        log.append(_entry(spec.name, _row_label(df, keys, i), c, "suppressed", why))

    all_values = tuple(sorted({v for vs in values_by_count.values() for v in vs}))
    return GateResult(
        name=spec.name,
        description=spec.description,
        table=out,
        log=log,
        count_columns=tuple(counts),
        value_columns=all_values,
        key_columns=tuple(keys),
        suppressed={**{c: supp[c] for c in counts}, **value_supp},
    )


def rejected(name: str, description: str, reason: str) -> GateResult:
    """A table that could not even be offered to the gate (e.g. no count column could be identified)."""
    return GateResult(
        name=name,
        description=description,
        table=None,
        log=[_entry(name, "", "", "rejected", reason)],
        reason=reason,
    )


def link_totals(linked: TableSpec, result: GateResult, totals: Mapping[str, tuple[str, int]]) -> LinkedTotals:
    """The cells of ``linked`` (gated as ``result``) that are another table's column totals, for that
    table's :attr:`TableSpec.linked_totals` (rule 6).

    Parameters
    ----------
    linked : TableSpec
        The table holding the totals, as offered to the gate (its numbers and relations).
    result : GateResult
        ``linked`` through the gate: its suppressed cells. A refused table publishes nothing (all hidden).
    totals : mapping of str to (str, int)
        Count column of the other table -> the cell ``(column, row)`` of ``linked`` equal to its sum.
    """
    df = linked.df
    counts = list(linked.count_columns)
    values = {c: [None if v is None else float(v) for v in df[c].to_list()] for c in counts}
    if result.table is None:
        hidden = {c: [True] * df.height for c in counts}
    else:
        hidden = {c: list(result.suppressed.get(c, [False] * df.height)) for c in counts}
    groups: list[tuple[str, list[int]]] = []
    for c in counts:
        for m in [tuple(m) for m in (linked.margins if linked.margins is not None else [()])]:
            if not m:
                groups.append((c, list(range(df.height))))
            else:
                idx = df.select(pl.int_range(pl.len()).alias("_i"), *[pl.col(k) for k in m])
                for sub in idx.group_by(list(m), maintain_order=True).agg(pl.col("_i"))["_i"].to_list():
                    groups.append((c, list(sub)))
    return LinkedTotals(
        name=linked.name,
        values=values,
        suppressed=hidden,
        relations=_exact_relations(linked, groups, values, df.height),
        totals=dict(totals),
    )


def linked_suppression(
    total: GateResult, detail: pl.DataFrame, by: Sequence[str], columns: Sequence[str]
) -> dict[str, list[bool]]:
    """Cells of ``detail`` to suppress because their sum is a suppressed cell of the ``total`` table.

    ``detail`` adds up to ``total`` over the key columns ``by`` (e.g. municipality-months to months). If a
    total cell is suppressed but all its detail cells were published, the total could be recomputed;
    so every detail cell of a suppressed total is suppressed too.
    """
    out = {c: [False] * detail.height for c in columns}
    if total.table is None:
        return {c: [True] * detail.height for c in columns}
    t = total.table
    for c in columns:
        if c not in t.columns or c not in detail.columns:
            continue
        mask = total.suppressed.get(c, [False] * t.height)
        hidden = {tuple(t[k][i] for k in by) for i in range(t.height) if mask[i]}
        if not hidden:
            continue
        keys = list(zip(*[detail[k].to_list() for k in by], strict=True))
        out[c] = [k in hidden for k in keys]
    return out


def gate_breakdown(
    df: pl.DataFrame,
    parts: Sequence[str],
    min_cell: int = DEFAULT_MIN_CELL,
    *,
    name: str,
    description: str,
    key_columns: Sequence[str] = (),
    unit: str = "persons",
) -> GateResult:
    """Gate a one-dimensional breakdown: per row, the count columns ``parts`` add up to a total that is
    published beside them (e.g. the reasons an outcome is missing and its ``n_missing``).

    A part below ``min_cell`` is suppressed (primary), and when it is the only one of its row, the
    smallest other non-zero part of the row is suppressed with it (secondary; a zero would hide nothing),
    because the total minus the others would give it away. Rows are not added up across each other.

    Parameters
    ----------
    df : pl.DataFrame
        One row per breakdown: ``key_columns`` and the ``parts``.
    parts : sequence of str
        The count columns that add up to the row's total.
    min_cell : int
        The minimum number of units behind any published number.
    name, description : str
        For the gate's log.
    key_columns : sequence of str
        Labels of the rows.
    unit : str
        What the parts count.

    Returns
    -------
    GateResult
        As :func:`gate`: suppressed cells are null.
    """
    spec = TableSpec(
        name=name,
        df=df,
        count_columns=list(parts),
        value_columns_by_count={},
        description=description,
        key_columns=list(key_columns),
        margins=[],
        row_margins=[tuple(parts)],
        unit=unit,
    )
    return gate(spec, min_cell)


def require_approved(result: GateResult) -> pl.DataFrame:
    """The safe table, or :class:`DisclosureError` with the gate's reason."""
    if result.table is None:
        raise DisclosureError(f"table '{result.name}' is not exported: {result.reason}")
    return result.table


def collapse_flow(
    flow: pl.DataFrame, min_cell: int = DEFAULT_MIN_CELL
) -> tuple[pl.DataFrame, list[dict[str, str]]]:
    """Merge consecutive sample-flow rules until every removal is 0 or at least ``min_cell``.

    In a sample flow ``units_before - units_after = units_removed`` and each rule's ``units_after`` is the
    next rule's ``units_before``, so a small removal cannot be hidden by suppressing cells: it is
    merged with the next rule (the last rule with the previous one) instead. Expects columns rule,
    description, units_before, units_removed, units_after (in order of application). Any other
    ``units_*`` column is a breakdown of ``units_after`` (e.g. the final step's meetings by form): a merged
    row keeps the breakdown of the rule whose ``units_after`` it keeps.
    """
    log: list[dict[str, str]] = []
    base = ["rule", "description", "units_before", "units_removed", "units_after"]
    extra = [c for c in flow.columns if c.startswith("units_") and c not in base]
    rows = flow.select(*base, *extra).to_dicts()
    if not rows:
        return flow.select(*base, *extra).head(0), log

    def small(r: dict) -> bool:
        return is_small(r["units_removed"], min_cell)

    merged: list[dict] = []
    i = 0
    while i < len(rows):
        cur = dict(rows[i])
        while small(cur) and i + 1 < len(rows):
            nxt = rows[i + 1]
            log.append(
                _entry(
                    "sample_flow",
                    f"rule={cur['rule']}",
                    "units_removed",
                    "merged",
                    f"fewer than {min_cell} removed: merged with rule {nxt['rule']}",
                )
            )
            cur = {
                "rule": f"{cur['rule']} + {nxt['rule']}",
                "description": f"{cur['description']}; {nxt['description']}",
                "units_before": cur["units_before"],
                "units_removed": (cur["units_removed"] or 0) + (nxt["units_removed"] or 0),
                "units_after": nxt["units_after"],
                **{c: nxt[c] for c in extra},
            }
            i += 1
        merged.append(cur)
        i += 1
    # a small last removal: merge backwards
    while len(merged) > 1 and small(merged[-1]):
        last = merged.pop()
        prev = merged.pop()
        log.append(
            _entry(
                "sample_flow",
                f"rule={last['rule']}",
                "units_removed",
                "merged",
                f"fewer than {min_cell} removed: merged with rule {prev['rule']}",
            )
        )
        merged.append(
            {
                "rule": f"{prev['rule']} + {last['rule']}",
                "description": f"{prev['description']}; {last['description']}",
                "units_before": prev["units_before"],
                "units_removed": (prev["units_removed"] or 0) + (last["units_removed"] or 0),
                "units_after": last["units_after"],
                **{c: last[c] for c in extra},
            }
        )
    schema = {
        "rule": pl.String,
        "description": pl.String,
        "units_before": pl.Int64,
        "units_removed": pl.Int64,
        "units_after": pl.Int64,
        **{c: pl.Int64 for c in extra},
    }
    return pl.DataFrame(
        [{k: (str(v) if k in ("rule", "description") else v) for k, v in r.items()} for r in merged],
        schema=schema,
    ), log


def contract_spec(
    contract: TableContract,
    df: pl.DataFrame,
    *,
    description: str,
    name: str | None = None,
    key_columns: Sequence[str] | None = None,
    value_columns_by_count: Mapping[str, Sequence[str]] | None = None,
    extra_counts: Sequence[str] = (),
    row_margins: Sequence[tuple[str, ...]] = (),
    margins: Sequence[tuple[str, ...]] = (),
    row_relations: Sequence[Mapping[str, float]] = (),
) -> TableSpec:
    """The aggregate ``df`` offered to the gate with the disclosure structure its contract declares.

    From ``contract.disclosure``: the counts (those in ``df``), the key columns (``by``), the unit, each
    difference ``(a, b, c)`` (``a - b = c``) as a row margin of its three cells and an exact row relation
    (``a - b - c = 0``, which the gate's audit solves) and the chaining (``chained``). What a contract
    cannot say is given here: ``key_columns`` instead of ``by`` (e.g. the labels of merged steps), which
    count backs which share (default: every count of the row backs every share), ``extra_counts`` derived
    for the gate only (e.g. a 0/1 mean's ones), further ``row_margins`` and exact ``row_relations``, and
    column ``margins`` (default none: the rows are separate cells).

    Raises
    ------
    ValueError
        ``contract`` declares no disclosure structure.
    """
    d = contract.disclosure
    if d is None:
        raise ValueError(f"contract '{contract.name}' declares no disclosure structure (contract.disclosure)")
    have = set(df.columns)
    counts = [c for c in d.counts if c in have] + [c for c in extra_counts if c not in d.counts]
    shares = [c for c in d.shares if c in have]
    keys = list(key_columns) if key_columns is not None else [c for c in d.by if c in have]
    backing = (
        {c: list(v) for c, v in value_columns_by_count.items()}
        if value_columns_by_count is not None
        else ({c: shares for c in counts} if shares else {})
    )
    differences = [tuple(t) for t in d.differences if set(t) <= set(counts)]
    return TableSpec(
        name=name or contract.name,
        df=df.select(*keys, *counts, *dict.fromkeys(v for vs in backing.values() for v in vs)),
        count_columns=counts,
        value_columns_by_count=backing,
        description=description,
        key_columns=keys,
        margins=list(margins),
        row_margins=[*differences, *(tuple(m) for m in row_margins)],
        chained=[p for p in d.chained if set(p) <= set(counts)],
        row_relations=[*({a: 1, b: -1, c: -1} for a, b, c in differences), *row_relations],
        unit=d.unit,
    )


def sample_flow_spec(
    flow: pl.DataFrame, min_cell: int = DEFAULT_MIN_CELL
) -> tuple[TableSpec, list[dict[str, str]]]:
    """The sample flow offered to the gate: small removals merged (:func:`collapse_flow`), then declared by
    its contract (``data_contracts.tables.SAMPLE_FLOW``: ``units_before - units_removed = units_after`` in
    every row, each step's ``units_after`` the next step's ``units_before``).

    Every ``units_*`` column is a count. A breakdown of the final step's ``units_after`` (any ``units_*``
    column beyond before/removed/after, e.g. its meetings by form) adds up to it: a row margin of
    ``units_after`` and its parts, so one small part suppresses another (or ``units_after``). The report,
    the run summary and the Dagster metadata all publish the flow through this spec.

    Returns
    -------
    (TableSpec, list of dict)
        The spec (columns rule, description, units_*) and the merge log.
    """
    merged, log = collapse_flow(flow, min_cell)
    base = ["units_before", "units_removed", "units_after"]
    extra = [c for c in merged.columns if c.startswith("units_") and c not in base]
    spec = contract_spec(
        SAMPLE_FLOW,
        merged,
        description="Sample flow: eligible meetings rule by rule"
        + ("; the final step's meetings by form" if extra else ""),
        key_columns=["rule", "description"],
        extra_counts=extra,
        row_margins=[("units_after", *extra)] if extra else [],
        row_relations=[{"units_after": 1, **{c: -1 for c in extra}}] if extra else [],
    )
    return spec, log
