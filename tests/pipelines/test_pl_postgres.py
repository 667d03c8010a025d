"""A shared instance on PostgreSQL: with DAGSTER_PG_* set, `regdml run` uses dagster.postgres.yaml, and
its runs, materializations and check results land in the database, where any other process sees them."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest

from pipelines.jobs import PREPARE_JOB
from pipelines.run import run_delivery

pytestmark = pytest.mark.skipif(
    sys.platform == "win32",
    reason="starts Debian's PostgreSQL as its own user and stops it by process group: POSIX only",
)


def _services():
    """tests/pipelines/services.py under one module name, shared by every test module."""
    name = "regdml_pipeline_test_services"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, Path(__file__).with_name("services.py"))
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


def _psql(pg: dict[str, str], sql: str) -> str:
    psql = _services()._pg_bin("psql") or "psql"
    cmd = [psql, "-h", pg["DAGSTER_PG_HOST"], "-p", pg["DAGSTER_PG_PORT"], "-U", pg["DAGSTER_PG_USER"],
           "-d", pg["DAGSTER_PG_DB"], "-v", "ON_ERROR_STOP=1", "-Atc", sql]  # fmt: skip
    env = {**os.environ, "PGPASSWORD": pg["DAGSTER_PG_PASSWORD"]}
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=60, check=False)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.strip()


@pytest.mark.slow
def test_run_on_postgres_stores_runs_and_materializations(small_delivery, fast_config, tmp_path, monkeypatch):
    with _services().postgres_server() as pg:
        for key, value in pg.items():
            monkeypatch.setenv(key, value)
        home = tmp_path / "dagster_home"
        monkeypatch.setenv("DAGSTER_HOME", str(home))
        monkeypatch.setenv("REGDML_WORKDIR", str(tmp_path / "work"))  # run_delivery sets it; restored after

        code, paths = run_delivery(
            small_delivery, workdir=tmp_path / "work", config=fast_config, until="analysis"
        )
        assert code == 0
        assert (paths.work_dir / "analysis" / "analysis_table.parquet").is_file()

        # The instance file in DAGSTER_HOME is the PostgreSQL one, and nothing went to SQLite.
        assert os.environ["DAGSTER_HOME"] == str(home.resolve())
        instance_yaml = (home / "dagster.yaml").read_text(encoding="utf-8")
        assert "postgres_db" in instance_yaml and "DAGSTER_PG_HOST" in instance_yaml
        assert not list(home.rglob("*.db")), "SQLite files in a PostgreSQL instance's home"

        instance = dg.DagsterInstance.get()
        try:
            assert type(instance.run_storage).__name__ == "PostgresRunStorage"
            assert type(instance.event_log_storage).__name__ == "PostgresEventLogStorage"
            assert "postgres" in str(instance.get_ref().run_storage_data.module_name)
            runs = instance.get_runs()
            assert runs, "no runs stored"
            prepare = [r for r in runs if r.job_name == PREPARE_JOB]
            assert prepare and all(r.status == dg.DagsterRunStatus.SUCCESS for r in prepare), prepare
            latest = instance.get_latest_materialization_event(dg.AssetKey("analysis_table"))
            assert latest is not None and latest.run_id in {r.run_id for r in prepare}
            run_id = latest.run_id
        finally:
            instance.dispose()

        # The data are in PostgreSQL itself: another client sees the run and its materializations.
        assert _psql(pg, f"SELECT status FROM runs WHERE run_id = '{run_id}'") == "SUCCESS"
        n_mat = int(_psql(pg, "SELECT count(*) FROM event_logs WHERE dagster_event_type = 'ASSET_MATERIALIZATION' "
                              "AND asset_key LIKE '%analysis_table%'"))  # fmt: skip
        assert n_mat == 1
        n_checks = int(_psql(pg, "SELECT count(*) FROM event_logs WHERE dagster_event_type = "
                                 "'ASSET_CHECK_EVALUATION' AND run_id = '" + run_id + "'"))  # fmt: skip
        assert n_checks > 0

        # A fresh process with only the DAGSTER_PG_* variables and a fresh home reads the same history.
        other_home = tmp_path / "other_home"
        other_home.mkdir()
        (other_home / "dagster.yaml").write_text(instance_yaml, encoding="utf-8")
        script = (
            "import dagster as dg\n"
            "i = dg.DagsterInstance.get()\n"
            "e = i.get_latest_materialization_event(dg.AssetKey('analysis_table'))\n"
            "print(type(i.run_storage).__name__, e.run_id)\n"
        )
        env = {**os.environ, "DAGSTER_HOME": str(other_home)}
        proc = subprocess.run(
            [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120
        )
        assert proc.returncode == 0, proc.stderr[-3000:]
        assert proc.stdout.split() == ["PostgresRunStorage", run_id]
