"""The regdml code location: one ``dg.Definitions`` with every stage's assets and checks.

Stages, in the order of the analysis plan: raw -> staging -> cohort -> treatment -> outcomes ->
covariates -> analysis -> estimation -> report. Each stage module exposes ``ASSETS`` and ``CHECKS``.
"""

from __future__ import annotations

import importlib
import warnings

import dagster as dg

from assets.resources import RegdmlResource
from pipelines.jobs import build_jobs

STAGE_MODULES: tuple[str, ...] = (
    "assets.raw.defs",
    "assets.staging.defs",
    "assets.cohort.defs",
    "assets.treatment.defs",
    "assets.outcomes.defs",
    "assets.covariates.defs",
    "assets.analysis.defs",
    "assets.estimation.defs",
    "assets.estimation.value_defs",
    "assets.report.defs",
)


def _collect(attr: str) -> list:
    out: list = []
    for name in STAGE_MODULES:
        module = importlib.import_module(name)
        out.extend(getattr(module, attr, []))
    return out


def all_assets() -> list:
    """Every stage's assets, each linked to the file and line of its code (shown in the UI)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", dg.BetaWarning)  # beta in the pinned Dagster 1.13
        return list(dg.with_source_code_references(_collect("ASSETS")))


def all_checks() -> list:
    return _collect("CHECKS")


def build_definitions(resource: RegdmlResource | None = None) -> dg.Definitions:
    """Build the code location; ``resource`` defaults to one configured from environment variables."""
    from pipelines.automation import build_automation

    assets = all_assets()
    jobs = build_jobs(assets)
    sensors, schedules = build_automation(jobs)
    return dg.Definitions(
        assets=assets,
        jobs=jobs,
        sensors=sensors,
        schedules=schedules,
        asset_checks=all_checks(),
        resources={"regdml": resource or RegdmlResource.from_env()},
        executor=dg.in_process_executor,
    )


defs = build_definitions()
