"""Bad deliveries are refused with a message naming file, column and count, never a PNR, and leave the
previously staged outputs byte-for-byte unchanged."""

import datetime as dt
import sys
from collections.abc import Callable
from pathlib import Path

import polars as pl
import pytest

sys.path.insert(0, str(Path(__file__).parent))
import ingest_builder as b  # noqa: E402

from assets.staging.stage import stage_delivery_register, write_duckdb_views  # noqa: E402
from data_contracts.codebook import load_codebook  # noqa: E402
from data_contracts.config import load_config  # noqa: E402
from data_contracts.registers import CONTRACTS  # noqa: E402
from data_contracts.validation import DeliveryError  # noqa: E402

PATTERNS = load_config().file_patterns
CODEBOOK = load_codebook()
FORMATS = {"bef202012": ".sas7bdat", "samtaler2020": ".csv", "dream": ".csv"}


def _stage(delivery: Path, work: Path, register: str):
    return stage_delivery_register(
        register, delivery, work, file_patterns=PATTERNS, codebook=CODEBOOK, chunk_size=4
    )


@pytest.fixture(scope="module")
def good(tmp_path_factory):
    """A good delivery, fully staged once (with the DuckDB views); the template for every bad case."""
    root = tmp_path_factory.mktemp("good")
    delivery = b.build_delivery(root / "del", formats=FORMATS)
    work = root / "work"
    for reg in CONTRACTS:
        _stage(delivery, work, reg)
    write_duckdb_views(work / "staging", list(CONTRACTS))
    return delivery, work


def _copy(src: Path, dst: Path) -> None:
    dst.mkdir(parents=True)
    for p in src.iterdir():
        (dst / p.name).write_bytes(p.read_bytes())


def _frame(stem: str) -> pl.DataFrame:
    return b.frames()[stem][1]


# Each case: (register staged, function breaking the delivery folder, expected fragments of the message)
def _missing_register(d: Path) -> None:
    (d / "akm2020.parquet").unlink()


def _missing_column(d: Path) -> None:
    b.write_frame(_frame("bef202103").drop("KOEN"), d / "bef202103.parquet")


def _misspelt_column(d: Path) -> None:
    (d / "samtaler2020.csv").unlink()
    b.write_frame(_frame("samtaler2020").rename({"KONTAKTFORM": "KONTAKTFROM"}), d / "samtaler2020.csv")


def _wrong_type(d: Path) -> None:
    (d / "samtaler2020.csv").unlink()
    df = _frame("samtaler2020").with_columns(pl.col("KOMMUNE").cast(pl.String))
    df = df.with_columns(
        pl.when(pl.int_range(pl.len()) < 2)
        .then(pl.lit("Aarhus"))
        .otherwise(pl.col("KOMMUNE"))
        .alias("KOMMUNE")
    )
    b.write_frame(df, d / "samtaler2020.csv")


def _duplicate_pnrs(d: Path) -> None:
    df = _frame("bef202103")
    b.write_frame(pl.concat([df, df.head(2)]), d / "bef202103.parquet")


def _unknown_codes(d: Path) -> None:
    (d / "samtaler2020.csv").unlink()
    df = _frame("samtaler2020").with_columns(pl.Series("KONTAKTFORM", ["X", "P", "Z", "X", "T", "P"]))
    b.write_frame(df, d / "samtaler2020.csv")


def _empty_file(d: Path) -> None:
    (d / "udda2020.parquet").unlink()
    b.write_frame(_frame("udda2020").head(0), d / "udda2020.csv")


def _zero_byte_file(d: Path) -> None:
    (d / "ind2020.parquet").unlink()
    (d / "ind2020.csv").write_bytes(b"")


