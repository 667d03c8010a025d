"""CSV deliveries keep PNR strings; the ``regdml synth`` command line."""

from __future__ import annotations

import csv
import json

import polars as pl

from pipelines.cli import main


def test_csv_pnr_and_layout(delivery_csv):
    out = delivery_csv["out"]
    files = sorted(p.name for p in out.iterdir())
    assert len(files) == 71 and all(f.endswith(".csv") for f in files)
    with open(out / "dream.csv", encoding="utf-8", newline="") as fh:
        reader = csv.reader(fh, delimiter=",")
        header = next(reader)
        first = next(reader)
    assert header[0] == "PNR" and "y_2053" in header and "y_1553" in header and header[-1] == "grad_2022_12"
    assert len(first) == len(header)
    dream = pl.read_csv(out / "dream.csv", schema_overrides={"PNR": pl.String}, infer_schema=False)
    assert dream["PNR"].str.len_chars().eq(10).all()
    assert dream["PNR"].str.starts_with("0").any()
    codes = set()
    for c in header[1:419]:
        codes |= set(dream[c].drop_nulls().unique().to_list())
    assert all(len(c) == 3 for c in codes)
    sam = pl.read_csv(out / "samtaler2020.csv", infer_schema=False)
    assert sam.columns == ["PNR", "SAMTALE_DATO", "SAMTALETYPE", "KONTAKTFORM", "AKTOER", "KOMMUNE"]
    assert sam["SAMTALE_DATO"].str.contains(r"^\d{4}-\d{2}-\d{2}$").all()
    assert sam["PNR"].str.len_chars().eq(10).all()
    bef = pl.read_csv(out / "bef202012.csv", infer_schema=False)
    assert bef["FOED_DAG"].str.contains(r"^\d{4}-\d{2}-\d{2}$").all()


def test_csv_truth(delivery_csv):
    t = json.loads(delivery_csv["truth"].read_text(encoding="utf-8"))
    assert t["format"] == "csv" and t["sample"]["n_eligible_meetings"] > 200


def test_cli(tmp_path, capsys):
    out = tmp_path / "deliveries" / "synthetic"
    rc = main(
        [
            "synth",
            "--persons",
            "200",
            "--seed",
            "3",
            "--out",
            str(out),
            "--world",
            "easy",
            "--null-effect",
            "--param",
            "selection_strength=0",
            "--chunk-size",
            "100",
        ]
    )
    assert rc == 0
    assert "synth: wrote 71 files" in capsys.readouterr().out
    t = json.loads((tmp_path / "deliveries" / "synthetic.truth.json").read_text(encoding="utf-8"))
    assert t["params"]["null_effect"] is True and t["params"]["selection_strength"] == 0.0
    assert t["params"]["chunk_size"] == 100
    assert t["world"] == "easy" and t["params"]["world"] == "easy"


def test_cli_refuses_truth_inside(tmp_path, capsys):
    out = tmp_path / "d"
    rc = main(["synth", "--persons", "50", "--out", str(out), "--truth", str(out / "t.json"), "--quiet"])
    assert rc == 2
    assert "outside the delivery folder" in capsys.readouterr().err


def test_cli_custom_truth_path(tmp_path):
    out = tmp_path / "d"
    rc = main(
        [
            "synth",
            "--persons",
            "50",
            "--seed",
            "9",
            "--out",
            str(out),
            "--truth",
            str(tmp_path / "elsewhere" / "truth.json"),
            "--quiet",
            "--format",
            "csv",
        ]
    )
    assert rc == 0
    assert (tmp_path / "elsewhere" / "truth.json").is_file()
    assert (tmp_path / "elsewhere" / "truth.meetings.parquet").is_file()
