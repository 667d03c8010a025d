"""Dagster wrapper of the treatment stage: one multi-asset writes meetings, eligible_meetings and sample_flow."""

import dagster as dg
import polars as pl

from assets.analysis.summaries import (
    markdown_table,
    or_withheld,
    safe_breakdown,
    safe_count,
    safe_sample_flow,
    safe_share,
)
from assets.code_version import stage_version
from assets.contract_defs import OWNERS, contract_checks, n_rows, output_metadata, stage_check, staged_path
from assets.partitions import deliveries as DELIVERIES
from assets.resources import RegdmlResource, RunPaths
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


_UPSTREAM = ["samtaler", "kontaktform_validering", "bef", "benefit_weeks", "benefit_spells"]


def _spec(table: T.TableContract, description: str, deps: list[str], kinds: set[str]) -> dg.AssetSpec:
    return dg.AssetSpec(
        table.name,
        deps=deps,
        description=description,
        group_name="treatment",
        code_version=CODE_VERSION,
        owners=OWNERS,
        kinds=kinds,
        partitions_def=DELIVERIES,
    )


@dg.multi_asset(
    name="treatment",
    specs=[
        _spec(
            T.MEETINGS,
            "Every staged meeting with form category, ISO week, month, validation, DREAM code and the first "
            "eligibility rule it fails (excluded_by).",
            _UPSTREAM,
            {"duckdb", "parquet"},
        ),
        _spec(
            T.ELIGIBLE_MEETINGS,
            "Eligible meetings (the primary unit) with digital, spell, elapsed_weeks, earlier jobsamtaler and "
            "first_in_spell (the secondary unit).",
            ["meetings"],
            {"duckdb", "parquet"},
        ),
        _spec(
            T.SAMPLE_FLOW,
            "Sample flow: each eligibility rule in order with units before, removed and after.",
            ["meetings"],
            {"parquet"},
        ),
    ],
    partitions_def=DELIVERIES,
)
def treatment(context: dg.AssetExecutionContext, regdml: RegdmlResource):
    """Annotated meetings, eligible meetings and the sample flow: one pass of :func:`build_meetings` writes
    the three tables (the rules are applied in order on the annotated meetings), each reported as its
    asset."""
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
    mc = cfg.disclosure.min_cell
    # every report computed before the first is yielded: the three are materialized together or not at all
    # (a rerun selects what is stale, and a part of this multi-asset cannot be selected alone)
    metadata = {
        "meetings": _meetings_metadata(w, res["n_meetings"], mc),
        "eligible_meetings": _eligible_metadata(w, regdml.duckdb_settings(paths), mc),
        "sample_flow": _flow_metadata(w, mc),
    }
    for key, md in metadata.items():
        yield dg.MaterializeResult(asset_key=key, metadata=md)


def _meetings_metadata(w, n_meetings: int, mc: int) -> dict:
    cats = (
        pl.scan_parquet(T.MEETINGS.path(w))
        .group_by("kontaktform_category")
        .len()
        .sort("kontaktform_category")
        .collect()
    )
    return {
        **output_metadata(T.MEETINGS, w, n_meetings),
        # the categories add up to the meetings (the row count): through the gate, with a complement
        "meetings_by_form_category": dg.MetadataValue.json(
            safe_breakdown(
                {str(r["kontaktform_category"] or "null"): r["len"] for r in cats.iter_rows(named=True)},
                mc,
                name="meetings_by_form_category",
                unit="meetings",
            )
        ),
    }


def _eligible_metadata(w, duckdb_settings, mc: int) -> dict:
    out = T.ELIGIBLE_MEETINGS.path(w)
    by_month, by_km = digital_share_tables(out, duckdb_settings)
    # the months add up to the sample flow's final step (written with the eligible meetings): a count the
    # flow hides stays hidden in their totals
    flow = pl.read_parquet(T.SAMPLE_FLOW.path(w))
    safe_month = or_withheld(safe_share, by_month, ["calendar_month"], mc, flow)
    n_first = int(pl.scan_parquet(out).select(pl.col("first_in_spell").sum()).collect().item() or 0)
    cols = [
        "calendar_month",
        "n_meetings",
        "n_digital",
        "digital_share",
        *SHARE_FORM_COLUMNS,
        *FORM_COUNT_COLUMNS,
    ]
    return {
        **output_metadata(T.ELIGIBLE_MEETINGS, w),
        "n_first_in_spell": safe_count(n_first, mc),
        "digital_share_by_month": dg.MetadataValue.md(markdown_table(safe_month, cols)),
        "digital_share_by_month_json": dg.MetadataValue.json(safe_month),
        "n_kommune_months": by_km.height,
    }


def _flow_metadata(w, mc: int) -> dict:
    """The sample flow as the gate publishes it (aggregate; small counts merged or suppressed)."""
    flow = pl.read_parquet(T.SAMPLE_FLOW.path(w))
    safe = or_withheld(safe_sample_flow, flow, mc)
    cols = ["step", "rule", "units_before", "units_removed", "units_after", *FLOW_FORM_COLUMNS, "description"]
    return {
        **output_metadata(T.SAMPLE_FLOW, w, flow.height),
        "sample_flow": dg.MetadataValue.md(markdown_table(safe, cols)),
        "sample_flow_json": dg.MetadataValue.json(safe),
    }


@stage_check(
    "eligible_meetings",
    CHECK_SAMPLE_FLOW_COMPLETE,
    "Every staged meeting is either eligible or counted under exactly one rule, in order.",
)
def check_sample_flow_complete(paths: RunPaths, regdml: RegdmlResource) -> dg.AssetCheckResult:
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


@stage_check(
    "eligible_meetings",
    CHECK_ELIGIBLE_IN_SPELL,
    "Each eligible meeting lies in a target-group spell (elapsed_weeks >= 1, spell and digital known).",
)
def check_eligible_in_spell(paths: RunPaths, regdml: RegdmlResource) -> dg.AssetCheckResult:
    # a lazy count (the table is not loaded); the unique meeting_id is eligible_meetings_matches_contract's
    bad = (
        pl.scan_parquet(T.ELIGIBLE_MEETINGS.path(paths.work_dir))
        .filter((pl.col("elapsed_weeks") < 1) | pl.col("spell_id").is_null() | pl.col("digital").is_null())
        .select(pl.len())
        .collect()
        .item()
    )
    return dg.AssetCheckResult(passed=bad == 0, metadata={"n_bad": int(bad)})


ASSETS = [treatment]
CHECKS = [check_sample_flow_complete, check_eligible_in_spell, *contract_checks(ASSETS)]