def _truncated_parquet(d: Path) -> None:
    p = d / "ind2020.parquet"
    data = p.read_bytes()
    p.write_bytes(data[: len(data) // 2])


def _truncated_csv(d: Path) -> None:
    p = d / "samtaler2020.csv"
    data = p.read_bytes()
    p.write_bytes(data[:-30])  # cut inside the last row, which starts with a PNR


def _truncated_sas(d: Path) -> None:
    p = d / "bef202012.sas7bdat"
    data = p.read_bytes()
    p.write_bytes(data[: len(data) // 3])


def _corrupt_sas(d: Path) -> None:
    (d / "bef202012.sas7bdat").write_bytes(b"this is not a SAS file " * 400)


def _dream_bad(d: Path) -> None:
    df = (
        _frame("dream")
        .rename({"y_2102": "y_2153"})
        .with_columns(
            pl.Series("y_2052", ["111", "100", None, "77", None, None]),
            pl.Series("grad_2021_01", [None, 160, 10, 100, None, 0]),
        )
    )
    b.write_frame(df, d / "dream.csv", sep=",")


def _bad_dates(d: Path) -> None:
    (d / "samtaler2020.csv").unlink()
    df = _frame("samtaler2020").with_columns(
        pl.Series(
            "SAMTALE_DATO",
            [
                dt.date(2030, 1, 1),
                dt.date(2020, 5, 4),
                None,
                dt.date(2020, 5, 4),
                dt.date(2020, 5, 4),
                dt.date(2020, 5, 4),
            ],
        )
    )
    b.write_frame(df, d / "samtaler2020.csv")


def _empty_sas(d: Path) -> None:
    (d / "udda2020.parquet").unlink()
    b.write_frame(_frame("udda2020").head(0), d / "udda2020.sas7bdat")


def _numeric_pnr(d: Path) -> None:
    b.write_frame(_frame("udda2020").with_columns(pl.col("PNR").cast(pl.Int64)), d / "udda2020.parquet")


def _bad_month(d: Path) -> None:
    df = _frame("kontaktform_validering").with_columns(
        pl.Series("MAANED", ["2020-05", "2020-13", "202006", "2020-09"])
    )
    b.write_frame(df, d / "kontaktform_validering.parquet")


def _dream_week_gap(d: Path) -> None:
    # 2020-W53 left out of the extract: it would read as a week without benefit and split spells
    (d / "dream.csv").unlink()
    b.write_frame(_frame("dream").drop("y_2053"), d / "dream.parquet")


def _dream_month_gap(d: Path) -> None:
    (d / "dream.csv").unlink()
    df = _frame("dream").with_columns(pl.lit(None, pl.Int64).alias("grad_2021_03"))
    b.write_frame(df, d / "dream.parquet")  # 2021-02 missing between 2021-01 and 2021-03


def _dream_no_grad(d: Path) -> None:
    (d / "dream.csv").unlink()
    b.write_frame(_frame("dream").drop("grad_2020_12", "grad_2021_01"), d / "dream.parquet")


CASES: dict[str, tuple[str, Callable[[Path], None], list[str]]] = {
    "dream_week_gap": (
        "dream",
        _dream_week_gap,
        ["dream.parquet: column 'y_2053'", "contiguous ISO weeks", "1 column is missing: y_2053"],
    ),
    "dream_month_gap": (
        "dream",
        _dream_month_gap,
        ["dream.parquet: column 'grad_2021_02'", "contiguous months", "1 column is missing: grad_2021_02"],
    ),
    "dream_no_grad": ("dream", _dream_no_grad, ["dream.parquet: column 'grad_YYYY_MM'", "no grad_YYYY_MM"]),
    "missing_register": ("akm", _missing_register, ["register 'akm' is missing"]),
    "missing_column": (
        "bef",
        _missing_column,
        ["bef202103.parquet", "column 'koen'", "required column is missing", "6 rows"],
    ),
    "misspelt_column": (
        "samtaler",
        _misspelt_column,
        ["samtaler2020.csv", "column 'kontaktfrom'", "did you mean 'kontaktform'", "6 rows"],
    ),
    "wrong_type": (
        "samtaler",
        _wrong_type,
        ["samtaler2020.csv: column 'kommune': 2 rows cannot be read as int"],
    ),
    "duplicate_pnrs": (
        "bef",
        _duplicate_pnrs,
        ["bef202103.parquet: column 'pnr': 2 PNRs occur more than once (4 rows"],
    ),
    "unknown_codes": (
        "samtaler",
        _unknown_codes,
        ["samtaler2020.csv: column 'kontaktform': 3 rows have codes not in the codebook (X, Z)"],
    ),
    "empty_file": ("udda", _empty_file, ["udda2020.csv", "empty (0 rows)"]),
    "zero_byte_file": ("ind", _zero_byte_file, ["ind2020.csv", "empty, 0 bytes"]),
    "truncated_parquet": ("ind", _truncated_parquet, ["ind2020.parquet", "cannot be read as parquet"]),
    "truncated_csv": (
        "samtaler",
        _truncated_csv,
        ["samtaler2020.csv", "cannot be read as csv", "Expected 6 columns, got 1"],
    ),
    "truncated_sas": ("bef", _truncated_sas, ["bef202012.sas7bdat", "cannot be read as sas7bdat"]),
    "corrupt_sas": ("bef", _corrupt_sas, ["bef202012.sas7bdat", "cannot be read as sas7bdat"]),
    "dream": (
        "dream",
        _dream_bad,
        [
            "dream.csv: column 'y_2153': is not a valid DREAM week",
            "column 'y_2052': 2 rows have codes not in the codebook (077, 100)",
            "column 'grad_2021_01': 1 row has values outside 0..100",
        ],
    ),
    "empty_sas": ("udda", _empty_sas, ["udda2020.sas7bdat: the file is empty (0 rows)"]),
    "numeric_pnr": (
        "udda",
        _numeric_pnr,
        ["udda2020.parquet: column 'pnr': is numeric in the file (6 rows)"],
    ),
    "bad_month": (
        "kontaktform_validering",
        _bad_month,
        ["kontaktform_validering.parquet: column 'maaned': 2 rows have values not of the form"],
    ),
    "dates": (
        "samtaler",
        _bad_dates,
        [
            "column 'samtale_dato': 1 row has values outside 2010-01-01..2025-12-31",
            "column 'samtale_dato': 1 row has no value",
        ],
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_input_refused_and_staged_outputs_unchanged(good, tmp_path, case):
    register, breaker, fragments = CASES[case]
    delivery, work = good
    bad = tmp_path / "del"
    _copy(delivery, bad)
    breaker(bad)
    before = b.folder_digest(work)
    with pytest.raises(DeliveryError) as info:
        _stage(bad, work, register)
    msg = str(info.value)
    for frag in fragments:
        assert frag in msg, f"{frag!r} not in {msg!r}"
    for pnr in b.PNRS:
        assert pnr not in msg
    err = info.value
    assert err.file and err.problems and all(p.count is not None or p.column for p in err.problems)
    assert b.folder_digest(work) == before  # byte-for-byte, and no temporary files left behind
    # the good delivery still stages after the bad one was refused
    assert _stage(delivery, work, register).rows > 0


def test_all_problems_of_a_file_are_collected(tmp_path):
    delivery = b.build_delivery(tmp_path / "del")
    df = (
        _frame("samtaler2020")
        .with_columns(
            pl.Series("KONTAKTFORM", ["X", "P", "P", "P", "P", "P"]),
            pl.Series("AKTOER", ["JC", "XX", "JC", "JC", "JC", "JC"]),
        )
        .drop("SAMTALETYPE")
    )
    b.write_frame(df, delivery / "samtaler2020.parquet")
    with pytest.raises(DeliveryError) as info:
        _stage(delivery, tmp_path / "work", "samtaler")
    cols = {p.column for p in info.value.problems}
    assert {"kontaktform", "aktoer", "samtaletype"} <= cols
    assert not (tmp_path / "work" / "staging" / "samtaler.parquet").exists()
