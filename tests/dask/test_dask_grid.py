"""The estimation grid on a real multi-process Dask cluster: same answers as in process, a killed
worker costs only its tasks, a failing cell fails alone."""

from __future__ import annotations

import threading
import time

import polars as pl
import psutil
import pytest

from assets.estimation.logic import run_grid
from models.engine import DaskEngine

pytestmark = pytest.mark.slow


def test_grid_on_two_worker_processes_equals_in_process(
    cluster, grid_inputs, in_process_grid, tmp_path, assert_same_cells
):
    from distributed import get_task_stream

    table, dictionary, cfg, cells = grid_inputs
    client = cluster.client()
    try:
        engine = DaskEngine(client, tmp_path / "scratch")
        with get_task_stream(client) as stream:
            status = run_grid(table, dictionary, cfg, cells, tmp_path / "cells", engine=engine, concurrent=3)
        assert status == {f"{o}__{d}": None for o, d in cells}, status
        assert_same_cells(in_process_grid, tmp_path / "cells", cells)
        # the fits really ran as fold tasks on both worker processes, not in this process
        fold_tasks = [t for t in stream.data if str(t["key"]).startswith("regdml-fold-")]
        workers = set(client.scheduler_info()["workers"])
        assert {t["worker"] for t in fold_tasks} == workers and len(workers) == 2
        # 2 outcomes x 4 learner designs x 2 repetitions x 3 folds, at least two nuisances each
        assert len(fold_tasks) >= 2 * 4 * 2 * 3 * 2
        # the data went as Parquet files, removed after each fit
        assert list((tmp_path / "scratch").glob("**/*.parquet")) == []
    finally:
        client.close()


def test_a_cell_that_fails_for_good_fails_alone_with_a_clear_error(cluster, grid_inputs, tmp_path):
    table, dictionary, cfg, _ = grid_inputs
    # a constant outcome cannot be estimated; the other cells must still be written
    broken = table.with_columns(pl.lit(1.0).alias("y_exit_13w"))
    cells = [
        ("weeks_selfsupport_26w", "irm_att"),
        ("y_exit_13w", "irm_att"),
        ("weeks_selfsupport_26w", "plr"),
    ]
    client = cluster.client()
    try:
        status = run_grid(broken, dictionary, cfg, cells, tmp_path, engine=DaskEngine(client, tmp_path / "s"),
                          concurrent=3)  # fmt: skip
    finally:
        client.close()
    assert status["weeks_selfsupport_26w__irm_att"] is None and status["weeks_selfsupport_26w__plr"] is None
    assert status["y_exit_13w__irm_att"] == (
        "ValueError: outcome: constant column(s) ['y_exit_13w'] (drop them before estimating)"
    )
    assert (tmp_path / "weeks_selfsupport_26w__irm_att.estimate.parquet").exists()
    assert (tmp_path / "weeks_selfsupport_26w__plr.estimate.parquet").exists()
    assert not (tmp_path / "y_exit_13w__irm_att.estimate.parquet").exists()


def test_a_worker_killed_mid_grid_costs_only_its_tasks(
    loopback, grid_inputs, in_process_grid, tmp_path, assert_same_cells
):
    """SIGKILL one of two workers while it is running fold tasks: the scheduler reruns its tasks on the
    other worker and the grid completes with the in-process answers."""
    table, dictionary, cfg, cells = grid_inputs
    cells = [c for c in cells if c[1] in ("irm_att", "irm_ate", "plr")]
    with loopback.loopback_cluster(2, tmp_path / "cluster") as cluster:
        client = cluster.client()
        try:
            engine = DaskEngine(client, tmp_path / "scratch")
            victim = cluster.workers[0]
            victim_addr = next(
                a for a, w in client.scheduler_info()["workers"].items() if w.get("name") == "w0"
            )
            status: dict = {}
            runner = threading.Thread(
                target=lambda: status.update(
                    run_grid(table, dictionary, cfg, cells, tmp_path / "cells", engine=engine, concurrent=2)
                )
            )
            runner.start()
            # wait until the victim is running fold tasks, then kill it without warning
            deadline = time.monotonic() + 60
            busy: list = []
            while time.monotonic() < deadline and runner.is_alive():
                busy = [k for k in client.processing(workers=[victim_addr]).get(victim_addr, [])
                        if str(k).startswith("regdml-fold-")]  # fmt: skip
                if busy:
                    break
                time.sleep(0.02)
            assert busy, "the victim worker never ran a fold task"
            assert runner.is_alive(), "the grid finished before the worker could be killed"
            psutil.Process(victim.pid).kill()
            victim.wait(timeout=10)
            runner.join(timeout=300)
            assert not runner.is_alive()
            assert len(client.scheduler_info()["workers"]) == 1  # the worker is really gone
        finally:
            client.close()
    assert status == {f"{o}__{d}": None for o, d in cells}, status
    assert_same_cells(in_process_grid, tmp_path / "cells", cells)
