"""The covariate matrix is built without whole-table copies (register scale), and gives the same numbers.

``covariate_matrix`` fills a preallocated float32 matrix in row chunks; the within transformation of
PLIV's fixed effects demeans the covariates in blocks of columns. Both must equal the whole-table route
they replace; the column-wise constant check must equal filtering the table first.
"""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from assets.estimation.logic import usable_covariates
from models.estimate import DesignSpec, _prepare, covariate_matrix, within
from models.folds import group_codes


@pytest.mark.parametrize("chunk_rows", [1, 3, 7, 1000])
def test_covariate_matrix_equals_the_whole_table_cast(chunk_rows):
    df = pl.DataFrame(
        {
            "a": pl.Series([1, -2, 3, 4, 5, 6, 7], dtype=pl.Int8),
            "b": pl.Series([True, False, True, True, False, False, True]),
            "c": pl.Series([0.1, 2.5, -3.75, 1e-3, 7.0, 1 / 3, 2.0], dtype=pl.Float64),
            "d": pl.Series([300, 2, 1, 0, -300, 5, 9], dtype=pl.Int16),
        }
    )
    X = covariate_matrix(df, ["c", "a", "b", "d"], chunk_rows=chunk_rows)
    expected = df.select(["c", "a", "b", "d"]).cast(pl.Float32).to_numpy()
    assert X.dtype == np.float32 and X.flags.c_contiguous
    np.testing.assert_array_equal(X, expected)


def test_covariate_matrix_without_columns_has_no_columns():
    X = covariate_matrix(pl.DataFrame({"a": [1, 2, 3]}), [])
    assert X.shape == (3, 0) and X.dtype == np.float32


def test_pliv_within_by_column_blocks_equals_the_whole_matrix(register_table, covariates):
    # More covariates than one block (WITHIN_BLOCK = 8): the blocks must not change the residuals.
    table = register_table.filter(pl.col("y_exit_13w").is_not_null())
    extra = {f"x{j}": (pl.col("age") * (j + 1) % 7 + pl.col("x_noise") * j) for j in range(12)}
    table = table.with_columns(**extra).with_columns(z=pl.col("benefit_weeks_pre_spell_52w") / 52.0)
    cols = [*covariates, *extra]
    spec = DesignSpec(model="pliv", instrument="z", fixed_effects=("kommune", "calendar_month"), trim=None,
                      sensitivity=False, person="pnr")  # fmt: skip
    p = _prepare(table, "weeks_selfsupport_26w", "digital", cols, spec)

    codes = [
        group_codes(table.get_column(c).cast(pl.String).to_numpy()) for c in ("kommune", "calendar_month")
    ]
    X = table.select(cols).cast(pl.Float32).to_numpy().astype(np.float64)
    y = table.get_column("weeks_selfsupport_26w").to_numpy()
    d = table.get_column("digital").cast(pl.Float64).to_numpy()
    z = table.get_column("z").to_numpy()
    whole = within(np.column_stack([y, d, z, X]), codes)
    np.testing.assert_allclose(p.y, whole[:, 0], atol=1e-8)
    np.testing.assert_allclose(p.d, whole[:, 1], atol=1e-8)
    np.testing.assert_allclose(p.z, whole[:, 2], atol=1e-8)
    np.testing.assert_allclose(p.X, whole[:, 3:].astype(np.float32), rtol=1e-5, atol=1e-5)


def test_usable_covariates_among_rows_equals_filtering_first():
    table = pl.DataFrame(
        {
            "pnr": ["01", "02", "03", "04"],
            "y": [1.0, None, None, 0.0],
            "only_varies_where_y_missing": [0, 1, 2, 0],
            "varies": [0, 1, 1, 1],
        }
    )
    dictionary = pl.DataFrame(
        {
            "name": ["pnr", "y", "only_varies_where_y_missing", "varies"],
            "role": ["id", "outcome", "covariate", "covariate"],
        }
    )
    rows = pl.col("y").is_not_null()
    assert usable_covariates(table, dictionary, rows) == usable_covariates(table.filter(rows), dictionary)
    assert usable_covariates(table, dictionary, rows) == (["varies"], ["only_varies_where_y_missing"])
    assert usable_covariates(table, dictionary) == (["only_varies_where_y_missing", "varies"], [])
