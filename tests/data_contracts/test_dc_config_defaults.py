"""The run configuration's defaults are written once, in default_config.yaml; the model holds none."""

from __future__ import annotations

import datetime as dt

import yaml

from data_contracts.config import (
    DEFAULT_CONFIG_PATH,
    DEFAULTS,
    EstimationConfig,
    RunConfig,
    ValueConfig,
    _Section,
    load_config,
)


def _sections(model: type[_Section], key: str = "") -> list[tuple[str, type[_Section]]]:
    out = [(key, model)]
    for name, info in model.model_fields.items():
        if isinstance(info.annotation, type) and issubclass(info.annotation, _Section):
            out.extend(_sections(info.annotation, name))
    return out


def test_no_field_of_the_model_has_a_default_of_its_own():
    own = [
        f"{key or '(top)'}.{name}"
        for key, model in _sections(RunConfig)
        for name, info in model.model_fields.items()
        if not info.is_required()
    ]
    assert own == [], f"write these defaults in default_config.yaml, not in data_contracts/config.py: {own}"


def test_every_field_has_its_default_in_the_yaml():
    data = yaml.safe_load(DEFAULT_CONFIG_PATH.read_text(encoding="utf-8"))
    assert data == DEFAULTS
    for key, model in _sections(RunConfig):
        section = data[key] if key else data
        assert set(section) == set(model.model_fields), key


def test_a_model_built_without_values_is_the_yaml():
    assert RunConfig() == load_config()
    assert EstimationConfig() == load_config().estimation
    assert RunConfig().file_patterns["dream"] == DEFAULTS["file_patterns"]["dream"] == "^dream$"
    assert RunConfig().cohort.window_start == dt.date(2020, 5, 1)


def test_a_value_given_keeps_the_other_defaults():
    v = ValueConfig(staff_minutes_saved=3)
    assert v.staff_minutes_saved == 3.0
    assert v.staff_cost_per_hour_dkk == DEFAULTS["value"]["staff_cost_per_hour_dkk"] == 400
    e = RunConfig(estimation={"n_reps": 5}).estimation
    assert (e.n_reps, e.n_folds, e.seed) == (5, 5, 20200501)
