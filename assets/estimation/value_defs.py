"""Dagster wrapper of the value table: ``meeting_value`` writes ``estimation/value.parquet``.

It runs in the finishing job after ``estimates`` (which writes estimates.parquet and group_effects.parquet)
and before the report. The computation is in ``models/value.py``; the inputs are the configuration's
``value`` section (docs/value.md).
"""

from pathlib import Path

import dagster as dg
import polars as pl

from assets.contract_defs import contract_checks, stage_asset
from assets.contracts import write_frame
from assets.resources import RegdmlResource, RunPaths
from data_contracts.config import RunConfig
from data_contracts.tables import VALUE
from models import value as V

OWNERS = ["team:regdml-estimation"]


def _read(path: Path) -> pl.DataFrame | None:
    return pl.read_parquet(path) if path.is_file() else None


def value_from_estimation(est_dir: Path, cfg: RunConfig) -> tuple[pl.DataFrame, list[str]]:
    """The value table of a run's estimation folder, and notes on what it could not use.

    The row ``all`` takes the overall estimate of ``cfg.value.outcome`` and ``cfg.value.design``, the group
    rows the benefit-group effects of the same cell. A benefit group the estimates have but the
    configuration has no weekly benefit for is left out and named in the notes (it cannot be valued); a
    missing estimate leaves that row's effect columns empty.
    """
    v = cfg.value
    est = _read(est_dir / "estimates.parquet")
    groups = _read(est_dir / "group_effects.parquet")
    overall, by_group = V.effects_from_estimates(est, groups, v.outcome, v.design)
    notes = []
    unknown = sorted(set(by_group) - set(v.weekly_benefit_dkk))
    if unknown:
        notes.append(
            f"benefit group(s) {unknown} have no value.weekly_benefit_dkk: left out of the value table"
        )
    if overall is None:
        notes.append(f"no overall estimate of {v.outcome} ({v.design}): the row 'all' has no effect")
    missing = [g for g in v.weekly_benefit_dkk if by_group.get(g) is None]
    if missing:
        notes.append(f"no group effect of {v.outcome} ({v.design}) for {missing}")
    by_group = {g: e for g, e in by_group.items() if g in v.weekly_benefit_dkk}
    return V.value_table(v, overall, by_group), notes


# config_value (assets/raw/defs.py): the value section's hash, so that a changed value key revalues and
# re-estimates nothing
@stage_asset("estimation", ["estimates", "config_value"], kinds=("python", "parquet"), owners=OWNERS,
             version_of="value")  # fmt: skip
def meeting_value(
    context: dg.AssetExecutionContext, paths: RunPaths, regdml: RegdmlResource
) -> dg.MaterializeResult:
    """What a digital meeting is worth: staff time saved against the effect on self-support (DKK)

    Per benefit group and for all meetings: staff saving, benefit saving and net value per meeting with 95%
    intervals from the effect's interval, the break-even effect and the national figure a year, from the
    configuration's value section (every number an assumption). Writes estimation/value.parquet.
    """
    cfg = regdml.run_config()
    est_dir = paths.stage("estimation")
    table, notes = value_from_estimation(est_dir, cfg)
    write_frame(VALUE, table, est_dir)
    for n in notes:
        context.log.warning(n)
    return dg.MaterializeResult(
        metadata={
            "headline": dg.TextMetadataValue(V.headline(table, cfg.value.design, cfg.value.outcome)),
            "rows": dg.IntMetadataValue(table.height),
            "notes": dg.TextMetadataValue("\n".join(notes) or "none"),
        }
    )


ASSETS = [meeting_value]
CHECKS = contract_checks(ASSETS)
