"""Estimation cells side by side in process mode: as many at a time as the cores and the memory budget
hold (``REGDML_CELLS`` overrides), cells whose fits others read first. The files equal those of a run
one cell at a time (tests/pipelines/test_pl_isolate.py compares the in-process and spawned paths)."""

from __future__ import annotations

import dagster as dg
import polars as pl
import pytest

from assets.partitions import CELL_DIM, DELIVERY_DIM
from assets.resources import RegdmlResource, RunPaths
from pipelines.run import CELL_MATRIX_COPIES, PROCESS_BYTES, cell_concurrency, fitters_first


def _paths_with_matrix(tmp_path, rows: int, covariates: int) -> RunPaths:
    ana = tmp_path / "runs" / "d" / "analysis"
    ana.mkdir(parents=True)
    names = [f"x{j}" for j in range(covariates)]
    pl.DataFrame({"pnr": list(range(rows)), **{c: [0] * rows for c in names}}).write_parquet(
        ana / "analysis_table.parquet"
    )
    pl.DataFrame({"name": ["pnr", *names], "role": ["id", *["covariate"] * covariates]}).write_parquet(
        ana / "column_dictionary.parquet"
    )
    return RunPaths(delivery_dir=tmp_path / "d", work_dir=tmp_path / "runs" / "d")


def test_cells_at_a_time_follow_the_cores(tmp_path, monkeypatch):
    paths = _paths_with_matrix(tmp_path, rows=100, covariates=3)
    monkeypatch.setattr("pipelines.run.cores", lambda: 3)
    assert cell_concurrency(RegdmlResource(memory_limit="64GB"), paths, raw="") == 3
    monkeypatch.setattr("pipelines.run.cores", lambda: 1)
    assert cell_concurrency(RegdmlResource(memory_limit="64GB"), paths, raw="") == 1


def test_cells_at_a_time_follow_the_memory_budget(tmp_path, monkeypatch):
    rows, cov = 10_000, 25  # a 1,000,000-byte matrix
    paths = _paths_with_matrix(tmp_path, rows=rows, covariates=cov)
    monkeypatch.setattr("pipelines.run.cores", lambda: 64)
    per_cell = PROCESS_BYTES + CELL_MATRIX_COPIES * rows * cov * 4
    assert cell_concurrency(RegdmlResource(memory_limit=str(5 * per_cell)), paths, raw="") == 5
    assert cell_concurrency(RegdmlResource(memory_limit=str(5 * per_cell - 1)), paths, raw="") == 4
    # a budget below one cell still runs one cell at a time (the fit may spill or fail; it is not refused)
    assert cell_concurrency(RegdmlResource(memory_limit=str(per_cell // 2)), paths, raw="") == 1


def test_regdml_cells_overrides_and_is_validated(tmp_path, monkeypatch):
    paths = _paths_with_matrix(tmp_path, rows=10, covariates=2)
    monkeypatch.setattr("pipelines.run.cores", lambda: 2)
    assert cell_concurrency(RegdmlResource(), paths, raw="7") == 7
    monkeypatch.setenv("REGDML_CELLS", "1")
    assert cell_concurrency(RegdmlResource(), paths) == 1
    for bad in ("0", "two", "-1"):
        with pytest.raises(ValueError, match=f"REGDML_CELLS must be a positive integer; got '{bad}'"):
            cell_concurrency(RegdmlResource(), paths, raw=bad)


def test_without_an_analysis_table_one_cell_at_a_time(tmp_path):
    paths = RunPaths(delivery_dir=tmp_path / "d", work_dir=tmp_path / "runs" / "d")
    assert cell_concurrency(RegdmlResource(), paths, raw="") == 1


def test_cells_whose_fits_others_read_go_first_in_the_configured_order():
    cells = [f"{o}__{d}" for o in ("y_a", "y_b") for d in ("irm_att", "irm_ate", "plr", "pliv", "modality")]
    keys = [dg.MultiPartitionKey({DELIVERY_DIM: "d", CELL_DIM: c}) for c in cells]
    order = [k.keys_by_dimension[CELL_DIM] for k in fitters_first(keys)]
    assert order == [
        "y_a__irm_att", "y_a__pliv", "y_b__irm_att", "y_b__pliv",
        "y_a__irm_ate", "y_a__plr", "y_a__modality", "y_b__irm_ate", "y_b__plr", "y_b__modality",
    ]  # fmt: skip
