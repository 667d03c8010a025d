"""The design registry and the outcome kinds: declared once, and what the estimation and the run's
configuration read."""

from __future__ import annotations

import typing

import pytest

from data_contracts.config import EstimationConfig, ValueConfig, load_config
from data_contracts.designs import (
    CAUSAL_DESIGN_NAMES,
    DESIGN_NAMES,
    DESIGNS,
    PRIMARY_DESIGN,
    UNIT_FIRST_MEETING,
    UNIT_MEETINGS,
    VALUED_DESIGN_NAMES,
    design,
    on_all_meetings,
    outcome,
    outcome_kind_name,
    outcome_unit,
)


def test_each_design_is_declared_once_with_its_model_score_and_truth_key():
    assert len(set(DESIGN_NAMES)) == len(DESIGNS) == 7
    rows = {d.name: (d.model, d.score, d.model_name, d.truth_key, d.unit) for d in DESIGNS}
    assert rows == {
        "irm_att": ("irm", "ATTE", "IRM", "att", UNIT_MEETINGS),
        "irm_ate": ("irm", "ATE", "IRM", "ate", UNIT_MEETINGS),
        "plr": ("plr", None, "PLR", "ate", UNIT_MEETINGS),
        "pliv": ("pliv", None, "PLIV", "ate", UNIT_MEETINGS),
        "naive": ("naive", None, "NAIVE", "att", UNIT_MEETINGS),
        "irm_att_first": ("irm", "ATTE", "IRM", None, UNIT_FIRST_MEETING),
        "modality": ("apos", "ATE", "APOS", "contrasts", UNIT_MEETINGS),
    }
    assert CAUSAL_DESIGN_NAMES == ("irm_att", "irm_ate", "plr", "pliv", "irm_att_first")
    assert VALUED_DESIGN_NAMES == ("irm_att", "irm_ate", "plr", "pliv")
    assert PRIMARY_DESIGN == "irm_att" and design(PRIMARY_DESIGN).causal


def test_an_unknown_design_is_refused_by_name():
    with pytest.raises(ValueError, match=r"design must be one of \['irm_att', .*'modality'\]; got 'irm_atx'"):
        design("irm_atx")


def test_the_secondary_unit_repeats_its_all_meetings_design():
    assert on_all_meetings("irm_att_first").name == "irm_att"
    assert on_all_meetings("plr").name == "plr"


def test_the_configuration_takes_its_design_names_from_the_registry():
    assert typing.get_args(EstimationConfig.model_fields["designs"].annotation)[0].__args__ == DESIGN_NAMES
    assert typing.get_args(ValueConfig.model_fields["design"].annotation) == VALUED_DESIGN_NAMES
    assert set(load_config().estimation.designs) <= set(DESIGN_NAMES)


def test_the_estimation_builds_each_design_as_the_registry_says():
    from assets.estimation.logic import MODALITY, MODEL_NAMES, design_spec

    cfg = load_config()
    for d in DESIGNS:
        spec = design_spec(cfg, d.name, (), ())
        assert spec.model == d.model, d.name
        if d.score is not None:
            assert spec.score == d.score, d.name
        assert MODEL_NAMES[d.name] == d.model_name
    assert MODALITY == "modality"
    with pytest.raises(ValueError, match="got 'bogus'"):
        design_spec(cfg, "bogus", (), ())


@pytest.mark.parametrize(
    ("name", "kind", "unit", "role", "horizon"),
    [
        ("y_exit_4w", "exit", "share", "primary", 4),
        ("y_exit_52w", "exit", "share", "primary", 52),
        ("weeks_selfsupport_26w", "selfsupport", "weeks", "primary", 26),
        ("weeks_selfsupport_pre52w", "selfsupport_pre", "weeks", "placebo", 52),
        ("wage_income_2y_before", "wage_before", "kroner", "placebo", None),
        ("y_exit_13w_pseudo", "exit_pseudo", "share", "placebo", 13),
    ],
)
def test_an_outcome_name_is_read_for_its_kind_unit_and_horizon(name, kind, unit, role, horizon):
    o = outcome(name)
    assert (o.kind.name, o.unit, o.kind.role, o.horizon) == (kind, unit, role, horizon)
    assert o.kind.outcome(horizon) == name


def test_an_undeclared_outcome_has_no_kind():
    with pytest.raises(ValueError, match="outcome: 'y_exit_w' follows none of the declared kinds"):
        outcome("y_exit_w")
    assert outcome_unit("benefit_weeks_pre_spell_52w") is None and outcome_kind_name("y_exit_4wk") is None


def test_every_configured_outcome_has_a_declared_kind():
    e = load_config().estimation
    for name in (
        *e.primary_outcomes,
        *e.placebo_outcomes,
        e.feasibility_outcome,
        load_config().value.outcome,
    ):
        assert outcome(name).kind.role in ("primary", "placebo"), name
    assert {outcome(n).kind.role for n in e.placebo_outcomes} == {"placebo"}
    assert {outcome(n).kind.role for n in e.primary_outcomes} == {"primary"}


def test_the_value_section_takes_a_weeks_outcome_by_its_declared_unit():
    from data_contracts.config import ConfigError

    assert load_config(overrides={"value": {"outcome": "weeks_selfsupport_26w"}}).value.outcome.endswith(
        "26w"
    )
    for bad in ("y_exit_26w", "weeks_selfsupport_pre52w"):
        with pytest.raises(ConfigError, match=f"key 'value.outcome' = '{bad}'"):
            load_config(overrides={"value": {"outcome": bad}})


def test_the_feasibility_verdict_and_the_summary_read_the_registry():
    import polars as pl

    from models.feasibility import CAUSAL_DESIGNS, DESIGN_LABELS, _exit_horizon
    from pipelines.summary import _share_outcomes

    assert CAUSAL_DESIGNS == CAUSAL_DESIGN_NAMES
    assert DESIGN_LABELS["pliv"] == "PLIV (instrument)" and "modality" not in DESIGN_LABELS
    assert [_exit_horizon(o) for o in ("y_exit_13w", "y_exit_13w_pseudo", "weeks_selfsupport_52w")] == [
        13,
        None,
        None,
    ]
    t = pl.DataFrame({"outcome": ["y_exit_4w", "weeks_selfsupport_26w", "y_exit_13w_pseudo", "other"]})
    assert sorted(_share_outcomes(t)) == ["y_exit_13w_pseudo", "y_exit_4w"]
