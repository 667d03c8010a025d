"""The R-peer benchmark's spell comparison (benchmarks/bench_dream_r.py), without R.

A hand-made DREAM of seven weeks across 2020-W53 goes through regdml's ``build_benefit_spells``; the spells
heaven's ``importDREAM`` plus the R script's grouping give for it, and those DREAMtoolsR's ``runs()`` give, are
written out by hand in the R scripts' output formats, mapped to regdml's week indexes and compared.
"""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path

import polars as pl
import pytest

BENCH = Path(__file__).resolve().parents[2] / "benchmarks"
sys.path.insert(0, str(BENCH))

import bench_dream_r as br  # noqa: E402

from assets.weeks import iso_to_week_index, week_index  # noqa: E402

WEEKS = ["y_2050", "y_2051", "y_2052", "y_2053", "y_2101", "y_2102", "y_2103"]
# 111/112 dagpenge, 130 kontanthjaelp_jobparat, 890 not a target group
DREAM = {
    "A": ["111", "111", "112", "130", "130", None, None],  # dagpenge W50-W52, then kontanthjaelp W53-2021-W01
    "B": [None, "111", None, "111", "111", "111", None],  # two dagpenge spells: W51, and W53-2021-W02
    "C": ["890", "890", None, None, None, None, None],  # no target spell
    "D": ["111"] * 7,  # one spell over the whole DREAM
}
# What dream_spells_heaven.R writes for DREAM: start = Monday of the first week, end = Monday after the last
# (2020-W50 starts on 7 December 2020; 2020-W53 on 28 December; 2021-W01 on 4 January).
HEAVEN = [
    ("A", "dagpenge", "2020-12-07", "2020-12-28"),
    ("A", "kontanthjaelp_jobparat", "2020-12-28", "2021-01-11"),
    ("B", "dagpenge", "2020-12-14", "2020-12-21"),
    ("B", "dagpenge", "2020-12-28", "2021-01-18"),
    ("D", "dagpenge", "2020-12-07", "2021-01-25"),
]
# What dream_spells_dreamtoolsr.R writes: week names; NA = the run starts/ends at DREAM's edge.
DREAMTOOLSR = [
    ("A", "dagpenge", None, "y_2052"),
    ("A", "kontanthjaelp_jobparat", "y_2053", "y_2101"),
    ("B", "dagpenge", "y_2051", "y_2051"),
    ("B", "dagpenge", "y_2053", "y_2102"),
    ("D", "dagpenge", None, None),
]


def _frame(rows: list[tuple]) -> pl.DataFrame:
    return pl.DataFrame(rows, schema=["PNR", "benefit_group", "start", "end"], orient="row")


@pytest.fixture(scope="module")
def regdml_spells(tmp_path_factory) -> pl.DataFrame:
    from assets.cohort.logic import build_benefit_spells
    from data_contracts.codebook import load_codebook
    from data_contracts.config import load_config

    tmp = tmp_path_factory.mktemp("dream_r")
    dream = pl.DataFrame(
        {"pnr": list(DREAM)}
        | {w: [DREAM[p][i] for p in DREAM] for i, w in enumerate(WEEKS)}
        | {g: pl.Series([None] * len(DREAM), dtype=pl.Int16) for g in ("grad_2020_12", "grad_2021_01")}
        | {"source_file": ["dream.parquet"] * len(DREAM)},
        schema_overrides={w: pl.String for w in WEEKS},
    )
    dream.write_parquet(tmp / "dream.parquet")
    duck = {"memory_limit": "256MB", "threads": 1, "temp_directory": str(tmp / "spill")}
    build_benefit_spells(
        tmp / "dream.parquet", tmp, load_codebook(), load_config().cohort.target_groups, duck
    )
    return pl.read_parquet(tmp / "benefit_spells.parquet")


def test_heaven_dates_map_to_regdml_weeks():
    got = br.heaven_spells_to_weeks(_frame(HEAVEN[:2]))
    assert got["spell_start_week"].to_list() == [iso_to_week_index(2020, 50), iso_to_week_index(2020, 53)]
    # the end date is the Monday after the last week: 2020-12-28 -> 2020-W52, 2021-01-11 -> 2021-W01
    assert got["spell_end_week"].to_list() == [iso_to_week_index(2020, 52), iso_to_week_index(2021, 1)]
    assert week_index(dt.date(2020, 12, 28)) == iso_to_week_index(2020, 53)


def test_hand_made_dream_agrees_with_heaven_and_dreamtoolsr(regdml_spells):
    assert regdml_spells.height == 5
    c = br.compare_spells(regdml_spells, br.heaven_spells_to_weeks(_frame(HEAVEN)))
    assert c == {
        "spells_regdml": 5,
        "spells_peer": 5,
        "spells_agree": 5,
        "only_regdml": 0,
        "only_peer": 0,
        "only_regdml_same_start": 0,
        "persons": 3,
        "persons_agree": 3,
    }
    first, last = iso_to_week_index(2020, 50), iso_to_week_index(2021, 3)
    peer = br.dreamtoolsr_spells_to_weeks(_frame(DREAMTOOLSR), first, last)
    c = br.compare_spells(regdml_spells, peer, persons=list(DREAM))
    assert (c["spells_agree"], c["only_regdml"], c["only_peer"], c["persons"], c["persons_agree"]) == (
        5,
        0,
        0,
        4,
        4,
    )


def test_disagreements_are_counted(regdml_spells):
    # importDREAM's runs of one code left unjoined (A's 111 and 112 as two spells): A's first spell differs
    unjoined = [
        ("A", "dagpenge", "2020-12-07", "2020-12-21"),
        ("A", "dagpenge", "2020-12-21", "2020-12-28"),
        *HEAVEN[1:],
    ]
    c = br.compare_spells(regdml_spells, br.heaven_spells_to_weeks(_frame(unjoined)))
    assert (c["spells_agree"], c["only_regdml"], c["only_peer"]) == (4, 1, 2)
    assert c["only_regdml_same_start"] == 1  # the regdml spell starting in W50 ends later than the peer's
    assert (c["persons"], c["persons_agree"]) == (3, 2)
    # a peer run on a subset: B only
    c = br.compare_spells(regdml_spells, br.heaven_spells_to_weeks(_frame(unjoined)), persons=["B"])
    assert (c["spells_regdml"], c["spells_agree"], c["persons_agree"]) == (2, 2, 1)


def test_duplicate_spells_pair_one_to_one(regdml_spells):
    c = br.compare_spells(regdml_spells, br.heaven_spells_to_weeks(_frame([*HEAVEN, HEAVEN[-1]])))
    assert (c["spells_agree"], c["only_peer"], c["persons_agree"]) == (5, 1, 2)


def test_missing_columns_are_named():
    with pytest.raises(ValueError, match=r"spells lacks columns \['end'\]"):
        br.heaven_spells_to_weeks(_frame(HEAVEN).drop("end"))
    with pytest.raises(ValueError, match="first_week=5, last_week=4"):
        br.dreamtoolsr_spells_to_weeks(_frame(DREAMTOOLSR), 5, 4)
