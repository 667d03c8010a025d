"""Wrong configuration keys and values are refused with a message naming the key and the value."""

import pytest

from data_contracts.config import ConfigError, load_config


def test_unknown_key_is_named(tmp_path):
    p = tmp_path / "run.yaml"
    p.write_text("cohort:\n  windw_start: 2020-05-01\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"run.yaml: unknown key 'cohort.windw_start'"):
        load_config(p)


def test_wrong_value_names_key_and_value():
    with pytest.raises(ConfigError, match=r"key 'estimation.n_folds' = 1"):
        load_config(overrides={"estimation": {"n_folds": 1}})


def test_window_end_before_start():
    with pytest.raises(ConfigError, match="window_end"):
        load_config(overrides={"cohort": {"window_start": "2021-01-01", "window_end": "2020-01-01"}})


def test_bad_trim():
    with pytest.raises(ConfigError, match=r"estimation.trim"):
        load_config(overrides={"estimation": {"trim": [0.5, 0.2]}})


def test_trim_that_the_estimation_would_refuse_is_refused_at_load():
    """[0.6, 0.9] used to load, stage every register and then fail in every IRM cell: the configuration now
    applies the estimation's own rule before anything runs."""
    with pytest.raises(ConfigError, match=r"estimation.trim.*0 <= low < 0.5 < high <= 1.*0.6, 0.9"):
        load_config(overrides={"estimation": {"trim": [0.6, 0.9]}})


def test_unknown_register_pattern():
    with pytest.raises(ConfigError, match=r"unknown register\(s\) \['bef2'\]"):
        load_config(overrides={"file_patterns": {"bef2": "^x$"}})


def test_invalid_regex_pattern():
    with pytest.raises(ConfigError, match=r"file_patterns.dream"):
        load_config(overrides={"file_patterns": {"dream": "^(dream$"}})


def test_missing_file():
    with pytest.raises(ConfigError, match="does not exist"):
        load_config("/nonexistent/run.yaml")


def test_horizon_out_of_range():
    with pytest.raises(ConfigError, match="exit_horizons"):
        load_config(overrides={"outcomes": {"exit_horizons": [0, 4]}})
