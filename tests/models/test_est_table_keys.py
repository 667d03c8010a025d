"""feasibility.parquet and placebos.parquet have a primary key (issue 19, leftover (c)): the modality design's
rows carry their contrast, as in the estimates, so the contract's blocking key check applies to them."""

from __future__ import annotations

import numpy as np
import polars as pl
from polars.testing import assert_frame_equal

from assets.contracts import contract_report, write_frame
from assets.estimation.logic import placebo_outcome_rows
from data_contracts.tables import FEASIBILITY, PLACEBOS
from models.feasibility import feasibility_spec, feasibility_table

CONTRASTS = ["telephone_vs_in_person", "video_vs_in_person", "video_vs_telephone"]
OUTCOMES = ["y_exit_26w", "weeks_selfsupport_pre52w"]


def _estimates() -> pl.DataFrame:
    rows = []
    for o in OUTCOMES:
        rows.append({"outcome": o, "design": "irm_att", "contrast": None, "se": 0.01})
        rows += [{"outcome": o, "design": "modality", "contrast": c, "se": 0.02} for c in CONTRASTS]
    return pl.DataFrame(rows, schema_overrides={"contrast": pl.String}).with_columns(
        estimate=pl.lit(0.0), ci_low=pl.lit(-0.02), ci_high=pl.lit(0.02), p_value=pl.lit(0.9),
        n=pl.lit(400, dtype=pl.Int64), n_treated=pl.lit(240, dtype=pl.Int64),
    )  # fmt: skip


def _table() -> pl.DataFrame:
    rng = np.random.default_rng(3)
    n = 400
    return pl.DataFrame({
        "kommune": rng.integers(0, 5, n), "calendar_month": rng.integers(0, 4, n),
        "digital": (rng.random(n) < 0.6).astype(np.int8),
        "y_exit_26w": (rng.random(n) < 0.4).astype(float), "weeks_selfsupport_pre52w": rng.normal(10, 8, n),
    })  # fmt: skip


def test_feasibility_key_is_unique_and_the_published_table_unchanged(tmp_path):
    feas = feasibility_table(_estimates(), _table(), "digital", ("kommune", "calendar_month"), 0.01)
    # the contrast of each row, as in the estimates: null for the binary design
    assert feas["contrast"].to_list() == [None, *CONTRASTS] * 2
    # without it, the modality rows of a cell share (outcome, design): the key the table had none of
    assert feas.select("outcome", "design").is_duplicated().sum() == 2 * len(CONTRASTS)
    assert FEASIBILITY.key == ("outcome", "design", "contrast")
    write_frame(FEASIBILITY, feas, tmp_path / "estimation")
    rep = contract_report(FEASIBILITY, tmp_path)
    assert rep["passed"] and rep["n_duplicate_keys"] == 0, rep
    # a file whose modality rows lost their contrast fails the key check
    write_frame(
        FEASIBILITY,
        feas.with_columns(pl.lit(None, dtype=pl.String).alias("contrast")),
        tmp_path / "estimation",
    )
    rep = contract_report(FEASIBILITY, tmp_path)
    assert not rep["passed"] and rep["n_duplicate_keys"] == 2 * (len(CONTRASTS) - 1)
    # what the report and the summary publish is the table by outcome and design, as before the key
    spec = feasibility_spec(feas)
    assert "contrast" not in spec.df.columns
    assert_frame_equal(spec.df, feasibility_spec(feas.drop("contrast")).df)


def test_placebo_key_is_unique(tmp_path):
    pre = placebo_outcome_rows(_estimates(), ["weeks_selfsupport_pre52w"])
    assert pre["contrast"].to_list() == [None, *CONTRASTS]
    perm = pl.DataFrame(
        [{"kind": "permuted_treatment", "outcome": "y_exit_26w", "design": "irm_att", "contrast": None,
          "estimate": 0.0, "se": 0.01, "ci_low": -0.02, "ci_high": 0.02, "p_value": 0.9, "n": 400}],
        schema_overrides={"contrast": pl.String},
    )  # fmt: skip
    placebos = pl.concat([pre, perm], how="diagonal_relaxed")
    assert PLACEBOS.key == ("kind", "outcome", "design", "contrast")
    write_frame(PLACEBOS, placebos, tmp_path / "estimation")
    rep = contract_report(PLACEBOS, tmp_path)
    assert rep["passed"] and rep["n_duplicate_keys"] == 0, rep
    # estimates of binary designs only, written without the column: the rows get a null contrast
    binary = _estimates().filter(pl.col("design") != "modality").drop("contrast")
    assert placebo_outcome_rows(binary, ["weeks_selfsupport_pre52w"])["contrast"].to_list() == [None]
    assert placebo_outcome_rows(None, [])["contrast"].dtype == pl.String
