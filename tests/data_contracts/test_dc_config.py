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


def test_every_section_versions_exactly_one_part_of_the_pipeline():
    """A section in no list would enter no data version: changing it would recompute nothing."""
    from data_contracts.config import ESTIMATION_SECTIONS, TABLE_SECTIONS, VALUE_SECTIONS, RunConfig

    parts = [*TABLE_SECTIONS, *ESTIMATION_SECTIONS, *VALUE_SECTIONS]
    assert sorted(parts) == sorted(RunConfig.model_fields), "every section in exactly one list"
    # the table build reads disclosure.min_cell (suppression in treatment, outcomes and analysis metadata)
    assert "disclosure" in TABLE_SECTIONS and "estimation" not in TABLE_SECTIONS


def test_section_hash_follows_only_its_sections():
    import pytest

    from data_contracts.config import ESTIMATION_SECTIONS, TABLE_SECTIONS, RunConfig

    base = load_config()
    est = load_config(overrides={"estimation": {"n_reps": 3, "learner": "lasso"}})
    table = load_config(overrides={"cohort": {"window_end": "2020-12-31"}})
    value = load_config(overrides={"value": {"staff_minutes_saved": 20}})
    # an estimation or value key leaves the table build's hash as it is; a cohort key changes it
    assert est.table_sha256 == base.table_sha256 == value.table_sha256 != table.table_sha256
    assert est.sha256_of(ESTIMATION_SECTIONS) != base.sha256_of(ESTIMATION_SECTIONS)
    assert table.sha256_of(ESTIMATION_SECTIONS) == base.sha256_of(ESTIMATION_SECTIONS)
    assert value.sha256_of("value") != base.sha256_of("value") and value.sha256_of("estimation") == (
        base.sha256_of("estimation")
    )
    # every section together is the whole configuration's hash
    assert base.sha256_of(RunConfig.model_fields) == base.sha256
    assert base.table_sha256 == base.sha256_of(TABLE_SECTIONS)
    for bad in ([], ["estimation", "estimator"]):
        with pytest.raises(ValueError, match=r"sections must name sections of the run configuration"):
            base.sha256_of(bad)


def test_table_sections_alone_are_a_configuration_file(tmp_path):
    """analysis/run_config.yaml holds only the table build's sections; loaded, it rebuilds the same table."""
    from data_contracts.config import TABLE_SECTIONS

    cfg = load_config(overrides={"outcomes": {"exit_horizons": [8, 4]}, "estimation": {"n_reps": 3}})
    p = tmp_path / "table.yaml"
    p.write_text(cfg.to_yaml(TABLE_SECTIONS), encoding="utf-8")
    again = load_config(p)
    assert again.table_sha256 == cfg.table_sha256 and again.outcomes.exit_horizons == (4, 8)
    assert "estimation" not in p.read_text(encoding="utf-8") and again.estimation.n_reps == 1


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
