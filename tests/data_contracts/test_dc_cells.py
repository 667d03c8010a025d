"""The estimation cells of a configuration (data_contracts/cells.py): the one place cells are made."""

from __future__ import annotations

import pytest

from data_contracts.cells import Cell, cell_keys, cell_of_key, estimation_cells
from data_contracts.config import DEFAULTS, load_config


def test_a_small_configuration_by_hand():
    cfg = load_config(
        overrides={
            "outcomes": {"exit_horizons": [8, 13]},
            "estimation": {
                "primary_outcomes": ["y_exit_8w", "y_exit_13w"],
                "placebo_outcomes": ["weeks_selfsupport_pre52w"],
                "designs": ["naive", "irm_att"],
            },
        }
    )
    assert cell_keys(cfg) == [
        "y_exit_8w__naive",
        "y_exit_8w__irm_att",
        "y_exit_13w__naive",
        "y_exit_13w__irm_att",
        "weeks_selfsupport_pre52w__naive",
        "weeks_selfsupport_pre52w__irm_att",
    ]
    assert estimation_cells(cfg)[1] == Cell("y_exit_8w", "irm_att")
    # the estimation section alone gives the same cells
    assert estimation_cells(cfg.estimation) == estimation_cells(cfg)


def test_an_outcome_named_twice_is_one_cell_per_design():
    cfg = load_config(
        overrides={
            "estimation": {
                "primary_outcomes": ["y_exit_13w"],
                "placebo_outcomes": ["y_exit_13w"],
                "designs": ["plr", "naive", "plr"],
            }
        }  # fmt: skip
    )
    assert cell_keys(cfg) == ["y_exit_13w__plr", "y_exit_13w__naive"]


def test_default_configuration_gives_the_default_grid():
    est = DEFAULTS["estimation"]  # read from default_config.yaml, not restated here
    outcomes = est["primary_outcomes"] + est["placebo_outcomes"]
    cells = estimation_cells(load_config())
    assert len(cells) == len(set(cells)) == len(set(outcomes)) * len(set(est["designs"]))
    assert cells[0] == Cell(est["primary_outcomes"][0], est["designs"][0])
    assert cells[-1] == Cell(est["placebo_outcomes"][-1], est["designs"][-1])
    assert {c.outcome for c in cells} == set(outcomes) and {c.design for c in cells} == set(est["designs"])
    # primary outcomes before placebo outcomes, the designs in the configuration's order within an outcome
    assert [c.outcome for c in cells[:: len(est["designs"])]] == outcomes
    assert [c.design for c in cells[: len(est["designs"])]] == est["designs"]


def test_key_round_trip_and_bad_keys():
    for cell in estimation_cells(load_config()):
        assert cell_of_key(cell.key) == cell
        outcome, design = cell  # unpacks as (outcome, design)
        assert cell.key == f"{outcome}__{design}"
    for bad in ("y_exit_13w", "__irm_att", "y_exit_13w__"):
        with pytest.raises(ValueError, match=f"cell key must be .*got '{bad}'"):
            cell_of_key(bad)
