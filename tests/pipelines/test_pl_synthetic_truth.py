"""The primary design recovers the synthetic delivery's known truth; the naive difference does not.

The delivery is the default one ``make demo`` ran on before the worlds (20,000 persons, seed 20200501, the
easy world), estimated with the default settings but LightGBM nuisances (5 folds drawn by person,
person-clustered standard errors). The default learner is now ``auto``; over 30 deliveries its intervals
covered the truth in 83-87% of them (benchmarks/coverage.md, "Issue 17"), and on this seed its y_exit_13w
interval misses: that is an open problem of the learner choice (the session note), not something this test
should hide, so this test pins the learner whose coverage it was written for. The guarded ``auto`` (fixed
LightGBM unless another candidate is better beyond 2 SE) still covered only 80-90% of 10 deliveries (the
same section), so the pin stays until a choice of learner is shown to cover.
Tolerances come from the standard errors: the 95% interval is estimate +/- 1.96 SE. The estimates are
seeded, so the test is deterministic; ``benchmarks/bench_coverage.py`` repeats the run over many seeds and
reports how often the interval covers the truth (``benchmarks/coverage.md``).
"""

import json

import polars as pl
import pytest
import yaml

DEMO_PERSONS = 20000
DEMO_SEED = 20200501
BINARY_OUTCOMES = ["y_exit_4w", "y_exit_13w", "y_exit_26w", "y_exit_52w"]
PLACEBO = "weeks_selfsupport_pre52w"


@pytest.fixture(scope="module")
def demo_estimates(tmp_path_factory):
    from pipelines.run import run_delivery
    from synth import generate_delivery

    root = tmp_path_factory.mktemp("demo")
    delivery = root / "deliveries" / "synthetic"
    generate_delivery(delivery, persons=DEMO_PERSONS, seed=DEMO_SEED, fmt="parquet")
    config = root / "truth_test.yaml"
    # Only the outcomes and designs this test checks; every estimation setting stays at its default.
    config.write_text(
        yaml.safe_dump(
            {
                "estimation": {
                    "primary_outcomes": BINARY_OUTCOMES,
                    "placebo_outcomes": [PLACEBO],
                    "designs": ["irm_att", "naive"],
                    "learner": "lgbm",
                }
            }
        ),
        encoding="utf-8",
    )
    import os

    old = os.environ.pop("DAGSTER_HOME", None)
    try:
        code, paths = run_delivery(delivery, workdir=root / "work", config=config, until="estimation")
    finally:
        os.environ.pop("DAGSTER_HOME", None)
        if old is not None:
            os.environ["DAGSTER_HOME"] = old
    assert code == 0
    cells = paths.work_dir / "estimation" / "cells"
    est = pl.concat(
        [pl.read_parquet(p) for p in sorted(cells.glob("*.estimate.parquet"))], how="diagonal_relaxed"
    )
    truth = json.loads((delivery.parent / "synthetic.truth.json").read_text(encoding="utf-8"))
    return est, truth, paths


def _row(est: pl.DataFrame, outcome: str, design: str) -> dict:
    rows = est.filter((pl.col("outcome") == outcome) & (pl.col("design") == design)).to_dicts()
    assert len(rows) == 1, (outcome, design)
    return rows[0]


@pytest.mark.parametrize("outcome", BINARY_OUTCOMES)
def test_primary_interval_covers_the_true_att(demo_estimates, outcome):
    est, truth, _ = demo_estimates
    true_att = truth["effects"][outcome]["overall"]["att"]
    irm = _row(est, outcome, "irm_att")
    assert irm["ci_low"] <= true_att <= irm["ci_high"], (irm["estimate"], irm["se"], true_att)
    assert irm["ci_high"] - irm["ci_low"] == pytest.approx(2 * 1.959964 * irm["se"], rel=1e-3)


@pytest.mark.parametrize("outcome", BINARY_OUTCOMES)
def test_naive_difference_is_further_from_the_truth(demo_estimates, outcome):
    est, truth, _ = demo_estimates
    true_att = truth["effects"][outcome]["overall"]["att"]
    irm = _row(est, outcome, "irm_att")
    naive = _row(est, outcome, "naive")
    assert abs(naive["estimate"] - true_att) > abs(irm["estimate"] - true_att)
    # The selection is strong: the naive difference lies outside the primary design's interval.
    assert not (irm["ci_low"] <= naive["estimate"] <= irm["ci_high"])


def test_placebo_outcome_shows_no_effect(demo_estimates):
    est, truth, _ = demo_estimates
    assert truth["effects"][PLACEBO]["overall"]["att"] == 0
    irm = _row(est, PLACEBO, "irm_att")
    assert irm["ci_low"] <= 0 <= irm["ci_high"]
    naive = _row(est, PLACEBO, "naive")
    assert not (naive["ci_low"] <= 0 <= naive["ci_high"])  # the naive comparison is fooled by selection


def test_permuted_treatment_shows_no_effect(demo_estimates):
    from assets.estimation.logic import permutation_placebos
    from data_contracts.config import load_config

    _, _, paths = demo_estimates
    analysis = paths.work_dir / "analysis"
    table = pl.read_parquet(analysis / "analysis_table.parquet")
    dictionary = pl.read_parquet(analysis / "column_dictionary.parquet")
    placebo = permutation_placebos(table, dictionary, load_config(), ["y_exit_13w"], design="irm_att")
    row = placebo.row(0, named=True)
    assert row["ci_low"] <= 0 <= row["ci_high"]
