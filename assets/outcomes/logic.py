"""Outcomes of each eligible meeting (analysis plan, "Outcomes"), in DuckDB SQL.

For meeting week m, a grid of weeks t = m+1 ... m+K+L-1 (K = the largest horizon, L = the employment
rule's benefit-free weeks, default 4) is joined with long DREAM; window functions over the grid find the
exit week. The placebo uses a grid of the P weeks before the spell's start. No loop over persons.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import polars as pl

from assets.cohort.logic import dream_bounds, open_connection
from assets.io import copy_query_to_parquet, sql_path
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


def build_meeting_outcomes(
    eligible_path: str | Path,
    benefit_weeks_path: str | Path,
    employment_months_path: str | Path,
    dream_calendar_path: str | Path,
    out_dir: str | Path,
    cfg: RunConfig,
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
    """
    out_dir = Path(out_dir)
    o = cfg.outcomes
    L, g = o.employment_benefit_free_weeks, o.employment_min_grad
    kmax_exit = max(o.exit_horizons)
    kmax = max(max(o.exit_horizons), max(o.selfsupport_horizons))
    n_grid = kmax + L - 1
    P = o.placebo_weeks
    first, last = dream_bounds(dream_calendar_path)
    con = open_connection(duckdb_settings)
    try:
        con.execute(
            f"""CREATE TEMP TABLE e AS SELECT meeting_id, pnr, meeting_week_index AS m, spell_start_week AS s
                FROM read_parquet({sql_path(eligible_path)})"""
        )
        con.execute(
            f"""CREATE TEMP TABLE bw AS
                SELECT b.pnr, b.week_index, b.kind FROM read_parquet({sql_path(benefit_weeks_path)}) b
                WHERE b.pnr IN (SELECT pnr FROM e)
                  AND b.week_index BETWEEN (SELECT min(s) FROM e) - {P} AND (SELECT max(m) FROM e) + {n_grid}"""
        )
        con.execute(
            f"""CREATE TEMP TABLE em AS
                SELECT pnr, month_index, max(grad) AS grad FROM read_parquet({sql_path(employment_months_path)})
                WHERE pnr IN (SELECT pnr FROM e) GROUP BY 1, 2"""
        )
        exit_cols, ss_cols = [], []
        for k in o.exit_horizons:
            exit_cols.append(
                f"""CAST(CASE WHEN exit_week <= m + {k} THEN 1
                         WHEN {last} < m + {k + L - 1} OR coalesce(bool_or(censor) FILTER (WHERE t <= m + {k + L - 1}), false) THEN NULL
                         ELSE 0 END AS TINYINT) AS {exit_outcome(k)}"""
            )
        for k in o.selfsupport_horizons:
            ss_cols.append(
                f"""CAST(CASE WHEN {last} < m + {k} OR coalesce(bool_or(censor) FILTER (WHERE t <= m + {k}), false) THEN NULL
                         ELSE count(*) FILTER (WHERE t <= m + {k} AND NOT coded AND grad_pos) END AS SMALLINT)
                       AS {selfsupport_outcome(k)}"""
            )
        q = f"""
            WITH grid AS (
                SELECT e.meeting_id, e.pnr, e.m, e.m + r.d AS t
                FROM e CROSS JOIN range(1, {n_grid + 1}) AS r(d)
            ), g1 AS (
                SELECT grid.*, bw.kind IS NOT NULL AS coded, coalesce(bw.kind = 'censoring', false) AS censor,
                       coalesce(em.grad > {g}, false) AS grad_pos
                FROM grid
                LEFT JOIN bw ON bw.pnr = grid.pnr AND bw.week_index = grid.t
                LEFT JOIN em ON em.pnr = grid.pnr AND em.month_index = rl_week_month_index(grid.t)
            ), g2 AS (
                SELECT *, (NOT bool_or(coded) OVER w) AND t + {L - 1} <= {last} AND grad_pos
                          AND t <= m + {kmax_exit} AS exit_candidate
                FROM g1
                WINDOW w AS (PARTITION BY meeting_id ORDER BY t ROWS BETWEEN CURRENT ROW AND {L - 1} FOLLOWING)
            ), g3 AS (
                SELECT *, min(t) FILTER (WHERE exit_candidate) OVER (PARTITION BY meeting_id) AS exit_week FROM g2
            ), post AS (
                SELECT meeting_id, m, CAST(exit_week AS INTEGER) AS exit_week_index,
                       {", ".join(exit_cols + ss_cols)}
                FROM g3
                GROUP BY meeting_id, m, exit_week
            ), pgrid AS (
                SELECT e.meeting_id, e.pnr, e.s, e.s - r.d AS t
                FROM e CROSS JOIN range(1, {P + 1}) AS r(d)
            ), pre AS (
                SELECT pgrid.meeting_id,
                       CAST(CASE WHEN {first} > any_value(pgrid.s) - {P}
                                   OR coalesce(bool_or(bw.kind = 'censoring'), false) THEN NULL
                            ELSE count(*) FILTER (WHERE bw.kind IS NULL AND coalesce(em.grad > {g}, false)) END
                            AS SMALLINT) AS {placebo_outcome(cfg)}
                FROM pgrid
                LEFT JOIN bw ON bw.pnr = pgrid.pnr AND bw.week_index = pgrid.t
                LEFT JOIN em ON em.pnr = pgrid.pnr AND em.month_index = rl_week_month_index(pgrid.t)
                GROUP BY pgrid.meeting_id
            )
            SELECT e.meeting_id, post.exit_week_index,
                   {", ".join(outcome_names(cfg)[:-1])}, pre.{placebo_outcome(cfg)}
            FROM e JOIN post USING (meeting_id) JOIN pre USING (meeting_id)
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
