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
from assets.io import copy_query_to_parquet, sql_path
from data_contracts.codebook import Codebook
from data_contracts.config import RunConfig

MEETING_OUTCOMES = "meeting_outcomes.parquet"


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
STATUS_CODED = "c"  # a benefit code (also an unknown or other-exit code)
STATUS_CENSORED = "x"  # a censoring code (death, emigration, ...)


def dream_status_sql(dream_columns: Sequence[str], codebook: Codebook, min_grad: int) -> tuple[str, int, int]:
    """A SQL expression over the wide staged DREAM giving each person's weekly status as one string.

    Character ``t - first + 1`` describes week index ``t`` (``first``..``last``, every week in between,
    including weeks DREAM has no column for, which have no code): ``x`` censoring code, ``c`` any other
    code, ``1`` no code and ``grad`` of the month of the week's Thursday above ``min_grad``, ``0`` no code
    otherwise. Outcomes are then substring counts and one regular expression per meeting, instead of a
    person-week grid.

    Returns
    -------
    (expression, first, last)
    """
    cols = {c.lower(): c for c in dream_columns}
    weeks = {W.dream_column_week_index(lc): orig for lc, orig in cols.items() if W.is_dream_week_column(lc)}
    if not weeks:
        raise ValueError("dream: no y_YYWW week columns found")
    grads = {lc: orig for lc, orig in cols.items() if W.is_dream_grad_column(lc)}
    first, last = min(weeks), max(weeks)
    censor = ", ".join(repr(c) for c in codebook.codes_of_kind("censoring")) or "''"
    parts = []
    for t in range(first, last + 1):
        y, mth = W.week_month(t)
        g = grads.get(f"grad_{y}_{mth:02d}")
        free = (
            f"CASE WHEN \"{g}\" > {int(min_grad)} THEN '{STATUS_SELF_SUPPORT}' ELSE '{STATUS_FREE_NO_GRAD}' END"
            if g
            else f"'{STATUS_FREE_NO_GRAD}'"
        )
        yc = weeks.get(t)
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

    Definitions (analysis plan; L = ``employment_benefit_free_weeks``, g = ``employment_min_grad``):

    * exit to employment in week w: weeks w..w+L-1 are all in DREAM and have no code, and grad of the
      month of w's Thursday is above g (null grad = none = not above g); the exit week is the first such
      w > m (searched in m+1 .. m+max(exit horizons)).
    * ``y_exit_{k}w`` = 1 if m < exit week <= m+k; else missing if DREAM ends before m+k+L-1 or a censoring
      code is in m+1 .. m+k+L-1; else 0 (an other-exit code is a code: it gives 0).
    * ``weeks_selfsupport_{k}w`` = number of weeks in m+1 .. m+k without a code and with grad above g;
      missing if DREAM ends before m+k or a censoring code is in m+1 .. m+k.
    * placebo: the same count over spell_start-P .. spell_start-1; missing if DREAM starts after
      spell_start-P or a censoring code is in that window.

    Each person's DREAM weeks become one status string (:func:`dream_status_sql`, read once from the
    wide staged DREAM); each meeting's window is a substring of it: the exit week is the first match of
    ``1[01]{L-1}`` (a self-supporting week followed by L-1 weeks without a code), self-support weeks are
    the ``1`` characters, censoring is an ``x``. No person-week grid, no loop over persons.
    """
    out_dir = Path(out_dir)
    o = cfg.outcomes
    L, g = o.employment_benefit_free_weeks, o.employment_min_grad
    kmax_exit = max(o.exit_horizons)
    P = o.placebo_weeks
    con = open_connection(duckdb_settings)
    try:
        status, first, last = dream_status_sql(parquet_columns(con, dream_path), codebook, g)
        con.execute(
            f"""CREATE TEMP TABLE e AS SELECT meeting_id, pnr, meeting_week_index AS m, spell_start_week AS s
                FROM read_parquet({sql_path(eligible_path)})"""
        )
        con.execute(
            f"""CREATE TEMP TABLE st AS
                SELECT CAST(pnr AS VARCHAR) AS pnr, {status} AS status FROM read_parquet({sql_path(dream_path)})
                WHERE CAST(pnr AS VARCHAR) IN (SELECT pnr FROM e)"""
        )

        def window(start: str, length: int | str) -> str:
            """Weeks start .. start+length-1 of the status string (cut at DREAM's ends)."""
            return f"substring(status, CAST({start} AS BIGINT) - {first} + 1, {length})"

        def n_self_support(w: str) -> str:
            return f"length({w}) - length(replace({w}, '{STATUS_SELF_SUPPORT}', ''))"

        exit_pattern = STATUS_SELF_SUPPORT + (
            f"[{STATUS_SELF_SUPPORT}{STATUS_FREE_NO_GRAD}]{{{L - 1}}}" if L > 1 else ""
        )
        exit_window = window("m + 1", kmax_exit + L - 1)
        cols = [
            f"""CASE WHEN regexp_matches({exit_window}, '{exit_pattern}')
                     THEN CAST(m + 1 + length(regexp_extract({exit_window}, '^(.*?){exit_pattern}', 1)) AS INTEGER)
                END AS exit_week_index"""
        ]
        for k in o.exit_horizons:
            cols.append(
                f"""CAST(CASE WHEN exit_week_index <= m + {k} THEN 1
                         WHEN {last} < m + {k + L - 1} OR contains({window("m + 1", k + L - 1)}, '{STATUS_CENSORED}') THEN NULL
                         ELSE 0 END AS TINYINT) AS {exit_outcome(k)}"""
            )
        for k in o.selfsupport_horizons:
            w = window("m + 1", k)
            cols.append(
                f"""CAST(CASE WHEN {last} < m + {k} OR contains({w}, '{STATUS_CENSORED}') THEN NULL
                         ELSE {n_self_support(w)} END AS SMALLINT) AS {selfsupport_outcome(k)}"""
            )
        pw = window(f"s - {P}", P)
        cols.append(
            f"""CAST(CASE WHEN {first} > s - {P} OR status IS NULL OR contains({pw}, '{STATUS_CENSORED}') THEN NULL
                     ELSE {n_self_support(pw)} END AS SMALLINT) AS {placebo_outcome(cfg)}"""
        )
        # exit_week_index is used by the y_exit columns: compute it in a first projection
        q = f"""
            WITH x AS (
                SELECT e.meeting_id, e.m, e.s, st.status, {cols[0]}
                FROM e LEFT JOIN st USING (pnr)
            )
            SELECT meeting_id, exit_week_index, {", ".join(cols[1:])}
            FROM x
        """
        copy_query_to_parquet(con, q, out_dir / MEETING_OUTCOMES)
        n = con.execute(
            f"SELECT count(*) FROM read_parquet({sql_path(out_dir / MEETING_OUTCOMES)})"
        ).fetchone()[0]
    finally:
        con.close()
    return {
        "meeting_outcomes": out_dir / MEETING_OUTCOMES,
        "n_rows": int(n),
        "dream_first_week": first,
        "dream_last_week": last,
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
    return pl.DataFrame(rows)
