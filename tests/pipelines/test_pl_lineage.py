"""`regdml lineage ASSET`: the upstream chain of an asset in topological order, with code versions, data
versions and the runs that made them, read from the instance `regdml run` wrote."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest

from assets.resources import RegdmlResource
from pipelines.definitions import build_definitions
from pipelines.lineage import lineage_rows

REPO = Path(__file__).resolve().parents[2]
COLUMNS = [
    "asset",
    "group",
    "code_version",
    "data_version",
    "run_id",
    "materialized",
    "config_sha256",
    "codebook_sha256",
]


def _lineage_cli(small_run, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DAGSTER_PG_")}
    env.update(DAGSTER_HOME=str(small_run["dagster_home"]), DAGSTER_DISABLE_TELEMETRY="1")
    cmd = [sys.executable, "-m", "pipelines.cli", "lineage", *args, "--workdir", str(small_run["workdir"])]
    return subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def lineage(small_run):
    instance = dg.DagsterInstance.from_config(str(small_run["dagster_home"]))
    defs = build_definitions(RegdmlResource(delivery_dir=str(small_run["paths"].delivery_dir)))
    rows = lineage_rows(defs, instance, dg.AssetKey("analysis_table"))
    run_ids = {r.run_id for r in instance.get_runs()}
    yield {"rows": rows, "graph": defs.resolve_asset_graph(), "run_ids": run_ids}
    instance.dispose()


def test_chain_is_topological_and_complete(lineage):
    rows, graph = lineage["rows"], lineage["graph"]
    names = [r["asset"] for r in rows]
    assert names[-1] == "analysis_table"
    assert len(names) == len(set(names))
    # Every ancestor of the analysis table, and nothing else.
    ancestors = graph.get_ancestor_asset_keys(dg.AssetKey("analysis_table"), include_self=True)
    expected = {k.to_user_string() for k in ancestors}
    assert set(names) == expected
    for stage in ("raw_dream_files", "raw_samtaler_files", "dream", "samtaler", "bef", "udda", "ind", "akm",
                  "akasse", "benefit_spells", "benefit_weeks", "meetings", "eligible_meetings",
                  "meeting_covariates", "meeting_outcomes"):  # fmt: skip
        assert stage in names, stage
    position = {n: i for i, n in enumerate(names)}
    for r in rows:
        for parent in graph.get(dg.AssetKey.from_user_string(r["asset"])).parent_keys:
            assert position[parent.to_user_string()] < position[r["asset"]], (parent, r["asset"])
    assert (
        position["dream"] < position["benefit_spells"] < position["meetings"] < position["eligible_meetings"]
    )


def test_rows_carry_versions_and_runs(lineage):
    rows, graph = lineage["rows"], lineage["graph"]
    short_run_ids = {rid[:8] for rid in lineage["run_ids"]}
    for r in rows:
        assert list(r) == COLUMNS
        node = graph.get(dg.AssetKey.from_user_string(r["asset"]))
        assert r["group"] == node.group_name
        assert r["code_version"] == (node.code_version or "")
        if not node.is_materializable:
            continue  # the delivery's files: observed, never materialized
        assert r["materialized"] != "never", r["asset"]
        assert r["materialized"].endswith(" UTC")
        assert r["run_id"] in short_run_ids, r
        assert len(r["data_version"]) == 16, r
    by_name = {r["asset"]: r for r in rows}
    for name in ("dream", "benefit_spells", "eligible_meetings", "analysis_table"):
        assert by_name[name]["code_version"], f"{name} has no code version"
    # Registers staged in one run share its id; later stages may come from the same run.
    assert by_name["dream"]["run_id"] == by_name["samtaler"]["run_id"]


def test_analysis_table_row_shows_the_configuration_hash(lineage, small_run):
    """The analysis table records the run configuration's hash (metadata ``run_config_sha256``); the
    lineage must show it, or a reviewer cannot tell which configuration built the table."""
    instance = dg.DagsterInstance.from_config(str(small_run["dagster_home"]))
    try:
        event = instance.get_latest_materialization_event(dg.AssetKey("analysis_table"))
    finally:
        instance.dispose()
    recorded = event.asset_materialization.metadata["run_config_sha256"]
    recorded = str(getattr(recorded, "value", recorded))
    assert len(recorded) == 64
    row = lineage["rows"][-1]
    assert row["config_sha256"] == recorded[:16], (
        f"lineage shows config_sha256={row['config_sha256']!r}; the analysis table recorded {recorded[:16]!r}"
    )


@pytest.mark.slow
def test_cli_prints_the_chain_in_order(small_run, lineage):
    proc = _lineage_cli(small_run, "analysis_table")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = [line for line in proc.stdout.splitlines() if line.strip() and not line.startswith("[regdml]")]
    header = lines[0].split()
    assert header == COLUMNS
    printed = [line.split()[0] for line in lines[1:]]
    assert printed == [r["asset"] for r in lineage["rows"]]
    analysis_line = lines[-1]
    row = lineage["rows"][-1]
    for col in ("code_version", "data_version", "run_id"):
        assert row[col] and row[col] in analysis_line, col


@pytest.mark.slow
def test_cli_unknown_asset_exits_2_with_a_clear_message(small_run):
    proc = _lineage_cli(small_run, "no_such_asset")
    assert proc.returncode == 2
    out = proc.stdout + proc.stderr
    assert "regdml lineage: no asset 'no_such_asset'" in out
    assert "known assets:" in out and "analysis_table" in out
    assert "Traceback" not in out
