"""Dagster wrapper of the outcomes stage: meeting_outcomes."""

import dagster as dg
import polars as pl

from assets import weeks as W
from assets.analysis.summaries import (
    MISSING_REASONS,
    SUPPRESSED,
    markdown_table,
    safe_missing_reasons,
    safe_outcome_means,
)
from assets.contract_defs import (
    contract_checks,
    output_metadata,
    stage_asset,
    stage_check,
    stage_settings,
    staged_path,
)
from assets.outcomes.logic import build_meeting_outcomes, outcome_names, outcome_summary
from assets.outcomes.placebos import build_meeting_placebos
from assets.resources import RegdmlResource, RunPaths
from data_contracts import tables as T

CHECK_OUTCOME_RANGE = "outcome_shares_within_unit_interval"


def _binary(cfg) -> set[str]:
    return {n for n in outcome_names(cfg) if n.startswith("y_exit_")}


@stage_asset("outcomes", ["eligible_meetings", "dream"])
def meeting_outcomes(
    context: dg.AssetExecutionContext, paths: RunPaths, regdml: RegdmlResource
) -> dg.MaterializeResult:
    """Outcomes per eligible meeting: y_exit_{k}w, weeks_selfsupport_{k}w and the pre-spell placebo

    Exit to employment within k weeks, weeks of self-support after the meeting, and the same count over the
    52 weeks before the spell (placebo); null = censored or DREAM too short. Measured after the meeting week,
    by the plan's employment rule.
    """
    settings = stage_settings(regdml, paths)
    cfg = settings[0]
    res = build_meeting_outcomes(
        T.ELIGIBLE_MEETINGS.path(paths.work_dir),
        staged_path(paths, "dream"),
        paths.stage("outcomes"),
        *settings,
    )
    means = outcome_summary(
        pl.read_parquet(T.MEETING_OUTCOMES.path(paths.work_dir), columns=outcome_names(cfg)), cfg
    )
    safe = safe_outcome_means(means, _binary(cfg), cfg.disclosure.min_cell)
    # the reasons add up to n_missing: where the means suppress it, the reasons must not give it back
    hidden = [r["outcome"] for r in safe if r["n_missing"] == SUPPRESSED]
    reasons = safe_missing_reasons(res["missing_by_reason"], cfg.disclosure.min_cell, hidden)
    return dg.MaterializeResult(
        metadata={
            **output_metadata(T.MEETING_OUTCOMES, paths.work_dir, res["n_rows"]),
            "outcome_means": dg.MetadataValue.md(
                markdown_table(safe, ["outcome", "n_nonmissing", "n_missing", "mean"])
            ),
            "outcome_means_json": dg.MetadataValue.json(safe),
            # Why outcomes are missing: DREAM's weeks end (or begin) too early; employment is unknown
            # because grad_ ends before (or starts after) the weeks; a censoring code.
            "missing_by_reason": dg.MetadataValue.md(markdown_table(reasons, ["outcome", *MISSING_REASONS])),
            "missing_by_reason_json": dg.MetadataValue.json(reasons),
            "outcome_weeks": dg.MetadataValue.json(
                {
                    "dream_weeks": [
                        W.week_label(res["dream_first_week"]),
                        W.week_label(res["dream_last_week"]),
                    ],
                    "employment_known": [
                        W.week_label(res["outcome_first_week"]),
                        W.week_label(res["outcome_last_week"]),
                    ]
                    if res["employment_first_week"] is not None
                    else None,
                }
            ),
        }
    )


@stage_check(
    "meeting_outcomes",
    CHECK_OUTCOME_RANGE,
    "y_exit_* are 0/1/null (shares in [0, 1]); weeks_selfsupport_* within [0, horizon].",
)
def check_outcome_range(paths: RunPaths, regdml: RegdmlResource) -> dg.AssetCheckResult:
    cfg = regdml.run_config()
    o = pl.scan_parquet(T.MEETING_OUTCOMES.path(paths.work_dir))
    exprs = [(~pl.col(n).is_in([0, 1])).fill_null(False).sum().alias(n) for n in _binary(cfg)]
    for k in cfg.outcomes.selfsupport_horizons:
        n = f"weeks_selfsupport_{k}w"
        exprs.append((~pl.col(n).is_between(0, k)).fill_null(False).sum().alias(n))
    p = f"weeks_selfsupport_pre{cfg.outcomes.placebo_weeks}w"
    exprs.append((~pl.col(p).is_between(0, cfg.outcomes.placebo_weeks)).fill_null(False).sum().alias(p))
    bad = o.select(exprs).collect().row(0, named=True)
    bad = {k: int(v) for k, v in bad.items()}
    return dg.AssetCheckResult(
        passed=sum(bad.values()) == 0, metadata={"n_out_of_range": dg.MetadataValue.json(bad)}
    )


@stage_asset("outcomes", ["eligible_meetings", "dream", "ind"])
def meeting_placebos(
    context: dg.AssetExecutionContext, paths: RunPaths, regdml: RegdmlResource
) -> dg.MaterializeResult:
    """Placebo and negative-control outcomes that are not functions of the covariates

    wage_income_2y_before (IND wage income two years before the meeting year) and y_exit_13w_pseudo (exit to
    employment within 13 weeks of a pseudo-meeting 52 weeks before the spell); null = unknown. Dated before
    the meeting, so the meeting cannot have affected them.
    """
    res = build_meeting_placebos(
        T.ELIGIBLE_MEETINGS.path(paths.work_dir),
        staged_path(paths, "dream"),
        staged_path(paths, "ind"),
        paths.stage("outcomes"),
        *stage_settings(regdml, paths),
    )
    out = T.MEETING_PLACEBOS.path(paths.work_dir)
    nulls = (
        pl.scan_parquet(out).select(pl.all().exclude("meeting_id").null_count()).collect().row(0, named=True)
    )
    return dg.MaterializeResult(
        metadata={
            **output_metadata(T.MEETING_PLACEBOS, paths.work_dir, res["n_rows"]),
            "n_missing": dg.MetadataValue.json({k: int(v) for k, v in nulls.items()}),
        }
    )


ASSETS = [meeting_outcomes, meeting_placebos]
CHECKS = [check_outcome_range, *contract_checks(ASSETS)]
