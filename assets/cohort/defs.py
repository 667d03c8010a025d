"""Dagster wrappers of the cohort stage: benefit_weeks, benefit_spells."""

import dagster as dg
import polars as pl

from assets.cohort.logic import (
    build_benefit_spells,
    build_benefit_weeks,
    count_duplicate_person_weeks,
)
from assets.contract_defs import (
    contract_checks,
    output_metadata,
    stage_asset,
    stage_check,
    staged_path,
)
from assets.resources import RegdmlResource, RunPaths
from data_contracts import tables as T

CHECK_SPELLS_DISJOINT = "benefit_spells_disjoint"
CHECK_BENEFIT_WEEKS_UNIQUE = "benefit_weeks_one_code_per_person_week"


@stage_asset(
    "cohort",
    ["dream"],
    "Long DREAM: one row per person and week with a benefit code, its group and kind\n\n"
    "Columns pnr, week_index, iso_week, code, benefit_group, kind; plus employment_months and the DREAM week "
    "calendar.",
)
def benefit_weeks(
    context: dg.AssetExecutionContext, paths: RunPaths, regdml: RegdmlResource
) -> dg.MaterializeResult:
    """Long DREAM (UNPIVOT in DuckDB), only weeks with a code."""
    res = build_benefit_weeks(
        staged_path(paths, "dream"),
        paths.stage("cohort"),
        regdml.codebook(),
        regdml.duckdb_settings(paths),
    )
    return dg.MaterializeResult(
        metadata={
            **output_metadata(T.BENEFIT_WEEKS, paths.work_dir, res["n_rows"]),
            "dream_first_week": res["first_week"],
            "dream_last_week": res["last_week"],
            "dream_n_weeks": res["n_weeks"],
            "dream_missing_weeks_in_range": res["n_missing_weeks_in_range"],
            "n_persons": res["n_persons"],
            "rows_by_kind": dg.MetadataValue.json(res["rows_by_kind"]),
        }
    )


@stage_asset(
    "cohort",
    ["dream"],
    "Benefit spells: maximal runs of consecutive weeks whose codes all belong to one target group.",
)
def benefit_spells(
    context: dg.AssetExecutionContext, paths: RunPaths, regdml: RegdmlResource
) -> dg.MaterializeResult:
    """Gaps-and-islands spells of the configured target groups."""
    cohort = paths.stage("cohort")
    res = build_benefit_spells(
        staged_path(paths, "dream"),
        cohort,
        regdml.codebook(),
        regdml.run_config().cohort.target_groups,
        regdml.duckdb_settings(paths),
    )
    return dg.MaterializeResult(
        metadata={
            **output_metadata(T.BENEFIT_SPELLS, paths.work_dir, res["n_rows"]),
            "spells_by_group": dg.MetadataValue.json(res["spells_by_group"]),
        }
    )


@stage_check("benefit_spells", CHECK_SPELLS_DISJOINT)
def check_spells_disjoint(paths: RunPaths, regdml: RegdmlResource) -> dg.AssetCheckResult:
    """No person has two spells sharing a week (each week has one code)."""
    sp = pl.scan_parquet(T.BENEFIT_SPELLS.path(paths.work_dir))
    overlaps = (
        sp.sort("pnr", "spell_start_week")
        .with_columns(prev_end=pl.col("spell_end_week").shift(1).over("pnr"))
        .filter(pl.col("prev_end") >= pl.col("spell_start_week"))
        .select(pl.len())
        .collect()
        .item()
    )
    return dg.AssetCheckResult(passed=overlaps == 0, metadata={"n_overlapping_spells": int(overlaps)})


@stage_check(
    "benefit_weeks", CHECK_BENEFIT_WEEKS_UNIQUE, "One code per person and week (DREAM is one row per person)."
)
def check_benefit_weeks_unique(paths: RunPaths, regdml: RegdmlResource) -> dg.AssetCheckResult:
    # In DuckDB under the run's memory limit (it spills): at register scale the long table has hundreds
    # of millions of rows, and an in-memory group-by would fill the server's shared RAM.
    dup = count_duplicate_person_weeks(T.BENEFIT_WEEKS.path(paths.work_dir), regdml.duckdb_settings(paths))
    return dg.AssetCheckResult(passed=dup == 0, metadata={"n_duplicate_person_weeks": int(dup)})


ASSETS = [benefit_weeks, benefit_spells]
CHECKS = [check_spells_disjoint, check_benefit_weeks_unique, *contract_checks(ASSETS)]
