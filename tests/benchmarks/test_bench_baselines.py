"""The benchmarks' baselines: the resident-memory cap stops a child that outgrows it, and every pandas
version of DREAM-to-spells gives the pipeline's spells (a faster pipeline against a wrong baseline would
prove nothing)."""

from __future__ import annotations

import sys
from pathlib import Path

import polars as pl
import pytest

BENCH = Path(__file__).resolve().parents[2] / "benchmarks"
sys.path.insert(0, str(BENCH))

import _portable  # noqa: E402
import bench_register_logic as rl  # noqa: E402

MiB = 2**20
SPELL_KEY = ["pnr", "benefit_group", "spell_start_week", "spell_end_week"]


def test_resident_cap_kills_a_child_above_it(tmp_path):
    # b"x" * n writes every page (a zeroed bytearray may stay unbacked and never count as resident)
    child = [sys.executable, "-c", "import time; b = b'x' * (400 * 2**20); time.sleep(60)"]
    wall, sampler, rc = _portable.run_measured(child, None, tmp_path / "child.log", kill_above=200 * MiB)
    assert sampler.killed_at is not None and sampler.killed_at > 200 * MiB
    assert rc != 0
    assert wall < 50  # killed, not left to sleep out its minute


def test_no_cap_kills_nothing(tmp_path):
    child = [sys.executable, "-c", "b = b'x' * (50 * 2**20)"]
    _, sampler, rc = _portable.run_measured(child, None, tmp_path / "child.log")
    assert rc == 0 and sampler.killed_at is None


@pytest.fixture(scope="module")
def small_dream(tmp_path_factory) -> Path:
    # 160 weeks from 2018-W01 run past 2020-W53 into 2021
    path = tmp_path_factory.mktemp("rl") / "staging" / "dream.parquet"
    rl.generate(path, persons=400, weeks=160, seed=7)
    return path


def _spells(path: Path) -> pl.DataFrame:
    df = pl.read_parquet(path).select(SPELL_KEY)
    return df.with_columns(pl.col("benefit_group").cast(pl.String)).sort(SPELL_KEY)


def test_pandas_versions_give_the_pipelines_spells(small_dream, tmp_path):
    duck = rl.run_duckdb(small_dream, tmp_path / "duck", "500MB", 1, with_weeks=False)
    expected = _spells(tmp_path / "duck" / "benefit_spells.parquet")
    assert duck["n_spells"] == expected.height > 100
    versions = {
        "categorical": {},
        "strings": {"strings": True},
        "chunked": {"chunk": 150},  # three chunks, the last one short
    }
    for name, kwargs in versions.items():
        out = tmp_path / name
        out.mkdir()
        res = rl.run_pandas(small_dream, out, **kwargs)
        got = _spells(out / "benefit_spells_pandas.parquet")
        assert res["n_spells"] == expected.height, name
        assert got.equals(expected), name


def test_spawn_reports_a_child_the_cap_stopped(small_dream, tmp_path):
    # importing pandas alone takes more than 40 MiB
    r = rl.spawn("pandas", small_dream, tmp_path / "capped", [], rss_cap_gb=40 / 1024)
    assert r["ok"] is False
    assert r["error"].startswith("killed at ") and "before it finished" in r["error"]
    assert r["peak_rss_mb"] > 40
