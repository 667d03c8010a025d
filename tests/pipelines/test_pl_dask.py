"""``regdml run`` with the estimation on a real Dask cluster (a scheduler and two worker processes on
loopback): every cell is still its own Dagster run, and its files equal the in-process run's."""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal

pytestmark = pytest.mark.slow


def _cluster_module():
    name = "regdml_dask_test_cluster"
    if name not in sys.modules:
        path = Path(__file__).resolve().parents[1] / "dask" / "cluster.py"
        spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


def test_regdml_run_on_a_dask_cluster_equals_in_process(
    small_run, small_delivery, fast_config, tmp_path, monkeypatch, capsys
):
    from pipelines.run import run_delivery

    monkeypatch.setenv("REGDML_DASK_CELLS", "3")
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    monkeypatch.setenv("REGDML_WORKDIR", str(tmp_path / "work"))  # run_delivery sets it; restored after
    with _cluster_module().loopback_cluster(2, tmp_path / "cluster") as cluster:
        code, paths = run_delivery(
            small_delivery,
            workdir=tmp_path / "work",
            config=fast_config,
            until="estimation",
            dask=cluster.address,
        )
    os.environ.pop("DAGSTER_HOME", None)
    out = capsys.readouterr().out
    assert code == 0, out
    assert f"estimation on Dask ({cluster.address}), 3 cells at a time" in out
    reference = small_run["paths"].work_dir / "estimation" / "cells"
    mine = paths.work_dir / "estimation" / "cells"
    names = sorted(p.name for p in reference.glob("*.parquet"))
    assert names and names == sorted(p.name for p in mine.glob("*.parquet"))
    for name in names:
        a, b = pl.read_parquet(reference / name), pl.read_parquet(mine / name)
        if name.endswith(".estimate.parquet"):
            a, b = a.drop("seconds"), b.drop("seconds")
        assert_frame_equal(a, b, check_exact=False, rel_tol=1e-9, abs_tol=1e-12)
