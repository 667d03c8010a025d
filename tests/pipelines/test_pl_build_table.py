"""`regdml build-table` writes the analysis table as Parquet, CSV or Stata .dta, with the configuration
and the column dictionary beside it; a wrong suffix is refused before anything runs."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]


def _env() -> dict[str, str]:
    """The test's environment without an instance or database of its own: the work folder decides."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DAGSTER_PG_", "REGDML_"))}
    env.pop("DAGSTER_HOME", None)
    env["DAGSTER_DISABLE_TELEMETRY"] = "1"
    return env


def _build_table(delivery: Path, out: Path, workdir: Path, config: Path) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "pipelines.cli", "build-table", "--delivery", str(delivery), "--out", str(out),
           "--workdir", str(workdir), "--config", str(config)]  # fmt: skip
    return subprocess.run(cmd, cwd=REPO, env=_env(), capture_output=True, text=True, timeout=600)


@pytest.fixture(scope="module")
def workspace(small_delivery, fast_config, tmp_path_factory):
    """One work folder (with its own Dagster instance) for every build-table call of this module."""
    root = tmp_path_factory.mktemp("build_table")
    return {
        "root": root,
        "workdir": root / "work",
        "delivery": small_delivery,
        "config": fast_config,
        "outs": {},
    }


def _built(workspace, suffix: str) -> Path:
    """The table written once per format (each call re-runs the pipeline up to the analysis table)."""
    out = workspace["root"] / "out" / f"analysis{suffix}"
    if suffix not in workspace["outs"]:  # a failed call is remembered too: it is not repeated
        out.parent.mkdir(exist_ok=True)
        workspace["outs"][suffix] = _build_table(
            workspace["delivery"], out, workspace["workdir"], workspace["config"]
        )
    proc = workspace["outs"][suffix]
    assert proc.returncode == 0, f"build-table {suffix} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    assert f"analysis table: {out}" in proc.stdout
    return out


def _reference(workspace) -> pl.DataFrame:
    work = workspace["workdir"] / "runs" / workspace["delivery"].name
    return pl.read_parquet(work / "analysis" / "analysis_table.parquet")


@pytest.mark.slow
def test_parquet_is_the_analysis_table(workspace):
    out = _built(workspace, ".parquet")
    ref = _reference(workspace)
    table = pl.read_parquet(out)
    assert table.height > 0 and table.width > 10
    assert table.equals(ref)


@pytest.mark.slow
def test_csv_has_same_rows_columns_and_pnr_keeps_leading_zeros(workspace):
    out = _built(workspace, ".csv")
    ref = _reference(workspace)
    # Read every column as text: a reader in R or Stata sees exactly these characters.
    text = pl.read_csv(out, infer_schema=False)
    assert text.columns == ref.columns
    assert text.height == ref.height
    assert text["pnr"].to_list() == ref["pnr"].to_list()
    assert ref["pnr"].str.starts_with("0").any(), "the synthetic delivery should have PNRs with leading zeros"
    assert text["pnr"].str.len_chars().min() == ref["pnr"].str.len_chars().min()
    # Typed read back: the numbers are the same.
    typed = pl.read_csv(out, schema=ref.schema)
    assert typed.equals(ref)


@pytest.mark.slow
def test_dta_has_same_rows_columns_and_pnr_as_string(workspace):
    import pandas as pd

    out = _built(workspace, ".dta")
    ref = _reference(workspace)
    with pd.io.stata.StataReader(out) as reader:
        dta = reader.read(convert_categoricals=False)
        labels = reader.variable_labels()
    assert len(dta) == ref.height
    assert dta.shape[1] == ref.width
    # Stata allows names of at most 32 characters: a longer name may be shortened, but then the variable
    # label must carry the original name. Every other column keeps its name.
    for stata_name, name in zip(dta.columns, ref.columns, strict=True):
        if stata_name != name:
            assert len(name) > 32 and len(stata_name) <= 32, (stata_name, name)
            assert labels.get(stata_name) == name, (stata_name, labels.get(stata_name))
    assert len(set(dta.columns)) == ref.width
    assert dta["pnr"].dtype == object
    assert dta["pnr"].tolist() == ref["pnr"].to_list()
    assert dta["meeting_id"].tolist() == ref["meeting_id"].to_list()
    assert dta["digital"].tolist() == ref["digital"].to_list()
    assert pd.to_datetime(dta["meeting_date"]).dt.date.tolist() == ref["meeting_date"].to_list()


@pytest.mark.slow
@pytest.mark.parametrize("suffix", [".parquet", ".csv", ".dta"])
def test_config_and_column_dictionary_beside_the_output(workspace, fast_config, suffix):
    fast = yaml.safe_load(fast_config.read_text(encoding="utf-8"))
    out = _built(workspace, suffix)
    ref = _reference(workspace)
    cfg_file = out.with_name(out.name + ".config.yaml")
    cols_file = out.with_name(out.name + ".columns.csv")
    assert cfg_file.is_file() and cols_file.is_file(), suffix
    cfg = yaml.safe_load(cfg_file.read_text(encoding="utf-8"))
    for key, value in fast["estimation"].items():
        assert cfg["estimation"][key] == value, (suffix, key)
    dictionary = pl.read_csv(cols_file, infer_schema=False)
    assert {"name", "role", "definition"} <= set(dictionary.columns)
    assert dictionary["name"].to_list() == ref.columns, suffix


def test_wrong_suffix_is_refused_with_exit_code_2(small_delivery, fast_config, tmp_path):
    out = tmp_path / "analysis.xlsx"
    proc = _build_table(small_delivery, out, tmp_path / "work", fast_config)
    assert proc.returncode == 2
    message = proc.stdout + proc.stderr
    assert "--out must end in one of" in message and ".parquet" in message and ".dta" in message
    assert "'analysis.xlsx'" in message
    assert not out.exists()
    assert not (tmp_path / "work").exists(), "nothing should run for a refused output name"
