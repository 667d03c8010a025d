"""Dagster wrappers of the treatment stage: meetings, eligible_meetings, sample_flow."""

import dagster as dg
import polars as pl

from assets.analysis.summaries import markdown_table, safe_sample_flow, safe_share
from assets.code_version import stage_version
from assets.contract_defs import OWNERS, contract_checks, n_rows, output_metadata, staged_path
from assets.partitions import deliveries as DELIVERIES
from assets.resources import RegdmlResource
from assets.treatment.logic import (
    FLOW_FORM_COLUMNS,
    FORM_COUNT_COLUMNS,
    SHARE_FORM_COLUMNS,
    build_meetings,
    digital_share_tables,
)
from data_contracts import tables as T

# follows the code this stage runs (assets/code_version.py)
CODE_VERSION = stage_version("treatment")

CHECK_SAMPLE_FLOW_COMPLETE = "sample_flow_accounts_for_every_meeting"
CHECK_ELIGIBLE_IN_SPELL = "eligible_meetings_in_a_target_spell"


@dg.asset(
    partitions_def=DELIVERIES,
    deps=[
        dg.AssetKey("samtaler"),
        dg.AssetKey("kontaktform_validering"),
        dg.AssetKey("bef"),
        dg.AssetKey("benefit_weeks"),
        dg.AssetKey("benefit_spells"),
    ],
    group_name="treatment",
    code_version=CODE_VERSION,
    owners=OWNERS,
    kinds={"duckdb", "parquet"},
    description="Every staged meeting with form category, ISO week, month, validation, DREAM code and the first "
    "eligibility rule it fails (excluded_by).",
)
def meetings(context: dg.AssetExecutionContext, regdml: RegdmlResource) -> dg.MaterializeResult:
    """Annotated meetings, eligible meetings and the sample flow (written together; one pass)."""
    paths = regdml.paths(context)
    cfg, cb = regdml.run_config(), regdml.codebook()
    w = paths.work_dir
    res = build_meetings(
        staged_path(paths, "samtaler"),
        staged_path(paths, "kontaktform_validering"),
        T.BENEFIT_WEEKS.path(w),
        T.BENEFIT_SPELLS.path(w),
        staged_path(paths, "bef"),
        paths.stage("treatment"),
        cfg,
        cb,
        regdml.duckdb_settings(paths),
    )
    cats = (
        pl.scan_parquet(T.MEETINGS.path(w))
        .group_by("kontaktform_category")
        .len()
        .sort("kontaktform_category")
        .collect()
    )
    mc = cfg.disclosure.min_cell
    return dg.MaterializeResult(
        metadata={
            **output_metadata(T.MEETINGS, w, res["n_meetings"]),
            "meetings_by_form_category": dg.MetadataValue.json(
                {
                    r["kontaktform_category"]: (r["len"] if r["len"] >= mc else "suppressed")
                    for r in cats.iter_rows(named=True)
                }
            ),
        }
    )


