"""A run killed mid-way (SIGKILL: no clean-up code runs) leaves the last good outputs readable, and the
next run completes. Outputs are written to a temporary file beside the target and renamed into place, so
a reader sees either the old file or the complete new one, never a partial one."""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import dagster as dg
import duckdb
import polars as pl
import pytest

from pipelines.jobs import PREPARE_JOB

pytestmark = pytest.mark.skipif(
    sys.platform == "win32", reason="kills the run's process group with SIGKILL (os.killpg): POSIX only"
)

REPO = Path(__file__).resolve().parents[2]
DELIVERY_NAME = "crashy"


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DAGSTER_PG_", "REGDML_"))}
    env.pop("DAGSTER_HOME", None)  # the work folder's own instance
    env["DAGSTER_DISABLE_TELEMETRY"] = "1"
    return env


def _run_cmd(delivery: Path, workdir: Path, config: Path) -> list[str]:
    return [sys.executable, "-m", "pipelines.cli", "run", "--delivery", str(delivery), "--workdir", str(workdir),
            "--config", str(config), "--until", "analysis"]  # fmt: skip


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _outputs(work: Path) -> dict[Path, str]:
    return {p: _sha256(p) for p in sorted(work.rglob("*.parquet")) if not p.name.startswith(".")}


def _sorted(table: pl.DataFrame) -> pl.DataFrame:
    return table.sort("meeting_id")


def _temp_files(work: Path) -> list[Path]:
    return [p for p in work.rglob(".*.tmp*")]


def _prepare_runs(home: Path) -> list[dg.DagsterRun]:
    instance = dg.DagsterInstance.from_config(str(home))
    try:
        return list(instance.get_runs(filters=dg.RunsFilter(job_name=PREPARE_JOB)))  # newest first
    finally:
        instance.dispose()


def _drop_some_meetings(delivery: Path) -> int:
    """Change the delivery for real (content, not just modification times): every tenth held meeting of
    2020 is taken out, so the staged meetings and everything after them must be recomputed."""
    (path,) = sorted(delivery.glob("samtaler2020.*"))
    table = pl.read_parquet(path)
    kept = table.filter(pl.int_range(pl.len()) % 10 != 0)
    kept.write_parquet(path)
    return table.height - kept.height


@pytest.mark.slow
def test_killed_run_keeps_outputs_and_next_run_completes(small_delivery, fast_config, tmp_path):
    delivery = tmp_path / "deliveries" / DELIVERY_NAME
    shutil.copytree(small_delivery, delivery)
    workdir = tmp_path / "work"
    work = workdir / "runs" / DELIVERY_NAME
    home = workdir / "dagster_home"

    # 1. A complete run.
    first = subprocess.run(_run_cmd(delivery, workdir, fast_config), cwd=REPO, env=_env(), capture_output=True,
                           text=True, timeout=600)  # fmt: skip
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
    before = _outputs(work)
    for rel in ("staging/samtaler.parquet", "cohort/benefit_spells.parquet", "treatment/eligible_meetings.parquet",
                "analysis/analysis_table.parquet", "analysis/column_dictionary.parquet"):  # fmt: skip
        assert work / rel in before, rel
    table_before = pl.read_parquet(work / "analysis" / "analysis_table.parquet")
    runs_before = {r.run_id for r in _prepare_runs(home)}

    # 2. The delivery changes, and the second run is killed (SIGKILL, whole process group) as soon as it
    #    writes past the delivery's hashes: a temporary output appears or an output has been replaced.
    assert _drop_some_meetings(delivery) > 0
    log = tmp_path / "killed_run.log"
    with open(log, "wb") as fh:
        proc = subprocess.Popen(_run_cmd(delivery, workdir, fast_config), cwd=REPO, env=_env(), stdout=fh,
                                stderr=subprocess.STDOUT, start_new_session=True)  # fmt: skip
    watched = {p: p.stat().st_mtime_ns for p in before if p.parent.name != "raw"}
    busy: list[Path] = []
    started = time.monotonic()
    try:
        while proc.poll() is None and time.monotonic() - started < 300:
            busy = [t for t in _temp_files(work) if t.parent.name != "raw"] or [
                p for p, m in watched.items() if p.exists() and p.stat().st_mtime_ns != m
            ]
            if busy:
                break
            time.sleep(0.02)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=60)
    assert busy, f"the second run never started writing:\n{log.read_text(errors='replace')[-3000:]}"
    assert proc.returncode == -signal.SIGKILL, f"the run finished before it was killed ({proc.returncode})"

    # 3. Every previous output is still there and readable: the old bytes or a complete new version.
    after = _outputs(work)
    assert set(before) <= set(after), sorted(str(p) for p in set(before) - set(after))
    unchanged = 0
    for path, digest in before.items():
        frame = pl.read_parquet(path)  # raises on a truncated or partial file
        assert frame.width > 0, path
        unchanged += after[path] == digest
    assert unchanged > 0  # the kill came mid-way: not every output had been rewritten
    # The analysis table is written last: the last good one is still in place.
    assert _sorted(pl.read_parquet(work / "analysis" / "analysis_table.parquet")).equals(
        _sorted(table_before)
    )
    con = duckdb.connect(str(work / "staging" / "registers.duckdb"), read_only=True)
    try:
        assert con.execute("SELECT count(*) FROM samtaler").fetchone()[0] > 0
    finally:
        con.close()
    # Temporary files may remain (nothing cleans up after SIGKILL) but never under an output's name.
    for tmp in _temp_files(work):
        assert tmp.name.startswith(".") and ".tmp" in tmp.name

    # 4. The next run completes and recomputes what the changed delivery needs; the killed run neither
    #    counts as a success nor blocks it.
    third = subprocess.run(_run_cmd(delivery, workdir, fast_config), cwd=REPO, env=_env(), capture_output=True,
                           text=True, timeout=600)  # fmt: skip
    assert third.returncode == 0, third.stdout[-3000:] + third.stderr[-3000:]
    assert "analysis table built" in third.stdout, third.stdout[-3000:]
    for path in before:
        pl.read_parquet(path)
    table_after = pl.read_parquet(work / "analysis" / "analysis_table.parquet")
    assert table_after.columns == table_before.columns
    assert 0 < table_after.height < table_before.height  # the dropped meetings are gone

    runs = _prepare_runs(home)  # newest first
    new_runs = [r for r in runs if r.run_id not in runs_before]
    not_ok = [r for r in new_runs if r.status != dg.DagsterRunStatus.SUCCESS]
    assert len(not_ok) == 1, [(r.run_id, r.status) for r in new_runs]
    (killed,) = not_ok
    killed_states = (dg.DagsterRunStatus.STARTED, dg.DagsterRunStatus.FAILURE, dg.DagsterRunStatus.CANCELED)
    assert killed.status in killed_states, killed.status
    assert new_runs[0].status == dg.DagsterRunStatus.SUCCESS
    after_kill = new_runs[: new_runs.index(killed)]
    assert after_kill, "no run after the killed one"
    instance = dg.DagsterInstance.from_config(str(home))
    try:
        latest = instance.get_latest_materialization_event(dg.AssetKey("analysis_table"))
    finally:
        instance.dispose()
    assert latest is not None and latest.run_id in {r.run_id for r in after_kill}
