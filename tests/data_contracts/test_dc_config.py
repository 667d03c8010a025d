"""The run configuration: the plan's defaults, and clear errors for a wrong key or value."""

import datetime as dt

from data_contracts.config import load_config


def test_defaults_are_the_analysis_plan():
    cfg = load_config()
    assert cfg.cohort.window_start == dt.date(2020, 5, 1)
    assert cfg.cohort.window_end == dt.date(2021, 2, 28)
    assert cfg.cohort.target_groups == ("dagpenge", "kontanthjaelp_jobparat")
    assert cfg.cohort.meeting_types == ("jobsamtale",)
    assert cfg.cohort.actors == ("JC",)
    assert cfg.outcomes.exit_horizons == (4, 13, 26, 52)
    assert cfg.outcomes.selfsupport_horizons == (26, 52)
    assert cfg.outcomes.employment_benefit_free_weeks == 4
    assert cfg.outcomes.employment_min_grad == 0
    assert cfg.estimation.n_folds == 5
    assert cfg.estimation.trim == (0.01, 0.99)
    assert cfg.disclosure.min_cell == 5


def test_file_overrides_merge_with_defaults(tmp_path):
    p = tmp_path / "run.yaml"
    p.write_text("cohort:\n  window_end: 2020-12-31\nestimation:\n  n_reps: 5\n", encoding="utf-8")
    cfg = load_config(p)
    assert cfg.cohort.window_end == dt.date(2020, 12, 31)
    assert cfg.cohort.window_start == dt.date(2020, 5, 1)
    assert cfg.estimation.n_reps == 5


def test_hash_changes_with_content():
    assert load_config().sha256 == load_config().sha256
    assert load_config().sha256 != load_config(overrides={"estimation": {"seed": 1}}).sha256


def test_yaml_round_trip(tmp_path):
    cfg = load_config(overrides={"outcomes": {"exit_horizons": [8, 4]}})
    p = tmp_path / "stored.yaml"
    p.write_text(cfg.to_yaml(), encoding="utf-8")
    again = load_config(p)
    assert again == cfg
    assert again.outcomes.exit_horizons == (4, 8)


def test_final_run_needs_five_repetitions(tmp_path):
    import pytest

    from data_contracts.config import ConfigError

    c = load_config()
    assert c.estimation.learner == "auto" and c.estimation.final is False and c.estimation.exploratory
    with pytest.raises(ConfigError, match=r"estimation\.final is true but estimation\.n_reps = 4"):
        load_config(overrides={"estimation": {"final": True, "n_reps": 4}})
    p = tmp_path / "final.yaml"
    p.write_text("estimation:\n  final: true\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"final\.yaml: estimation\.final is true.*n_reps >= 5"):
        load_config(p)
    five = load_config(overrides={"estimation": {"final": True, "n_reps": 5}})
    assert five.estimation.final and not five.estimation.exploratory
    assert not load_config(overrides={"estimation": {"n_reps": 5}}).estimation.exploratory
