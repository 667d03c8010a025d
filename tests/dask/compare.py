"""Comparing two estimation grids cell by cell (the Dask, shared-fit and Slurm tests against in process)."""

from __future__ import annotations

from pathlib import Path

import polars as pl
from polars.testing import assert_frame_equal

from assets.estimation.logic import PARTS


def assert_same_cells(reference: Path, other: Path, cells, rel_tol: float = 1e-9) -> None:
    """Every part of every cell equal to floating-point tolerance (only the timing may differ); a part
    written by one grid and not the other fails, naming the cell and part."""
    for o, d in cells:
        for part in PARTS:
            a, b = reference / f"{o}__{d}.{part}.parquet", other / f"{o}__{d}.{part}.parquet"
            assert a.exists() == b.exists(), (o, d, part)
            if not a.exists():
                continue
            fa, fb = pl.read_parquet(a), pl.read_parquet(b)
            if part == "estimate":
                fa, fb = fa.drop("seconds"), fb.drop("seconds")
            assert_frame_equal(fa, fb, check_exact=False, rel_tol=rel_tol, abs_tol=1e-12)
