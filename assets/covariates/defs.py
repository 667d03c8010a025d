"""Dagster wrapper of the covariates stage: meeting_covariates."""

import dagster as dg
import polars as pl

from assets import contract_defs as factory
from assets.covariates.logic import build_meeting_covariates, provenance_violations
from assets.resources import RegdmlResource, RunPaths
from data_contracts import tables as T

CHECK_NO_LOOK_AHEAD = "covariates_dated_before_meeting"
CHECK_NO_NULLS = "covariates_without_nulls"


@factory.stage_asset(
    "covariates",
    [
        "eligible_meetings",
        "benefit_weeks",
        "bef",
        "udda",
        "ind",
        "akm",
        "akasse",
        "dream",
        "befolkning_kommune",
    ],
)
def meeting_covariates(
    context: dg.AssetExecutionContext, paths: RunPaths, regdml: RegdmlResource
) -> dg.MaterializeResult:
    """Covariates of each eligible meeting, only from information dated before the meeting week

    BEF, UDDA, IND, AKM, A-kasse, DREAM history and the local labour market; categoricals as dummies with
    explicit missing indicators (no nulls).
    """
    w = paths.work_dir
    st = lambda r: factory.staged_path(paths, r)  # noqa: E731
    res = build_meeting_covariates(
        T.ELIGIBLE_MEETINGS.path(w),
        st("bef"),
        st("udda"),
        st("ind"),
        st("akm"),
        st("akasse"),
        T.BENEFIT_WEEKS.path(w),
        T.DREAM_CALENDAR.path(w),
        paths.stage("covariates"),
        *factory.stage_settings(regdml, paths),
        population_path=st("befolkning_kommune"),
    )
    for warning in res["warnings"]:
        context.log.warning(warning)
    out = T.MEETING_COVARIATES.path(w)
    desc = {s["name"]: s["definition"] for s in res["specs"]}
    miss = [s["name"] for s in res["specs"] if s["name"].endswith(("_missing", "_unknown"))]
    shares = (
        pl.scan_parquet(out).select([pl.col(c).mean() for c in miss]).collect().row(0, named=True)
        if miss
        else {}
    )
    return dg.MaterializeResult(
        metadata={
            **factory.output_metadata(T.MEETING_COVARIATES, w, res["n_rows"], desc),
            "n_covariates": len(res["specs"]),
            "local_labour_market": res["local_labour_market"],
            "warnings": dg.MetadataValue.text("\n".join(res["warnings"]) or "(none)"),
            "missing_indicator_shares": dg.MetadataValue.json(
                {k: round(v or 0.0, 3) for k, v in shares.items()}
            ),
        }
    )


@factory.stage_check(
    "meeting_covariates",
    CHECK_NO_LOOK_AHEAD,
    "No covariate source is dated on or after the Monday of its meeting's week.",
)
def check_no_look_ahead(paths: RunPaths, regdml: RegdmlResource) -> dg.AssetCheckResult:
    v = provenance_violations(T.COVARIATE_PROVENANCE.path(paths.work_dir))
    return dg.AssetCheckResult(
        passed=int(v["n_after_meeting"].sum()) == 0,
        metadata={"violations": dg.MetadataValue.json(dict(v.iter_rows()))},
    )


@factory.stage_check("meeting_covariates", CHECK_NO_NULLS)
def check_no_nulls(paths: RunPaths, regdml: RegdmlResource) -> dg.AssetCheckResult:
    """Covariate columns have no nulls (missing values are explicit indicators)."""
    df = pl.scan_parquet(T.MEETING_COVARIATES.path(paths.work_dir))
    nulls = df.select(pl.all().null_count()).collect().row(0, named=True)
    bad = {k: int(v) for k, v in nulls.items() if v}
    return dg.AssetCheckResult(passed=not bad, metadata={"null_counts": dg.MetadataValue.json(bad)})


ASSETS = [meeting_covariates]
CHECKS = [check_no_look_ahead, check_no_nulls, *factory.contract_checks(ASSETS)]
