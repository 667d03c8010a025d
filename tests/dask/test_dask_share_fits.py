"""Shared nuisance fits on a real multi-process Dask cluster: the cache is read and written by the calling
process, only the fits not found become fold tasks, and the grid's answers equal the in-process per-cell
grid's."""

from __future__ import annotations

import pytest

from assets.estimation.logic import run_grid
from models.engine import DaskEngine
from models.nuisance_cache import NuisanceCache

pytestmark = pytest.mark.slow


def test_grid_with_shared_fits_on_dask_equals_the_in_process_per_cell_grid(
    cluster, grid_inputs, in_process_grid, tmp_path, assert_same_cells
):
    from distributed import get_task_stream

    table, dictionary, cfg, cells = grid_inputs
    # one outcome's designs that share fits (the learner choices, made in this process, dominate the time)
    cells = [c for c in cells if c[0] == "weeks_selfsupport_26w" and c[1] in ("irm_att", "irm_ate", "plr")]
    cache = NuisanceCache(tmp_path / "cache")
    client = cluster.client()
    try:
        engine = DaskEngine(client, tmp_path / "scratch", cache=cache)
        with get_task_stream(client) as stream:
            status = run_grid(table, dictionary, cfg, cells, tmp_path / "cells", engine=engine)
        assert status == {f"{o}__{d}": None for o, d in cells}, status
        assert_same_cells(in_process_grid, tmp_path / "cells", cells, rel_tol=1e-10)
        counts = cache.counts()
        # one cell after the other: IRM-ATE reads IRM-ATT's fits, PLR the first propensity, ...
        assert 0 < counts["fits_made"] < counts["fits_requested"]
        assert 0 < counts["choices_made"] < counts["choices_requested"]  # the learner choices too
        fold_tasks = [t for t in stream.data if str(t["key"]).startswith("regdml-fold-")]
        folds = cfg.estimation.n_folds
        # only the fits not found went to the workers, one task per fold
        assert len(fold_tasks) == counts["fits_made"] * folds
        # a second grid on the same cache: no fold task at all, the same files
        cache.reset_usage()
        with get_task_stream(client) as again:
            status = run_grid(table, dictionary, cfg, cells, tmp_path / "cells2", engine=engine, concurrent=2)
        assert status == {f"{o}__{d}": None for o, d in cells}, status
        assert [t for t in again.data if str(t["key"]).startswith("regdml-fold-")] == []
        assert cache.counts()["fits_made"] == 0 and cache.counts()["choices_made"] == 0
        assert_same_cells(in_process_grid, tmp_path / "cells2", cells, rel_tol=1e-10)
    finally:
        client.close()
