"""The pipeline on the generator's DST-shaped DREAM: a DREAM from the 1990s gives the same analysis table
and spells as the short one, and under a grad lag the pipeline's outcomes are the truth's observed outcomes.

The long DREAM starts in 1998 (y_9801 .. y_9853 .. y_9952, y_0001 .., grad from 2008), not 1991: the
pipeline's DREAM-to-spells SQL takes planning time that grows about with the square of the week columns
(about 1 s at 418 weeks, 15-20 s at 1991's 1,641), and the 19YY weeks, the week 53 and the millennium are
all in 1998-2000. The 1991 layout itself is tested in ``test_synth_dream_layout.py``."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import pytest

from assets.staging.stage import stage_delivery_register
from data_contracts.codebook import load_codebook
from data_contracts.config import REGISTERS, load_config
from synth import SynthParams, generate_delivery
from synth.outcomes import OUTCOMES
from tests.register_logic.stages import run_stages

PARAMS = SynthParams(chunk_size=300)
KW = {"persons": 600, "seed": 21, "params": PARAMS}


def _stage_and_run(delivery: Path, work: Path, duck: dict) -> Path:
    cfg, cb = load_config(), load_codebook()
    for reg in (*REGISTERS, "befolkning_kommune"):
        stage_delivery_register(
            reg,
            delivery,
            work,
            file_patterns=cfg.file_patterns,
            codebook=cb,
            duckdb_settings=duck,
            allow_missing_registers=True,
        )
    run_stages(work)
    return work


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict:
    base = tmp_path_factory.mktemp("synth_pipeline")
    duck = {"memory_limit": "512MB", "threads": 1, "temp_directory": str(base / "spill")}
    out = {}
    for name, extra in (
        ("short", {}),
        ("long", {"dream_from": 1998}),
        # the lag on the short DREAM: a wide DREAM costs the pipeline's SQL planning ~10-20 s per query
        ("lag", {"grad_lag_months": 20}),
    ):
        summary = generate_delivery(base / "deliveries" / name, **KW, **extra)
        out[name] = {
            "work": _stage_and_run(Path(summary["delivery"]), base / f"work_{name}", duck),
            "meetings": Path(summary["meetings"]),
        }
    return out


def _analysis(work: Path) -> pl.DataFrame:
    return pl.read_parquet(work / "analysis" / "analysis_table.parquet").sort("meeting_id")


def test_dream_from_the_1990s_changes_no_outcome_spell_or_unit(runs):
    cols = pl.read_parquet_schema(runs["long"]["work"] / "staging" / "dream.parquet")
    assert {"y_9801", "y_9853", "y_9952", "y_0001", "grad_2008_01"} <= set(cols)
    a, b = _analysis(runs["short"]["work"]), _analysis(runs["long"]["work"])
    assert a.height > 300
    assert a.equals(b)
    sort = ["pnr", "spell_start_week"]
    s1 = pl.read_parquet(runs["short"]["work"] / "cohort" / "benefit_spells.parquet").sort(sort)
    s2 = pl.read_parquet(runs["long"]["work"] / "cohort" / "benefit_spells.parquet").sort(sort)
    # the long DREAM has its old episodes (1998-2014) as extra spells; the spells from 2015 are the same
    first_2015 = s1["spell_start_week"].min()
    assert s2.filter(pl.col("spell_start_week") < first_2015).height > 0
    assert s2.filter(pl.col("spell_start_week") >= first_2015).equals(s1)


@pytest.mark.parametrize("name", ["long", "lag"])
def test_pipeline_outcomes_equal_the_truths_observed_outcomes(runs, name):
    """The truth's ``<outcome>_obs`` is what the delivery shows: the pipeline computes the same, also when
    grad_ ends 20 months before the weeks (exits after grad's end missing, not 0)."""
    ana = _analysis(runs[name]["work"]).select("pnr", "meeting_date", *OUTCOMES)
    truth = pl.read_parquet(runs[name]["meetings"]).select(
        pl.col("pnr"), pl.col("samtale_dato").alias("meeting_date"), *[f"{o}_obs" for o in OUTCOMES]
    )
    key = ["pnr", "meeting_date"]
    assert truth.select(key).is_unique().all() and ana.select(key).is_unique().all()
    joined = ana.join(truth, on=key, how="inner", validate="1:1")
    assert joined.height == ana.height == truth.height
    n_missing = 0
    for o in OUTCOMES:
        got = joined[o].cast(pl.Float64).to_numpy()
        want = joined[f"{o}_obs"].fill_nan(None).cast(pl.Float64).to_numpy()
        np.testing.assert_array_equal(got, want, err_msg=f"{name}: {o}")
        n_missing += int(np.isnan(want).sum())
    if name == "lag":
        assert n_missing > ana.height  # the lag makes the long horizons missing
