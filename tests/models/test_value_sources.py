"""Sources of the value section's defaults (issue 20): declared once in default_config.yaml, complete, consistent
with the numbers they describe (the derivations re-done by hand), and the same in the report and docs/value.md."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from data_contracts.config import ConfigError, ValueConfig, load_config
from models import value as V

DOCS = Path(__file__).resolve().parents[2] / "docs" / "value.md"


def test_every_default_input_has_a_source_and_a_year():
    v = load_config().value
    # the Python default and the YAML are one declaration: numbers and sources agree
    assert v == ValueConfig()
    keys = v.source_keys()
    assert keys == [
        "staff_minutes_saved",
        "staff_cost_per_hour_dkk",
        "weekly_benefit_dkk.dagpenge",
        "weekly_benefit_dkk.kontanthjaelp_jobparat",
        "annual_jobsamtaler.dagpenge",
        "annual_jobsamtaler.kontanthjaelp_jobparat",
    ]
    for k in keys:
        s = v.sources[k]
        assert s.source.strip() and 2019 <= s.year <= 2022, k
    # what cannot be sourced says so
    assert v.sources["staff_cost_per_hour_dkk"].kind == "estimate"
    assert "no public hourly cost" in v.sources["staff_cost_per_hour_dkk"].source
    assert {v.sources[f"annual_jobsamtaler.{g}"].kind for g in v.annual_jobsamtaler} == {"derived"}
    assert v.sources["staff_minutes_saved"].kind == "public"


def test_each_source_states_its_default_and_the_derivations_hold():
    v = ValueConfig()
    src = {k: s.source for k, s in v.sources.items()}
    # a default changed without its source would no longer match the number the source states
    assert "about 15 minutes less" in src["staff_minutes_saved"]
    assert "4,459 kr a week" in src["weekly_benefit_dkk.dagpenge"]
    assert "2,700 kr a week" in src["weekly_benefit_dkk.kontanthjaelp_jobparat"]
    assert "about 784,000 a year" in src["annual_jobsamtaler.dagpenge"]
    assert "about 125,000 a year" in src["annual_jobsamtaler.kontanthjaelp_jobparat"]
    assert "rounded to 400" in src["staff_cost_per_hour_dkk"]
    # the arithmetic, by hand: monthly rate x 12 / 52; Nyborg's May 2020 count x 180 x 12; pay / hours x 1.25
    assert round(19_322 * 12 / 52) == v.weekly_benefit_dkk["dagpenge"] == 4459
    assert round(11_698 * 12 / 52) == v.weekly_benefit_dkk["kontanthjaelp_jobparat"] == 2700
    assert 363 * 180 * 12 == 784_080 and round(784_080, -3) == v.annual_jobsamtaler["dagpenge"]
    assert 58 * 180 * 12 == 125_280 and round(125_280, -3) == v.annual_jobsamtaler["kontanthjaelp_jobparat"]
    assert round(474_528 / 1_450 * 1.25) == 409 and round(409, -2) == v.staff_cost_per_hour_dkk
    # the KL cross-check range: 7.7 x (104,000 - 25,500) and 7.7 x (159,000 - 30,200)
    assert round(7.7 * (104_000 - 25_500), -4) == 600_000 and round(7.7 * (159_000 - 30_200), -4) == 990_000
    assert 600_000 <= v.annual_jobsamtaler["dagpenge"] <= 990_000
    assert round(125_280 / 30_200, 1) == 4.1 and round(125_280 / 25_500, 1) == 4.9


def test_report_rows_carry_kind_year_source_and_addresses():
    v = ValueConfig()
    rows = {k: s for k, _, s in V.assumption_rows(v)}
    for k in v.source_keys():
        s = v.sources[k]
        assert s.source in rows[f"value.{k}"] and f"({s.year})" in rows[f"value.{k}"], k
        assert all(u in rows[f"value.{k}"] for u in s.urls), k
    assert rows["value.staff_cost_per_hour_dkk"].startswith(
        "Project estimate, no public source found; change it (2021): "
    )
    assert rows["value.annual_jobsamtaler.dagpenge"].startswith("Derived from public figures (2020): ")


def test_a_source_of_ones_own_beside_a_changed_number():
    mine = {"kind": "estimate", "year": 2024, "source": "Our budgeted cost of a caseworker hour."}
    v = load_config(
        overrides={"value": {"staff_cost_per_hour_dkk": 450, "sources": {"staff_cost_per_hour_dkk": mine}}}
    ).value
    rows = {k: s for k, _, s in V.assumption_rows(v)}
    assert rows["value.staff_cost_per_hour_dkk"] == (
        "Set in the run configuration: Project estimate, no public source found; change it (2024): "
        "Our budgeted cost of a caseworker hour."
    )
    # the other defaults keep theirs
    assert rows["value.staff_minutes_saved"] == V.source_text(ValueConfig().sources["staff_minutes_saved"])


@pytest.mark.parametrize(
    "sources, pattern",
    [
        ({"staff_cost_per_hour": {"kind": "public", "year": 2021, "source": "x"}},
         r"value\.sources names no input of the value section: \['staff_cost_per_hour'\]"),
        ({"staff_minutes_saved": {"source": "   "}}, r"value\.sources\.staff_minutes_saved\.source"),
        ({"staff_minutes_saved": {"year": None}}, r"value\.sources\.staff_minutes_saved\.year"),
        ({"staff_minutes_saved": {"kind": "rumour"}}, r"value\.sources\.staff_minutes_saved\.kind"),
        ({"staff_minutes_saved": {"page": 3}}, r"value\.sources\.staff_minutes_saved\.page"),
    ],
)  # fmt: skip
def test_a_wrong_source_is_refused_naming_the_key(sources, pattern):
    with pytest.raises(ConfigError, match=pattern):
        load_config(overrides={"value": {"sources": sources}})


def test_docs_table_is_generated_from_the_sources():
    text = DOCS.read_text(encoding="utf-8")
    m = re.search(r"<!-- value-sources:begin[^\n]*-->\n(.*?)<!-- value-sources:end -->", text, re.S)
    assert m, "docs/value.md lost its value-sources markers"
    assert m.group(1) == V.sources_markdown(ValueConfig()), (
        "docs/value.md's sources table differs from value.sources of default_config.yaml; regenerate it with "
        "models.value.sources_markdown(ValueConfig())"
    )
