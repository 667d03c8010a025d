"""Dagster wrapper of the analysis stage: analysis_table (+ column dictionary, run configuration, summaries)."""

import dagster as dg
import polars as pl

from assets.analysis.logic import build_analysis_table, covariate_nulls
from assets.analysis.summaries import (
    markdown_table,
    or_withheld,
    safe_outcome_means,
    safe_sample_flow,
    safe_share,
)
from assets.contract_defs import contract_checks, stage_asset, stage_check, stage_settings, staged_path
from assets.covariates.logic import local_labour_market_source
from assets.outcomes.logic import outcome_names
from assets.outcomes.placebos import placebo_names
from assets.resources import RegdmlResource, RunPaths
from assets.treatment.logic import FLOW_FORM_COLUMNS, FORM_COUNT_COLUMNS, SHARE_FORM_COLUMNS
from data_contracts import tables as T


def staged_rows(paths, register: str) -> int:
    """Rows of a staged register (0 when it was not staged: an optional register not delivered)."""
    p = staged_path(paths, register)
    return pl.scan_parquet(p).select(pl.len()).collect().item() if p.is_file() else 0


# what the analysis table joins (the sample flow for its last count)
ANALYSIS_DEPS = [
    t.name
    for t in (
        T.ELIGIBLE_MEETINGS,
        T.SAMPLE_FLOW,
        T.MEETING_OUTCOMES,
        T.MEETING_PLACEBOS,
        T.MEETING_COVARIATES,
    )
]
CHECK_ONE_ROW_PER_MEETING = "analysis_table_one_row_per_eligible_meeting"
CHECK_MATCHES_DICTIONARY = "analysis_table_matches_column_dictionary"

# The asset each role's columns come from (column lineage); placebo outcomes come from meeting_placebos.
_UPSTREAM = {
    "id": T.ELIGIBLE_MEETINGS.name,
    "design": T.ELIGIBLE_MEETINGS.name,
    "treatment": T.ELIGIBLE_MEETINGS.name,
    "flag": T.ELIGIBLE_MEETINGS.name,
    "outcome": T.MEETING_OUTCOMES.name,
    "covariate": T.MEETING_COVARIATES.name,
}


def table_metadata(dictionary: pl.DataFrame) -> tuple[dg.TableSchema, dg.TableColumnLineage]:
    """Column schema and column lineage of the analysis table, from the column dictionary."""
    cols, deps = [], {}
    for r in dictionary.iter_rows(named=True):
        cols.append(
            dg.TableColumn(
                name=r["name"],
                type=r["dtype"],
                description=f"[{r['role']}] {r['definition']} (sources: {r['source_registers']}; "
                f"window: {r['time_window']})",
                tags={"role": r["role"]},
            )
        )
        up = T.MEETING_PLACEBOS.name if r["name"] in placebo_names() else _UPSTREAM[r["role"]]
        deps[r["name"]] = [dg.TableColumnDep(asset_key=dg.AssetKey(up), column_name=r["name"])]
    return dg.TableSchema(columns=cols), dg.TableColumnLineage(deps_by_column=deps)


