"""`regdml run` estimates the cells of its configuration (data_contracts/cells.py), also a cell the default
configuration does not have, and reports no cell an earlier configuration left behind (issue 19, point 2)."""

from __future__ import annotations

import dagster as dg
import polars as pl
import pytest
import yaml

from assets.estimation.logic import cell_path
from assets.partitions import CELLS_NAME, cell_partition_key
from assets.resources import RegdmlResource
from data_contracts.cells import Cell, cell_keys, estimation_cells
from data_contracts.config import load_config

# One outcome at a horizon the defaults do not have (8 weeks), the cheapest design, few trees: the run
# stages the small delivery again (a new configuration is a new data version) and fits one naive cell.
EXTRA = {
    "outcomes": {"exit_horizons": [8]},
    "estimation": {
        "learner": "lgbm",
        "primary_outcomes": ["y_exit_8w"],
        "placebo_outcomes": [],
        "designs": ["naive"],
        "n_folds": 2,
        "lgbm_n_estimators": 20,
        "trial_sizes": [2000],
        "feasibility_outcome": "y_exit_8w",
    },
}
pytestmark = pytest.mark.slow  # a whole run of the small delivery (about half of the shared small run)

LEFTOVER = Cell("y_exit_26w", "naive")  # an earlier configuration's cell: a partition and files on disk


def test_run_estimates_a_cell_outside_the_defaults_and_only_the_configured(
    small_delivery, tmp_path, monkeypatch
):
    from pipelines.run import run_delivery

    cfg_file = tmp_path / "extra.yaml"
    cfg_file.write_text(yaml.safe_dump(EXTRA), encoding="utf-8")
    cfg = load_config(cfg_file)
    new = Cell("y_exit_8w", "naive")
    assert estimation_cells(cfg) == [new] and new.key not in cell_keys(load_config())

    workdir = tmp_path / "work"
    home = workdir / "dagster_home"
    # the run sets both; monkeypatch puts them back afterwards
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    monkeypatch.setenv("REGDML_WORKDIR", str(workdir))
    # what an earlier configuration left: its cell's partition and its cell's files (one estimate row)
    from pipelines.instance import get_instance

    get_instance(workdir).add_dynamic_partitions(CELLS_NAME, [LEFTOVER.key])
    cells_dir = (
        RegdmlResource(delivery_dir=str(small_delivery), workdir=str(workdir)).paths().stage("estimation")
    )
    cells_dir = cells_dir / "cells"
    cells_dir.mkdir(parents=True, exist_ok=True)
    pl.DataFrame(
        {"outcome": [LEFTOVER.outcome], "design": [LEFTOVER.design], "estimate": [0.5], "se": [0.1]}
    ).write_parquet(cell_path(cells_dir, *LEFTOVER, "estimate"))

    code, paths = run_delivery(small_delivery, workdir=workdir, config=cfg_file, until="all")
    assert code == 0
    assert cell_path(paths.stage("estimation") / "cells", *new, "estimate").exists()
    est = pl.read_parquet(paths.stage("estimation") / "estimates.parquet")
    assert est.select("outcome", "design").rows() == [tuple(new)]

    instance = dg.DagsterInstance.from_config(str(home))
    assert set(instance.get_dynamic_partitions(CELLS_NAME)) == {LEFTOVER.key, new.key}
    mats = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=dg.AssetKey("estimate_cell")), limit=10
    ).records
    assert [r.partition_key for r in mats] == [str(cell_partition_key(small_delivery.name, new))]
