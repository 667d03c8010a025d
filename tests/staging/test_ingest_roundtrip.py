"""Ingestion round trips: every input format reads back to the same typed staged registers."""

import datetime as dt
import sys
from pathlib import Path

import duckdb
import polars as pl
import pytest

sys.path.insert(0, str(Path(__file__).parent))
import ingest_builder as b  # noqa: E402

from assets.raw.manifest import build_manifest, register_versions  # noqa: E402
from assets.staging.discover import discover  # noqa: E402
from assets.staging.read import iter_chunks, read_columns  # noqa: E402
from assets.staging.stage import stage_register, validate_staged, write_duckdb_views  # noqa: E402
from data_contracts.codebook import load_codebook  # noqa: E402
from data_contracts.config import load_config  # noqa: E402
from data_contracts.registers import CONTRACTS  # noqa: E402
from data_contracts.validation import (  # noqa: E402
    DeliveryError,
    check_columns,
    valid_dream_month,
    valid_dream_week,
)

PATTERNS = load_config().file_patterns
CODEBOOK = load_codebook()


def _stage(delivery: Path, register: str, work: Path, chunk_size: int = 4):
    disc = discover(delivery, PATTERNS)
    return stage_register(
        CONTRACTS[register],
        disc.of(register),
        work / "staging" / f"{register}.parquet",
        CODEBOOK,
        chunk_size=chunk_size,
    )


def _expected_bef() -> pl.DataFrame:
    _, df = b.frames()["bef202012"]
    return df.rename({c: c.lower() for c in df.columns}).with_columns(
        pl.col("koen", "ie_type", "opr_land", "kom").cast(pl.Int32)
    )


@pytest.mark.parametrize(
    "ext,sep,encoding",
    [
        (".parquet", ";", "utf-8"),
        (".csv", ";", "utf-8"),
        (".csv", ",", "utf-8"),
        (".csv", ";", "latin-1"),
        (".sas7bdat", ";", "utf-8"),
        (".SAS7BDAT", ";", "utf-8"),
        (".CSV", ",", "latin-1"),
    ],
)
def test_bef_round_trip_every_format(tmp_path, ext, sep, encoding):
    _, df = b.frames()["bef202012"]
    if encoding == "latin-1":  # an extra column with a non-ASCII value makes the file Latin-1, not UTF-8
        df = df.with_columns(pl.lit("Ærø").alias("KOMMUNENAVN"))
    b.write_frame(df, tmp_path / "del" / f"BEF202012{ext}", sep=sep, encoding=encoding)
    res = _stage(tmp_path / "del", "bef", tmp_path / "work")
    staged = pl.read_parquet(res.path)
    assert res.rows == 6 and staged.height == 6
    assert staged.schema["pnr"] == pl.String and staged.schema["foed_dag"] == pl.Date
    assert staged.get_column("pnr").to_list() == b.PNRS  # leading zeros kept
    exp = _expected_bef()
    assert staged.select(exp.columns).equals(exp)
    assert staged.get_column("reference_date").unique().to_list() == [dt.date(2020, 12, 31)]
    assert staged.get_column("year").unique().to_list() == [2020]
    assert staged.get_column("month").unique().to_list() == [12]
    assert staged.get_column("source_file").unique().to_list() == [f"BEF202012{ext}"]
    if encoding == "latin-1":
        assert any("kommunenavn" in str(w) for w in res.warnings)  # extra column reported, not staged
        assert "kommunenavn" not in staged.columns


