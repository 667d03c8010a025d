"""Meetings, eligible meetings and the sample flow (analysis plan, "Units" and "Treatment").

Every staged meeting gets ``excluded_by`` = the first rule (in the plan's order) it fails, or null when it
is eligible. The sample flow counts each rule's losses in that order, so every meeting is accounted for.
"""

from __future__ import annotations

import re
import shutil
import uuid
from collections.abc import Callable, Mapping, Sequence
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


# DuckDB memory allowed per meeting of a block. A block holds its meetings twice (the window sorts behind
# meeting_id and the duplicate rank, then the hash table of the join with long DREAM), about 200 bytes a
# row each plus pointers; 1000 keeps a block under half of DuckDB's memory limit (2.4 million meetings a
# block at the default 2.4 GB; 1,000,000 persons have about 8.7 million meetings, 5,000,000 about 44
# million). More blocks cost little: each reads only its own rows.
BYTES_PER_BLOCK_MEETING = 1000
# DuckDB picks a hash join's build side from its row estimates, and those of the block's partitioned
# inputs are far too small (it built on a block's 9 million DREAM weeks rather than its 1.5 million
# meetings, and on the meetings rather than the 5 codes of ``kf``); the block's query is written with each
# join's smaller side on the right, and the optimizer that swaps sides is off while it runs.
_WRITTEN_JOIN_SIDES = "build_side_probe_side"
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


