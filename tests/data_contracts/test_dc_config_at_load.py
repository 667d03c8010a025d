"""A run configuration the estimation would refuse in every cell is refused at load, naming key and value."""

from __future__ import annotations

import pytest

from assets.estimation.logic import SPEC_CONFIG_KEYS, check_estimation_config, design_spec
from assets.resources import RegdmlResource, load_run_config
from data_contracts.config import ConfigError, load_config


def test_a_negative_seed_is_refused_at_load_by_the_estimations_own_rule(tmp_path):
    # estimation.seed has no bound in the configuration's model; DesignSpec refuses a negative seed, which
    # before this check failed in every estimation cell after the registers were staged
    p = tmp_path / "run.yaml"
    p.write_text("estimation:\n  seed: -1\n", encoding="utf-8")
    assert load_config(p).estimation.seed == -1
    with pytest.raises(ConfigError, match=r"^key 'estimation\.seed' = -1: seed must be at least 0; got -1$"):
        load_run_config(p)
    with pytest.raises(ConfigError, match=r"key 'estimation\.seed' = -1"):
        RegdmlResource(config_path=str(p)).run_config()


def test_a_trimming_interval_without_one_half_is_refused_at_load():
    with pytest.raises(
        ConfigError, match=r"key 'estimation\.trim' = \[0\.6, 0\.9\]: .*0 <= low < 0\.5 < high <= 1"
    ):
        load_run_config(overrides={"estimation": {"trim": [0.6, 0.9]}})


def test_the_defaults_pass_every_designs_rules():
    cfg = load_run_config()
    assert check_estimation_config(cfg) is cfg
    assert design_spec(cfg, "irm_att", (), ()).seed == cfg.estimation.seed


def test_every_mapped_argument_is_a_configuration_key():
    cfg = load_config()
    for key in SPEC_CONFIG_KEYS.values():
        section, name = key.split(".")
        getattr(getattr(cfg, section), name)


def test_regdml_run_refuses_the_configuration_before_staging(tmp_path, capsys):
    from pipelines.cli import main

    delivery = tmp_path / "delivery"
    delivery.mkdir()
    p = tmp_path / "run.yaml"
    p.write_text("estimation:\n  seed: -1\n", encoding="utf-8")
    with pytest.raises(SystemExit, match=r"regdml run: key 'estimation\.seed' = -1"):
        main(["run", "--delivery", str(delivery), "--workdir", str(tmp_path / "work"), "--config", str(p)])
    assert not (tmp_path / "work").exists()