@dg.asset(
    partitions_def=DELIVERIES,
    deps=[meetings],
    group_name="treatment",
    code_version=CODE_VERSION,
    owners=OWNERS,
    kinds={"duckdb", "parquet"},
    description="Eligible meetings (the primary unit) with digital, spell, elapsed_weeks, earlier jobsamtaler and "
    "first_in_spell (the secondary unit).",
)
def eligible_meetings(context: dg.AssetExecutionContext, regdml: RegdmlResource) -> dg.MaterializeResult:
    """Reports the eligible meetings written by ``meetings`` (the rules are applied there, in order)."""
    paths = regdml.paths(context)
    cfg = regdml.run_config()
    out = T.ELIGIBLE_MEETINGS.path(paths.work_dir)
    by_month, by_km = digital_share_tables(out, regdml.duckdb_settings(paths))
    mc = cfg.disclosure.min_cell
    safe_month = safe_share(by_month, ["calendar_month"], mc)
    n_first = int(pl.scan_parquet(out).select(pl.col("first_in_spell").sum()).collect().item() or 0)
    return dg.MaterializeResult(
        metadata={
            **output_metadata(T.ELIGIBLE_MEETINGS, paths.work_dir),
            "n_first_in_spell": n_first if n_first >= mc or n_first == 0 else "suppressed",
            "digital_share_by_month": dg.MetadataValue.md(
                markdown_table(
                    safe_month,
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
            "digital_share_by_month_json": dg.MetadataValue.json(safe_month),
            "n_kommune_months": by_km.height,
        }
    )


@dg.asset(
    partitions_def=DELIVERIES,
    deps=[meetings],
    group_name="treatment",
    code_version=CODE_VERSION,
    owners=OWNERS,
    kinds={"parquet"},
    description="Sample flow: each eligibility rule in order with units before, removed and after.",
)
def sample_flow(context: dg.AssetExecutionContext, regdml: RegdmlResource) -> dg.MaterializeResult:
    """The sample flow table (aggregate; small counts suppressed in the metadata)."""
    paths = regdml.paths(context)
    flow = pl.read_parquet(T.SAMPLE_FLOW.path(paths.work_dir))
    safe = safe_sample_flow(flow, regdml.run_config().disclosure.min_cell)
    return dg.MaterializeResult(
        metadata={
            **output_metadata(T.SAMPLE_FLOW, paths.work_dir, flow.height),
            "sample_flow": dg.MetadataValue.md(
                markdown_table(
                    safe,
                    [
                        "step",
                        "rule",
                        "units_before",
                        "units_removed",
                        "units_after",
                        *FLOW_FORM_COLUMNS,
                        "description",
                    ],
                )
            ),
            "sample_flow_json": dg.MetadataValue.json(safe),
        }
    )


@dg.asset_check(
    asset=eligible_meetings,
    name=CHECK_SAMPLE_FLOW_COMPLETE,
    blocking=True,
    description="Every staged meeting is either eligible or counted under exactly one rule, in order.",
)
def check_sample_flow_complete(
    context: dg.AssetCheckExecutionContext, regdml: RegdmlResource
) -> dg.AssetCheckResult:
    paths = regdml.paths(context)
    w = paths.work_dir
    flow = pl.read_parquet(T.SAMPLE_FLOW.path(w))
    n_meetings, n_elig = n_rows(T.MEETINGS.path(w)), n_rows(T.ELIGIBLE_MEETINGS.path(w))
    chained = all(flow["units_before"][i + 1] == flow["units_after"][i] for i in range(flow.height - 1))
    arith = all(
        r["units_before"] - r["units_removed"] == r["units_after"] for r in flow.iter_rows(named=True)
    )
    ok = (
        flow["units_before"][0] == n_meetings
        and flow["units_after"][-1] == n_elig
        and int(flow["units_removed"].sum()) + n_elig == n_meetings
        and chained
        and arith
    )
    return dg.AssetCheckResult(passed=bool(ok), metadata={"chained": chained, "arithmetic": arith})


@dg.asset_check(
    asset=eligible_meetings,
    name=CHECK_ELIGIBLE_IN_SPELL,
    blocking=True,
    description="Each eligible meeting lies in exactly one target-group spell (elapsed_weeks >= 1, unique ids).",
)
def check_eligible_in_spell(
    context: dg.AssetCheckExecutionContext, regdml: RegdmlResource
) -> dg.AssetCheckResult:
    paths = regdml.paths(context)
    e = pl.read_parquet(
        T.ELIGIBLE_MEETINGS.path(paths.work_dir),
        columns=["meeting_id", "elapsed_weeks", "spell_id", "digital"],
    )
    bad = int(
        e.filter(
            (pl.col("elapsed_weeks") < 1) | pl.col("spell_id").is_null() | pl.col("digital").is_null()
        ).height
    )
    dup = e.height - e["meeting_id"].n_unique()
    return dg.AssetCheckResult(passed=bad == 0 and dup == 0, metadata={"n_bad": bad, "n_duplicate_ids": dup})


ASSETS = [meetings, eligible_meetings, sample_flow]
CHECKS = [check_sample_flow_complete, check_eligible_in_spell, *contract_checks(ASSETS)]