def test_sas_dates_datetimes_unformatted_numbers_and_iso_strings(tmp_path):
    """SAS date (DATE9), SAS datetime (DATETIME20), unformatted SAS day and second numbers, ISO strings."""
    d = [dt.date(2020, 5, 4), dt.date(2020, 8, 1), dt.date(2020, 6, 2), dt.date(2021, 1, 1)]
    sas_days = [float((x - dt.date(1960, 1, 1)).days) for x in d]
    base = {
        "PNR": ["01", "02", "03", "04"],
        "SAMTALETYPE": [7.0] * 4,
        "KONTAKTFORM": ["P", "T", "V", "D"],
        "AKTOER": ["JC"] * 4,
        "KOMMUNE": [101.0] * 4,
    }
    variants = {
        "samtaler2020": pl.DataFrame({**base, "SAMTALE_DATO": d}),  # DATE9
        "samtaler2021": pl.DataFrame(
            {**base, "SAMTALE_DATO": [dt.datetime(x.year, x.month, x.day, 13, 5) for x in d]}
        ),
        "samtaler2022": pl.DataFrame({**base, "SAMTALE_DATO": sas_days}),  # no format: SAS days
        "samtaler2023": pl.DataFrame(
            {**base, "SAMTALE_DATO": [v * 86400 + 3600 for v in sas_days]}
        ),  # seconds
    }
    for stem, df in variants.items():
        b.write_frame(df, tmp_path / "del" / f"{stem}.sas7bdat")
    b.write_frame(
        pl.DataFrame({**base, "SAMTALE_DATO": [x.isoformat() for x in d]}),
        tmp_path / "del" / "samtaler2024.csv",
    )
    res = _stage(tmp_path / "del", "samtaler", tmp_path / "work", chunk_size=3)
    staged = pl.read_parquet(res.path)
    assert res.rows_per_file == {
        f"samtaler{y}.{'csv' if y == 2024 else 'sas7bdat'}": 4 for y in range(2020, 2025)
    }
    for f in res.files:
        got = staged.filter(pl.col("source_file") == f).get_column("samtale_dato").to_list()
        assert got == d, f
    assert staged.schema["samtaletype"] == pl.Int32 and staged.get_column("pnr").to_list()[:4] == [
        "01",
        "02",
        "03",
        "04",
    ]


def test_chunked_sas_reading_smaller_than_file(tmp_path):
    _, df = b.frames()["bef202012"]
    p = b.write_frame(df, tmp_path / "bef202012.sas7bdat")
    chunks = list(iter_chunks(p, chunk_size=4))
    assert [c.height for c in chunks] == [4, 2]
    assert read_columns(p) == list(df.columns)  # upper case as delivered
    csv = b.write_frame(df, tmp_path / "bef202012.csv")
    assert [c.height for c in iter_chunks(csv, chunk_size=4)] == [4, 2]


def test_full_delivery_staged_with_duckdb_views(tmp_path):
    delivery = b.build_delivery(
        tmp_path / "del",
        formats={"bef202012": ".sas7bdat", "dream": ".sas7bdat", "samtaler2020": ".csv", "udda2020": ".csv"},
    )
    work = tmp_path / "work"
    for reg in CONTRACTS:
        res = _stage(delivery, reg, work)
        assert validate_staged(res.path, CONTRACTS[reg], CODEBOOK, full=True) == []
        assert validate_staged(res.path, CONTRACTS[reg], CODEBOOK) == []
    dream = pl.read_parquet(work / "staging" / "dream.parquet")
    assert dream.schema["y_2053"] == pl.String and dream.schema["grad_2020_12"] == pl.Int16
    assert dream.row(0, named=True)["y_2051"] == "111" and dream.row(0, named=True)["y_2053"] is None
    db = write_duckdb_views(work / "staging", list(CONTRACTS))
    con = duckdb.connect(str(db), read_only=True)
    try:
        assert con.execute("SELECT count(*) FROM bef").fetchone() == (12,)
        assert con.execute("SELECT count(DISTINCT year) FROM bef").fetchone() == (2,)
        assert con.execute("SELECT count(*) FROM dream").fetchone() == (6,)
        views = {
            r[0] for r in con.execute("SELECT view_name FROM duckdb_views() WHERE NOT internal").fetchall()
        }
    finally:
        con.close()
    assert views == set(CONTRACTS)


