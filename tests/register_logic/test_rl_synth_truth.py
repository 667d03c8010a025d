"""Cross-check against the synthetic generator's independent (numpy) outcome code: same eligible meetings,
same weeks, spells, ages, education levels and outcomes on a small synthetic delivery."""

from __future__ import annotations

import polars as pl

from assets.outcomes.logic import outcome_names
from assets.staging import stage
from data_contracts.config import REGISTERS
from synth import generate as gen
from tests.register_logic.stages import run_stages


def test_register_logic_matches_synth_truth(tmp_path, cfg, codebook, duck):
    deliv, work = tmp_path / "delivery", tmp_path / "work"
    s = gen.generate_delivery(deliv, persons=1500, seed=11, truth_path=tmp_path / "truth.json")
    for r in REGISTERS:
        stage.stage_delivery_register(
            r, deliv, work, file_patterns=cfg.file_patterns, codebook=codebook, duckdb_settings=duck
        )
    res = run_stages(work)
    a = res.read("analysis_table")
    assert a.height == s["eligible_meetings"]
    t = (
        pl.read_parquet(tmp_path / "truth.meetings.parquet")
        .rename({"samtale_dato": "meeting_date"})
        .with_columns(pl.col("kommune").cast(pl.Int32))
    )
    key = ["pnr", "meeting_date", "kontaktform", "kommune"]
    j = a.join(t.unique(key), on=key, how="left", suffix="_t")
    assert j["person"].null_count() == 0
    assert (j["meeting_week_index"] == j["week_index"]).all()
    assert (j["spell_start_week"] == j["spell_start_week_index"]).all()
    assert (j["digital"] == j["digital_t"]).all() and (j["age"] == j["age_t"]).all()
    assert (j["benefit_group"] == j["benefit_group_t"]).all()
    # the generator labels "no UDDA" as level 0 (as our education_level does; we add education_missing = 1)
    lvl = pl.col("education_level").cast(pl.String)
    same_edu = (lvl == pl.col("education_level_t").cast(pl.String)) | (
        (pl.col("education_missing") == 1)
        & pl.col("education_level_t").cast(pl.String).is_in(["0", "missing"])
    )
    assert j.select(same_edu.all()).item()
    outs = outcome_names(cfg)
    assert len(outs) == 7  # four exit horizons, two self-support horizons, the placebo
    for o in outs:
        ours, truth = j[o].cast(pl.Float64), j[f"{o}_obs"]
        same = (ours == truth).fill_null(False) | (ours.is_null() & truth.is_nan())
        assert same.all(), o
