"""Jobs: the whole pipeline is three asset jobs, because the estimation cells are partitioned by
(outcome, design) and the stages before and after them are not.

Every asset is partitioned by delivery; the cells also by (outcome x design).

``prepare``  raw -> staging -> cohort -> treatment -> outcomes -> covariates -> analysis
``cells``    one run per estimation partition (outcome x design): a failed fit reruns alone
``finish``   collected estimates, diagnostics, report and export bundle
"""

from __future__ import annotations

import dagster as dg

PREPARE_JOB = "regdml_prepare"
CELLS_JOB = "regdml_estimation_cells"
FINISH_JOB = "regdml_finish"


def cell_keys(assets: list) -> list[dg.AssetKey]:
    """Assets partitioned by (delivery, cell): the estimation cells."""
    keys: list[dg.AssetKey] = []
    for a in assets:
        if isinstance(a, dg.AssetsDefinition) and isinstance(a.partitions_def, dg.MultiPartitionsDefinition):
            keys.extend(a.keys)
    return keys


def build_jobs(assets: list) -> list[dg.UnresolvedAssetJobDefinition]:
    part = cell_keys(assets)
    everything = dg.AssetSelection.all()
    if not part:
        return [
            dg.define_asset_job(PREPARE_JOB, selection=everything, description="Every asset of a delivery")
        ]
    cells = dg.AssetSelection.assets(*part)
    after = cells.downstream() - cells
    before = everything - cells - after
    return [
        dg.define_asset_job(PREPARE_JOB, selection=before, description="Registers to the analysis table"),
        dg.define_asset_job(CELLS_JOB, selection=cells, description="One estimation cell (outcome x design)"),
        dg.define_asset_job(
            FINISH_JOB, selection=after, description="Estimates, diagnostics, report, export"
        ),
    ]
