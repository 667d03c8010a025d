"""The report's parts of issue 17: what each placebo can detect, PLIV's first stage in the estimates table, and
the secondary unit beside the primary design."""

import polars as pl
import pytest

from assets.outcomes.placebos import PLACEBO_KINDS
from assets.report.render import ReportInputs, section_intro
from assets.report.render.gating import gate_all
from assets.report.render.text import headlines, outcome_label
from data_contracts.config import load_config
from tests.report.fixtures import fake_tables


@pytest.fixture(scope="module")
def gated():
    t = fake_tables()
    est = t["estimation/estimates.parquet"]
    iv = pl.col("design") == "pliv"
    est = est.with_columns(
        pl.when(iv & (pl.col("outcome") == "y_exit_4w"))
        .then(4.2)
        .when(iv)
        .then(23.5)
        .otherwise(None)
        .alias("first_stage_f"),
        pl.when(iv).then(0.012).otherwise(None).alias("first_stage_partial_r2"),
        pl.when(iv).then(-0.03).otherwise(None).alias("ar_ci_low"),
        pl.when(iv).then(0.05).otherwise(None).alias("ar_ci_high"),
        pl.when(iv).then(pl.lit("interval")).otherwise(None).alias("ar_set"),
    )
    first = est.filter(pl.col("design") == "irm_att").with_columns(
        pl.lit("irm_att_first").alias("design"), pl.lit(7000).alias("n"), pl.lit(4000).alias("n_treated")
    )
    est = pl.concat([est, first], how="vertical_relaxed")
    results, _ = gate_all(ReportInputs(estimates=est), None, 5)
    return results


def test_placebo_section_says_what_each_can_and_cannot_detect():
    intro = " ".join(section_intro("placebos").split())
    for outcome, kind in PLACEBO_KINDS.items():
        assert outcome in intro and kind in intro
    assert "permuted_treatment" in intro and "cannot" in intro and "detects" in intro
    assert "negative control" in outcome_label("y_exit_13w_pseudo")
    assert "two years before" in outcome_label("wage_income_2y_before")


def test_estimates_table_shows_the_first_stage(gated):
    t = gated["estimates"].table
    assert t is not None and {"first_stage_f", "first_stage_partial_r2", "ar_ci_low", "ar_ci_high"} <= set(
        t.columns
    )
    row = t.filter((pl.col("design") == "pliv") & (pl.col("outcome") == "y_exit_13w")).row(0, named=True)
    assert row["first_stage_f"] == pytest.approx(23.5) and row["ar_set"] == "interval"


def test_headline_reports_the_secondary_unit_beside_the_primary(gated):
    cfg = load_config()
    text = " ".join(headlines(gated, cfg, synthetic=False))
    assert "first eligible meeting of each spell" in text and "7 000 meetings" in text


def test_headline_warns_of_a_weak_instrument(gated):
    text = " ".join(headlines(gated, load_config(), synthetic=False))
    assert "Weak instrument" in text and "y_exit_4w" in text.split("Weak instrument")[1].split(";")[0]
    assert "y_exit_13w" not in text.split("Weak instrument")[1].split(";")[0]
