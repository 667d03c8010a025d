"""A tiny builder of delivery-format folders for the ingestion tests (a handful of persons).

Independent of ``synth/``. Column names are upper case as in DST's files. ``write_frame`` writes one
register file as ``.parquet``, ``.csv`` (separator and encoding chosen) or a genuine ``.sas7bdat`` (via
``shared/tools/sas7bdat_writer.py``).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import sys
from pathlib import Path

import pandas as pd
import polars as pl

REPO = Path(__file__).resolve().parents[2]
SHARED_TOOLS = REPO.parent / "shared" / "tools"

PNRS = ["0101901234", "0202912345", "0303923456", "1004934567", "0505945678", "0606956789"]


def frames() -> dict[str, tuple[str, pl.DataFrame]]:
    """register file stem -> (register, frame) for a complete small delivery."""
    n = len(PNRS)
    births = [dt.date(1960 + 5 * i, 1 + i, 10 + i) for i in range(n)]
    bef = pl.DataFrame(
        {
            "PNR": PNRS,
            "KOEN": [1, 2] * (n // 2),
            "FOED_DAG": births,
            "IE_TYPE": [1, 1, 2, 3, 1, 1],
            "OPR_LAND": [5100, 5100, 5120, 5100, 5100, 5100],
            "KOM": [101, 147, 461, 751, 851, 101],
            "CIVST": ["U", "G", "F", "U", "G", "E"],
        }
    )
    out: dict[str, tuple[str, pl.DataFrame]] = {
        "bef202012": ("bef", bef),
        "bef202103": ("bef", bef.with_columns(pl.col("KOM").reverse())),
        "udda2020": ("udda", pl.DataFrame({"PNR": PNRS, "HFAUDD": [1010, 2020, 3030, 5050, 6510, 9999]})),
        "ind2020": (
            "ind",
            pl.DataFrame(
                {
                    "PNR": PNRS,
                    "LOENMV_13": [0.0, 250000.5, 1.0, 400000.0, 12.0, 0.0],
                    "PERINDKIALT_13": [150000.0, 300000.0, 99.5, 410000.0, 200000.0, 5000.0],
                }
            ),
        ),
        "akm2020": ("akm", pl.DataFrame({"PNR": PNRS, "SOCIO13": [210, 131, 210, 310, 220, 110]})),
        "akasse2020": ("akasse", pl.DataFrame({"PNR": PNRS[:4], "AKASSE_ID": [1, 2, 3, 45]})),
    }
    weeks = ["y_2051", "y_2052", "y_2053", "y_2101", "y_2102"]
    codes = [
        ["111", "111", None, None, "890"],
        [None] * 5,
        ["130", "131", "131", "651", None],
        ["997", "998", "999", None, None],
        ["111", None, "112", "113", "114"],
        [None, None, None, None, "200"],
    ]
    dream = {"PNR": PNRS}
    for j, w in enumerate(weeks):
        dream[w] = [row[j] for row in codes]
    dream["grad_2020_12"] = [0, 50, None, 100, 20, None]
    dream["grad_2021_01"] = [None, 60, 10, 100, None, 0]
    out["dream"] = (
        "dream",
        pl.DataFrame(dream, schema_overrides={"grad_2020_12": pl.Int64, "grad_2021_01": pl.Int64}),
    )
    out["samtaler2020"] = (
        "samtaler",
        pl.DataFrame(
            {
                "PNR": [PNRS[0], PNRS[0], PNRS[2], PNRS[4], PNRS[4], PNRS[5]],
                "SAMTALE_DATO": [
                    dt.date(2020, 5, 4),
                    dt.date(2020, 8, 1),
                    dt.date(2020, 6, 2),
                    dt.date(2020, 9, 9),
                    dt.date(2020, 12, 1),
                    dt.date(2020, 11, 30),
                ],
                "SAMTALETYPE": [7, 7, 4, 7, 7, 12],
                "KONTAKTFORM": ["P", "T", "V", "D", "B", "P"],
                "AKTOER": ["JC", "JC", "AK", "JC", "JC", "JC"],
                "KOMMUNE": [101, 101, 461, 851, 851, 101],
            }
        ),
    )
    out["kontaktform_validering"] = (
        "kontaktform_validering",
        pl.DataFrame(
            {
                "KOMMUNE": [101, 101, 461, 851],
                "MAANED": ["2020-05", "2020-06", "2020-06", "2020-09"],
                "BEKRAEFTET": [1, 0, 1, 1],
            }
        ),
    )
    return out


def write_frame(df: pl.DataFrame, path: Path, *, sep: str = ";", encoding: str = "utf-8") -> Path:
    """Write a frame in the format of ``path``'s extension (``.parquet``, ``.csv``, ``.sas7bdat``)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    ext = path.suffix.lower()
    if ext == ".parquet":
        df.write_parquet(path)
    elif ext == ".csv":
        text = df.write_csv(separator=sep, date_format="%Y-%m-%d", null_value="")
        path.write_bytes(text.encode(encoding))
    elif ext == ".sas7bdat":
        if str(SHARED_TOOLS) not in sys.path:
            sys.path.insert(0, str(SHARED_TOOLS))
        from sas7bdat_writer import write_sas7bdat

        pdf = pd.DataFrame({c: df.get_column(c).to_list() for c in df.columns})
        for c in df.columns:
            if df.schema[c].is_numeric():
                pdf[c] = pd.to_numeric(pdf[c]).astype("float64")
            elif df.schema[c] == pl.Datetime:
                pdf[c] = pd.to_datetime(pdf[c])
        write_sas7bdat(pdf, path)
    else:
        raise ValueError(ext)
    return path


def build_delivery(root: Path, formats: dict[str, str] | None = None, skip: tuple[str, ...] = ()) -> Path:
    """Write a complete small delivery into ``root``; ``formats`` maps a file stem to its extension."""
    formats = formats or {}
    root.mkdir(parents=True, exist_ok=True)
    for stem, (_reg, df) in frames().items():
        if stem in skip:
            continue
        write_frame(df, root / f"{stem}{formats.get(stem, '.parquet')}")
    return root


def folder_digest(folder: Path) -> dict[str, str]:
    """relative path -> sha256 of every file under ``folder`` (to prove outputs unchanged)."""
    if not folder.exists():
        return {}
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }
