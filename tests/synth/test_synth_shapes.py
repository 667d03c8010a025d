"""Every file of a synthetic delivery has the delivery format's name, columns and types."""

from __future__ import annotations

import re

import polars as pl
import pyarrow.parquet as pq

from data_contracts.codebook import load_codebook
from data_contracts.registers import CONTRACTS

YEARS = range(2015, 2023)


def expected_names() -> set[str]:
    names = {f"bef{y}{m:02d}" for y in YEARS for m in (3, 6, 9, 12)}
    for reg in ("udda", "ind", "akm", "akasse"):
        names |= {f"{reg}{y}" for y in YEARS}
    names |= {f"samtaler{y}" for y in range(2019, 2023)}
    return names | {"dream", "kontaktform_validering", "befolkning_kommune"}


def test_file_names(delivery):
    files = sorted(p.name for p in delivery["out"].iterdir())
    assert {f.removesuffix(".parquet") for f in files} == expected_names()
    assert all(f.endswith(".parquet") for f in files)


def test_columns_match_contracts(delivery):
    out = delivery["out"]
    for path in out.iterdir():
        name = path.stem
        reg = re.match(r"^([a-z_]+?)(\d*)$", name).group(1)
        schema = pq.read_schema(path)
        contract = CONTRACTS[reg]
        if reg == "dream":
            assert schema.names[0] == "PNR"
            continue
        # optional columns (befolkning_kommune's MAANED: the generator counts by AAR) may be left out
        written = [c for c in contract.columns if c.required or c.name.upper() in schema.names]
        assert [c.lower() for c in schema.names] == [c.name for c in written], name
        assert all(c == c.upper() for c in schema.names)
        for col in written:
            t = str(schema.field(col.name.upper()).type)
            want = {"str": ("string",), "int": ("int32",), "float": ("double",), "date": ("date32[day]",)}[
                col.dtype
            ]
            assert t in want, (name, col.name, t)


def test_dream_layout(delivery):
    schema = pq.read_schema(delivery["out"] / "dream.parquet")
    ycols = [c for c in schema.names if c.startswith("y_")]
    gcols = [c for c in schema.names if c.startswith("grad_")]
    assert ycols[0] == "y_1501" and ycols[-1] == "y_2252"
    assert "y_1553" in ycols and "y_2053" in ycols and "y_1653" not in ycols
    assert len(ycols) == 418
    assert gcols[0] == "grad_2015_01" and gcols[-1] == "grad_2022_12" and len(gcols) == 96
    assert all(str(schema.field(c).type) == "string" for c in ycols)
    assert all(str(schema.field(c).type) == "int16" for c in gcols)


def test_pnr_strings_with_leading_zeros(delivery):
    dream = pl.read_parquet(delivery["out"] / "dream.parquet", columns=["PNR"])
    assert dream.schema["PNR"] == pl.String
    assert dream["PNR"].str.len_chars().eq(10).all()
    assert dream["PNR"].str.starts_with("0").any()
    assert dream["PNR"].n_unique() == dream.height == 3000
    for name in ("bef202012", "udda2019", "ind2019", "akm2019", "akasse2019"):
        df = pl.read_parquet(delivery["out"] / f"{name}.parquet")
        assert df["PNR"].n_unique() == df.height, name
        assert df.height > 0


def test_codes_in_codebook(delivery):
    cb = load_codebook()
    out = delivery["out"]
    dream = pl.read_parquet(out / "dream.parquet")
    ycols = [c for c in dream.columns if c.startswith("y_")]
    codes = set()
    for c in ycols:
        codes |= set(dream[c].drop_nulls().unique().to_list())
    assert codes and all(re.fullmatch(r"\d{3}", c) for c in codes)
    assert all(cb.dream_group_of(c) is not None for c in codes)
    kinds = {cb.dream_group_of(c).kind for c in codes}
    assert kinds == {"target", "other_benefit", "other_exit", "censoring"}
    gcols = [c for c in dream.columns if c.startswith("grad_")]
    g = dream.select(gcols).unpivot()["value"].drop_nulls()
    assert g.min() >= 0 and g.max() <= 100
    sam = pl.concat([pl.read_parquet(out / f"samtaler{y}.parquet") for y in range(2019, 2023)])
    assert set(sam["KONTAKTFORM"].unique()) <= set(cb.kontaktform)
    assert set(sam["AKTOER"].unique()) == set(cb.aktoer)
    lo, hi = cb.samtaletype.allowed_range
    assert sam["SAMTALETYPE"].is_between(lo, hi).all()
    assert {7, 4} <= set(sam["SAMTALETYPE"].unique())
    assert set(sam["KOMMUNE"].unique()) <= set(cb.kommuner)
    assert (sam["SAMTALE_DATO"].dt.year().is_between(2019, 2022)).all()
    bef = pl.read_parquet(out / "bef202006.parquet")
    assert set(bef["KOEN"].unique()) <= set(cb.koen)
    assert set(bef["IE_TYPE"].unique()) <= set(cb.ie_type)
    assert set(bef["CIVST"].unique()) <= set(cb.civst)
    assert set(bef["KOM"].unique()) <= set(cb.kommuner)
    akm = pl.read_parquet(out / "akm2020.parquet")
    assert set(akm["SOCIO13"].unique()) <= set(cb.socio13)
    udda = pl.read_parquet(out / "udda2020.parquet")
    assert all(cb.hfaudd_level(int(v)) is not None for v in udda["HFAUDD"].unique())
    ind = pl.read_parquet(out / "ind2020.parquet")
    assert (ind["LOENMV_13"] >= 0).all() and (ind["PERINDKIALT_13"] >= ind["LOENMV_13"]).all()


def test_validation_file(delivery):
    cb = load_codebook()
    val = pl.read_parquet(delivery["out"] / "kontaktform_validering.parquet")
    assert val.select("KOMMUNE", "MAANED").is_unique().all()
    months = [f"{y}-{m:02d}" for y, m in [(2020, m) for m in range(5, 13)] + [(2021, 1), (2021, 2)]]
    window = val.filter(pl.col("MAANED").is_in(months))
    assert window.height == len(cb.kommuner) * len(months)
    assert set(val["BEKRAEFTET"].unique()) == {0, 1}
    assert 0.02 < 1 - window["BEKRAEFTET"].mean() < 0.4
    assert val["MAANED"].str.contains(r"^\d{4}-\d{2}$").all()
