"""The modality design on a small synthetic delivery: the three forms reach the analysis table, and each
contrast's interval (from its person-clustered SE) covers the truth file's contrast."""

from __future__ import annotations

import json

from assets.estimation.logic import run_cell
from assets.report.render import normalize_truth, true_value
from assets.staging import stage
from data_contracts.config import REGISTERS
from synth import SynthParams
from synth import generate as gen
from tests.register_logic.stages import run_stages

OUTCOME = "y_exit_26w"


def test_contrasts_cover_the_synthetic_truth(tmp_path, cfg, codebook, duck):
    deliv, work = tmp_path / "delivery", tmp_path / "work"
    # forms far apart (hazard ratios e^-0.4 and e^+0.4 around the digital one), so a contrast is large
    params = SynthParams(chunk_size=2000, effect_telephone_shift=-0.4, effect_video_shift=0.4)
    gen.generate_delivery(deliv, persons=1800, seed=21, truth_path=tmp_path / "truth.json", params=params)
    for r in REGISTERS:
        stage.stage_delivery_register(
            r, deliv, work, file_patterns=cfg.file_patterns, codebook=codebook, duckdb_settings=duck
        )
    res = run_stages(work)
    a = res.read("analysis_table")
    d = res.read("column_dictionary")
    assert set(a["meeting_form"].drop_nulls()) == {"in_person", "telephone", "video"}
    fast = cfg.model_copy(
        update={
            "estimation": cfg.estimation.model_copy(
                update={"learner": "lgbm", "n_folds": 3, "lgbm_n_estimators": 50}
            )
        }
    )
    _, tables, _ = run_cell(a, d, fast, OUTCOME, "modality")
    est = tables["estimate"]
    assert est["contrast"].to_list() == ["telephone_vs_in_person", "video_vs_in_person", "video_vs_telephone"]
    truth = normalize_truth(json.loads((tmp_path / "truth.json").read_text(encoding="utf-8")))
    tv = {c: true_value(truth, OUTCOME, "modality", contrast=c) for c in est["contrast"]}
    assert tv["video_vs_telephone"] > 0.03  # the truth is far from zero: the check has teeth
    for r in est.iter_rows(named=True):
        assert abs(r["estimate"] - tv[r["contrast"]]) < 3 * r["se"], (
            r["contrast"],
            r["estimate"],
            r["se"],
            tv,
        )
    assert (est["n_treated"] + est["n_control"] == est["n"]).all()
    po = tables["apos"]
    assert po["level"].to_list() == ["in_person", "telephone", "video"]
