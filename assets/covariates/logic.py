"""Covariates of each eligible meeting: only information dated before the meeting week (no look-ahead).

Every source is chosen by a date strictly before the Monday of the meeting week (``week_start``):

* BEF: the latest quarterly snapshot with reference_date < week_start;
* UDDA: the latest year <= meeting year - 1 (status 30 September), where the meeting year is the year of
  the meeting week's Monday (a meeting on 1-3 January in a week that began in December uses the year before that);
* IND, AKM, A-kasse: the year meeting year - 1 (31 December / 30 November / 31 December of that year);
* DREAM: weeks before the spell's first week (benefit history); the spell start itself;
* local labour market: BEF snapshot before the ISO week containing the 1st of the meeting's month and
  DREAM weeks of the previous month that end before that week;
* earlier jobsamtaler: weeks from the spell start to the week before the meeting week.

Categoricals become 0/1 dummies (one per codebook category) with an explicit ``*_missing`` indicator;
numeric values missing at source are 0 with a ``*_missing`` indicator. No covariate column has nulls.
``covariate_provenance.parquet`` records the dates used so that an asset check can verify them.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from pathlib import Path

import polars as pl

from assets import weeks as W
from assets.cohort.logic import dream_bounds, open_connection
from assets.contracts import write_query
from assets.io import sql_path
from data_contracts import tables as T
from data_contracts.codebook import Codebook
from data_contracts.config import RunConfig

# file names of the stage's tables, from their contracts (data_contracts/tables.py)
MEETING_COVARIATES = T.MEETING_COVARIATES.file
COVARIATE_PROVENANCE = T.COVARIATE_PROVENANCE.file
HISTORY_WINDOWS = (52, 104, 156)


def _slug(x: object) -> str:
    return re.sub(r"[^0-9a-z]+", "_", str(x).lower()).strip("_")


def window_months(cfg: RunConfig) -> list[str]:
    """'YYYY-MM' for every month from window_start to window_end."""
    a, b = cfg.cohort.window_start, cfg.cohort.window_end
    out, y, m = [], a.year, a.month
    while (y, m) <= (b.year, b.month):
        out.append(f"{y}-{m:02d}")
        y, m = (y + 1, 1) if m == 12 else (y, m + 1)
    return out


LOCAL_FROM_POPULATION_FILE = "befolkning_kommune"
LOCAL_FROM_BEF = "bef"
LOCAL_LEFT_OUT = "left_out"
LOCAL_LABOUR_MARKET_COLUMNS = ("local_benefit_share", "local_share_missing")


def local_labour_market_source(cfg: RunConfig, population_rows: int) -> str:
    """Where the local labour market's denominator comes from: ``befolkning_kommune`` when that aggregate
    file was delivered (it has rows), else ``bef`` when the configuration says BEF covers whole
    municipalities (``covariates.bef_covers_municipalities``), else ``left_out`` (no covariate).

    A project's BEF holds only the project's population, so a share computed over it is a share of the
    study population, not of the municipality; the registers cannot tell which BEF was delivered.
    """
    if population_rows > 0:
        return LOCAL_FROM_POPULATION_FILE
    if cfg.covariates.bef_covers_municipalities:
        return LOCAL_FROM_BEF
    return LOCAL_LEFT_OUT


LOCAL_LEFT_OUT_WARNING = (
    "The local labour-market covariate (local_benefit_share) is left out: no befolkning_kommune file was "
    "delivered and the configuration does not say BEF covers whole municipalities "
    "(covariates.bef_covers_municipalities). A project's BEF holds only its own population, so a share "
    "over it would not be the municipality's. Add befolkning_kommune (KOMMUNE, AAR or MAANED, N_16_66; "
    "Statistics Denmark's FOLK1A) to the delivery to include it."
)


def covariate_specs(
    cfg: RunConfig, codebook: Codebook, local_source: str = LOCAL_FROM_BEF
) -> list[dict[str, str]]:
    """The covariate columns with SQL (over the joined frame ``j``) and their dictionary entries.

    Each spec: name, dtype, sql, definition, source_registers, time_window.
    """
    S: list[dict[str, str]] = []

    def add(name, dtype, sql, definition, src, window):
        S.append(
            {
                "name": name,
                "dtype": dtype,
                "sql": sql,
                "definition": definition,
                "source_registers": src,
                "time_window": window,
            }
        )

    bef_w = "latest BEF snapshot with reference_date before the meeting week"
    add(
        "age",
        "Int16",
        "CAST(coalesce(rl_age(foed_dag, meeting_date), 0) AS SMALLINT)",
        "Age in completed years on the meeting date, from foed_dag; 0 when foed_dag is missing (see age_missing)",
        "BEF",
        bef_w,
    )
    add(
        "age_missing",
        "Int8",
        "CAST(foed_dag IS NULL AS TINYINT)",
        "1 if foed_dag is missing in the BEF snapshot",
        "BEF",
        bef_w,
    )
    add(
        "sex_woman",
        "Int8",
        "CAST(coalesce(koen = 2, false) AS TINYINT)",
        "1 if koen = 2 (woman)",
        "BEF",
        bef_w,
    )
    add(
        "sex_missing",
        "Int8",
        f"CAST(koen IS NULL OR NOT list_contains([{', '.join(map(str, codebook.koen))}], koen) AS TINYINT)",
        "1 if koen is missing or not a codebook code",
        "BEF",
        bef_w,
    )
    for code, name in codebook.ie_type.items():
        add(
            f"origin_{_slug(name)}",
            "Int8",
            f"CAST(coalesce(ie_type = {code}, false) AS TINYINT)",
            f"1 if ie_type = {code} ({name})",
            "BEF",
            bef_w,
        )
    add(
        "origin_missing",
        "Int8",
        f"CAST(ie_type IS NULL OR NOT list_contains([{', '.join(map(str, codebook.ie_type))}], ie_type) AS TINYINT)",
        "1 if ie_type is missing or not a codebook code",
        "BEF",
        bef_w,
    )
    for code, name in codebook.civst.items():
        add(
            f"civst_{_slug(name)}",
            "Int8",
            f"CAST(coalesce(civst = '{code}', false) AS TINYINT)",
            f"1 if civst = '{code}' ({name})",
            "BEF",
            bef_w,
        )
    civ = ", ".join(f"'{c}'" for c in codebook.civst)
    add(
        "civst_missing",
        "Int8",
        f"CAST(civst IS NULL OR NOT list_contains([{civ}], civst) AS TINYINT)",
        "1 if civst is missing or not a codebook code",
        "BEF",
        bef_w,
    )
    lvl_case = " ".join(
        f"WHEN hfaudd BETWEEN {lv.from_} AND {lv.to} THEN {lv.level}" for lv in codebook.hfaudd_levels
    )
    edu_w = "latest UDDA year before the meeting year (status 30 September)"
    add(
        "education_level",
        "Int8",
        f"CAST(coalesce(CASE {lvl_case} END, 0) AS TINYINT)",
        "Education level of the highest completed education (codebook hfaudd_levels: 0 uoplyst ... 8 phd); "
        "0 when no UDDA row, hfaudd missing or unmapped (see education_missing)",
        "UDDA",
        edu_w,
    )
    add(
        "education_missing",
        "Int8",
        f"CAST((CASE {lvl_case} END) IS NULL AS TINYINT)",
        "1 if no UDDA row before the meeting year, or hfaudd missing or not mapped to a level",
        "UDDA",
        edu_w,
    )
    ind_w = "calendar year before the meeting year"
    add(
        "wage_income_prev_year",
        "Float64",
        "coalesce(loenmv_13, 0.0)",
        "Wage income (loenmv_13, DKK) of the year before the meeting year; 0 when missing (see income_missing)",
        "IND",
        ind_w,
    )
    add(
        "total_income_prev_year",
        "Float64",
        "coalesce(perindkialt_13, 0.0)",
        "Total personal income (perindkialt_13, DKK) of the year before; 0 when missing (see income_missing)",
        "IND",
        ind_w,
    )
    add(
        "income_missing",
        "Int8",
        "CAST(ind_year IS NULL OR loenmv_13 IS NULL OR perindkialt_13 IS NULL AS TINYINT)",
        "1 if the person has no IND row for the year before, or a missing income value",
        "IND",
        ind_w,
    )
    groups = sorted({v.group for v in codebook.socio13.values()})
    akm_w = "30 November of the year before the meeting year"
    for grp in groups:
        codes = ", ".join(str(c) for c, v in codebook.socio13.items() if v.group == grp)
        add(
            f"socio_{_slug(grp)}",
            "Int8",
            f"CAST(coalesce(list_contains([{codes}], socio13), false) AS TINYINT)",
            f"1 if SOCIO13 of the year before is in group {grp} (codes {codes})",
            "AKM",
            akm_w,
        )
    allc = ", ".join(str(c) for c in codebook.socio13)
    add(
        "socio_missing",
        "Int8",
        f"CAST(socio13 IS NULL OR NOT list_contains([{allc}], socio13) AS TINYINT)",
        "1 if no AKM row for the year before, or SOCIO13 not in the codebook",
        "AKM",
        akm_w,
    )
    ak_w = "31 December of the year before the meeting year"
    add(
        "akasse_member",
        "Int8",
        "CAST(akasse_id IS NOT NULL AS TINYINT)",
        "1 if the person has a row in the a-kasse file of the year before (absent row = not a member)",
        "AKASSE",
        ak_w,
    )
    add(
        "akasse_unknown",
        "Int8",
        "CAST(NOT akasse_year_delivered AS TINYINT)",
        "1 if no a-kasse file was delivered for the year before (membership unknown; akasse_member is then 0)",
        "AKASSE",
        ak_w,
    )
    for grp in cfg.cohort.target_groups:
        add(
            f"benefit_group_{_slug(grp)}",
            "Int8",
            f"CAST(benefit_group = '{grp}' AS TINYINT)",
            f"1 if the meeting's spell is in target group {grp}",
            "DREAM",
            "the spell containing the meeting week (its group is fixed from the spell's first week)",
        )
    add(
        "elapsed_weeks",
        "Int32",
        "elapsed_weeks",
        "Meeting week - spell start week + 1 (1 = meeting in the spell's first week)",
        "DREAM",
        "spell start week to meeting week",
    )
    for K in HISTORY_WINDOWS:
        add(
            f"benefit_weeks_pre_spell_{K}w",
            "Int16",
            f"CAST(coalesce(hist_{K}, 0) AS SMALLINT)",
            f"Weeks with any DREAM code in the {K} weeks before the spell's first week",
            "DREAM",
            f"spell start - {K} ... spell start - 1",
        )
        add(
            f"benefit_history_truncated_{K}w",
            "Int8",
            f"CAST(dream_first_week > spell_start_week - {K} AS TINYINT)",
            f"1 if DREAM starts after the first week of that {K}-week window (the count covers fewer weeks)",
            "DREAM",
            f"spell start - {K} ... spell start - 1",
        )
    add(
        "n_earlier_jobsamtaler_spell",
        "Int32",
        "n_earlier_jobsamtaler_spell",
        "Jobsamtaler (configured types and actors, any form, eligible or not) in the spell's weeks before the "
        "meeting week; meetings in the meeting week itself do not count",
        "SAMTALER, DREAM",
        "spell start week ... meeting week - 1",
    )
    for code in sorted(codebook.kommuner):
        add(
            f"kommune_{code}",
            "Int8",
            f"CAST(kommune = {code} AS TINYINT)",
            f"1 if the jobcentre municipality (samtaler KOMMUNE) is {code} ({codebook.kommuner[code]})",
            "SAMTALER",
            "the meeting",
        )
    for mk in window_months(cfg):
        add(
            f"month_{mk.replace('-', '_')}",
            "Int8",
            f"CAST(calendar_month = '{mk}' AS TINYINT)",
            f"1 if the meeting date is in {mk}",
            "SAMTALER",
            "the meeting",
        )
    if local_source != LOCAL_LEFT_OUT:
        denominator = (
            "the municipality's residents aged 16-66 in befolkning_kommune (latest AAR or MAANED not after the "
            "previous month)"
            if local_source == LOCAL_FROM_POPULATION_FILE
            else "BEF residents aged 16-66 of the municipality (BEF declared to cover whole municipalities)"
        )
        loc_w = (
            "BEF snapshot before the ISO week containing the 1st of the meeting month; DREAM weeks whose Thursday "
            "is in the previous month and that end before that week"
        )
        add(
            "local_benefit_share",
            "Float64",
            "coalesce(local_benefit_share, 0.0)",
            "Share of the municipality's residents aged 16-66 with a benefit code (target or other benefit; not "
            "an other-exit or censoring code) in the previous month: BEF residents (kom, age on the 1st of the "
            f"meeting month) on benefit, over {denominator}; 0 when the denominator is missing or 0 (see "
            "local_share_missing)",
            "BEF, DREAM" + (", befolkning_kommune" if local_source == LOCAL_FROM_POPULATION_FILE else ""),
            loc_w,
        )
        add(
            "local_share_missing",
            "Int8",
            "CAST(local_benefit_share IS NULL AS TINYINT)",
            "1 if the municipality's population aged 16-66 is unknown or 0 for that month",
            "BEF" + (", befolkning_kommune" if local_source == LOCAL_FROM_POPULATION_FILE else ""),
            loc_w,
        )
    return S


def build_meeting_covariates(
    eligible_path: str | Path,
    bef_path: str | Path,
    udda_path: str | Path,
    ind_path: str | Path,
    akm_path: str | Path,
    akasse_path: str | Path,
    benefit_weeks_path: str | Path,
    dream_calendar_path: str | Path,
    out_dir: str | Path,
    cfg: RunConfig,
    codebook: Codebook,
    duckdb_settings: Mapping[str, str | int] | None = None,
    population_path: str | Path | None = None,
) -> dict[str, object]:
    """Write ``meeting_covariates.parquet`` (meeting_id + the columns of :func:`covariate_specs`) and
    ``covariate_provenance.parquet`` (meeting_id, week_start and the date or last week of every source used).

    ``population_path`` is the staged ``befolkning_kommune`` (optional): see
    :func:`local_labour_market_source` for the local labour market's denominator. The result's
    ``local_labour_market`` names the source and ``warnings`` holds what the run should tell the user.
    """
    out_dir = Path(out_dir)
    first, _last = dream_bounds(dream_calendar_path)
    pop_rows = 0
    if population_path is not None and Path(population_path).is_file():
        pop_rows = pl.scan_parquet(population_path).select(pl.len()).collect().item()
    local_source = local_labour_market_source(cfg, pop_rows)
    specs = covariate_specs(cfg, codebook, local_source)
    warnings = [LOCAL_LEFT_OUT_WARNING] if local_source == LOCAL_LEFT_OUT else []
    con = open_connection(duckdb_settings)
    try:
        if local_source == LOCAL_FROM_POPULATION_FILE:
            con.execute(
                f"""CREATE TEMP TABLE popfile AS
                    SELECT CAST(kommune AS INTEGER) AS kommune,
                           -- a yearly count stands for its year from January; a monthly one from its month
                           CASE WHEN maaned IS NOT NULL
                                THEN CAST(substr(maaned, 1, 4) AS INTEGER) * 12 + CAST(substr(maaned, 6, 2) AS INTEGER) - 1
                                ELSE CAST(aar AS INTEGER) * 12 END AS from_mi,
                           CAST(n_16_66 AS BIGINT) AS n_16_66
                    FROM read_parquet({sql_path(population_path)})"""  # type: ignore[arg-type]
            )
            bad = con.execute("SELECT count(*) FROM popfile WHERE from_mi IS NULL").fetchone()[0]
            if bad:
                raise ValueError(
                    f"befolkning_kommune: {bad} row(s) have neither AAR nor MAANED; every count needs its period"
                )
        con.execute(
            f"""CREATE TEMP TABLE e AS
                SELECT meeting_id, pnr, meeting_date, meeting_week_index AS m, rl_week_monday(meeting_week_index) AS week_start,
                       CAST(year(rl_week_monday(meeting_week_index)) AS INTEGER) AS meeting_year, meeting_month_index, calendar_month, kommune,
                       benefit_group, elapsed_weeks, spell_start_week, n_earlier_jobsamtaler_spell
                FROM read_parquet({sql_path(eligible_path)})"""
        )
        con.execute(
            f"""CREATE TEMP VIEW bef AS SELECT CAST(pnr AS VARCHAR) AS pnr, CAST(reference_date AS DATE) AS reference_date,
                       koen, CAST(foed_dag AS DATE) AS foed_dag, ie_type, kom, upper(trim(civst)) AS civst
                FROM read_parquet({sql_path(bef_path)})"""
        )
        con.execute(
            f"""CREATE TEMP VIEW bw AS SELECT pnr, week_index, CAST(kind AS VARCHAR) AS kind
                FROM read_parquet({sql_path(benefit_weeks_path)})"""
        )
        akasse_years = (
            ", ".join(
                str(r[0])
                for r in con.execute(
                    f"SELECT DISTINCT year FROM read_parquet({sql_path(akasse_path)})"
                ).fetchall()
            )
            or "NULL"
        )
        # One statement per part, each materialized as a temporary table (DuckDB spills those to disk):
        # in one query the hash tables of every part are alive at once and, at 5,000,000 meetings, do not
        # fit a 2.4 GB limit (DuckDB cannot spill all of them).
        parts = {
            # The latest BEF snapshot dated before the meeting week: its date first (a max per meeting,
            # a small aggregate state), then its row by an equality join. arg_max over whole BEF rows ran
            # out of DuckDB memory at 5,000,000 meetings; an ASOF join was twice as slow at 1,000,000.
            "pb_date": """
                SELECT e.meeting_id, e.pnr, max(bef.reference_date) AS bef_reference_date
                FROM e JOIN bef ON bef.pnr = e.pnr AND bef.reference_date < e.week_start
                GROUP BY e.meeting_id, e.pnr
            """,
            "pb": """
                SELECT d.meeting_id, d.bef_reference_date, bef.koen, bef.foed_dag, bef.ie_type, bef.civst
                FROM pb_date d JOIN bef ON bef.pnr = d.pnr AND bef.reference_date = d.bef_reference_date
            """,
            # the latest UDDA year before the meeting year, the same way
            "pu_year": f"""
                SELECT e.meeting_id, e.pnr, max(u.year) AS udda_year
                FROM e JOIN read_parquet({sql_path(udda_path)}) u ON CAST(u.pnr AS VARCHAR) = e.pnr AND u.year <= e.meeting_year - 1
                GROUP BY e.meeting_id, e.pnr
            """,
            "pu": f"""
                SELECT d.meeting_id, d.udda_year, u.hfaudd, CAST(u.reference_date AS DATE) AS udda_reference_date
                FROM pu_year d JOIN read_parquet({sql_path(udda_path)}) u ON CAST(u.pnr AS VARCHAR) = d.pnr AND u.year = d.udda_year
            """,
            "pi": f"""
                SELECT e.meeting_id, i.loenmv_13, i.perindkialt_13, i.year AS ind_year,
                       CAST(i.reference_date AS DATE) AS ind_reference_date
                FROM e JOIN read_parquet({sql_path(ind_path)}) i ON CAST(i.pnr AS VARCHAR) = e.pnr AND i.year = e.meeting_year - 1
            """,
            "pa": f"""
                SELECT e.meeting_id, a.socio13, CAST(a.reference_date AS DATE) AS akm_reference_date
                FROM e JOIN read_parquet({sql_path(akm_path)}) a ON CAST(a.pnr AS VARCHAR) = e.pnr AND a.year = e.meeting_year - 1
            """,
            "pk": f"""
                SELECT e.meeting_id, k.akasse_id, CAST(k.reference_date AS DATE) AS akasse_reference_date
                FROM e JOIN read_parquet({sql_path(akasse_path)}) k ON CAST(k.pnr AS VARCHAR) = e.pnr AND k.year = e.meeting_year - 1
            """,
            "ph": f"""
                SELECT e.meeting_id,
                       {", ".join(f"count(*) FILTER (WHERE bw.week_index >= e.spell_start_week - {K}) AS hist_{K}" for K in HISTORY_WINDOWS)}
                FROM e JOIN bw ON bw.pnr = e.pnr
                 AND bw.week_index BETWEEN e.spell_start_week - {max(HISTORY_WINDOWS)} AND e.spell_start_week - 1
                GROUP BY e.meeting_id
            """,
            "loc0": """
            WITH km AS (
                SELECT DISTINCT kommune, meeting_month_index AS mi FROM e
            ),
            kmc AS (
                SELECT kommune, mi, make_date(CAST(mi // 12 AS BIGINT), CAST(mi % 12 + 1 AS BIGINT), 1) AS m1,
                       rl_week_index(make_date(CAST(mi // 12 AS BIGINT), CAST(mi % 12 + 1 AS BIGINT), 1)) AS wk0
                FROM km
            ),
            snaps AS (SELECT DISTINCT reference_date FROM bef),
            kms AS (
                SELECT kmc.*, (SELECT max(reference_date) FROM snaps WHERE snaps.reference_date < rl_week_monday(kmc.wk0)) AS ref
                FROM kmc
            ),
            pop AS (
                SELECT kms.kommune, kms.mi, bef.pnr
                FROM kms JOIN bef ON bef.reference_date = kms.ref AND bef.kom = kms.kommune
                WHERE rl_age(bef.foed_dag, kms.m1) BETWEEN 16 AND 66
            ),
            lweeks AS (
                SELECT DISTINCT mi, wk0, wk0 - r.d AS week_index
                FROM kms CROSS JOIN range(1, 8) AS r(d)
                WHERE rl_week_month_index(wk0 - r.d) = mi - 1
            ),
            -- on benefit: a target-group or other benefit code (not an other-exit or censoring code)
            onb AS (
                SELECT DISTINCT lweeks.mi, bw.pnr FROM lweeks JOIN bw USING (week_index)
                WHERE bw.kind IN ('target', 'other_benefit')
            )
                SELECT kms.kommune, kms.mi, kms.ref AS local_bef_reference_date,
                       (SELECT max(week_index) FROM lweeks WHERE lweeks.mi = kms.mi) AS local_last_week,
                       count(pop.pnr) AS n_bef_pop, count(onb.pnr) AS n_on_benefit
                FROM kms LEFT JOIN pop ON pop.kommune = kms.kommune AND pop.mi = kms.mi
                LEFT JOIN onb ON onb.mi = pop.mi AND onb.pnr = pop.pnr
                GROUP BY kms.kommune, kms.mi, kms.ref
            """,
        }
        for name, sql in parts.items():
            con.execute(f"CREATE TEMP TABLE {name} AS {sql}")
        if local_source == LOCAL_FROM_POPULATION_FILE:
            # The latest count from before the meeting month (its period starts no later than the previous
            # month): the denominator is the whole municipality, the numerator the BEF residents on benefit.
            con.execute(
                """CREATE TEMP TABLE loc AS
                   SELECT loc0.*, p.n_16_66 AS n_pop
                   FROM loc0 ASOF LEFT JOIN popfile p ON p.kommune = loc0.kommune AND p.from_mi <= loc0.mi - 1"""
            )
        else:
            con.execute("CREATE TEMP TABLE loc AS SELECT loc0.*, loc0.n_bef_pop AS n_pop FROM loc0")
        q = f"""
                SELECT e.*, pb.bef_reference_date, pb.koen, pb.foed_dag, pb.ie_type, pb.civst,
                       pu.hfaudd, pu.udda_year, pu.udda_reference_date,
                       pi.loenmv_13, pi.perindkialt_13, pi.ind_year, pi.ind_reference_date,
                       pa.socio13, pa.akm_reference_date, pk.akasse_id, pk.akasse_reference_date,
                       coalesce((e.meeting_year - 1) IN ({akasse_years}), false) AS akasse_year_delivered,
                       ph.hist_52, ph.hist_104, ph.hist_156, {first} AS dream_first_week,
                       CASE WHEN loc.n_pop > 0 THEN loc.n_on_benefit / loc.n_pop END AS local_benefit_share,
                       loc.local_bef_reference_date, loc.local_last_week
                FROM e LEFT JOIN pb USING (meeting_id) LEFT JOIN pu USING (meeting_id) LEFT JOIN pi USING (meeting_id)
                LEFT JOIN pa USING (meeting_id) LEFT JOIN pk USING (meeting_id) LEFT JOIN ph USING (meeting_id)
                LEFT JOIN loc ON loc.kommune = e.kommune AND loc.mi = e.meeting_month_index
        """
        con.execute(f"CREATE TEMP TABLE j AS {q}")
        cov_sql = ", ".join(f"{s['sql']} AS {s['name']}" for s in specs)
        write_query(T.MEETING_COVARIATES, con, f"SELECT meeting_id, {cov_sql} FROM j", out_dir)
        write_query(
            T.COVARIATE_PROVENANCE,
            con,
            """SELECT meeting_id, m AS meeting_week_index, week_start, meeting_year,
                      bef_reference_date, udda_year, udda_reference_date, ind_year, ind_reference_date,
                      akm_reference_date, akasse_reference_date,
                      CAST(spell_start_week - 1 AS INTEGER) AS history_last_week,
                      local_bef_reference_date, CAST(local_last_week AS INTEGER) AS local_last_week,
                      CAST(m - 1 AS INTEGER) AS earlier_meetings_last_week
               FROM j""",
            out_dir,
        )
        n = con.execute("SELECT count(*) FROM j").fetchone()[0]
    finally:
        con.close()
    return {
        "meeting_covariates": out_dir / MEETING_COVARIATES,
        "covariate_provenance": out_dir / COVARIATE_PROVENANCE,
        "n_rows": int(n),
        "specs": specs,
        "local_labour_market": local_source,
        "warnings": warnings,
    }


def provenance_violations(provenance_path: str | Path) -> pl.DataFrame:
    """Count, per source, the meetings whose covariate source is dated on or after the meeting week."""
    p = pl.read_parquet(provenance_path)
    ws = pl.col("week_start")
    m = pl.col("meeting_week_index")
    checks = {
        "bef_reference_date": pl.col("bef_reference_date") >= ws,
        "udda_reference_date": pl.col("udda_reference_date") >= ws,
        "ind_reference_date": pl.col("ind_reference_date") >= ws,
        "akm_reference_date": pl.col("akm_reference_date") >= ws,
        "akasse_reference_date": pl.col("akasse_reference_date") >= ws,
        "history_last_week": pl.col("history_last_week") >= m,
        "local_bef_reference_date": pl.col("local_bef_reference_date") >= ws,
        "local_last_week": pl.col("local_last_week") >= m,
        "earlier_meetings_last_week": pl.col("earlier_meetings_last_week") >= m,
    }
    return pl.DataFrame(
        [
            {"source": k, "n_after_meeting": int(p.select(v.fill_null(False).sum()).item())}
            for k, v in checks.items()
        ]
    )


_ = (dt, W)
