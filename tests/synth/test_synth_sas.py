"""``--format sas7bdat``: every register as a genuine ``.sas7bdat`` (the fixture writer in
``../shared/tools/``), equal to the Parquet delivery of the same seed when read back by pyreadstat."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import polars as pl
import pyreadstat
import pytest

from synth import SynthParams, generate_delivery
from synth.writers import SasFileWriter, load_sas_tool

PARAMS = SynthParams(chunk_size=150)
KW = {"persons": 300, "seed": 9, "params": PARAMS, "dream_from": 1991, "grad_lag_months": 3}


@pytest.fixture(scope="module")
def both(tmp_path_factory: pytest.TempPathFactory) -> dict:
    base = tmp_path_factory.mktemp("synth_sas")
    pq_sum = generate_delivery(base / "pq", **KW)
    sas_sum = generate_delivery(base / "sas", fmt="sas7bdat", **KW)
    return {
        "pq": Path(pq_sum["delivery"]),
        "sas": Path(sas_sum["delivery"]),
        "sas_sum": sas_sum,
        "base": base,
    }


def test_sas_round_trip_equals_parquet(both):
    pq_files = sorted(both["pq"].glob("*.parquet"))
    sas_files = sorted(both["sas"].iterdir())
    assert len(pq_files) == len(sas_files) == 71
    assert all(p.suffix == ".sas7bdat" for p in sas_files)
    assert not [p for p in both["base"].iterdir() if p.name.startswith(".")]  # no staged Parquet left
    for f in pq_files:
        want = pl.read_parquet(f)
        got, meta = pyreadstat.read_sas7bdat(str(both["sas"] / f"{f.stem}.sas7bdat"), output_format="polars")
        assert got.columns == want.columns and got.height == want.height, f.name
        assert meta.table_name == f.stem.upper()
        for c in want.columns:
            x, y = want[c], got[c]
            if x.dtype == pl.String:
                # SAS has no null string: an empty cell reads back as ""
                assert y.dtype == pl.String and x.fill_null("").equals(y.fill_null("")), (f.name, c)
            elif x.dtype == pl.Date:
                assert meta.original_variable_types[c] == "DATE9" and x.equals(y), (f.name, c)
            else:
                assert y.dtype == pl.Float64 and x.cast(pl.Float64).equals(y), (f.name, c)
    dream = pyreadstat.read_sas7bdat(str(both["sas"] / "dream.sas7bdat"), metadataonly=True)[1]
    assert dream.column_names[1] == "y_9130" and dream.column_names[-1] == "grad_2022_09"


def test_sas_truth_equals_parquet_truth(both):
    t_pq = json.loads(Path(str(both["pq"]) + ".truth.json").read_text(encoding="utf-8"))
    t_sas = json.loads(Path(both["sas_sum"]["truth"]).read_text(encoding="utf-8"))
    assert t_sas["format"] == "sas7bdat" and t_sas["effects"] == t_pq["effects"]


def test_sas_same_data_same_bytes(both, tmp_path):
    src = both["pq"] / "samtaler2020.parquet"
    w = SasFileWriter(load_sas_tool())
    a, b = tmp_path / "a.sas7bdat", tmp_path / "b.sas7bdat"
    widths = {"PNR": 10, "KONTAKTFORM": 1, "AKTOER": 2}
    w.write(src, a, widths, "samtaler2020")
    w.write(src, b, widths, "samtaler2020")
    assert hashlib.sha256(a.read_bytes()).digest() == hashlib.sha256(b.read_bytes()).digest()
    assert a.read_bytes() == (both["sas"] / "samtaler2020.sas7bdat").read_bytes()


def test_missing_tool_is_a_clear_error(tmp_path):
    missing = tmp_path / "shared" / "tools" / "sas7bdat_writer.py"
    with pytest.raises(ValueError, match=r"--format sas7bdat needs the fixture writer .*sas7bdat_writer\.py"):
        load_sas_tool(missing)
