"""Outcomes of each eligible meeting (analysis plan, "Outcomes"), in DuckDB SQL.

Each person's DREAM weeks are read once from the wide staged DREAM into a status string (one character
per week: censoring code, other code, self-supporting, benefit-free without grad); the outcomes of meeting
week m are counts and one regular expression over the substring of weeks m+1 ... m+K+L-1 (K = the largest
horizon, L = the employment rule's benefit-free weeks, default 4), and the placebo over the P weeks before
the spell's start. No person-week grid, no loop over persons.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import polars as pl

from assets import weeks as W
from assets.cohort.logic import open_connection, parquet_columns
from assets.contracts import write_query
from assets.io import sql_path
from data_contracts import tables as T
from data_contracts.codebook import Codebook
from data_contracts.config import RunConfig
from data_contracts.dream_columns import DEFAULT_CENTURY_PIVOT

MEETING_OUTCOMES = T.MEETING_OUTCOMES.file  # from its contract


def exit_outcome(k: int) -> str:
    return f"y_exit_{k}w"


def selfsupport_outcome(k: int) -> str:
    return f"weeks_selfsupport_{k}w"


def placebo_outcome(cfg: RunConfig) -> str:
    return f"weeks_selfsupport_pre{cfg.outcomes.placebo_weeks}w"


def outcome_names(cfg: RunConfig) -> list[str]:
    o = cfg.outcomes
    return (
        [exit_outcome(k) for k in o.exit_horizons]
        + [selfsupport_outcome(k) for k in o.selfsupport_horizons]
        + [placebo_outcome(cfg)]
    )


# One character per DREAM week in a person's status string (see :func:`dream_status_sql`).
STATUS_SELF_SUPPORT = "1"  # no benefit code, grad of the week's month above the rule's minimum
STATUS_FREE_NO_GRAD = "0"  # no benefit code, grad missing or not above the minimum
STATUS_FREE_UNKNOWN = "?"  # no benefit code, and DREAM delivers no grad_ column for the week's month
STATUS_CODED = "c"  # a benefit code (also an unknown or other-exit code)
STATUS_CENSORED = "x"  # a censoring code (death, emigration, ...)


def _dream_weeks_and_grads(dream_columns: Sequence[str], pivot: int) -> tuple[dict[int, str], dict[str, str]]:
    cols = {c.lower(): c for c in dream_columns}
    weeks = {
        W.dream_column_week_index(lc, pivot): orig for lc, orig in cols.items() if W.is_dream_week_column(lc)
    }
    if not weeks:
        raise ValueError("dream: no y_YYWW week columns found")
    grads = {lc: orig for lc, orig in cols.items() if W.is_dream_grad_column(lc)}
    return weeks, grads


def employment_window(
    dream_columns: Sequence[str], pivot: int = DEFAULT_CENTURY_PIVOT
) -> tuple[int, int] | None:
    """(first, last) week index with known employment: DREAM has the week and a grad_ column for its month.

    A week's month is the month of its Thursday. The last such week is where DREAM "ends" for an outcome
    that needs employment information (analysis plan, "Time"): the earlier of the last ``y_`` week and
    the last week whose Thursday lies in a delivered ``grad_`` month; weeks before the first ``grad_``
    month have unknown self-support. None when no week qualifies (no grad_ month inside the weeks).
    """
    weeks, grads = _dream_weeks_and_grads(dream_columns, pivot)
    known = [t for t in range(min(weeks), max(weeks) + 1) if W.grad_column_of_week(t) in grads]
    return (known[0], known[-1]) if known else None


def dream_status_sql(
    dream_columns: Sequence[str],
    codebook: Codebook,
    min_grad: int,
    weeks: tuple[int, int] | None = None,
) -> tuple[str, int, int]:
    """A SQL expression over the wide staged DREAM giving each person's weekly status as one string.

    Character ``t - first + 1`` describes week index ``t`` (``first``..``last``, every week in between,
    including weeks DREAM has no column for, which have no code): ``x`` censoring code, ``c`` any other
    code, ``1`` no code and ``grad`` of the month of the week's Thursday above ``min_grad``, ``0`` no code
    and grad missing or not above it, ``?`` no code in a week whose month DREAM has no ``grad_`` column
    for (employment unknown: before grad starts or after it ends). Outcomes are then substring counts and
    one regular expression per meeting, instead of a person-week grid.

    Parameters
    ----------
    weeks : (int, int), optional
        Only this range of week indexes (cut to DREAM's): a real DREAM from 1991 has ~1,750 weeks, the
        outcomes need a few hundred of them.

    Returns
    -------
    (expression, first, last)
    """
    wk, grads = _dream_weeks_and_grads(dream_columns, codebook.dream_century_pivot)
    first, last = min(wk), max(wk)
    if weeks is not None:
        first, last = max(first, weeks[0]), min(last, weeks[1])
    if last < first:
        return "''", first, last
    censor = ", ".join(repr(c) for c in codebook.codes_of_kind("censoring")) or "''"
    parts = []
    for t in range(first, last + 1):
        g = grads.get(W.grad_column_of_week(t))
        free = (
            f"CASE WHEN \"{g}\" > {int(min_grad)} THEN '{STATUS_SELF_SUPPORT}' ELSE '{STATUS_FREE_NO_GRAD}' END"
            if g
            else f"'{STATUS_FREE_UNKNOWN}'"
        )
        yc = wk.get(t)
        if yc is None:
            parts.append(free)
            continue
        x = f'"{yc}"'
        # list_contains, not IN: hundreds of IN lists in one projection become joins in DuckDB
        parts.append(
            f"CASE WHEN coalesce({x}, '') = '' THEN {free} "
            f"WHEN list_contains([{censor}], {x}) THEN '{STATUS_CENSORED}' ELSE '{STATUS_CODED}' END"
        )
    # concat in blocks of 100 arguments keeps each function call small for DREAM's 1,000+ weeks
    blocks = ["concat(" + ", ".join(parts[i : i + 100]) + ")" for i in range(0, len(parts), 100)]
    expr = blocks[0] if len(blocks) == 1 else "concat(" + ", ".join(blocks) + ")"
    return expr, first, last


def build_meeting_outcomes(
    eligible_path: str | Path,
    dream_path: str | Path,
    out_dir: str | Path,
    cfg: RunConfig,
    codebook: Codebook,
    duckdb_settings: Mapping[str, str | int] | None = None,
) -> dict[str, object]:
    """Write ``meeting_outcomes.parquet``: meeting_id, exit_week_index, every ``y_exit_{k}w``,
    ``weeks_selfsupport_{k}w`` and the placebo ``weeks_selfsupport_pre{P}w`` (nulls = missing, i.e. censored).

    Definitions (analysis plan; L = ``employment_benefit_free_weeks``, g = ``employment_min_grad``; DREAM
    "ends" at E, the earlier of its last ``y_`` week and its last week whose Thursday lies in a delivered
    ``grad_`` month, and "starts" at S, the later of its first ``y_`` week and its first week in a grad month;
    see :func:`employment_window`):

    * exit to employment in week w: weeks w..w+L-1 are all in DREAM and have no code, and grad of the
      month of w's Thursday is delivered and above g (null grad = none = not above g); the exit week is the
      first such w > m (searched in m+1 .. m+max(exit horizons)).
    * ``y_exit_{k}w`` = 1 if m < exit week <= m+k; else missing if E < m+k+L-1, m+1 < S, or a censoring
      code is in m+1 .. m+k+L-1; else 0 (an other-exit code is a code: it gives 0).
    * ``weeks_selfsupport_{k}w`` = number of weeks in m+1 .. m+k without a code and with grad above g;
      missing if E < m+k, m+1 < S, or a censoring code is in m+1 .. m+k.
    * placebo: the same count over spell_start-P .. spell_start-1; missing if S > spell_start-P (the window
      reaches before DREAM or before grad starts) or a censoring code is in that window.

    Each person's DREAM weeks become one status string (:func:`dream_status_sql`, read once from the
    wide staged DREAM, cut to the weeks the meetings' windows need); each meeting's window is a substring
    of it: the exit week is the first match of ``1[01?]{L-1}`` (a self-supporting week followed by L-1
    weeks without a code), self-support weeks are the ``1`` characters, censoring is an ``x``. No
    person-week grid, no loop over persons.

    Returns
    -------
    dict
        paths, row count, DREAM's bounds and ``missing_by_reason``: per outcome, how many units are
        missing because employment information had ended (or not begun) while DREAM's weeks had not, how
        many because DREAM's weeks end (or begin), and how many because of a censoring code.
    """
    out_dir = Path(out_dir)
    o = cfg.outcomes
    L, g = o.employment_benefit_free_weeks, o.employment_min_grad
    kmax_exit = max(o.exit_horizons)
    kmax = max(kmax_exit + L - 1, max(o.selfsupport_horizons))
    P = o.placebo_weeks
    con = open_connection(duckdb_settings)
    try:
        dream_cols = parquet_columns(con, dream_path)
        wk, _grads = _dream_weeks_and_grads(dream_cols, codebook.dream_century_pivot)
        y_first, y_last = min(wk), max(wk)
        emp = employment_window(dream_cols, codebook.dream_century_pivot)
        # E and S of the docstring; with no grad month at all nothing about employment is known
        e_last, e_first = (min(y_last, emp[1]), max(y_first, emp[0])) if emp else (y_first - 1, y_last + 1)
        con.execute(
            f"""CREATE TEMP TABLE e AS SELECT meeting_id, pnr, meeting_week_index AS m, spell_start_week AS s
                FROM read_parquet({sql_path(eligible_path)})"""
        )
        lo, hi = con.execute(f"SELECT min(s) - {P}, max(m) + {kmax} FROM e").fetchone()
        lo = y_first if lo is None else lo
        hi = y_last if hi is None else hi
        status, first, last = dream_status_sql(dream_cols, codebook, g, weeks=(int(lo), int(hi)))
        con.execute(
            f"""CREATE TEMP TABLE st AS
                SELECT CAST(pnr AS VARCHAR) AS pnr, {status} AS status FROM read_parquet({sql_path(dream_path)})
                WHERE CAST(pnr AS VARCHAR) IN (SELECT pnr FROM e)"""
        )

        def window(start: str, length: int | str) -> str:
            """Weeks start .. start+length-1 of the status string (cut at its ends)."""
            return f"substring(status, CAST({start} AS BIGINT) - {first} + 1, {length})"

        def n_self_support(w: str) -> str:
            return f"length({w}) - length(replace({w}, '{STATUS_SELF_SUPPORT}', ''))"

        def censored(w: str) -> str:
            return f"contains({w}, '{STATUS_CENSORED}')"

        exit_pattern = STATUS_SELF_SUPPORT + (
            f"[{STATUS_SELF_SUPPORT}{STATUS_FREE_NO_GRAD}{STATUS_FREE_UNKNOWN}]{{{L - 1}}}" if L > 1 else ""
        )
        exit_window = window("m + 1", kmax_exit + L - 1)
        exit_col = f"""CASE WHEN regexp_matches({exit_window}, '{exit_pattern}')
                     THEN CAST(m + 1 + length(regexp_extract({exit_window}, '^(.*?){exit_pattern}', 1)) AS INTEGER)
                END AS exit_week_index"""
        # Per outcome: (name, value when observed, SQL type, the week range the outcome needs, censoring
        # window, an exit that decides it before any missing rule). Missing rules are built from these
        # once, for the outcome and for the reason counts, so the two cannot disagree.
        specs: list[tuple[str, str, str, str, str, str, str | None]] = []
        for k in o.exit_horizons:
            specs.append(
                (
                    exit_outcome(k),
                    "0",
                    "TINYINT",
                    "m + 1",
                    f"m + {k + L - 1}",
                    censored(window("m + 1", k + L - 1)),
                    f"exit_week_index <= m + {k}",
                )
            )
        for k in o.selfsupport_horizons:
            w = window("m + 1", k)
            specs.append(
                (
                    selfsupport_outcome(k),
                    n_self_support(w),
                    "SMALLINT",
                    "m + 1",
                    f"m + {k}",
                    censored(w),
                    None,
                )
            )
        pw = window(f"s - {P}", P)
        specs.append(
            (
                placebo_outcome(cfg),
                n_self_support(pw),
                "SMALLINT",
                f"s - {P}",
                "s - 1",
                f"status IS NULL OR {censored(pw)}",
                None,
            )
        )
        cols, reasons = [], []
        for name, value, typ, w_from, w_to, cens, decided in specs:
            out_emp = f"({e_last} < {w_to} OR {e_first} > {w_from})"
            out_y = f"({y_last} < {w_to} OR {y_first} > {w_from})"
            first_rule = f"WHEN {decided} THEN 1 " if decided else ""
            cols.append(
                f"CAST(CASE {first_rule}WHEN {out_emp} OR {cens} THEN NULL ELSE {value} END AS {typ}) AS {name}"
            )
            undecided = f"NOT coalesce({decided}, false) AND " if decided else ""
            reasons.append(
                f"""count(*) FILTER (WHERE {undecided}{out_y}) AS "{name}|dream_weeks",
                    count(*) FILTER (WHERE {undecided}NOT {out_y} AND {out_emp}) AS "{name}|employment_unknown",
                    count(*) FILTER (WHERE {undecided}NOT {out_emp} AND {cens}) AS "{name}|censoring" """
            )
        con.execute(
            f"""CREATE TEMP TABLE x AS
                SELECT e.meeting_id, e.m, e.s, st.status, {exit_col}
                FROM e LEFT JOIN st USING (pnr)"""
        )
        q = f"SELECT meeting_id, exit_week_index, {', '.join(cols)} FROM x"
        write_query(T.MEETING_OUTCOMES, con, q, out_dir)
        counts = con.execute(f"SELECT count(*) AS n, {', '.join(reasons)} FROM x").fetchone()
        names = [d[0] for d in con.description]
    finally:
        con.close()
    by = dict(zip(names, counts, strict=True))
    missing_by_reason = [
        {
            "outcome": name,
            "dream_weeks": int(by[f"{name}|dream_weeks"]),
            "employment_unknown": int(by[f"{name}|employment_unknown"]),
            "censoring": int(by[f"{name}|censoring"]),
        }
        for name, *_ in specs
    ]
    return {
        "meeting_outcomes": out_dir / MEETING_OUTCOMES,
        "n_rows": int(by["n"]),
        "dream_first_week": y_first,
        "dream_last_week": y_last,
        "employment_first_week": emp[0] if emp else None,
        "employment_last_week": emp[1] if emp else None,
        "outcome_first_week": e_first,
        "outcome_last_week": e_last,
        "missing_by_reason": missing_by_reason,
    }


def outcome_summary(analysis_or_outcomes: pl.DataFrame, cfg: RunConfig) -> pl.DataFrame:
    """Per outcome: n non-missing, n missing, mean (all), mean among digital=1 and digital=0 when present."""
    rows = []
    has_d = "digital" in analysis_or_outcomes.columns
    for name in outcome_names(cfg):
        col = analysis_or_outcomes[name]
        row = {
            "outcome": name,
            "n_nonmissing": int(col.len() - col.null_count()),
            "n_missing": int(col.null_count()),
            "mean": col.mean(),
        }
        if has_d:
            for d in (1, 0):
                sub = analysis_or_outcomes.filter(pl.col("digital") == d)[name]
                row[f"n_digital_{d}"] = int(sub.len() - sub.null_count())
                row[f"mean_digital_{d}"] = sub.mean()
        rows.append(row)
    # the means typed as the contract says (data_contracts/tables.py OUTCOME_MEANS): with no eligible
    # meeting every mean is None, which Polars would type Null
    means = ["mean", *(["mean_digital_1", "mean_digital_0"] if has_d else [])]
    return pl.DataFrame(rows, schema_overrides=dict.fromkeys(means, pl.Float64))