def test_discovery_patterns_unmatched_and_missing(tmp_path):
    delivery = b.build_delivery(tmp_path / "del", skip=("akm2020",))
    (delivery / "README.txt").write_text("notes")
    (delivery / "bef_extra2020.parquet").write_bytes(b"x")
    disc = discover(delivery, PATTERNS)
    assert disc.missing == ["akm"]
    assert sorted(disc.unmatched) == ["README.txt", "bef_extra2020.parquet"]
    assert all("matches no register" in w for w in disc.warnings)
    assert [f.period for f in disc.of("bef")] == ["2020-12", "2021-03"]
    with pytest.raises(DeliveryError, match="register 'akm' is missing"):
        disc.raise_for_problems()
    disc.raise_for_problems(["bef"])  # only the registers asked for
    # a configured pattern (another project's names)
    (delivery / "akm_2020.parquet").write_bytes((delivery / "udda2020.parquet").read_bytes())
    disc2 = discover(delivery, {**PATTERNS, "akm": r"^akm_(?P<year>\d{4})$"})
    assert disc2.missing == [] and disc2.of("akm")[0].year == 2020


def test_manifest_and_register_versions(tmp_path):
    delivery = b.build_delivery(tmp_path / "del")
    m1 = build_manifest(discover(delivery, PATTERNS), tmp_path / "cache")
    assert m1.height == 9 and set(m1.columns) >= {"file", "register", "period", "size", "sha256", "modified"}
    v1 = register_versions(m1)
    _, df = b.frames()["ind2020"]
    b.write_frame(df.with_columns(pl.col("LOENMV_13") + 1), delivery / "ind2020.parquet")
    v2 = register_versions(build_manifest(discover(delivery, PATTERNS), tmp_path / "cache"))
    assert {r for r in v1 if v1[r] != v2[r]} == {"ind"}


def test_dream_column_names():
    assert valid_dream_week("y_2053") and valid_dream_week("y_2101") and valid_dream_week("y_1552")
    assert (
        not valid_dream_week("y_2153") and not valid_dream_week("y_2100") and not valid_dream_week("y_20530")
    )
    assert valid_dream_month("grad_2020_12") and not valid_dream_month("grad_2020_13")
    plan = check_columns(
        "dream.csv", ["PNR", "y_2053", "Y_2153", "grad_2020_13", "grad_2021_01"], CONTRACTS["dream"]
    )
    bad = {p.column for p in plan.problems if p.severity == "error"}
    assert bad == {"y_2153", "grad_2020_13"}


def test_clean_dream_code_columns_pass_through_unchanged_and_dirty_ones_are_normalized():
    """Columns holding only nulls and codebook codes skip normalizing; the result is the same as the full
    path, and a column with one untidy value (padding, 2 digits, empty, unknown code) is still cleaned."""
    from data_contracts.validation import FileValidator

    raw = pl.DataFrame(
        {
            "PNR": ["0101010001", "0101010002", "0101010003", "0101010004"],
            "y_2053": ["111", None, "130", "210"],  # clean: passed through
            "y_2101": [" 111", "11", "", "130"],  # untidy: padded, unpadded (011: not a code), empty
            "grad_2020_12": [10, None, 0, 100],
        }
    )

    def run(passthrough: bool):
        v = FileValidator("dream.csv", raw.columns, CONTRACTS["dream"], CODEBOOK)
        if not passthrough:
            v._passthrough = {}
        typed = v.process(raw)
        return v, typed

    fast, typed_fast = run(True)
    slow, typed_slow = run(False)
    assert fast._clean_code_columns(raw.rename({"PNR": "pnr"})) == {"y_2053"}
    assert typed_fast.equals(typed_slow)
    assert typed_fast["y_2053"].to_list() == ["111", None, "130", "210"]
    assert typed_fast["y_2101"].to_list() == ["111", "011", None, "130"]
    assert [str(p) for p in fast.finish()] == [str(p) for p in slow.finish()]
    unknown = [p for p in fast.finish() if p.column == "y_2101" and "codebook" in p.problem]
    assert len(unknown) == 1 and unknown[0].count == 1 and "011" in unknown[0].problem


