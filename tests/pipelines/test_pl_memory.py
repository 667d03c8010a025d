"""The one memory setting: REGDML_MEMORY (or ``regdml run --memory``) and what is derived from it."""

from __future__ import annotations

import pytest

from assets.resources import DEFAULT_MEMORY, RegdmlResource, RunPaths, parse_memory


@pytest.mark.parametrize(
    "value,expected",
    [("4GB", 4 * 10**9), ("2500MB", 2_500 * 10**6), ("3.5GiB", int(3.5 * 2**30)), (" 12gb ", 12 * 10**9)],
)
def test_parse_memory_units(value, expected):
    assert parse_memory(value) == expected


def test_duckdb_gets_its_share_of_the_budget_and_staging_chunks_scale(tmp_path):
    paths = RunPaths(delivery_dir=tmp_path, work_dir=tmp_path / "w")
    default = RegdmlResource()
    assert default.memory_limit == DEFAULT_MEMORY == "4GB"
    assert default.duckdb_settings(paths)["memory_limit"] == "2400MB"  # 60% of 4GB
    assert default.staging_cells_per_chunk() == 10_000_000
    big = RegdmlResource(memory_limit="12GB")
    assert big.duckdb_settings(paths)["memory_limit"] == "7200MB"
    assert big.staging_cells_per_chunk() == 30_000_000
    small = RegdmlResource(memory_limit="1GB")
    assert small.staging_cells_per_chunk() == 2_500_000
    # an explicit DuckDB limit overrides the share (for tuning), the budget still sizes the chunks
    tuned = RegdmlResource(memory_limit="8GB", duckdb_memory_limit="3GB")
    assert tuned.duckdb_settings(paths)["memory_limit"] == "3000MB"
    assert tuned.staging_cells_per_chunk() == 20_000_000


def test_from_env_reads_regdml_memory(monkeypatch):
    monkeypatch.setenv("REGDML_MEMORY", "6GB")
    monkeypatch.delenv("REGDML_DUCKDB_MEMORY", raising=False)
    assert RegdmlResource.from_env().duckdb_limit() == "3600MB"
