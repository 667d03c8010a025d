"""Meetings, eligible meetings and the sample flow (analysis plan, "Units" and "Treatment").

Every staged meeting gets ``excluded_by`` = the first rule (in the plan's order) it fails, or null when it
is eligible. The sample flow counts each rule's losses in that order, so every meeting is accounted for.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import duckdb
import polars as pl

from assets import weeks as W
from assets.cohort.logic import open_connection
from assets.contracts import write_frame, write_query
from assets.io import sql_path
from data_contracts import tables as T
from data_contracts.codebook import (
    FLOW_FORM_COLUMNS,
    FORM_COUNT_COLUMNS,
    MEETING_FORMS,
    SHARE_FORM_COLUMNS,
    Codebook,
)
from data_contracts.config import RunConfig

# file names of the stage's tables, from their contracts (data_contracts/tables.py)
MEETINGS = T.MEETINGS.file
ELIGIBLE_MEETINGS = T.ELIGIBLE_MEETINGS.file
SAMPLE_FLOW = T.SAMPLE_FLOW.file


@dataclass(frozen=True)
class Rule:
    name: str
    description: str
    keep_sql: str  # a boolean SQL expression over the annotated meetings; true = the meeting passes


def _lit(values) -> str:
    return ", ".join("'" + str(v).replace("'", "''") + "'" for v in values)


def eligibility_rules(cfg: RunConfig, codebook: Codebook) -> list[Rule]:
    """The plan's eligibility rules, in order, plus the pipeline's own (person known in BEF)."""
    c = cfg.cohort
    types = [codebook.samtaletype_code(t) for t in c.meeting_types]
    rules = [
        Rule(
            "duplicate_registration",
            "identical registrations of one meeting (same PNR, date, type, form, actor and municipality) "
            "count once; the copies are removed",
            "duplicate_rank = 1",
        ),
        Rule(
            "meeting_type",
            f"SAMTALETYPE is {', '.join(c.meeting_types)} (codes {', '.join(map(str, types))})",
            f"samtaletype IN ({', '.join(map(str, types))})",
        ),
        Rule("actor", f"AKTOER is {', '.join(c.actors)}", f"aktoer IN ({_lit(c.actors)})"),
        Rule(
            "date_window",
            f"SAMTALE_DATO from {c.window_start} to {c.window_end}",
            f"meeting_date BETWEEN DATE '{c.window_start}' AND DATE '{c.window_end}'",
        ),
        Rule(
            "kontaktform",
            f"KONTAKTFORM category {c.treated_category} (digital = 1) or {c.control_category} (digital = 0); "
            "other forms (e.g. letter) and unknown codes are left out",
            f"kontaktform_category IN ({_lit([c.treated_category, c.control_category])})",
        ),
    ]
    if c.require_confirmed:
        rules.append(
            Rule(
                "confirmed_month",
                "municipality and month of the meeting date with BEKRAEFTET = 1 "
                "(no validation row counts as not confirmed)",
                "coalesce(bekraeftet, 0) = 1",
            )
        )
    rules += [
        Rule(
            "target_group_week",
            f"DREAM code in the meeting's ISO week belongs to a target group ({', '.join(c.target_groups)}); "
            "a person not in DREAM or a week outside DREAM has no code and fails",
            f"week_benefit_group IN ({_lit(c.target_groups)})",
        ),
        Rule(
            "known_in_bef",
            "person in a BEF snapshot whose reference date is before the meeting week "
            "(needed for age, sex, origin and civil status)",
            "bef_known",
        ),
    ]
    return rules


# DuckDB memory allowed per meeting of a block. A block's join with long DREAM builds its hash table on the
# block's meetings with every column: about 190 bytes a row plus 16-32 bytes of pointer table. 400 keeps
# the table under about half of DuckDB's memory limit (6 million meetings a block at the default 2.4 GB;
# 1,000,000 persons have about 8.8 million meetings, 5,000,000 about 44 million).
BYTES_PER_BLOCK_MEETING = 400
_UNITS = {"b": 1, "kb": 10**3, "mb": 10**6, "gb": 10**9, "tb": 10**12}
_UNITS |= {"kib": 2**10, "mib": 2**20, "gib": 2**30, "tib": 2**40}


def _check_max_block_meetings(value: int | None) -> None:
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
        raise ValueError(
            f"build_meetings: max_block_meetings must be a positive integer or None, got {value!r}"
        )


def _meetings_per_block(con: duckdb.DuckDBPyConnection) -> int:
    """Meetings per block for the connection's memory limit (:data:`BYTES_PER_BLOCK_MEETING` each)."""
    text = str(con.execute("SELECT current_setting('memory_limit')").fetchone()[0]).strip().lower()
    m = re.fullmatch(r"([0-9.]+)\s*([a-z]+)", text)
    if m is None or m.group(2) not in _UNITS:
        raise ValueError(f"build_meetings: cannot read DuckDB's memory_limit {text!r}")
    return max(1, int(float(m.group(1)) * _UNITS[m.group(2)]) // BYTES_PER_BLOCK_MEETING)


def week_blocks(weeks: Sequence[tuple[int | None, int]], max_rows: int) -> list[str]:
    """SQL conditions on ``meeting_week_index`` that split the meetings into blocks of consecutive weeks.

    Parameters
    ----------
    weeks : sequence of (week index or None, meetings)
        The meetings per meeting week (None: no date).
    max_rows : int
        Most meetings in a block; a single week with more is a block of its own.

    Returns
    -------
    list of str
        One condition per block. Together they hold every week index exactly once (the first block is
        open below, the last above) and the meetings without a week go to the first block.
    """
    counts = sorted((w, n) for w, n in weeks if w is not None)
    starts: list[int] = []
    held = max_rows  # start a block at the first week
    for w, n in counts:
        if held + n > max_rows:
            starts.append(w)
            held = 0
        held += n
    if len(starts) <= 1:
        return ["TRUE"]
    conds = [f"(meeting_week_index < {starts[1]} OR meeting_week_index IS NULL)"]
    for lo, hi in zip(starts[1:-1], starts[2:], strict=True):
        conds.append(f"meeting_week_index >= {lo} AND meeting_week_index < {hi}")
    conds.append(f"meeting_week_index >= {starts[-1]}")
    return conds


def _meetings_query(block: str, benefit_weeks_path: str | Path, rules: Sequence[Rule]) -> str:
    """The annotated meetings of one block (``block``: a condition of :func:`week_blocks`)."""
    return f"""
        WITH m1 AS (
            SELECT m0.*, coalesce(kf.kontaktform_category, 'unknown') AS kontaktform_category,
                   kf.meeting_form, m0.wi AS meeting_week_index,
                   rl_week_label(m0.wi) AS meeting_week,
                   rl_month_index(meeting_date) AS meeting_month_index,
                   strftime(meeting_date, '%Y-%m') AS calendar_month
            FROM (SELECT *, rl_week_index(meeting_date) AS wi FROM m0d) m0 LEFT JOIN kf USING (kontaktform)
            WHERE {block.replace("meeting_week_index", "m0.wi")}
        ), m2 AS (
            SELECT m1.* EXCLUDE (wi), val.bekraeftet, bw.code AS week_code, bw.benefit_group AS week_benefit_group,
                   coalesce(bef.first_ref < rl_week_monday(m1.meeting_week_index), false) AS bef_known
            FROM m1
            LEFT JOIN val ON val.kommune = m1.kommune AND val.calendar_month = m1.calendar_month
            -- DuckDB builds this join's hash table on the block's meetings and streams long DREAM through
            -- it, reading only the block's weeks (the join pushes the range of its keys into the scan)
            LEFT JOIN read_parquet({sql_path(benefit_weeks_path)}) bw
                   ON bw.pnr = m1.pnr AND bw.week_index = m1.meeting_week_index
            LEFT JOIN bef_first bef ON bef.pnr = m1.pnr
        )
        SELECT *, CASE {" ".join(f"WHEN NOT coalesce({r.keep_sql}, false) THEN '{r.name}'" for r in rules)}
                  ELSE NULL END AS excluded_by
        FROM m2
    """


def build_meetings(
    samtaler_path: str | Path,
    validering_path: str | Path,
    benefit_weeks_path: str | Path,
    benefit_spells_path: str | Path,
    bef_path: str | Path,
    out_dir: str | Path,
    cfg: RunConfig,
    codebook: Codebook,
    duckdb_settings: Mapping[str, str | int] | None = None,
    *,
    max_block_meetings: int | None = None,
) -> dict[str, object]:
    """Write ``meetings.parquet`` (every staged meeting, annotated, with ``excluded_by``),
    ``eligible_meetings.parquet`` and ``sample_flow.parquet``.

    sample_flow: step, rule, description, units_before, units_removed, units_after, and on the final step
    only its ``units_after`` by the codebook's form: units_in_person, units_telephone, units_video and
    units_no_form (eligible meetings whose KONTAKTFORM code has no form; left out of the modality design).

    meetings: meeting_id, pnr, meeting_date, samtaletype, kontaktform, kontaktform_category, meeting_form
    (the codebook's three-arm form; null for a code without one), aktoer,
    kommune, duplicate_rank (1 for the first of identical registrations), meeting_week_index, meeting_week, meeting_month_index, calendar_month ('YYYY-MM' of the
    meeting date), bekraeftet, week_code, week_benefit_group, bef_known, excluded_by.

    eligible_meetings adds: digital, spell_id, spell_start_week, spell_end_week, elapsed_weeks,
    n_earlier_jobsamtaler_spell, first_in_spell, benefit_group.

    ``meeting_id`` is a deterministic row number over (pnr, date, type, form, actor, kommune, source_file).
    Identical registrations (same pnr, date, type, form, actor, kommune) count once: the copies fail the
    first rule, ``duplicate_registration``, and are not earlier meetings of anybody's spell.
    Earlier jobsamtaler in the spell: meetings of the configured types and actors (any form, any month
    confirmation, eligible or not) dated from the spell's first week up to the week BEFORE the meeting week;
    meetings in the meeting week itself (including the meeting) do not count, so two meetings in one week
    get the same count. ``first_in_spell`` marks one eligible meeting per spell: the earliest date, ties
    broken by meeting_id.

    The meetings are annotated in blocks of consecutive meeting weeks (:func:`week_blocks`), each small
    enough for its join with long DREAM to stay in DuckDB's memory: at register scale the join of every
    meeting at once spilled and grew much faster than the persons (issue 22). ``max_block_meetings``
    (default: from DuckDB's memory limit, :data:`BYTES_PER_BLOCK_MEETING`) caps a block's meetings; the
    output does not depend on it.
    """
    _check_max_block_meetings(max_block_meetings)
    out_dir = Path(out_dir)
    c = cfg.cohort
    rules = eligibility_rules(cfg, codebook)
    con = open_connection(duckdb_settings)
    try:
        kf = pl.DataFrame(
            [
                {"kontaktform": k, "kontaktform_category": v.category, "meeting_form": v.form}
                for k, v in codebook.kontaktform.items()
            ],
            schema={"kontaktform": pl.String, "kontaktform_category": pl.String, "meeting_form": pl.String},
        )
        con.register("kf_df", kf.to_arrow())
        con.execute("CREATE TEMP TABLE kf AS SELECT * FROM kf_df")
        # meeting_id and the duplicate rank in one statement: a second temporary copy of every meeting
        # would double what DuckDB holds (and spills) at register scale.
        con.execute(
            f"""CREATE TEMP TABLE m0d AS
            SELECT *, CAST(row_number() OVER (PARTITION BY pnr, meeting_date, samtaletype, kontaktform, aktoer, kommune
                                              ORDER BY meeting_id) AS INTEGER) AS duplicate_rank
            FROM (
                SELECT CAST(row_number() OVER (ORDER BY pnr, samtale_dato, samtaletype, kontaktform, aktoer, kommune,
                                                        source_file) AS BIGINT) AS meeting_id,
                       CAST(pnr AS VARCHAR) AS pnr, CAST(samtale_dato AS DATE) AS meeting_date,
                       CAST(samtaletype AS INTEGER) AS samtaletype, upper(trim(kontaktform)) AS kontaktform,
                       upper(trim(aktoer)) AS aktoer, CAST(kommune AS INTEGER) AS kommune
                FROM read_parquet({sql_path(samtaler_path)})
            )"""
        )
        con.execute(
            f"""CREATE TEMP TABLE val AS
            SELECT CAST(kommune AS INTEGER) AS kommune, trim(maaned) AS calendar_month, min(bekraeftet) AS bekraeftet
            FROM read_parquet({sql_path(validering_path)}) GROUP BY 1, 2"""
        )
        # BEF known: a snapshot dated before the meeting week (per person, computed once for every block).
        con.execute(
            f"""CREATE TEMP TABLE bef_first AS
            SELECT CAST(pnr AS VARCHAR) AS pnr, min(CAST(reference_date AS DATE)) AS first_ref
            FROM read_parquet({sql_path(bef_path)}) GROUP BY 1"""
        )
        weeks = con.execute("SELECT rl_week_index(meeting_date), count(*) FROM m0d GROUP BY 1").fetchall()
        blocks = week_blocks(weeks, max_block_meetings or _meetings_per_block(con))
        if len(blocks) == 1:
            write_query(T.MEETINGS, con, _meetings_query(blocks[0], benefit_weeks_path, rules), out_dir)
        else:
            # the blocks as uncompressed parts (cheap to write and read), compressed once into the file
            out_dir.mkdir(parents=True, exist_ok=True)
            parts = [out_dir / f".{MEETINGS}.{uuid.uuid4().hex}.part{j}.tmp" for j in range(len(blocks))]
            try:
                for block, part in zip(blocks, parts, strict=True):
                    q = _meetings_query(block, benefit_weeks_path, rules)
                    con.execute(f"COPY ({q}) TO {sql_path(part)} (FORMAT PARQUET, COMPRESSION UNCOMPRESSED)")
                plist = "[" + ", ".join(sql_path(p) for p in parts) + "]"
                write_query(T.MEETINGS, con, f"SELECT * FROM read_parquet({plist})", out_dir)
            finally:
                for part in parts:
                    part.unlink(missing_ok=True)
        mpath = sql_path(out_dir / MEETINGS)
        types = ", ".join(str(codebook.samtaletype_code(t)) for t in c.meeting_types)
        q_elig = f"""
            WITH e AS (SELECT * FROM read_parquet({mpath}) WHERE excluded_by IS NULL),
            sp AS (SELECT * FROM read_parquet({sql_path(benefit_spells_path)}) WHERE pnr IN (SELECT pnr FROM e)),
            es AS (
                SELECT e.*, sp.spell_id, sp.spell_start_week, sp.spell_end_week, sp.benefit_group
                FROM e JOIN sp ON sp.pnr = e.pnr
                 AND e.meeting_week_index BETWEEN sp.spell_start_week AND sp.spell_end_week
            ),
            js AS (
                SELECT pnr, meeting_week_index FROM read_parquet({mpath})
                WHERE samtaletype IN ({types}) AND aktoer IN ({_lit(c.actors)}) AND pnr IN (SELECT pnr FROM e)
                  AND duplicate_rank = 1
            ),
            earlier AS (
                SELECT es.meeting_id, count(js.pnr) AS n
                FROM es LEFT JOIN js ON js.pnr = es.pnr
                 AND js.meeting_week_index >= es.spell_start_week AND js.meeting_week_index < es.meeting_week_index
                GROUP BY es.meeting_id
            )
            SELECT es.meeting_id, es.pnr, es.meeting_date, es.meeting_week_index, es.meeting_week,
                   es.meeting_month_index, es.calendar_month, es.kommune, es.samtaletype, es.aktoer,
                   es.kontaktform, es.kontaktform_category, es.meeting_form,
                   CAST(CASE WHEN es.kontaktform_category = '{c.treated_category}' THEN 1 ELSE 0 END AS TINYINT) AS digital,
                   es.week_code, es.benefit_group, es.spell_id, es.spell_start_week, es.spell_end_week,
                   CAST(es.meeting_week_index - es.spell_start_week + 1 AS INTEGER) AS elapsed_weeks,
                   CAST(earlier.n AS INTEGER) AS n_earlier_jobsamtaler_spell,
                   CAST(row_number() OVER (PARTITION BY es.spell_id ORDER BY es.meeting_date, es.meeting_id) = 1 AS TINYINT)
                       AS first_in_spell
            FROM es JOIN earlier USING (meeting_id)
        """
        write_query(T.ELIGIBLE_MEETINGS, con, q_elig, out_dir)
        counts = dict(
            con.execute(
                f"SELECT coalesce(excluded_by, '__eligible__'), count(*) FROM read_parquet({mpath}) GROUP BY 1"
            ).fetchall()
        )
        n_elig = con.execute(
            f"SELECT count(*) FROM read_parquet({sql_path(out_dir / ELIGIBLE_MEETINGS)})"
        ).fetchone()[0]
        persons = dict(
            con.execute(
                f"SELECT coalesce(excluded_by, '__eligible__'), count(DISTINCT pnr) FROM read_parquet({mpath}) GROUP BY 1"
            ).fetchall()
        )
        by_form = dict(
            con.execute(
                f"SELECT meeting_form, count(*) FROM read_parquet({sql_path(out_dir / ELIGIBLE_MEETINGS)}) GROUP BY 1"
            ).fetchall()
        )
    finally:
        con.close()
    total = sum(counts.values())
    rows, before = [], total
    for i, r in enumerate(rules, start=1):
        removed = int(counts.get(r.name, 0))
        rows.append(
            {
                "step": i,
                "rule": r.name,
                "description": r.description,
                "units_before": before,
                "units_removed": removed,
                "units_after": before - removed,
            }
        )
        before -= removed
    # The final step's meetings by the codebook's three-arm form (and those whose code has none); the
    # earlier steps get none, because two steps' form counts would give each rule's small losses by form.
    forms = [by_form.get(f) for f in MEETING_FORMS] + [by_form.get(None)]
    for c, v in zip(FLOW_FORM_COLUMNS, forms, strict=True):
        for j, row in enumerate(rows):
            row[c] = int(v or 0) if j == len(rows) - 1 else None
    flow = pl.DataFrame(
        rows,
        schema={
            "step": pl.Int32,
            "rule": pl.String,
            "description": pl.String,
            "units_before": pl.Int64,
            "units_removed": pl.Int64,
            "units_after": pl.Int64,
            **{c: pl.Int64 for c in FLOW_FORM_COLUMNS},
        },
    )
    write_frame(T.SAMPLE_FLOW, flow, out_dir)
    n_final = before
    if n_final != counts.get("__eligible__", 0) or n_elig != n_final:
        # A meeting in a target-group week always lies in a spell; anything else is a bug upstream.
        raise RuntimeError(
            f"sample flow: {n_final} meetings pass every rule but {n_elig} eligible meetings were matched to a spell"
        )
    return {
        "meetings": out_dir / MEETINGS,
        "eligible_meetings": out_dir / ELIGIBLE_MEETINGS,
        "sample_flow": out_dir / SAMPLE_FLOW,
        "flow": flow,
        "n_meetings": total,
        "n_eligible": int(n_elig),
        "n_eligible_persons": int(persons.get("__eligible__", 0)),
    }


def digital_share_tables(
    eligible_path: str | Path, duckdb_settings: Mapping[str, str | int] | None = None
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Digital share by calendar month, and by municipality and month (counts, shares; not suppressed).

    Beside ``n_meetings``, ``n_digital`` and ``digital_share`` each table counts the three forms of the
    modality design (``n_in_person``, ``n_telephone``, ``n_video``) and ``n_no_form``, the meetings whose
    KONTAKTFORM code the codebook leaves without a form, and beside ``digital_share`` the shares
    ``share_telephone`` and ``share_video`` (over all the cell's meetings, like ``digital_share``). An
    eligible table written before the form existed (no ``meeting_form`` column) gives null form columns.
    """
    con = open_connection(duckdb_settings)
    try:
        p = sql_path(eligible_path)
        cols = {r[0] for r in con.execute(f"DESCRIBE SELECT * FROM read_parquet({p})").fetchall()}
        if "meeting_form" in cols:
            forms = ", ".join(
                f"CAST(count(*) FILTER (WHERE meeting_form = '{f}') AS BIGINT) AS n_{f}"
                for f in MEETING_FORMS
            )
            forms += ", CAST(count(*) FILTER (WHERE meeting_form IS NULL) AS BIGINT) AS n_no_form, "
            forms += ", ".join(
                f"avg(CASE WHEN meeting_form = '{c.removeprefix('share_')}' THEN 1.0 ELSE 0.0 END) AS {c}"
                for c in SHARE_FORM_COLUMNS
            )
        else:
            forms = ", ".join(f"CAST(NULL AS BIGINT) AS {c}" for c in FORM_COUNT_COLUMNS)
            forms += ", " + ", ".join(f"CAST(NULL AS DOUBLE) AS {c}" for c in SHARE_FORM_COLUMNS)
        by_month = con.execute(
            f"""SELECT calendar_month, count(*) AS n_meetings, CAST(sum(digital) AS BIGINT) AS n_digital,
                       avg(digital) AS digital_share, {forms} FROM read_parquet({p}) GROUP BY 1 ORDER BY 1"""
        ).pl()
        by_km = con.execute(
            f"""SELECT kommune, calendar_month, count(*) AS n_meetings, CAST(sum(digital) AS BIGINT) AS n_digital,
                       avg(digital) AS digital_share, {forms} FROM read_parquet({p}) GROUP BY 1, 2 ORDER BY 1, 2"""
        ).pl()
    finally:
        con.close()
    return by_month, by_km


__all__ = [
    "W",
    "FLOW_FORM_COLUMNS",
    "FORM_COUNT_COLUMNS",
    "SHARE_FORM_COLUMNS",
    "build_meetings",
    "week_blocks",
    "eligibility_rules",
    "digital_share_tables",
    "Rule",
]
