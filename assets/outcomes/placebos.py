"""Placebos that can fail (issue 17): outcomes dated before the meeting that are not functions of the covariates.

The pre-spell placebo ``weeks_selfsupport_pre52w`` is nearly a function of the benefit-history covariates
(for most meetings it is 52 minus ``benefit_weeks_pre_spell_52w``), so it can hardly show an effect. Two
more outcomes, estimated with the same designs, must show none either:

* ``wage_income_2y_before`` (placebo): wage income (IND ``loenmv_13``) of the calendar year two years before
  the meeting year. The covariates hold only the year before (``wage_income_prev_year``), so it is not a
  function of them; it detects selection on earning capacity that last year's income and the benefit
  history do not capture.
* ``y_exit_13w_pseudo`` (negative-control outcome): exit to employment within 13 weeks of a *pseudo-meeting*
  placed 52 weeks before the spell's first week, by the primary outcome's own rule. The same outcome
  process as the primary outcomes, in weeks the meeting cannot have affected.

Both are dated before the meeting week (no look-ahead): the IND year ends on 31 December of the meeting year
minus two; the pseudo-meeting's window ends 52 - 13 - (L - 1) weeks before the spell's first week.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from assets.cohort.logic import open_connection, parquet_columns
from assets.contracts import write_query
from assets.io import sql_path
from assets.outcomes.logic import (
    STATUS_CENSORED,
    STATUS_FREE_NO_GRAD,
    STATUS_FREE_UNKNOWN,
    STATUS_SELF_SUPPORT,
    dream_status_sql,
    employment_window,
)
from data_contracts import tables as T
from data_contracts.codebook import Codebook
from data_contracts.config import RunConfig

MEETING_PLACEBOS = T.MEETING_PLACEBOS.file  # from its contract
WAGE_PLACEBO = "wage_income_2y_before"
PSEUDO_HORIZON = 13  # weeks after the pseudo-meeting
PSEUDO_OFFSET = 52  # the pseudo-meeting week = spell start - PSEUDO_OFFSET
PSEUDO_EXIT = f"y_exit_{PSEUDO_HORIZON}w_pseudo"

# what each placebo can and cannot detect (the report and docs/estimation.md say the same)
PLACEBO_KINDS = {
    "weeks_selfsupport_pre52w": "pre_period_outcome",
    WAGE_PLACEBO: "pre_period_income",
    PSEUDO_EXIT: "negative_control_outcome",
}


def placebo_names() -> list[str]:
    """The outcomes this module builds, in the order of ``meeting_placebos.parquet``."""
    return [WAGE_PLACEBO, PSEUDO_EXIT]


def placebo_dictionary_rows(cfg: RunConfig) -> list[dict[str, str]]:
    """Column-dictionary rows (role ``outcome``) of the placebo outcomes."""
    L, g = cfg.outcomes.employment_benefit_free_weeks, cfg.outcomes.employment_min_grad
    H, P = PSEUDO_HORIZON, PSEUDO_OFFSET
    return [
        {
            "name": WAGE_PLACEBO,
            "role": "outcome",
            "dtype": "Float64",
            "definition": "Placebo: wage income (loenmv_13, DKK) of the calendar year two years before the meeting year "
            "(the covariates hold only the year before); null when the person has no IND row for that year",
            "source_registers": "IND",
            "time_window": "calendar year meeting year - 2",
        },
        {
            "name": PSEUDO_EXIT,
            "role": "outcome",
            "dtype": "Int8",
            "definition": f"Negative-control outcome: exit to employment within {H} weeks of a pseudo-meeting in week "
            f"p = spell start - {P}, by the exit rule of y_exit_{{k}}w (weeks w..w+{L - 1} without a DREAM code and "
            f"grad of w's month above {g}): 1 if the first such w is in p+1..p+{H}, else 0; null if DREAM starts "
            f"after p+1, the person is not in DREAM, or a censoring code is in p+1..p+{H + L - 1}",
            "source_registers": "DREAM",
            "time_window": f"spell start-{P - 1} ... spell start-{P - H - L + 1}",
        },
    ]


def build_meeting_placebos(
    eligible_path: str | Path,
    dream_path: str | Path,
    ind_path: str | Path,
    out_dir: str | Path,
    cfg: RunConfig,
    codebook: Codebook,
    duckdb_settings: Mapping[str, str | int] | None = None,
) -> dict[str, object]:
    """Write ``meeting_placebos.parquet``: meeting_id, ``wage_income_2y_before``, ``y_exit_13w_pseudo``.

    The meeting year is the year of the Monday of the meeting week (as for the covariates). The pseudo
    outcome uses each person's DREAM status string (:func:`assets.outcomes.logic.dream_status_sql`): 1 when
    ``1[01]{L-1}`` matches in weeks p+1 .. p+H+L-1 (an exit week w <= p+H), else null when the window is
    not fully in DREAM or holds a censoring code, else 0. No person-week grid, no loop over persons.
    """
    out_dir = Path(out_dir)
    o = cfg.outcomes
    L, g = o.employment_benefit_free_weeks, o.employment_min_grad
    H, P = PSEUDO_HORIZON, PSEUDO_OFFSET
    if H + L - 1 >= P:  # the window must end before the spell starts
        raise ValueError(
            f"outcomes.employment_benefit_free_weeks={L}: the pseudo-meeting window reaches the spell"
        )
    con = open_connection(duckdb_settings)
    try:
        dream_cols = parquet_columns(con, dream_path)
        con.execute(
            f"""CREATE TEMP TABLE e AS
                SELECT meeting_id, pnr, spell_start_week - {P} AS p,
                       CAST(year(rl_week_monday(meeting_week_index)) AS INTEGER) AS meeting_year
                FROM read_parquet({sql_path(eligible_path)})"""
        )
        # Employment is known only in weeks whose month has a grad_ column (real grad starts in 2008):
        # the pseudo-meeting's window must lie inside them, as the primary outcomes' windows must.
        emp = employment_window(dream_cols, codebook.dream_century_pivot)
        lo, hi = con.execute(f"SELECT min(p) + 1, max(p) + {H + L - 1} FROM e").fetchone()
        status, first, last = dream_status_sql(
            dream_cols, codebook, g, weeks=None if lo is None else (int(lo), int(hi))
        )
        e_first, e_last = emp if emp else (last + 1, first - 1)
        con.execute(
            f"""CREATE TEMP TABLE st AS
                SELECT CAST(pnr AS VARCHAR) AS pnr, {status} AS status FROM read_parquet({sql_path(dream_path)})
                WHERE CAST(pnr AS VARCHAR) IN (SELECT pnr FROM e)"""
        )
        pattern = STATUS_SELF_SUPPORT + (
            f"[{STATUS_SELF_SUPPORT}{STATUS_FREE_NO_GRAD}{STATUS_FREE_UNKNOWN}]{{{L - 1}}}" if L > 1 else ""
        )
        window = f"substring(status, CAST(p + 1 AS BIGINT) - {first} + 1, {H + L - 1})"
        q = f"""
            SELECT e.meeting_id,
                   CAST(i.loenmv_13 AS DOUBLE) AS {WAGE_PLACEBO},
                   CAST(CASE WHEN st.status IS NULL OR {max(first, e_first)} > e.p + 1
                                  OR {min(last, e_last)} < e.p + {H + L - 1} THEN NULL
                             WHEN regexp_matches({window}, '{pattern}') THEN 1
                             WHEN contains({window}, '{STATUS_CENSORED}') THEN NULL
                             ELSE 0 END AS TINYINT) AS {PSEUDO_EXIT}
            FROM e LEFT JOIN st USING (pnr)
            LEFT JOIN read_parquet({sql_path(ind_path)}) i
              ON CAST(i.pnr AS VARCHAR) = e.pnr AND i.year = e.meeting_year - 2
            ORDER BY e.meeting_id
        """
        write_query(T.MEETING_PLACEBOS, con, q, out_dir)
        n = con.execute(
            f"SELECT count(*) FROM read_parquet({sql_path(out_dir / MEETING_PLACEBOS)})"
        ).fetchone()[0]
    finally:
        con.close()
    return {"meeting_placebos": out_dir / MEETING_PLACEBOS, "n_rows": int(n)}
