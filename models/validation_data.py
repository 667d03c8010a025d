"""Loaders for the public validation data in ``shared/validation/`` (never downloads).

The folder is ``<repo>/../shared/validation`` (``Path(__file__).resolve().parents[1].parent``), or the
environment variable ``REGDML_VALIDATION_DIR``. The preprocessing repeats DoubleML's ``fetch_bonus`` and
``fetch_401K`` (which download the same files).
"""

from __future__ import annotations

from pathlib import Path

import polars as pl

from data_contracts.settings import Settings

PENN_X = [
    "female", "black", "othrace", "dep1", "dep2", "q2", "q3", "q4", "q5", "q6", "agelt35", "agegt54",
    "durable", "lusd", "husd",
]  # fmt: skip
K401_X = ["age", "inc", "educ", "fsize", "marr", "twoearn", "db", "pira", "hown"]


def validation_dir() -> Path:
    """``REGDML_VALIDATION_DIR`` if set, else ``<repo>/../shared/validation``."""
    env = Settings.from_env().validation_dir
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[1].parent / "shared" / "validation"


def _file(name: str) -> Path:
    p = validation_dir() / name
    if not p.is_file():
        raise FileNotFoundError(
            f"validation file {p} not found (set REGDML_VALIDATION_DIR to the folder holding {name}; "
            "regdml never downloads it)"
        )
    return p


def load_penn() -> pl.DataFrame:
    """Pennsylvania reemployment bonus: tg in {0, 4}, tg 4 -> 1 as ``tg``; ``inuidur1`` = log(inuidur1);
    ``dep1``, ``dep2`` from ``dep``; an ``id`` column (row number). 5,099 rows."""
    import pandas as pd

    raw = pd.read_csv(_file("penn_jae.dat"), sep=r"\s+")
    df = pl.from_pandas(raw).filter(pl.col("tg").is_in([0, 4]))
    df = df.with_columns(
        pl.when(pl.col("tg") == 4).then(1).otherwise(0).cast(pl.Int8).alias("tg"),
        pl.col("inuidur1").cast(pl.Float64).log().alias("inuidur1"),
        (pl.col("dep") == 1).cast(pl.Int8).alias("dep1"),
        (pl.col("dep") == 2).cast(pl.Int8).alias("dep2"),
    )
    return df.select(["inuidur1", "tg", *PENN_X]).with_row_index("id")


def load_401k() -> pl.DataFrame:
    """SIPP 1991 401(k): net_tfa, e401, p401 and the 9 covariates; an ``id`` column. 9,915 rows."""
    import pandas as pd

    raw = pd.read_stata(_file("sipp1991.dta"))
    df = pl.from_pandas(raw)
    return df.select(["net_tfa", "e401", "p401", *K401_X]).with_row_index("id")
