"""Shared nuisance fits across the estimation grid (issue 22, point 1): the grid of a small synthetic delivery
estimated through the pipeline's assets with ``estimation.share_fits`` off and on writes the same files
under ``estimation/`` (only the wall time differs), and the shared run fits fewer nuisances."""

from __future__ import annotations

import json
import shutil

import dagster as dg
import polars as pl
import pytest
import yaml
from polars.testing import assert_frame_equal

from assets.partitions import add_cells, cell_partition_key
from assets.partitions import deliveries as DELIVERIES
from assets.resources import RegdmlResource
from data_contracts.cells import estimation_cells

pytestmark = pytest.mark.slow

OUTCOMES = ["y_exit_13w", "y_exit_26w"]  # primary; the placebo outcome below has its own sample
PLACEBOS = ["weeks_selfsupport_pre52w"]
DESIGNS = ["irm_att", "irm_ate", "plr", "pliv", "naive", "irm_att_first", "modality"]
CONFIG = {
    "estimation": {
        "learner": "lgbm",
        "primary_outcomes": OUTCOMES,
        "placebo_outcomes": PLACEBOS,
        "designs": DESIGNS,
        "n_folds": 2,
        "n_reps": 2,
        "lgbm_n_estimators": 20,
        "trial_sizes": [2000, 20000],
    }
}
WALL_TIME = {"seconds"}


def _grid(small_run, root, share: bool):
    """Copy the small run's analysis table to a fresh work folder and materialize the estimation stage
    there (every cell, then the collection, the placebo and the power table)."""
    from assets.estimation import defs

    root.mkdir(parents=True)
    (root / "deliv").mkdir()
    cfg = root / "cfg.yaml"
    cfg.write_text(yaml.safe_dump({"estimation": {**CONFIG["estimation"], "share_fits": share}}))
    res = RegdmlResource(delivery_dir=str(root / "deliv"), workdir=str(root / "work"), config_path=str(cfg))
    paths = res.paths()
    shutil.copytree(small_run["paths"].work_dir / "analysis", paths.stage("analysis"), dirs_exist_ok=True)
    instance = dg.DagsterInstance.ephemeral()
    instance.add_dynamic_partitions(DELIVERIES.name, ["deliv"])
    cells = estimation_cells(res.run_config())
    add_cells(instance, cells)
    src = dg.SourceAsset(key="analysis_table")
    metas = {}
    for cell in cells:
        r = dg.materialize([defs.estimate_cell, src], resources={"regdml": res},
                           partition_key=cell_partition_key("deliv", cell), instance=instance)  # fmt: skip
        assert r.success, cell
        metas[cell.key] = r.asset_materializations_for_node("estimate_cell")[0].metadata
    r = dg.materialize(
        [defs.estimates, defs.permutation_placebo, defs.reversed_trial_power, src],
        resources={"regdml": res},
        selection=["estimates", "permutation_placebo", "reversed_trial_power"],
        partition_key="deliv",
        instance=instance,
    )
    assert r.success
    metas["estimates"] = r.asset_materializations_for_node("estimates")[0].metadata
    return paths, metas


@pytest.fixture(scope="module")
def grids(small_run, tmp_path_factory):
    assert small_run["code"] == 0
    tmp = tmp_path_factory.mktemp("share_fits")
    return {share: _grid(small_run, tmp / ("shared" if share else "own"), share) for share in (False, True)}


def test_every_estimation_file_equals_the_per_cell_run(grids):
    own, shared = grids[False][0].work_dir / "estimation", grids[True][0].work_dir / "estimation"
    names = sorted(p.relative_to(own).as_posix() for p in own.rglob("*.parquet"))
    assert names == sorted(p.relative_to(shared).as_posix() for p in shared.rglob("*.parquet"))
    for must in ("estimates.parquet", "placebos.parquet", "feasibility.parquet", "sensitivity.parquet",
                 "potential_outcomes.parquet", "cells/y_exit_26w__irm_ate.estimate.parquet"):  # fmt: skip
        assert must in names
    assert len(names) > 7 * 3 * 3
    for name in names:
        a, b = pl.read_parquet(own / name), pl.read_parquet(shared / name)
        drop = [c for c in a.columns if c in WALL_TIME]
        a, b = a.drop(drop), b.drop(drop)
        assert_frame_equal(a, b, check_exact=False, rel_tol=1e-10, abs_tol=1e-12), name
    est = pl.read_parquet(shared / "estimates.parquet")
    # the grid ran with two repetitions (the difference in means has none)
    assert set(est.filter(pl.col("design") != "naive").get_column("reps").to_list()) == {2}


def test_the_shared_run_fits_fewer_nuisances_and_keeps_its_fits_in_the_work_folder(grids):
    paths, metas = grids[True]
    folder = paths.nuisance_cache_dir
    assert folder == paths.work_dir / "cache" / "nuisance"
    records = {p.stem: json.loads(p.read_text()) for p in (folder / "used").glob("*.json")}
    cells = {f"{o}__{d}" for o in OUTCOMES + PLACEBOS for d in DESIGNS}
    assert set(records) == cells | {"permutation_placebo"}
    grid = [records[c] for c in cells]
    requested = sum(r["fits_requested"] for r in grid)
    made = sum(r["fits_made"] for r in grid)
    assert 0 < made < requested
    # IRM-ATE (with sensitivity IRM-ATT fits g1 too) reads every fit of IRM-ATT's cell
    for o in OUTCOMES + PLACEBOS:
        assert records[f"{o}__irm_ate"]["fits_made"] == 0, o
        assert records[f"{o}__irm_att"]["fits_made"] > 0, o
    assert metas["y_exit_13w__irm_ate"]["shared_fits"].value.startswith("0 of ")
    text = metas["estimates"]["shared_fits"].value
    assert text.startswith(f"{made} of {requested} cross-fitted nuisances fitted") and "21 cells" in text
    # what is kept is what the cells and the placebo used (the collection pruned the rest)
    keys = {k for r in records.values() for k in r["keys"]}
    stored = {p.name.split(".")[0] for p in folder.glob("*/*.npy")}
    assert stored and stored <= keys
    # the per-cell run has no cache
    own_paths, own_metas = grids[False]
    assert not own_paths.nuisance_cache_dir.exists()
    assert "shared_fits" not in own_metas["y_exit_13w__irm_ate"]
    assert own_metas["estimates"]["shared_fits"].value.startswith("off")


def test_pruning_at_the_collection_removes_fits_no_configured_cell_used(grids, tmp_path):
    from assets.estimation.logic import prune_shared_fits
    from models.nuisance_cache import NuisanceCache

    paths, _ = grids[True]
    folder = tmp_path / "nuisance"
    shutil.copytree(paths.nuisance_cache_dir, folder)
    before = {p.name for p in folder.glob("*/*.npy")}
    mine = NuisanceCache(folder)
    # a cell no longer in the configuration: its record goes, and with it the fits only it used
    only_13w = set(mine.usage(["y_exit_13w__irm_att"])["y_exit_13w__irm_att"]["keys"])
    others = {k for name, r in mine.usage().items() if not name.startswith("y_exit_13w") for k in r["keys"]}
    text = prune_shared_fits(folder, True, ["y_exit_26w", *PLACEBOS], DESIGNS)
    after = {p.name.split(".")[0] for p in folder.glob("*/*.npy")}
    assert after == {k for k in others if f"{k}.npy" in before}
    assert not (only_13w - others) & after and (only_13w - others)
    assert "14 cells" in text and "unused removed" in text
    assert not list((folder / "used").glob("y_exit_13w__*"))
    # share_fits off: the folder goes
    assert prune_shared_fits(folder, False, OUTCOMES, DESIGNS).startswith("off")
    assert not folder.exists()
