"""DREAM from wide to long, and benefit spells (gaps and islands), in DuckDB SQL.

Pure functions: Parquet paths in, Parquet paths out (written atomically with ``assets.io``). Nothing is
looped over persons in Python; DuckDB runs with the memory limit and spill folder it is given.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import duckdb
import polars as pl

from assets import weeks as W
from assets.contracts import write_frame, write_query
from assets.io import connect, sql_path
from data_contracts import tables as T
from data_contracts.codebook import Codebook
from data_contracts.dream_columns import DEFAULT_CENTURY_PIVOT

# file names of the stage's tables, from their contracts (data_contracts/tables.py)
BENEFIT_WEEKS = T.BENEFIT_WEEKS.file
EMPLOYMENT_MONTHS = T.EMPLOYMENT_MONTHS.file
DREAM_CALENDAR = T.DREAM_CALENDAR.file
BENEFIT_SPELLS = T.BENEFIT_SPELLS.file


def open_connection(settings: Mapping[str, str | int] | None = None) -> duckdb.DuckDBPyConnection:
    """A DuckDB connection with limits (``assets.io.connect``) and the ``rl_*`` week macros."""
    return W.register_sql_macros(connect(settings))


def parquet_columns(con: duckdb.DuckDBPyConnection, path: str | Path) -> list[str]:
    rows = con.execute(f"DESCRIBE SELECT * FROM read_parquet({sql_path(path)})").fetchall()
    return [r[0] for r in rows]


def dream_calendar(columns: Sequence[str], pivot: int = DEFAULT_CENTURY_PIVOT) -> pl.DataFrame:
    """One row per DREAM week column: week_index, iso_week, y_column, month_index, month_key, grad_column.

    ``grad_column`` is the ``grad_YYYY_MM`` column of the week's Thursday month, null when DREAM does not
    deliver that month. ``y_YYWW`` is 19YY for YY >= ``pivot`` (the codebook's ``dream_century_pivot``).
    """
    cols = {c.lower(): c for c in columns}
    grads = {c for c in cols if W.is_dream_grad_column(c)}
    rows = []
    for lc, orig in cols.items():
        if not W.is_dream_week_column(lc):
            continue
        wi = W.dream_column_week_index(lc, pivot)
        y, m = W.week_month(wi)
        g = f"grad_{y}_{m:02d}"
        rows.append(
            {
                "week_index": wi,
                "iso_week": W.week_label(wi),
                "y_column": orig,
                "month_index": W.month_index(y, m),
                "month_key": f"{y}-{m:02d}",
                "grad_column": cols[g] if g in grads else None,
            }
        )
    if not rows:
        raise ValueError("dream: no y_YYWW week columns found")
    cal = pl.DataFrame(
        rows,
        schema={
            "week_index": pl.Int32,
            "iso_week": pl.String,
            "y_column": pl.String,
            "month_index": pl.Int32,
            "month_key": pl.String,
            "grad_column": pl.String,
        },
    ).sort("week_index")
    wi = cal["week_index"].to_list()
    if len(set(wi)) != len(wi):
        raise ValueError("dream: two y_ columns map to the same ISO week")
    return cal


def _create_enum(con: duckdb.DuckDBPyConnection, name: str, values: Sequence[str]) -> None:
    """``CREATE TYPE name AS ENUM (...)`` of the distinct ``values`` (written to Parquet as plain strings)."""
    labels = ", ".join("'" + v.replace("'", "''") + "'" for v in sorted(set(values)))
    con.execute(f"CREATE TYPE {name} AS ENUM ({labels})")


def code_table(codebook: Codebook) -> pl.DataFrame:
    """The codebook's DREAM codes as a table: code (3-digit string), benefit_group, kind."""
    return pl.DataFrame(
        codebook.dream_code_table(), schema={"code": pl.String, "benefit_group": pl.String, "kind": pl.String}
    )


def build_benefit_weeks(
    dream_path: str | Path,
    out_dir: str | Path,
    codebook: Codebook,
    duckdb_settings: Mapping[str, str | int] | None = None,
) -> dict[str, object]:
    """Long DREAM: one row per person and week with a benefit code (null weeks are left out).

    Writes ``benefit_weeks.parquet`` (pnr, week_index, iso_week, code, benefit_group, kind),
    ``employment_months.parquet`` (pnr, month_index, month_key, grad; only non-null grad) and
    ``dream_calendar.parquet`` (the DREAM week columns, see :func:`dream_calendar`).

    A code not in the codebook keeps benefit_group ``unknown`` and kind ``unknown``: it is still a benefit
    code (the week is not benefit-free). An empty string counts as no benefit. Codes are compared as staged
    (staging zero-pads them to 3 digits and refuses codes outside the codebook), exactly as in
    :func:`spells_from_dream_query`.

    Returns
    -------
    dict
        paths and aggregate metadata: first_week, last_week (ISO labels and indexes), row counts.
    """
    out_dir = Path(out_dir)
    con = open_connection(duckdb_settings)
    try:
        cols = parquet_columns(con, dream_path)
        if "pnr" not in [c.lower() for c in cols]:
            raise ValueError(f"dream: {dream_path} has no pnr column")
        cal = dream_calendar(cols, codebook.dream_century_pivot)
        write_frame(T.DREAM_CALENDAR, cal, out_dir)
        codes = code_table(codebook)
        # The few distinct labels of the long table as DuckDB ENUMs: Parquet gets the same strings, but the
        # writer takes each row's dictionary index instead of hashing ~100 million strings per column.
        _create_enum(con, "iso_week_t", cal["iso_week"].to_list())
        _create_enum(con, "benefit_group_t", [*codes["benefit_group"].to_list(), "unknown"])
        _create_enum(con, "kind_t", [*codes["kind"].to_list(), "unknown"])
        con.register("cal_df", cal.to_arrow())
        con.execute(
            "CREATE TEMP TABLE cal AS SELECT * REPLACE (CAST(iso_week AS iso_week_t) AS iso_week) FROM cal_df"
        )
        con.register("codes_df", codes.to_arrow())
        con.execute(
            """CREATE TEMP TABLE codes AS SELECT code, CAST(benefit_group AS benefit_group_t) AS benefit_group,
                   CAST(kind AS kind_t) AS kind FROM codes_df"""
        )
        ycols = ", ".join(f'"{c}"' for c in cal["y_column"].to_list())
        q = f"""
            WITH long AS (
                UNPIVOT (SELECT CAST(pnr AS VARCHAR) AS pnr, {ycols} FROM read_parquet({sql_path(dream_path)}))
                ON {ycols} INTO NAME y_column VALUE raw_code
            )
            , t AS (SELECT pnr, y_column, CAST(raw_code AS VARCHAR) AS code FROM long)
            SELECT t.pnr, c.week_index, c.iso_week, t.code,
                   coalesce(k.benefit_group, CAST('unknown' AS benefit_group_t)) AS benefit_group,
                   coalesce(k.kind, CAST('unknown' AS kind_t)) AS kind
            FROM t
            JOIN cal c USING (y_column)
            LEFT JOIN codes k ON k.code = t.code
            WHERE t.code <> ''
        """
        write_query(T.BENEFIT_WEEKS, con, q, out_dir)
        gcols = sorted({c for c in cols if W.is_dream_grad_column(c.lower())})
        if gcols:
            glist = ", ".join(f'"{c}"' for c in gcols)
            # month index and key per grad column computed once (a small table), not per person-month
            months = [W.dream_grad_column_month(c.lower()) for c in gcols]
            gcal = pl.DataFrame(
                {
                    "grad_column": gcols,
                    "month_index": [W.month_index(y, m) for y, m in months],
                    "month_key": [f"{y}-{m:02d}" for y, m in months],
                },
                schema={"grad_column": pl.String, "month_index": pl.Int32, "month_key": pl.String},
            )
            _create_enum(con, "month_key_t", gcal["month_key"].to_list())
            con.register("gcal_df", gcal.to_arrow())
            con.execute(
                "CREATE TEMP TABLE gcal AS SELECT * REPLACE (CAST(month_key AS month_key_t) AS month_key) FROM gcal_df"
            )
            qg = f"""
                WITH long AS (
                    UNPIVOT (SELECT CAST(pnr AS VARCHAR) AS pnr, {glist} FROM read_parquet({sql_path(dream_path)}))
                    ON {glist} INTO NAME grad_column VALUE grad
                )
                SELECT long.pnr, g.month_index, g.month_key, CAST(long.grad AS SMALLINT) AS grad
                FROM long JOIN gcal g USING (grad_column) WHERE long.grad IS NOT NULL
            """
        else:
            qg = "SELECT ''::VARCHAR AS pnr, 0::INTEGER AS month_index, ''::VARCHAR AS month_key, 0::SMALLINT AS grad WHERE false"
        write_query(T.EMPLOYMENT_MONTHS, con, qg, out_dir)
        n_persons = con.execute(f"SELECT count(*) FROM read_parquet({sql_path(dream_path)})").fetchone()[0]
        by_kind = con.execute(
            f"SELECT kind, count(*) FROM read_parquet({sql_path(out_dir / BENEFIT_WEEKS)}) GROUP BY 1 ORDER BY 1"
        ).fetchall()
    finally:
        con.close()
    first, last = int(cal["week_index"].min()), int(cal["week_index"].max())
    return {
        "benefit_weeks": out_dir / BENEFIT_WEEKS,
        "employment_months": out_dir / EMPLOYMENT_MONTHS,
        "dream_calendar": out_dir / DREAM_CALENDAR,
        "first_week_index": first,
        "last_week_index": last,
        "first_week": W.week_label(first),
        "last_week": W.week_label(last),
        "n_weeks": cal.height,
        "n_missing_weeks_in_range": (last - first + 1) - cal.height,
        "n_rows": int(sum(n for _k, n in by_kind)),
        "n_persons": int(n_persons),
        "rows_by_kind": {k: int(n) for k, n in by_kind},
    }


def count_duplicate_person_weeks(
    benefit_weeks_path: str | Path, duckdb_settings: Mapping[str, str | int] | None = None
) -> int:
    """Number of (pnr, week_index) pairs with more than one row in long DREAM (0 when it is sound).

    First an exact screen grouped by person (a million groups, not one per person-week): a person has a
    repeated week exactly when their rows outnumber their distinct weeks, the set bits of a bitstring of
    their weeks (``bitstring_agg`` between the file's first and last week). Only when some person fails
    it are the repeated pairs counted, over those persons' rows only.
    Rows with a null pnr or week_index are not counted (as there).
    """
    src = f"read_parquet({sql_path(benefit_weeks_path)})"
    not_null = "pnr IS NOT NULL AND week_index IS NOT NULL"
    con = connect(duckdb_settings)
    try:
        lo, hi = con.execute(
            f"SELECT min(week_index), max(week_index) FROM {src} WHERE {not_null}"
        ).fetchone()
        if lo is None:
            return 0
        screen = f"""SELECT pnr FROM {src} WHERE {not_null} GROUP BY pnr
                     HAVING count(*) > bit_count(bitstring_agg(week_index, {int(lo)}, {int(hi)}))"""
        if not con.execute(f"SELECT count(*) FROM ({screen})").fetchone()[0]:
            return 0  # sound long DREAM: one pass over the file
        # The exact count of repeated pairs over the failing persons' rows only: a group-by of every
        # person-week (500 million at 5,000,000 persons) could run out of memory on a faulty extract.
        dup = con.execute(
            f"""SELECT count(*) FROM (
                  SELECT pnr, week_index FROM {src} WHERE {not_null} AND pnr IN ({screen})
                  GROUP BY pnr, week_index HAVING count(*) > 1)"""
        ).fetchone()[0]
    finally:
        con.close()
    return int(dup)


def dream_bounds(calendar_path: str | Path) -> tuple[int, int]:
    """(first, last) week index DREAM covers, from ``dream_calendar.parquet``."""
    cal = pl.read_parquet(calendar_path, columns=["week_index"])
    return int(cal["week_index"].min()), int(cal["week_index"].max())


def spells_query(benefit_weeks_sql: str, target_groups: Sequence[str]) -> str:
    """SQL for spells: maximal runs of consecutive weeks whose codes all belong to one target group.

    Gaps and islands: within (pnr, benefit_group), ``week_index - row_number()`` is constant over a run of
    consecutive weeks. One week has one code, so a run in one group cannot overlap a run in another.
    """
    groups = ", ".join("'" + g.replace("'", "''") + "'" for g in target_groups)
    return f"""
        WITH t AS (
            SELECT pnr, benefit_group, week_index,
                   week_index - row_number() OVER (PARTITION BY pnr, benefit_group ORDER BY week_index) AS island
            FROM {benefit_weeks_sql}
            WHERE benefit_group IN ({groups})
        ), s AS (
            SELECT pnr, benefit_group, min(week_index) AS spell_start_week, max(week_index) AS spell_end_week
            FROM t GROUP BY pnr, benefit_group, island
        )
        SELECT pnr, benefit_group,
               CAST(spell_start_week AS INTEGER) AS spell_start_week,
               CAST(spell_end_week AS INTEGER) AS spell_end_week,
               CAST(spell_end_week - spell_start_week + 1 AS INTEGER) AS spell_weeks,
               rl_week_label(spell_start_week) AS spell_start_iso_week,
               rl_week_label(spell_end_week) AS spell_end_iso_week,
               pnr || ':' || CAST(spell_start_week AS VARCHAR) AS spell_id
        FROM s
    """


# Weeks per block of the wide spell query: DuckDB's planning time grows faster than linearly with the
# number of generated expressions (0.5 s for 200 weeks, 3.3 s for 800, 31 s for a real DREAM's 1,650), so
# the events are computed block by block (each block reads only its own columns and one neighbour on each
# side) and collected in a temporary table.
SPELL_BLOCK_WEEKS = 200


def _target_group_cases(codebook: Codebook, target_groups: Sequence[str]) -> list[str]:
    table = {r["code"]: r["benefit_group"] for r in codebook.dream_code_table()}
    cases = []
    for gi, g in enumerate(target_groups, start=1):
        codes = sorted(c for c, grp in table.items() if grp == g)
        if codes:
            # list_contains, not IN: DuckDB turns hundreds of IN lists in one projection into joins (memory)
            cases.append(f"WHEN list_contains([{', '.join(repr(c) for c in codes)}], {{x}}) THEN {gi}")
    if not cases:
        raise ValueError(f"codebook: no DREAM codes in the target groups {list(target_groups)}")
    return cases


def spell_events_query(
    dream_sql: str,
    calendar: pl.DataFrame,
    codebook: Codebook,
    target_groups: Sequence[str],
    lo: int = 0,
    hi: int | None = None,
) -> str:
    """SQL for the spell start and end events of the week columns at calendar positions ``lo`` .. ``hi-1``.

    For every week column j, ``g_j`` is the target group's number (0 = no target code; the codebook's
    codes). Week j *starts* a spell when ``g_j > 0`` and ``g_j <> g_{j-1}`` and *ends* one when ``g_j > 0``
    and ``g_j <> g_{j+1}`` (DREAM's first and last weeks, and gaps between DREAM's week columns, start and
    end spells). Rows: pnr, g, week_index, kind (1 start, 2 end, 3 both); a few per person. The neighbours
    of the block's first and last columns are read too, so blocks join up exactly.
    """
    cal = calendar.sort("week_index")
    cols, widx = cal["y_column"].to_list(), cal["week_index"].to_list()
    n = len(cols)
    hi = n if hi is None else min(hi, n)
    cases = _target_group_cases(codebook, target_groups)
    need = range(max(lo - 1, 0), min(hi + 1, n))
    gexpr = []
    for j in need:
        x = '"' + cols[j] + '"'
        gexpr.append(
            "CAST(CASE " + " ".join(c.format(x=x) for c in cases) + f" ELSE 0 END AS TINYINT) AS g{j}"
        )
    ev = []
    for j in range(lo, hi):
        prev_ok = j > 0 and widx[j - 1] == widx[j] - 1
        next_ok = j + 1 < n and widx[j + 1] == widx[j] + 1
        st = f"(g{j} <> g{j - 1})" if prev_ok else "true"
        en = f"(g{j} <> g{j + 1})" if next_ok else "true"
        ev.append(
            f"CASE WHEN g{j} > 0 AND ({st} OR {en}) THEN CAST(g{j} * 4 + CAST({st} AS TINYINT) + 2 * CAST({en} AS TINYINT)"
            f" AS TINYINT) END AS w{widx[j]}"
        )
    wcols = ", ".join(f"w{widx[j]}" for j in range(lo, hi))
    return f"""
        WITH gw AS (SELECT CAST(pnr AS VARCHAR) AS pnr, {", ".join(gexpr)} FROM {dream_sql}),
        evl AS (UNPIVOT (SELECT pnr, {", ".join(ev)} FROM gw) ON {wcols} INTO NAME wk VALUE v)
        SELECT pnr, CAST(v // 4 AS TINYINT) AS g, CAST(substr(wk, 2) AS INTEGER) AS week_index,
               CAST(v % 4 AS TINYINT) AS kind
        FROM evl
    """


def spells_from_events_query(events_sql: str, target_groups: Sequence[str]) -> str:
    """SQL for spells from spell events (:func:`spell_events_query`): each start paired with the nearest end
    at or after it, of the same person and group, by an ASOF join."""
    names = (
        "CASE "
        + " ".join(f"WHEN g = {gi} THEN '{g}'" for gi, g in enumerate(target_groups, start=1))
        + " END"
    )
    return f"""
        WITH ev AS (SELECT * FROM {events_sql}),
        s AS (SELECT pnr, g, week_index FROM ev WHERE kind IN (1, 3)),
        e AS (SELECT pnr, g, week_index FROM ev WHERE kind IN (2, 3)),
        sp AS (
            SELECT s.pnr, s.g, s.week_index AS spell_start_week, e.week_index AS spell_end_week
            FROM s ASOF JOIN e ON s.pnr = e.pnr AND s.g = e.g AND e.week_index >= s.week_index
        )
        SELECT pnr, {names} AS benefit_group,
               spell_start_week, spell_end_week,
               CAST(spell_end_week - spell_start_week + 1 AS INTEGER) AS spell_weeks,
               rl_week_label(spell_start_week) AS spell_start_iso_week,
               rl_week_label(spell_end_week) AS spell_end_iso_week,
               pnr || ':' || CAST(spell_start_week AS VARCHAR) AS spell_id
        FROM sp
    """


def spells_from_dream_query(
    dream_sql: str, calendar: pl.DataFrame, codebook: Codebook, target_groups: Sequence[str]
) -> str:
    """SQL for spells straight from the wide DREAM in one query, without sorting person-weeks.

    Each DREAM string is read and classified once; one event value per week (group * 4 + start + 2 * end,
    null when neither) is unpivoted (nulls dropped: a few rows per person) and each start is paired with the
    nearest end at or after it (:func:`spell_events_query`, :func:`spells_from_events_query`). Equivalent
    to :func:`spells_query` (gaps and islands on long DREAM); a property test checks that. For a wide DREAM
    use :func:`build_benefit_spells`, which computes the events in blocks of weeks.
    """
    events = spell_events_query(dream_sql, calendar, codebook, target_groups)
    return spells_from_events_query(f"({events})", target_groups)


def build_benefit_spells(
    dream_path: str | Path,
    out_dir: str | Path,
    codebook: Codebook,
    target_groups: Sequence[str],
    duckdb_settings: Mapping[str, str | int] | None = None,
) -> dict[str, object]:
    """Write ``benefit_spells.parquet``: pnr, benefit_group, spell_start_week, spell_end_week, spell_weeks,
    spell_start_iso_week, spell_end_iso_week, spell_id (``<pnr>:<spell_start_week>``; a person has at most
    one spell starting in a given week, so the id is unique and does not depend on other persons' data).

    Computed from the wide staged DREAM (no sort of person-weeks): the spell events of each block of
    ``SPELL_BLOCK_WEEKS`` week columns (:func:`spell_events_query`) into a temporary table, then the spells
    (:func:`spells_from_events_query`). A spell touching DREAM's first or last week is cut by the data
    (left/right censored); compare with :func:`dream_bounds`.
    """
    out_dir = Path(out_dir)
    con = open_connection(duckdb_settings)
    try:
        cal = dream_calendar(parquet_columns(con, dream_path), codebook.dream_century_pivot)
        src = f"read_parquet({sql_path(dream_path)})"
        for lo in range(0, cal.height, SPELL_BLOCK_WEEKS):
            q_ev = spell_events_query(src, cal, codebook, target_groups, lo, lo + SPELL_BLOCK_WEEKS)
            con.execute(
                f"CREATE TEMP TABLE spell_events AS {q_ev}" if lo == 0 else f"INSERT INTO spell_events {q_ev}"
            )
        q = spells_from_events_query("spell_events", target_groups)
        write_query(T.BENEFIT_SPELLS, con, q, out_dir)
        n, n_p = con.execute(
            f"SELECT count(*), count(DISTINCT pnr) FROM read_parquet({sql_path(out_dir / BENEFIT_SPELLS)})"
        ).fetchone()
        by_group = con.execute(
            f"SELECT benefit_group, count(*), avg(spell_weeks) FROM read_parquet({sql_path(out_dir / BENEFIT_SPELLS)}) GROUP BY 1 ORDER BY 1"
        ).fetchall()
    finally:
        con.close()
    return {
        "benefit_spells": out_dir / BENEFIT_SPELLS,
        "n_rows": int(n),
        "n_persons": int(n_p),
        "spells_by_group": {g: {"n": int(c), "mean_weeks": float(m)} for g, c, m in by_group},
    }
