"""The register logic run as the pipeline runs it: the Dagster assets from cohort to the analysis table,
materialized on a work folder whose ``staging/`` holds hand-built staged registers.

This replaces a second wiring of the stages without Dagster: a test runs the same assets, resource and
blocking checks as ``regdml run`` (staging is not run; the staged files stand in for it), and reads what
they wrote through the table contracts (``data_contracts/tables.py``) and the materializations' metadata.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import dagster as dg
import polars as pl
import yaml

from assets.partitions import deliveries as DELIVERIES
from assets.resources import RegdmlResource
from data_contracts.config import RunConfig
from data_contracts.tables import TABLES

# The register-logic stages' wrappers, in the order of the analysis plan
STAGE_MODULES = (
    "assets.cohort.defs",
    "assets.treatment.defs",
    "assets.outcomes.defs",
    "assets.covariates.defs",
    "assets.analysis.defs",
)


@dataclass
class StageRun:
    """What one materialization of the register logic left: the work folder, each asset's metadata
    (plain values) and each check's verdict."""

    work: Path
    metadata: dict[str, dict[str, Any]] = field(default_factory=dict)
    checks: dict[str, bool] = field(default_factory=dict)

    def path(self, table: str) -> Path:
        """The file of the stage output ``table`` (its contract's path)."""
        return TABLES[table].path(self.work)

    def read(self, table: str) -> pl.DataFrame:
        return pl.read_parquet(self.path(table))


def _plain(value: Any) -> Any:
    return getattr(value, "value", value)


def run_stages(
    work: str | Path,
    config: RunConfig | dict | None = None,
    checks: bool = False,
    raise_on_error: bool = True,
) -> StageRun:
    """Materialize the register-logic assets (and their checks) on ``work/staging/*.parquet``.

    ``config`` is the run configuration (written to a YAML file the resource reads), or values over the
    defaults (nested, as in the YAML). With ``checks`` the assets' blocking checks run too (each a step of
    its own, so a few seconds more). The resource's run folder is ``<workdir>/runs/<name>``: a link by that
    name to ``work`` makes it ``work`` itself.
    """
    import importlib

    work = Path(work).resolve()
    root = work.parent / f".{work.name}.regdml"
    (root / "runs").mkdir(parents=True, exist_ok=True)
    (root / "deliveries" / work.name).mkdir(parents=True, exist_ok=True)
    link = root / "runs" / work.name
    if not link.exists():
        link.symlink_to(work, target_is_directory=True)
    config_file = root / "config.yaml"
    values = config.model_dump(mode="json", exclude_none=True) if isinstance(config, RunConfig) else config
    config_file.write_text(yaml.safe_dump(values or {}), encoding="utf-8")
    res = RegdmlResource(
        delivery_root=str(root / "deliveries"),
        workdir=str(root),
        config_path=str(config_file),
        duckdb_threads=1,
        polars_threads=1,
        memory_limit="1GB",
    )
    defs = []
    for name in STAGE_MODULES:
        m = importlib.import_module(name)
        defs += m.ASSETS + (m.CHECKS if checks else [])
    instance = dg.DagsterInstance.ephemeral()
    instance.add_dynamic_partitions(DELIVERIES.name, [work.name])
    result = dg.materialize(
        defs,
        resources={"regdml": res},
        partition_key=work.name,
        instance=instance,
        raise_on_error=raise_on_error,
    )
    out = StageRun(work=work)
    for ev in result.get_asset_materialization_events():
        mat = ev.event_specific_data.materialization
        out.metadata[mat.asset_key.to_user_string()] = {k: _plain(v) for k, v in mat.metadata.items()}
    out.checks = {e.check_name: e.passed for e in result.get_asset_check_evaluations()}
    return out
