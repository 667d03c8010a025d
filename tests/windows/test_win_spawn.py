"""Steps of the pipeline run under Dagster's multiprocess executor with the ``spawn`` start method.

Windows has no ``fork``: Dagster starts each step in a new interpreter that re-imports the code location
by its file or module name and receives the resource configuration from the run, not from the parent's
memory. This runs the delivery-hashing, manifest and one staging step that way, through the
``dagster`` command line as the UI's run launcher would, and checks that each step ran in its own
process and wrote its outputs.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import dagster as dg
import polars as pl

from assets.partitions import DELIVERIES_NAME

REPO = Path(__file__).resolve().parents[2]
DELIVERY = "spawned"

CODE_LOCATION = textwrap.dedent(
    """
    import dagster as dg

    from pipelines.definitions import all_assets, all_checks
    from assets.resources import RegdmlResource

    defs = dg.Definitions(
        assets=all_assets(),
        asset_checks=all_checks(),
        resources={"regdml": RegdmlResource.from_env()},
        executor=dg.multiprocess_executor.configured({"max_concurrent": 2, "start_method": {"spawn": {}}}),
    )
    """
)


def test_steps_run_in_spawned_processes(tmp_path):
    from synth import generate_delivery

    deliveries, work, home = tmp_path / "deliveries", tmp_path / "work", tmp_path / "dagster_home"
    home.mkdir()
    generate_delivery(deliveries / DELIVERY, persons=300, seed=3, fmt="parquet")
    location = tmp_path / "spawn_location.py"
    location.write_text(CODE_LOCATION, encoding="utf-8")
    instance = dg.DagsterInstance.from_config(str(home))
    try:
        instance.add_dynamic_partitions(DELIVERIES_NAME, [DELIVERY])
    finally:
        instance.dispose()

    env = {k: v for k, v in os.environ.items() if not k.startswith(("DAGSTER_PG_", "REGDML_"))}
    env.update(
        DAGSTER_HOME=str(home),
        DAGSTER_DISABLE_TELEMETRY="1",
        REGDML_DELIVERY_ROOT=str(deliveries),
        REGDML_WORKDIR=str(work),
        PYTHONPATH=str(REPO),
    )
    proc = subprocess.run(
        [sys.executable, "-m", "dagster", "asset", "materialize", "-f", str(location),
         "--select", "raw_bef_files,delivery_manifest,bef", "--partition", DELIVERY],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert proc.returncode == 0, f"{proc.stdout[-3000:]}\n{proc.stderr[-5000:]}"

    run_dir = work / "runs" / DELIVERY
    manifest = pl.read_parquet(run_dir / "raw" / "delivery_manifest.parquet")
    assert "bef" in manifest.get_column("register").to_list()
    assert pl.read_parquet(run_dir / "staging" / "bef.parquet").height > 300

    instance = dg.DagsterInstance.from_config(str(home))
    try:
        (run,) = instance.get_runs()
        assert run.status == dg.DagsterRunStatus.SUCCESS
        events = [e.dagster_event for e in instance.all_logs(run.run_id) if e.dagster_event is not None]
    finally:
        instance.dispose()
    run_pid = next(e.pid for e in events if e.event_type == dg.DagsterEventType.RUN_START)
    step_pids = {e.step_key: e.pid for e in events if e.event_type == dg.DagsterEventType.STEP_START}
    # The three assets, and the staged-schema check of bef, each a step.
    assert {"raw_delivery_files", "delivery_manifest", "bef"} <= set(step_pids), step_pids
    assert run_pid not in step_pids.values(), "a step ran in the run's own process"
    assert len(set(step_pids.values())) == len(step_pids), f"steps shared a process: {step_pids}"
