"""The analysis table (one row per eligible meeting), its column dictionary and small summaries."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import polars as pl

from assets.cohort.logic import open_connection
from assets.contracts import write_frame, write_query
from assets.covariates.logic import LOCAL_FROM_BEF, covariate_specs
from assets.io import sql_path, write_text_atomic
from assets.outcomes.logic import (
    exit_outcome,
    outcome_names,
    outcome_summary,
    placebo_outcome,
    selfsupport_outcome,
)
from assets.outcomes.placebos import placebo_dictionary_rows, placebo_names
from assets.treatment.logic import digital_share_tables
from data_contracts import tables as T
from data_contracts.codebook import Codebook
from data_contracts.config import TABLE_SECTIONS, RunConfig

# file names of the stage's tables, from their contracts (data_contracts/tables.py)
ANALYSIS_TABLE = T.ANALYSIS_TABLE.file
COLUMN_DICTIONARY = T.COLUMN_DICTIONARY.file
DIGITAL_SHARE_MONTH = T.DIGITAL_SHARE_BY_MONTH.file
DIGITAL_SHARE_KOMMUNE_MONTH = T.DIGITAL_SHARE_BY_KOMMUNE_MONTH.file
OUTCOME_MEANS = T.OUTCOME_MEANS.file
RUN_CONFIG = "run_config.yaml"
RUN_CONFIG_HEADER = (
    "# The sections of the run configuration this analysis table was built from (the estimation's and the\n"
    "# value table's are not read by it: see the report). A configuration file: regdml fills the rest with\n"
    "# the defaults.\n"
)
ROLES = ("id", "design", "treatment", "outcome", "covariate", "flag")

_DICT_SCHEMA = {
    "name": pl.String,
    "role": pl.String,
    "dtype": pl.String,
    "definition": pl.String,
    "source_registers": pl.String,
    "time_window": pl.String,
}

# Non-covariate columns of the analysis table: (name, role, sql over eligible e, definition, sources, window).
_BASE = [
    (
        "meeting_id",
        "id",
        "e.meeting_id",
        "Row number of the meeting in the staged samtaler (deterministic order)",
        "SAMTALER",
        "the meeting",
    ),
    (
        "pnr",
        "id",
        "e.pnr",
        "Pseudonymised person number (string, leading zeros kept); cluster/fold unit",
        "SAMTALER",
        "the meeting",
    ),
    (
        "spell_id",
        "id",
        "e.spell_id",
        "Benefit spell containing the meeting week: '<pnr>:<spell start week index>'",
        "DREAM",
        "the spell",
    ),
    ("meeting_date", "design", "e.meeting_date", "SAMTALE_DATO", "SAMTALER", "the meeting"),
    (
        "meeting_week",
        "design",
        "e.meeting_week",
        "ISO week of the meeting date, 'YYYY-Www'",
        "SAMTALER",
        "the meeting",
    ),
    (
        "meeting_week_index",
        "design",
        "e.meeting_week_index",
        "Weeks since ISO 1990-W01 (continuous week index)",
        "SAMTALER",
        "the meeting",
    ),
    (
        "kommune",
        "design",
        "e.kommune",
        "Jobcentre municipality code (samtaler KOMMUNE); fixed effect / instrument cell",
        "SAMTALER",
        "the meeting",
    ),
    (
        "calendar_month",
        "design",
        "e.calendar_month",
        "Month of the meeting date, 'YYYY-MM' (validation and instrument cell)",
        "SAMTALER",
        "the meeting",
    ),
    (
        "benefit_group",
        "design",
        "e.benefit_group",
        "Target group of the spell (codebook dream_groups name)",
        "DREAM",
        "meeting week",
    ),
    (
        "spell_start_week",
        "design",
        "e.spell_start_week",
        "Week index of the spell's first week",
        "DREAM",
        "the spell",
    ),
    (
        "kontaktform",
        "design",
        "e.kontaktform",
        "KONTAKTFORM code as delivered (upper case)",
        "SAMTALER",
        "the meeting",
    ),
    (
        "digital",
        "treatment",
        "e.digital",
        "1 if the meeting form is digital (telephone, video, other digital), 0 personal attendance",
        "SAMTALER",
        "the meeting",
    ),
    (
        "meeting_form",
        "treatment",
        "e.meeting_form",
        "The three-arm meeting form of the modality design (in_person, telephone, video) from the codebook's "
        "KONTAKTFORM form; null for a code without a form (left out of the modality design, counted)",
        "SAMTALER",
        "the meeting",
    ),
    (
        "first_in_spell",
        "flag",
        "e.first_in_spell",
        "1 for the first eligible meeting of its spell (earliest date, then meeting_id): the secondary unit",
        "SAMTALER, DREAM",
        "the spell",
    ),
]


def column_dictionary(
    cfg: RunConfig, codebook: Codebook, placebos: bool = True, local_source: str = LOCAL_FROM_BEF
) -> pl.DataFrame:
    """name, role, dtype, definition, source_registers, time_window for every analysis-table column.

    ``placebos``: include the placebo and negative-control outcomes of ``assets/outcomes/placebos.py``;
    ``local_source``: where the local labour market comes from (``covariates.logic.local_labour_market_source``)."""
    o = cfg.outcomes
    L, g = o.employment_benefit_free_weeks, o.employment_min_grad
    dtypes = {
        "meeting_id": "Int64",
        "pnr": "String",
        "spell_id": "String",
        "meeting_date": "Date",
        "meeting_week": "String",
        "meeting_week_index": "Int32",
        "kommune": "Int32",
        "calendar_month": "String",
        "benefit_group": "String",
        "spell_start_week": "Int32",
        "kontaktform": "String",
        "digital": "Int8",
        "meeting_form": "String",
        "first_in_spell": "Int8",
    }
    rows = [
        {"name": n, "role": r, "dtype": dtypes[n], "definition": d, "source_registers": s, "time_window": w}
        for n, r, _sql, d, s, w in _BASE
    ]
    emp = (
        f"exit to employment in week w = weeks w..w+{L - 1} without a DREAM code and grad of w's month above {g}; "
        "exit week = first such w after the meeting week m"
    )
    for k in o.exit_horizons:
        rows.append(
            {
                "name": exit_outcome(k),
                "role": "outcome",
                "dtype": "Int8",
                "definition": f"1 if the exit week is in m+1..m+{k}, else 0; null (censored) if no exit by m+{k} and DREAM "
                f"ends before m+{k + L - 1} or a censoring code is in m+1..m+{k + L - 1}; other exit gives 0. {emp}",
                "source_registers": "DREAM",
                "time_window": f"m+1 ... m+{k + L - 1}",
            }
        )
    for k in o.selfsupport_horizons:
        rows.append(
            {
                "name": selfsupport_outcome(k),
                "role": "outcome",
                "dtype": "Int16",
                "definition": f"Weeks in m+1..m+{k} without a DREAM code and grad of the week's month above {g}; null if "
                f"DREAM ends before m+{k} or a censoring code is in m+1..m+{k}",
                "source_registers": "DREAM",
                "time_window": f"m+1 ... m+{k}",
            }
        )
    P = o.placebo_weeks
    rows.append(
        {
            "name": placebo_outcome(cfg),
            "role": "outcome",
            "dtype": "Int16",
            "definition": f"Placebo: weeks in spell start-{P} .. spell start-1 without a DREAM code and grad above {g}; null if "
            f"DREAM starts after spell start-{P} or a censoring code is in that window",
            "source_registers": "DREAM",
            "time_window": f"spell start-{P} ... spell start-1",
        }
    )
    if placebos:
        rows.extend(placebo_dictionary_rows(cfg))
    for s in covariate_specs(cfg, codebook, local_source):
        rows.append(
            {
                "name": s["name"],
                "role": "covariate",
                "dtype": s["dtype"],
                "definition": s["definition"],
                "source_registers": s["source_registers"],
                "time_window": s["time_window"],
            }
        )
    d = pl.DataFrame(rows, schema=_DICT_SCHEMA)
    assert d["name"].n_unique() == d.height, "column dictionary: duplicate names"
    assert set(d["role"].to_list()) <= set(ROLES)
    return d


def build_analysis_table(
    eligible_path: str | Path,
    outcomes_path: str | Path,
    covariates_path: str | Path,
    out_dir: str | Path,
    cfg: RunConfig,
    codebook: Codebook,
    duckdb_settings: Mapping[str, str | int] | None = None,
    local_source: str = LOCAL_FROM_BEF,
    placebos_path: str | Path | None = None,
) -> dict[str, object]:
    """Write ``analysis_table.parquet``, ``column_dictionary.parquet``, ``run_config.yaml`` and the summaries
    ``digital_share_by_month.parquet``, ``digital_share_by_kommune_month.parquet``, ``outcome_means.parquet``
    (not yet disclosure-controlled: the Dagster wrapper suppresses small cells in what it shows).
    ``placebos_path``: ``meeting_placebos.parquet`` (:mod:`assets.outcomes.placebos`); without it the table
    has no placebo outcomes beyond the pre-spell one.
    """
    out_dir = Path(out_dir)
    cd = column_dictionary(cfg, codebook, placebos=placebos_path is not None, local_source=local_source)
    cov = cd.filter(pl.col("role") == "covariate")["name"].to_list()
    outs = outcome_names(cfg)
    base_sql = ", ".join(f"{sql} AS {n}" for n, _r, sql, *_ in _BASE)
    plc_cols, plc_join = "", ""
    if placebos_path is not None:
        plc_cols = "".join(f", p.{x}" for x in placebo_names())
        plc_join = f"JOIN read_parquet({sql_path(placebos_path)}) p USING (meeting_id)"
    q = f"""
        SELECT {base_sql}, {", ".join("o." + x for x in outs)}{plc_cols}, {", ".join("c." + x for x in cov)}
        FROM read_parquet({sql_path(eligible_path)}) e
        JOIN read_parquet({sql_path(outcomes_path)}) o USING (meeting_id)
        {plc_join}
        JOIN read_parquet({sql_path(covariates_path)}) c USING (meeting_id)
        ORDER BY e.meeting_id
    """
    con = open_connection(duckdb_settings)
    try:
        write_query(T.ANALYSIS_TABLE, con, q, out_dir)
        n = con.execute(
            f"SELECT count(*) FROM read_parquet({sql_path(out_dir / ANALYSIS_TABLE)})"
        ).fetchone()[0]
        n_elig = con.execute(f"SELECT count(*) FROM read_parquet({sql_path(eligible_path)})").fetchone()[0]
    finally:
        con.close()
    if n != n_elig:
        raise RuntimeError(f"analysis table: {n} rows for {n_elig} eligible meetings")
    schema = pl.read_parquet_schema(out_dir / ANALYSIS_TABLE)
    if list(schema) != cd["name"].to_list():
        raise RuntimeError("analysis table: columns differ from the column dictionary")
    # record the actual dtypes as stored
    cd = cd.with_columns(pl.Series("dtype", [str(schema[c]) for c in cd["name"].to_list()]))
    write_frame(T.COLUMN_DICTIONARY, cd, out_dir)
    # Only the sections the table is built from: the estimation's and the value table's may change without
    # rebuilding the table (data_contracts/config.py TABLE_SECTIONS), and this file must not claim otherwise.
    # The report shows the whole configuration of its run.
    write_text_atomic(RUN_CONFIG_HEADER + cfg.to_yaml(TABLE_SECTIONS), out_dir / RUN_CONFIG)
    by_month, by_km = digital_share_tables(eligible_path, duckdb_settings)
    write_frame(T.DIGITAL_SHARE_BY_MONTH, by_month, out_dir)
    write_frame(T.DIGITAL_SHARE_BY_KOMMUNE_MONTH, by_km, out_dir)
    at = pl.read_parquet(out_dir / ANALYSIS_TABLE, columns=["digital", *outs])
    means = outcome_summary(at, cfg)
    write_frame(T.OUTCOME_MEANS, means, out_dir)
    return {
        "analysis_table": out_dir / ANALYSIS_TABLE,
        "column_dictionary": out_dir / COLUMN_DICTIONARY,
        "run_config": out_dir / RUN_CONFIG,
        "n_rows": int(n),
        "dictionary": cd,
        "digital_share_by_month": by_month,
        "digital_share_by_kommune_month": by_km,
        "outcome_means": means,
    }


def covariate_nulls(analysis_path: str | Path, dictionary: pl.DataFrame) -> dict[str, int]:
    """Null count of every covariate column (must all be 0)."""
    cov = dictionary.filter(pl.col("role") == "covariate")["name"].to_list()
    lf = pl.scan_parquet(analysis_path).select([pl.col(c).null_count() for c in cov]).collect()
    return {c: int(lf[c][0]) for c in cov if lf[c][0]}
