"""Run the register logic end to end without Dagster: staged Parquet in ``work_dir/staging`` -> analysis table.

The Dagster assets call the same stage functions one by one; this helper is for tests, benchmarks and
debugging.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from assets.analysis.logic import build_analysis_table
from assets.cohort.logic import (
    BENEFIT_SPELLS,
    BENEFIT_WEEKS,
    DREAM_CALENDAR,
    build_benefit_spells,
    build_benefit_weeks,
)
from assets.covariates.logic import build_meeting_covariates
from assets.outcomes.logic import build_meeting_outcomes
from assets.outcomes.placebos import MEETING_PLACEBOS, build_meeting_placebos
from assets.treatment.logic import ELIGIBLE_MEETINGS, build_meetings
from data_contracts.codebook import Codebook
from data_contracts.config import RunConfig


def staged(work_dir: Path, register: str) -> Path:
    return Path(work_dir) / "staging" / f"{register}.parquet"


def run_register_logic(
    work_dir: str | Path,
    cfg: RunConfig,
    codebook: Codebook,
    duckdb_settings: Mapping[str, str | int] | None = None,
) -> dict[str, dict[str, object]]:
    """Run cohort, treatment, outcomes, covariates and analysis on ``work_dir/staging/*.parquet``."""
    w = Path(work_dir)
    st = lambda r: staged(w, r)  # noqa: E731
    cohort, treat, outc, cov, ana = (
        w / s for s in ("cohort", "treatment", "outcomes", "covariates", "analysis")
    )
    res: dict[str, dict[str, object]] = {}
    res["benefit_weeks"] = build_benefit_weeks(st("dream"), cohort, codebook, duckdb_settings)
    res["benefit_spells"] = build_benefit_spells(
        st("dream"), cohort, codebook, cfg.cohort.target_groups, duckdb_settings
    )
    res["meetings"] = build_meetings(
        st("samtaler"),
        st("kontaktform_validering"),
        cohort / BENEFIT_WEEKS,
        cohort / BENEFIT_SPELLS,
        st("bef"),
        treat,
        cfg,
        codebook,
        duckdb_settings,
    )
    res["meeting_outcomes"] = build_meeting_outcomes(
        treat / ELIGIBLE_MEETINGS,
        st("dream"),
        outc,
        cfg,
        codebook,
        duckdb_settings,
    )
    res["meeting_placebos"] = build_meeting_placebos(
        treat / ELIGIBLE_MEETINGS, st("dream"), st("ind"), outc, cfg, codebook, duckdb_settings
    )
    res["meeting_covariates"] = build_meeting_covariates(
        treat / ELIGIBLE_MEETINGS,
        st("bef"),
        st("udda"),
        st("ind"),
        st("akm"),
        st("akasse"),
        cohort / BENEFIT_WEEKS,
        cohort / DREAM_CALENDAR,
        cov,
        cfg,
        codebook,
        duckdb_settings,
        population_path=st("befolkning_kommune"),
    )
    res["analysis_table"] = build_analysis_table(
        treat / ELIGIBLE_MEETINGS,
        outc / "meeting_outcomes.parquet",
        cov / "meeting_covariates.parquet",
        ana,
        cfg,
        codebook,
        duckdb_settings,
        local_source=res["meeting_covariates"]["local_labour_market"],
        placebos_path=outc / MEETING_PLACEBOS,
    )
    return res
