"""The secondary unit (issue 17, point 6): the primary design on the first eligible meeting of each spell."""

from __future__ import annotations

import polars as pl
import pytest

from assets.estimation import logic
from data_contracts.config import EstimationConfig, load_config


@pytest.fixture(scope="module")
def cfg():
    return load_config(overrides={"estimation": {"n_folds": 3, "lgbm_n_estimators": 30}})


def test_secondary_unit_is_a_configured_design():
    assert "irm_att_first" in EstimationConfig().designs
    assert logic.MODEL_NAMES["irm_att_first"] == "IRM"


def test_irm_att_first_uses_only_first_meetings(table_factory, dictionary_factory, cfg):
    t = table_factory(n_persons=700, seed=21)
    # later meetings get an outcome far off the first meetings' (a large effect of digital): a design that
    # used them would move far from the first-meeting estimate
    t = t.with_columns(
        pl.when(pl.col("first_in_spell") == 0)
        .then(pl.col("weeks_selfsupport_26w") + 40 * pl.col("digital"))
        .otherwise(pl.col("weeks_selfsupport_26w"))
        .alias("weeks_selfsupport_26w")
    )
    dictionary = dictionary_factory(t)
    first = t.filter(pl.col("first_in_spell") == 1)
    assert 0 < first.height < t.height
    res, tables, _ = logic.run_cell(t, dictionary, cfg, "weeks_selfsupport_26w", "irm_att_first")
    row = tables["estimate"].row(0, named=True)
    assert row["design"] == "irm_att_first" and row["model"] == "IRM" and row["score"] == "ATTE"
    assert res.n + res.n_trimmed == first.height  # every first meeting, and only those
    assert res.n_persons == first["pnr"].n_unique()
    # the same as the primary design run on the first meetings by hand
    ref, _, _ = logic.run_cell(first, dictionary, cfg, "weeks_selfsupport_26w", "irm_att")
    assert res.estimate == pytest.approx(ref.estimate, rel=1e-12) and res.se == pytest.approx(
        ref.se, rel=1e-12
    )
    full, _, _ = logic.run_cell(t, dictionary, cfg, "weeks_selfsupport_26w", "irm_att")
    assert full.estimate > res.estimate + 10 * res.se  # the later meetings' shift is not in it
    assert abs(res.estimate - (-2.0)) < 4 * res.se  # the conftest table's true effect


def test_first_meetings_requires_the_flag():
    with pytest.raises(ValueError, match="first_in_spell"):
        logic.first_meetings(pl.DataFrame({"x": [1, 2]}))
    with pytest.raises(ValueError, match="no row with first_in_spell = 1"):
        logic.first_meetings(pl.DataFrame({"first_in_spell": [0, 0]}))
