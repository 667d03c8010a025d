"""An approved table's cells as text: the numbers formatted once, suppressed cells as ``s``, for the
HTML template, the CSV and the LaTeX files.

No Dagster.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Sequence
from typing import Any

import polars as pl

from models.disclosure import GateResult

SUPPRESSED = "s"


def fmt_num(v: Any, count: bool = False) -> str:
    """A cell as printed: counts as integers, other numbers to four significant digits."""
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return ""
    if isinstance(v, bool):
        return str(v)
    if count or isinstance(v, int):
        return str(int(round(float(v))))
    if isinstance(v, float):
        if v == 0:
            return "0"
        a = abs(v)
        if a < 1e-4:
            return f"{v:.2e}"
        return f"{v:.4g}" if a < 1000 else f"{v:,.0f}".replace(",", "")
    return str(v)


def table_cells(r: GateResult) -> tuple[list[str], list[list[str]]]:
    """Header and formatted cells of an approved table; suppressed cells are ``s``."""
    assert r.table is not None
    df = r.table
    rows = []
    for i in range(df.height):
        row = []
        for c in df.columns:
            if r.suppressed.get(c, [False] * df.height)[i]:
                row.append(SUPPRESSED)
            else:
                row.append(fmt_num(df[c][i], count=c in r.count_columns))
        rows.append(row)
    return list(df.columns), rows


def to_csv(r: GateResult) -> str:
    """The table as CSV text (``s`` = suppressed)."""
    header, rows = table_cells(r)
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(header)
    w.writerows(rows)
    return buf.getvalue()


def _tex_escape(s: str) -> str:
    rep = {
        "\\": r"\textbackslash{}",
        "&": r"\&",
        "%": r"\%",
        "$": r"\$",
        "#": r"\#",
        "_": r"\_",
        "{": r"\{",
        "}": r"\}",
        "~": r"\textasciitilde{}",
        "^": r"\textasciicircum{}",
    }
    return "".join(rep.get(ch, ch) for ch in s)


def to_latex(r: GateResult, min_cell: int) -> str:
    """The table as a LaTeX ``table`` environment with the suppression note."""
    header, rows = table_cells(r)
    align = "".join("r" if (c in r.count_columns or c in r.value_columns) else "l" for c in header)
    lines = [
        "% " + _tex_escape(r.description),
        r"\begin{table}[htbp]",
        r"\centering",
        r"\small",
        r"\caption{" + _tex_escape(r.description) + "}",
        r"\begin{tabular}{" + align + "}",
        r"\hline",
        " & ".join(_tex_escape(h) for h in header) + r" \\",
        r"\hline",
    ]
    lines += [" & ".join(_tex_escape(c) for c in row) + r" \\" for row in rows]
    lines += [
        r"\hline",
        r"\end{tabular}",
        r"\par\footnotesize{s = suppressed (fewer than "
        + str(min_cell)
        + r" units, or would reveal such a cell).}",
        r"\end{table}",
        "",
    ]
    return "\n".join(lines)


def html_cells(r: GateResult, max_rows: int = 80) -> dict[str, Any]:
    """What the HTML template shows of an approved table: header, the first ``max_rows`` rows as
    ``(text, css class)`` pairs and the number of rows."""
    header, rows = table_cells(r)
    numeric = {h for h in header if h in r.count_columns or h in r.value_columns}
    shown = [
        [
            (c, "sup" if c == SUPPRESSED else "num" if h in numeric else "")
            for h, c in zip(header, row, strict=True)
        ]
        for row in rows[:max_rows]
    ]
    return {"header": header, "rows": shown, "n_rows": len(rows), "max_rows": max_rows, "name": r.name}


def visible(r: GateResult | None, cols: Sequence[str]) -> pl.DataFrame | None:
    """Rows of an approved table where none of ``cols`` is suppressed or missing."""
    if r is None or r.table is None:
        return None
    df = r.table.with_row_index("_i")
    keep = [
        i
        for i in range(df.height)
        if all(
            not r.suppressed.get(c, [False] * df.height)[i] and df[c][i] is not None
            for c in cols
            if c in df.columns
        )
    ]
    return df.filter(pl.col("_i").is_in(keep)).drop("_i")


def primary(
    df: pl.DataFrame, outcomes: Sequence[str], designs: Sequence[str] = ("irm_att", "irm_ate", "plr", "naive")
) -> tuple[str, str] | None:
    """The (outcome, design) a figure or sentence shows: the first configured outcome and the primary
    design present in ``df``."""
    pairs = set(df.select("outcome", "design").iter_rows())
    for o in list(outcomes) + sorted({p[0] for p in pairs}):
        for d in list(designs) + sorted({p[1] for p in pairs}):
            if (o, d) in pairs:
                return o, d
    return None


def primary_rows(
    r: GateResult, columns: Sequence[str], outcomes: Sequence[str]
) -> tuple[tuple[str, str], pl.DataFrame] | None:
    """The (outcome, design) a figure shows (:func:`primary`) and its visible rows of the approved table
    ``r`` with ``columns`` published; ``None`` when there is nothing to draw."""
    df = visible(r, list(columns))
    if df is None or df.height == 0:
        return None
    od = primary(df, outcomes)
    if od is None:
        return None
    return od, df.filter((pl.col("outcome") == od[0]) & (pl.col("design") == od[1]))