@stage_asset("analysis", ANALYSIS_DEPS)
def analysis_table(
    context: dg.AssetExecutionContext, paths: RunPaths, regdml: RegdmlResource
) -> dg.MaterializeResult:
    """One row per eligible meeting: ids, design columns, digital, outcomes and covariates

    Joins eligible meetings, outcomes and covariates; writes the column dictionary
    (analysis/column_dictionary.parquet: every column's role, definition, source registers and time window),
    run_config.yaml and the summaries.
    """
    settings = stage_settings(regdml, paths)
    (cfg, cb, _), w = settings, paths.work_dir
    res = build_analysis_table(
        T.ELIGIBLE_MEETINGS.path(w),
        T.MEETING_OUTCOMES.path(w),
        T.MEETING_COVARIATES.path(w),
        paths.stage("analysis"),
        *settings,
        local_source=local_labour_market_source(cfg, staged_rows(paths, "befolkning_kommune")),
        placebos_path=T.MEETING_PLACEBOS.path(w),
    )
    schema, lineage = table_metadata(res["dictionary"])
    mc = cfg.disclosure.min_cell
    sample_flow = pl.read_parquet(T.SAMPLE_FLOW.path(w))
    flow = or_withheld(safe_sample_flow, sample_flow, mc)
    # the months add up to the flow's final step: a count the flow hides stays hidden in their totals
    month = or_withheld(safe_share, res["digital_share_by_month"], ["calendar_month"], mc, sample_flow)
    means = safe_outcome_means(
        res["outcome_means"], {n for n in outcome_names(cfg) if n.startswith("y_exit_")}, mc
    )
    roles = res["dictionary"].group_by("role").len().sort("role")
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": res["n_rows"],
            "dagster/column_schema": schema,
            "dagster/column_lineage": lineage,
            "path": dg.MetadataValue.path(str(res["analysis_table"])),
            "column_dictionary": dg.MetadataValue.path(str(res["column_dictionary"])),
            "run_config": dg.MetadataValue.path(str(res["run_config"])),
            # the hash of what run_config.yaml holds: the table build's sections
            "run_config_sha256": cfg.table_sha256,
            "codebook_version": cb.version,
            "columns_by_role": dg.MetadataValue.json(dict(roles.iter_rows())),
            "sample_flow": dg.MetadataValue.md(
                markdown_table(
                    flow, ["step", "rule", "units_before", "units_removed", "units_after", *FLOW_FORM_COLUMNS]
                )
            ),
            "sample_flow_json": dg.MetadataValue.json(flow),
            "digital_share_by_month": dg.MetadataValue.md(
                markdown_table(
                    month,
                    [
                        "calendar_month",
                        "n_meetings",
                        "n_digital",
                        "digital_share",
                        *SHARE_FORM_COLUMNS,
                        *FORM_COUNT_COLUMNS,
                    ],
                )
            ),
            "outcome_means": dg.MetadataValue.md(
                markdown_table(
                    means,
                    [
                        "outcome",
                        "n_nonmissing",
                        "n_missing",
                        "mean",
                        "n_digital_1",
                        "mean_digital_1",
                        "n_digital_0",
                        "mean_digital_0",
                    ],
                )
            ),
            "outcome_means_json": dg.MetadataValue.json(means),
        }
    )


@stage_check(
    "analysis_table",
    CHECK_ONE_ROW_PER_MEETING,
    "As many rows as eligible meetings (the sample flow's last count); the unique meeting_id is "
    "analysis_table_matches_contract's.",
)
def check_one_row_per_meeting(paths: RunPaths, regdml: RegdmlResource) -> dg.AssetCheckResult:
    w = paths.work_dir
    # the key's uniqueness is the contract check's (out of core); here the count against the flow
    n = int(pl.scan_parquet(T.ANALYSIS_TABLE.path(w)).select(pl.len()).collect().item())
    flow = pl.read_parquet(T.SAMPLE_FLOW.path(w))
    ok = n == int(flow["units_after"][-1])
    return dg.AssetCheckResult(passed=bool(ok), metadata={"n_rows": n})


@stage_check(
    "analysis_table",
    CHECK_MATCHES_DICTIONARY,
    "Columns equal the column dictionary; covariates have no nulls; roles are known.",
)
def check_matches_dictionary(paths: RunPaths, regdml: RegdmlResource) -> dg.AssetCheckResult:
    table = T.ANALYSIS_TABLE.path(paths.work_dir)
    d = pl.read_parquet(T.COLUMN_DICTIONARY.path(paths.work_dir))
    cols = list(pl.read_parquet_schema(table))
    nulls = covariate_nulls(table, d)
    ok = cols == d["name"].to_list() and not nulls
    return dg.AssetCheckResult(passed=ok, metadata={"covariate_nulls": dg.MetadataValue.json(nulls)})


ASSETS = [analysis_table]
CHECKS = [check_one_row_per_meeting, check_matches_dictionary, *contract_checks(ASSETS)]
