"""Bad memory settings: a clear error naming the setting and the value."""

from __future__ import annotations

import subprocess
import sys

import pytest

from assets.resources import RegdmlResource, parse_memory


@pytest.mark.parametrize("value", ["lots", "4 gigabytes", "-1GB", "", "4XB"])
def test_not_a_size(value):
    with pytest.raises(ValueError, match=r"REGDML_MEMORY: .* is not a memory size"):
        parse_memory(value)


def test_below_the_smallest_budget():
    with pytest.raises(
        ValueError, match=r"REGDML_MEMORY: '100MB' is below the smallest usable budget, 256MB"
    ):
        parse_memory("100MB")


def test_bad_duckdb_override_names_its_variable():
    with pytest.raises(ValueError, match="REGDML_DUCKDB_MEMORY: 'much'"):
        RegdmlResource(duckdb_memory_limit="much").duckdb_limit()


def test_run_refuses_a_bad_memory_flag_before_doing_anything(tmp_path):
    (tmp_path / "delivery").mkdir()
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pipelines.cli",
            "run",
            "--delivery",
            str(tmp_path / "delivery"),
            "--workdir",
            str(tmp_path / "work"),
            "--memory",
            "plenty",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode != 0
    assert "--memory: 'plenty' is not a memory size" in proc.stderr
    assert not (tmp_path / "work").exists()
