"""Estimation in fresh processes (``REGDML_ISOLATE``): at register scale each estimation cell and the
finishing job run in a process of their own, so what one fit allocated is returned to the machine before
the next starts. The files equal the in-process run's."""

from __future__ import annotations

import os

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from assets.resources import RegdmlResource, RunPaths
from pipelines.run import _spawn_pool, covariate_matrix_bytes, isolate_estimation, isolate_setting


def _analysis_dir(tmp_path, rows: int, covariates: int):
    ana = tmp_path / "runs" / "d" / "analysis"
    ana.mkdir(parents=True)
    names = [f"x{j}" for j in range(covariates)]
    pl.DataFrame({"pnr": [f"{i:010d}" for i in range(rows)], **{c: [0] * rows for c in names}}).write_parquet(
        ana / "analysis_table.parquet"
    )
    pl.DataFrame(
        {"name": ["pnr", *names, "y"], "role": ["id", *["covariate"] * covariates, "outcome"]}
    ).write_parquet(ana / "column_dictionary.parquet")
    return ana


def test_covariate_matrix_bytes_is_rows_times_covariates_times_four(tmp_path):
    assert covariate_matrix_bytes(_analysis_dir(tmp_path, rows=7, covariates=3)) == 7 * 3 * 4


def test_auto_isolates_when_the_matrix_reaches_a_sixteenth_of_the_budget(tmp_path, monkeypatch):
    _analysis_dir(tmp_path, rows=1000, covariates=5)  # 20,000 bytes
    paths = RunPaths(delivery_dir=tmp_path / "d", work_dir=tmp_path / "runs" / "d")
    resource = RegdmlResource(memory_limit="1GB")
    monkeypatch.setattr("pipelines.run.ISOLATE_SHARE", 20_000 / 1e9)
    assert isolate_estimation(resource, paths, "auto")
    monkeypatch.setattr("pipelines.run.ISOLATE_SHARE", 20_001 / 1e9)
    assert not isolate_estimation(resource, paths, "auto")
    assert isolate_estimation(resource, paths, "always")
    monkeypatch.setattr("pipelines.run.ISOLATE_SHARE", 0.0)
    assert not isolate_estimation(resource, paths, "never")


def test_the_default_budget_isolates_a_register_scale_table_and_not_the_demo(tmp_path):
    # 4GB / 16 = 250 MB: 1,000,000 meetings x 151 covariates (604 MB) isolate, 20,000 x 151 (12 MB) do not
    assert 1_000_000 * 151 * 4 >= RegdmlResource().memory_bytes() / 16 > 20_000 * 151 * 4


def test_a_fresh_pool_runs_each_task_in_a_new_process():
    with _spawn_pool(1, fresh=True) as pool:
        pids = [pool.submit(os.getpid).result() for _ in range(3)]
    assert len(set(pids)) == 3 and os.getpid() not in pids


@pytest.mark.slow
def test_isolated_estimation_equals_the_in_process_run(small_run, small_delivery, fast_config, tmp_path,
                                                       monkeypatch, capsys):  # fmt: skip
    from pipelines.run import run_delivery

    monkeypatch.setenv("REGDML_ISOLATE", "always")
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    monkeypatch.setenv("REGDML_WORKDIR", str(tmp_path / "work"))  # run_delivery sets it; restored after
    code, paths = run_delivery(small_delivery, workdir=tmp_path / "work", config=fast_config,
                               truth=small_delivery.parent / "small.truth.json")  # fmt: skip
    os.environ.pop("DAGSTER_HOME", None)
    out = capsys.readouterr().out
    assert code == 0, out
    assert "estimation cells and the finishing job each in a fresh process" in out
    reference = small_run["paths"].work_dir / "estimation"
    mine = paths.work_dir / "estimation"
    names = sorted(p.relative_to(reference).as_posix() for p in reference.rglob("*.parquet"))
    assert "placebos.parquet" in names and "estimates.parquet" in names
    assert names == sorted(p.relative_to(mine).as_posix() for p in mine.rglob("*.parquet"))
    for name in names:
        a, b = pl.read_parquet(reference / name), pl.read_parquet(mine / name)
        if "seconds" in a.columns:
            a, b = a.drop("seconds"), b.drop("seconds")
        assert_frame_equal(a, b, check_exact=False, rel_tol=1e-9, abs_tol=1e-12)
    assert (paths.work_dir / "report").is_dir()


def test_isolate_setting_refuses_an_unknown_value(monkeypatch):
    monkeypatch.setenv("REGDML_ISOLATE", "sometimes")
    with pytest.raises(
        ValueError, match=r"REGDML_ISOLATE must be one of \['auto', 'always', 'never'\]; got 'sometimes'"
    ):
        isolate_setting()
    assert isolate_setting("") == "auto" and isolate_setting(" Always ") == "always"