def n_blocks(n_meetings: int, max_rows: int) -> int:
    """How many person blocks the meetings are built in: ``ceil(n_meetings / max_rows)``, at least 1.

    A person's block is :func:`block_sql` of the pnr, so a block holds about ``n_meetings / blocks``
    meetings (a person's meetings are never split).
    """
    return max(1, -(-n_meetings // max_rows))


def block_sql(pnr_sql: str, blocks: int) -> str:
    """SQL for a person's block, 0..blocks-1: a hash of the pnr, so every table of the step puts a person's
    rows (meetings, DREAM weeks, BEF, spells) in the same block and each block reads only its own rows."""
    return f"CAST(hash(CAST({pnr_sql} AS VARCHAR)) % {blocks} AS INTEGER)"


def _meetings_query(src: Mapping[str, str], rules: Sequence[Rule]) -> str:
    """The annotated meetings of one block (``src``: the block's meetings, DREAM weeks and BEF, as SQL).

    ``meeting_id`` is the person's offset (``id_offset``: meetings of persons with a smaller pnr) plus
    the meeting's row number within the person, so it equals a row number over every meeting in
    (pnr, date, type, form, actor, kommune, source_file) order without sorting every meeting at once.
    """
    return f"""
        WITH m0 AS (
            SELECT CAST(id_offset + row_number() OVER (PARTITION BY pnr ORDER BY samtale_dato, samtaletype,
                                                       kontaktform, aktoer, kommune, source_file) AS BIGINT) AS meeting_id,
                   CAST(pnr AS VARCHAR) AS pnr, CAST(samtale_dato AS DATE) AS meeting_date,
                   CAST(samtaletype AS INTEGER) AS samtaletype, upper(trim(kontaktform)) AS kontaktform,
                   upper(trim(aktoer)) AS aktoer, CAST(kommune AS INTEGER) AS kommune
            FROM {src["meetings"]}
        ), m0d AS (
            -- a duplicate has the same pnr, so its copies are in one block
            SELECT *, CAST(row_number() OVER (PARTITION BY pnr, meeting_date, samtaletype, kontaktform, aktoer, kommune
                                              ORDER BY meeting_id) AS INTEGER) AS duplicate_rank
            FROM m0
        ), m1 AS (
            SELECT m0d.*, coalesce(kf.kontaktform_category, 'unknown') AS kontaktform_category,
                   kf.meeting_form, rl_week_index(meeting_date) AS meeting_week_index,
                   rl_week_label(rl_week_index(meeting_date)) AS meeting_week,
                   rl_month_index(meeting_date) AS meeting_month_index,
                   strftime(meeting_date, '%Y-%m') AS calendar_month
            FROM m0d LEFT JOIN kf USING (kontaktform)
        ), m1w AS (
            -- the hash table on the block's meetings (the right side; see _WRITTEN_JOIN_SIDES), long
            -- DREAM's weeks streamed through it
            SELECT m1.*, bw.code AS week_code, bw.benefit_group AS week_benefit_group
            FROM {src["weeks"]} bw RIGHT JOIN m1 ON bw.pnr = m1.pnr AND bw.week_index = m1.meeting_week_index
        ), m2 AS (
            SELECT m1w.* EXCLUDE (week_code, week_benefit_group), val.bekraeftet, m1w.week_code,
                   m1w.week_benefit_group,
                   coalesce(bef.first_ref < rl_week_monday(m1w.meeting_week_index), false) AS bef_known
            FROM m1w
            LEFT JOIN val ON val.kommune = m1w.kommune AND val.calendar_month = m1w.calendar_month
            LEFT JOIN {src["bef"]} bef ON bef.pnr = m1w.pnr
        )
        SELECT *, CASE {" ".join(f"WHEN NOT coalesce({r.keep_sql}, false) THEN '{r.name}'" for r in rules)}
                  ELSE NULL END AS excluded_by
        FROM m2
    """


def _with_written_join_sides(
    con: duckdb.DuckDBPyConnection, disabled: str, run: Callable[[], object]
) -> None:
    """``run()`` with DuckDB's build-side optimizer off (:data:`_WRITTEN_JOIN_SIDES`), then ``disabled``
    (the connection's own list of disabled optimizers) restored."""
    both = ", ".join(x for x in (disabled, _WRITTEN_JOIN_SIDES) if x)
    con.execute(f"SET disabled_optimizers = '{both}'")
    try:
        run()
    finally:
        con.execute(f"SET disabled_optimizers = '{disabled}'")


def _eligible_query(mpath: str, spells_src: str, c, types: str) -> str:
    """The eligible meetings of the annotated meetings in ``mpath`` (whole persons; spells as SQL)."""
    return f"""
        WITH e AS (SELECT * FROM read_parquet({mpath}) WHERE excluded_by IS NULL),
        sp AS (SELECT * FROM {spells_src} WHERE pnr IN (SELECT pnr FROM e)),
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


def _partition_inputs(
    con: duckdb.DuckDBPyConnection, inputs: Mapping[str, str], blocks: int, folder: Path
) -> dict[str, str]:
    """Write each input (name -> SELECT with a ``pnr`` column) once, split by :func:`block_sql` into
    ``folder/<name>/b=<block>/``, and return each input's file pattern (for :func:`_block_source`).

    One pass over each input whatever the number of blocks: reading the whole of long DREAM for every
    block made the step grow with the square of the persons (issue 22). An empty input still gets a file
    (no rows, its columns), so every block's read finds one.
    """
    out = {}
    for name, q in inputs.items():
        d = folder / name
        (d / "b=-1").mkdir(parents=True)
        con.execute(
            f"COPY (SELECT * FROM ({q}) LIMIT 0) TO {sql_path(d / 'b=-1' / 'empty.parquet')} (FORMAT PARQUET)"
        )
        con.execute(
            f"""COPY (SELECT *, {block_sql("pnr", blocks)} AS b FROM ({q})) TO {sql_path(d)}
                (FORMAT PARQUET, COMPRESSION UNCOMPRESSED, PARTITION_BY (b), OVERWRITE_OR_IGNORE)"""
        )
        out[name] = sql_path(d / "*" / "*.parquet")
    return out


def _block_source(glob: str, block: int) -> str:
    """One block's rows of an input written by :func:`_partition_inputs` (only its folder is read)."""
    return (
        f"(SELECT * EXCLUDE (b) FROM read_parquet({glob}, hive_partitioning = true, "
        f"hive_types = {{'b': INTEGER}}) WHERE b = {block})"
    )


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

    Every column is a function of one person's rows, so the step runs in blocks of persons
    (:func:`n_blocks`, :func:`block_sql`): its inputs (the meetings with each person's ``meeting_id``
    offset, long DREAM in the meetings' weeks, BEF's first snapshot, the spells) are written once split by
    block, and each block is annotated and matched to its spells reading only its own rows, so the work
    grows linearly in the persons and a block's joins and window sorts stay in DuckDB's memory (at
    register scale one join of every meeting spilled, and blocks that each read all of long DREAM grew
    with the square of the persons; issue 22). ``max_block_meetings`` (default: from DuckDB's memory
    limit, :data:`BYTES_PER_BLOCK_MEETING`) sets the number of blocks; the output does not depend on it.
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
        con.execute(
            f"""CREATE TEMP TABLE val AS
            SELECT CAST(kommune AS INTEGER) AS kommune, trim(maaned) AS calendar_month, min(bekraeftet) AS bekraeftet
            FROM read_parquet({sql_path(validering_path)}) GROUP BY 1, 2"""
        )
        spath = sql_path(samtaler_path)
        n_rows, lo, hi = con.execute(
            f"""SELECT count(*), min(rl_week_index(CAST(samtale_dato AS DATE))),
                       max(rl_week_index(CAST(samtale_dato AS DATE))) FROM read_parquet({spath})"""
        ).fetchone()
        # meeting_id's offset per person: the meetings of every person with a smaller pnr (a sort of the
        # persons, not of the meetings)
        con.execute(
            f"""CREATE TEMP TABLE persons AS
            SELECT pnr, coalesce(sum(n) OVER (ORDER BY pnr ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING), 0)
                        AS id_offset
            FROM (SELECT pnr, count(*) AS n FROM read_parquet({spath}) GROUP BY pnr)"""
        )
        weeks_in = "FALSE" if lo is None else f"week_index BETWEEN {lo} AND {hi}"
        inputs = {
            "meetings": f"""SELECT s.pnr, s.samtale_dato, s.samtaletype, s.kontaktform, s.aktoer, s.kommune,
                                   s.source_file, p.id_offset
                            FROM read_parquet({spath}) s JOIN persons p ON s.pnr IS NOT DISTINCT FROM p.pnr""",
            # long DREAM in the meetings' weeks only: a block's join reads nothing else
            "weeks": f"""SELECT pnr, week_index, code, benefit_group FROM read_parquet({sql_path(benefit_weeks_path)})
                         WHERE {weeks_in}""",
            # BEF known: a snapshot dated before the meeting week (the first snapshot per person)
            "bef": f"""SELECT CAST(pnr AS VARCHAR) AS pnr, min(CAST(reference_date AS DATE)) AS first_ref
                       FROM read_parquet({sql_path(bef_path)}) GROUP BY 1""",
            "spells": f"""SELECT pnr, spell_id, spell_start_week, spell_end_week, benefit_group
                          FROM read_parquet({sql_path(benefit_spells_path)})""",
        }
        blocks = n_blocks(int(n_rows), max_block_meetings or _meetings_per_block(con))
        disabled = con.execute("SELECT current_setting('disabled_optimizers')").fetchone()[0]
        types = ", ".join(str(codebook.samtaletype_code(t)) for t in c.meeting_types)
        if blocks == 1:
            src = {k: f"({q})" for k, q in inputs.items()}
            _with_written_join_sides(
                con, disabled, lambda: write_query(T.MEETINGS, con, _meetings_query(src, rules), out_dir)
            )
            q_elig = _eligible_query(sql_path(out_dir / MEETINGS), src["spells"], c, types)
            write_query(T.ELIGIBLE_MEETINGS, con, q_elig, out_dir)
        else:
            out_dir.mkdir(parents=True, exist_ok=True)
            folder = out_dir / f".{MEETINGS}.{uuid.uuid4().hex}.tmp"
            try:
                globs = _partition_inputs(con, inputs, blocks, folder)
                # the blocks as uncompressed parts (cheap to write and read), compressed once into the files
                mparts = [folder / f"meetings_{j}.parquet" for j in range(blocks)]
                eparts = [folder / f"eligible_{j}.parquet" for j in range(blocks)]
                for j in range(blocks):
                    src = {k: _block_source(g, j) for k, g in globs.items()}
                    q = f"COPY ({_meetings_query(src, rules)}) TO {sql_path(mparts[j])} (FORMAT PARQUET, COMPRESSION UNCOMPRESSED)"
                    _with_written_join_sides(con, disabled, lambda q=q: con.execute(q))
                    q_elig = _eligible_query(sql_path(mparts[j]), src["spells"], c, types)
                    con.execute(
                        f"COPY ({q_elig}) TO {sql_path(eparts[j])} (FORMAT PARQUET, COMPRESSION UNCOMPRESSED)"
                    )
                for contract, parts in ((T.MEETINGS, mparts), (T.ELIGIBLE_MEETINGS, eparts)):
                    plist = "[" + ", ".join(sql_path(p) for p in parts) + "]"
                    write_query(contract, con, f"SELECT * FROM read_parquet({plist})", out_dir)
            finally:
                shutil.rmtree(folder, ignore_errors=True)
        mpath = sql_path(out_dir / MEETINGS)
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
        "n_blocks": blocks,
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
    "n_blocks",
    "block_sql",
    "eligibility_rules",
    "digital_share_tables",
    "Rule",
]
