"""A refused delivery ends `regdml run` with a short answer: what is wrong (file, column, count) and what to do,
as the last lines, exit status 1, no stack trace, and never an earlier run's results printed as this run's."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import polars as pl


def test_refused_delivery_fails_cleanly_without_earlier_results(
    small_run, small_delivery, fast_config, tmp_path
):
    # the same delivery folder name and work folder as a run that succeeded: its results are on disk
    delivery = tmp_path / "deliveries" / small_delivery.name
    shutil.copytree(small_delivery, delivery)
    work = tmp_path / "work"
    shutil.copytree(small_run["workdir"], work)
    dream = pl.read_parquet(delivery / "dream.parquet")
    dream.drop("y_2053").write_parquet(delivery / "dream.parquet")  # a gap in DREAM's weeks
    env = {
        k: v for k, v in os.environ.items() if k not in ("DAGSTER_HOME", "REGDML_LOG_LEVEL", "REGDML_DEBUG")
    }
    cmd = [sys.executable, "-m", "pipelines.cli", "run", "--delivery", str(delivery), "--workdir", str(work),
           "--config", str(fast_config)]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=900)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 1, out[-3000:]
    for noise in ("Traceback", "Stack Trace", "Dependencies for step", "dagster._core"):
        assert noise not in out, noise
    # no results table of the earlier run, even though its files are still there
    assert "== Sample flow" not in out and "estimate" not in proc.stdout.split("== regdml run FAILED")[0]
    tail = proc.stdout.strip().splitlines()[-8:]
    text = "\n".join(tail)
    assert "== regdml run FAILED" in text
    assert "dream.parquet: column 'y_2053'" in text and "1 column is missing: y_2053" in text
    assert "What to do: correct the delivery" in text
    assert "are not this run's results" in text
    assert text.count("y_2053. Ask for the extract again") == 1  # said once, not twice
    # --debug shows Dagster's own account (with the stack trace) for a developer
    proc = subprocess.run([*cmd, "--debug"], capture_output=True, text=True, env=env, timeout=900)
    assert proc.returncode == 1 and "Stack Trace" in proc.stdout + proc.stderr


def test_a_failed_step_reads_as_its_cause_and_out_of_memory_says_what_to_do(tmp_path, capsys, monkeypatch):
    """Dagster wraps an exception raised in a step ('Error occurred while executing op ...'); the user reads
    the exception itself (here DuckDB's out-of-memory error, met at 5,000,000 persons) and, for memory,
    what to do about it rather than 'run again with --debug'."""
    from types import SimpleNamespace

    from dagster._utils.error import SerializableErrorInfo

    from pipelines import run as R

    oom = "Out of Memory Error: failed to allocate data of size 16.0 MiB (2.2 GiB/2.2 GiB used)"
    cause = SerializableErrorInfo(f"_duckdb.OutOfMemoryException: {oom}\n", [], "OutOfMemoryException")
    wrapped = SerializableErrorInfo(
        'dagster._core.errors.DagsterExecutionStepExecutionError: Error occurred while executing op "check":\n',
        [],
        "DagsterExecutionStepExecutionError",
        cause=cause,
    )
    assert R._step_error(wrapped) == oom
    assert R._step_error(cause) == oom
    monkeypatch.setattr(
        R, "_FAILURES", [("the run stopped before the analysis table", f"  step check: {oom}")]
    )
    R.print_failure(SimpleNamespace(work_dir=tmp_path))
    out = capsys.readouterr().out
    assert oom in out and "What to do: give the run more memory (--memory or REGDML_MEMORY" in out
    assert "--debug" not in out