@pytest.mark.parametrize(
    "register,frame", [("bef", "bef202012"), ("kontaktform_validering", "kontaktform_validering")]
)
def test_duplicate_keys_in_different_chunks_are_found_and_counted(tmp_path, register, frame):
    """Key screening by hashes while streaming must see a duplicate whose rows fall in different chunks
    (chunks of 2 rows here), for a one-column key (pnr) and a two-column key (kommune, maaned)."""
    ext, df = b.frames()[frame]
    delivery = tmp_path / "delivery"
    delivery.mkdir()
    b.write_frame(pl.concat([df, df.head(1)]), delivery / f"{frame}.parquet")
    with pytest.raises(DeliveryError) as err:
        _stage(delivery, register, tmp_path / "work", chunk_size=2)
    dup = [p for p in err.value.problems if "more than once" in p.problem]
    assert len(dup) == 1 and dup[0].count == 2 and dup[0].problem.startswith("1 ")
    assert not (tmp_path / "work" / "staging" / f"{register}.parquet").exists()
    # the same file without the repeated row stages cleanly
    b.write_frame(df, delivery / f"{frame}.parquet")
    assert _stage(delivery, register, tmp_path / "work", chunk_size=2).rows == df.height


def test_count_duplicate_keys_per_source_file(tmp_path):
    """Duplicates are counted per source file (the same PNR in two BEF snapshots is not a duplicate), by key
    (kommune, maaned) too, and null keys are not duplicates (validation reports them)."""
    from assets.staging.stage import count_duplicate_keys

    frame = pl.DataFrame(
        {
            "pnr": ["01", "01", "02", "01", "03", "03", "03", None, None],
            "source_file": ["bef202003"] * 3 + ["bef202006"] + ["bef202006"] * 3 + ["bef202006"] * 2,
        }
    )
    frame.write_parquet(tmp_path / "staged.parquet")
    assert count_duplicate_keys(tmp_path / "staged.parquet", ["pnr"]) == {
        "bef202003": (1, 2),
        "bef202006": (1, 3),
    }
    frame.filter(pl.col("pnr") != "03").write_parquet(tmp_path / "sound.parquet")
    assert count_duplicate_keys(tmp_path / "sound.parquet", ["pnr"]) == {"bef202003": (1, 2)}
    frame.filter(pl.col("source_file") == "bef202006", pl.col("pnr") != "03").write_parquet(
        tmp_path / "ok.parquet"
    )
    assert count_duplicate_keys(tmp_path / "ok.parquet", ["pnr"]) == {}
    two = pl.DataFrame(
        {"kommune": [101, 101, 101], "maaned": ["2020-05", "2020-05", "2020-06"], "source_file": ["k"] * 3}
    )
    two.write_parquet(tmp_path / "two.parquet")
    assert count_duplicate_keys(tmp_path / "two.parquet", ["kommune", "maaned"]) == {"k": (1, 2)}


def test_chunk_rows_follow_the_memory_budgets_cell_limit(tmp_path, monkeypatch):
    """stage_register reads at most max_cells cells per chunk (the memory setting's share), never fewer
    than 1,000 rows, and chunk_size rows when the file is narrow enough."""
    import assets.staging.stage as st

    asked: list[int] = []
    real = st.iter_chunks

    def spy(path, chunk_size, columns=None):
        asked.append(chunk_size)
        return real(path, chunk_size, columns=columns)

    monkeypatch.setattr(st, "iter_chunks", spy)
    _, df = b.frames()["bef202012"]
    delivery = tmp_path / "delivery"
    delivery.mkdir()
    b.write_frame(df, delivery / "bef202012.parquet")
    files = discover(delivery, PATTERNS).of("bef")
    n_cols = len(df.columns)
    target = tmp_path / "bef.parquet"
    st.stage_register(
        CONTRACTS["bef"], files, target, CODEBOOK, chunk_size=250_000, max_cells=50_000 * n_cols
    )
    st.stage_register(CONTRACTS["bef"], files, target, CODEBOOK, chunk_size=250_000, max_cells=10)
    st.stage_register(CONTRACTS["bef"], files, target, CODEBOOK, chunk_size=250_000, max_cells=10**9)
    assert asked == [50_000, 1_000, 250_000]
