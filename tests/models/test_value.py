"""What a digital meeting is worth (models/value.py): hand computations, signs, intervals, refusals, gate.

The hand-worked example (docs/value.md has it too): 20 minutes saved at 450 kr an hour is a staff saving of
150 kr per meeting. Dagpenge: 4,000 kr a week, 600,000 meetings a year, effect -0.1 weeks (-0.3 to 0.1).
Job-ready kontanthjaelp: 2,500 kr a week, 200,000 meetings, effect +0.2 weeks (0.05 to 0.35). All: the
overall effect -0.05 weeks (-0.2 to 0.1) at the count-weighted benefit (4000 x 6 + 2500 x 2) / 8 = 3,625 kr.
"""

from __future__ import annotations

import math
from types import SimpleNamespace

import polars as pl
import pytest

from data_contracts.config import ConfigError, ValueConfig, load_config
from models import value as V
from models.disclosure import gate
from models.value import Effect, value_row, value_table

CFG = ValueConfig(
    staff_minutes_saved=20,
    staff_cost_per_hour_dkk=450,
    weekly_benefit_dkk={"dagpenge": 4000.0, "kontanthjaelp_jobparat": 2500.0},
    annual_jobsamtaler={"dagpenge": 600_000, "kontanthjaelp_jobparat": 200_000},
)
DP = Effect(-0.1, -0.3, 0.1)
KH = Effect(0.2, 0.05, 0.35)
ALL = Effect(-0.05, -0.2, 0.1)

# every column, worked by hand
EXPECTED = {
    "dagpenge": dict(
        staff_minutes_saved=20.0, staff_cost_per_hour_dkk=450.0, staff_saving_dkk=150.0, weekly_benefit_dkk=4000.0,
        effect_weeks=-0.1, effect_weeks_ci_low=-0.3, effect_weeks_ci_high=0.1, benefit_saving_dkk=-400.0,
        net_dkk=-250.0, net_dkk_ci_low=-1050.0, net_dkk_ci_high=550.0, break_even_weeks=-0.0375,
        annual_jobsamtaler=600_000, national_net_dkk=-150e6, national_net_dkk_ci_low=-630e6,
        national_net_dkk_ci_high=330e6,
    ),
    "kontanthjaelp_jobparat": dict(
        staff_minutes_saved=20.0, staff_cost_per_hour_dkk=450.0, staff_saving_dkk=150.0, weekly_benefit_dkk=2500.0,
        effect_weeks=0.2, effect_weeks_ci_low=0.05, effect_weeks_ci_high=0.35, benefit_saving_dkk=500.0,
        net_dkk=650.0, net_dkk_ci_low=275.0, net_dkk_ci_high=1025.0, break_even_weeks=-0.06,
        annual_jobsamtaler=200_000, national_net_dkk=130e6, national_net_dkk_ci_low=55e6,
        national_net_dkk_ci_high=205e6,
    ),
    "all": dict(
        staff_minutes_saved=20.0, staff_cost_per_hour_dkk=450.0, staff_saving_dkk=150.0, weekly_benefit_dkk=3625.0,
        effect_weeks=-0.05, effect_weeks_ci_low=-0.2, effect_weeks_ci_high=0.1, benefit_saving_dkk=-181.25,
        net_dkk=-31.25, net_dkk_ci_low=-575.0, net_dkk_ci_high=512.5, break_even_weeks=-150 / 3625,
        annual_jobsamtaler=800_000, national_net_dkk=-25e6, national_net_dkk_ci_low=-460e6,
        national_net_dkk_ci_high=410e6,
    ),
}  # fmt: skip


@pytest.fixture
def table() -> pl.DataFrame:
    return value_table(CFG, ALL, {"dagpenge": DP, "kontanthjaelp_jobparat": KH})


def test_every_column_by_hand(table):
    assert table.columns == list(V.VALUE_COLUMNS)
    assert table["benefit_group"].to_list() == ["dagpenge", "kontanthjaelp_jobparat", "all"]
    for r in table.iter_rows(named=True):
        want = EXPECTED[r["benefit_group"]]
        for col, v in want.items():
            assert r[col] == pytest.approx(v, rel=1e-12, abs=1e-9), (r["benefit_group"], col)
    assert table.schema["annual_jobsamtaler"] == pl.Int64


def test_all_row_is_weighted_by_the_annual_counts(table):
    assert V.weighted_weekly_benefit(CFG) == pytest.approx(3625.0)
    # doubling the kontanthjaelp count moves the weight: (4000 x 6 + 2500 x 4) / 10 = 3,400
    cfg2 = CFG.model_copy(
        update={"annual_jobsamtaler": {"dagpenge": 600_000, "kontanthjaelp_jobparat": 400_000}}
    )
    t2 = value_table(cfg2, ALL, {})
    assert t2.filter(pl.col("benefit_group") == "all")["weekly_benefit_dkk"][0] == pytest.approx(3400.0)
    assert t2.filter(pl.col("benefit_group") == "all")["annual_jobsamtaler"][0] == 1_000_000


def test_sign_conventions():
    # a loss of self-support costs benefit payments: negative benefit saving, lower net
    neg = value_row("dagpenge", 15, 400, 4459, 1000, Effect(-0.5, -0.9, -0.1))
    assert neg["benefit_saving_dkk"] == pytest.approx(-0.5 * 4459) and neg["benefit_saving_dkk"] < 0
    assert neg["net_dkk"] == pytest.approx(100 - 0.5 * 4459)
    pos = value_row("dagpenge", 15, 400, 4459, 1000, Effect(0.5, 0.1, 0.9))
    assert pos["benefit_saving_dkk"] > 0 and pos["net_dkk"] > pos["staff_saving_dkk"]
    # staff saving is positive; break-even is the (negative) effect at which net is zero
    at_be = value_row("dagpenge", 15, 400, 4459, 1000, Effect(neg["break_even_weeks"], -1.0, 1.0))
    assert neg["break_even_weeks"] < 0
    assert at_be["net_dkk"] == pytest.approx(0.0, abs=1e-9)


def test_intervals_follow_the_effects_interval():
    for est, lo, hi in [(-0.2, -0.6, 0.2), (0.0, 0.0, 0.0), (1.3, 0.2, 2.4), (-3.0, -5.0, -1.0)]:
        r = value_row("g", 15, 400, 3000, 500, Effect(est, lo, hi))
        assert r["net_dkk_ci_low"] == pytest.approx(100 + lo * 3000)
        assert r["net_dkk_ci_high"] == pytest.approx(100 + hi * 3000)
        assert r["net_dkk_ci_low"] <= r["net_dkk"] <= r["net_dkk_ci_high"]
        assert r["national_net_dkk_ci_low"] == pytest.approx(r["net_dkk_ci_low"] * 500)
        assert r["national_net_dkk_ci_low"] <= r["national_net_dkk"] <= r["national_net_dkk_ci_high"]
    # a wider effect interval widens the net interval by the weekly benefit per week of width
    a = value_row("g", 15, 400, 3000, 1, Effect(0.0, -0.1, 0.1))
    b = value_row("g", 15, 400, 3000, 1, Effect(0.0, -0.2, 0.2))
    width = lambda r: r["net_dkk_ci_high"] - r["net_dkk_ci_low"]  # noqa: E731
    assert width(b) - width(a) == pytest.approx(0.2 * 3000)


def test_missing_effect_leaves_the_constants(table):
    t = value_table(CFG, None, {"dagpenge": DP})
    kh = t.filter(pl.col("benefit_group") == "kontanthjaelp_jobparat").row(0, named=True)
    assert all(kh[c] is None for c in V.EFFECT_COLUMNS)
    assert kh["staff_saving_dkk"] == 150.0 and kh["break_even_weeks"] == pytest.approx(-0.06)
    assert t.filter(pl.col("benefit_group") == "all")["net_dkk"][0] is None


@pytest.mark.parametrize(
    "override, key",
    [
        ({"weekly_benefit_dkk": {"dagpenge": -1}}, "value.weekly_benefit_dkk"),
        ({"weekly_benefit_dkk": {"dagpenge": "many"}}, "value.weekly_benefit_dkk.dagpenge"),
        ({"annual_jobsamtaler": {"sygedagpenge": 10}}, "value.annual_jobsamtaler"),
        ({"annual_jobsamtaler": {"dagpenge": -5}}, "value.annual_jobsamtaler"),
        ({"staff_minutes_saved": -15}, "value.staff_minutes_saved"),
        ({"staff_cost_per_hour_dkk": 0}, "value.staff_cost_per_hour_dkk"),
        ({"staff_cost_per_hour_dkk": None}, "value.staff_cost_per_hour_dkk"),
        ({"outcome": "y_exit_26w"}, "value.outcome"),
        ({"design": "naive"}, "value.design"),
        ({"unknown_key": 1}, "value.unknown_key"),
    ],
)
def test_wrong_configuration_refused_naming_the_key(override, key):
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        load_config(overrides={"value": override})


def test_defaults_load_with_sources():
    v = load_config().value
    assert v.staff_minutes_saved == 15 and v.outcome == "weeks_selfsupport_52w" and v.design == "irm_att"
    assert set(v.weekly_benefit_dkk) == {"dagpenge", "kontanthjaelp_jobparat"}
    rows = {k: s for k, _, s in V.assumption_rows(v)}
    assert rows["value.staff_minutes_saved"].startswith("Public figure (2021): Ministry of Employment")
    changed = dict((k, s) for k, _, s in V.assumption_rows(v.model_copy(update={"staff_minutes_saved": 9.0})))
    # the default's source no longer describes the number: the number is named as the user's choice
    assert changed["value.staff_minutes_saved"].startswith("Set in the run configuration (default 15: Public")
    extra = v.model_copy(
        update={"weekly_benefit_dkk": {**v.weekly_benefit_dkk, "sygedagpenge": 3000.0},
                "annual_jobsamtaler": {**v.annual_jobsamtaler, "sygedagpenge": 10}}
    )  # fmt: skip
    rows = {k: s for k, _, s in V.assumption_rows(extra)}
    assert rows["value.weekly_benefit_dkk.sygedagpenge"] == (
        "Set in the run configuration, no source given (no default)"
    )


def test_wrong_inputs_to_the_computation_refused_naming_them():
    with pytest.raises(ValueError, match=r"value\.weekly_benefit_dkk has no weekly benefit.*sygedagpenge"):
        value_table(CFG, ALL, {"sygedagpenge": DP})
    with pytest.raises(ValueError, match=r"by_group\['dagpenge'\]: the interval must contain"):
        value_table(CFG, ALL, {"dagpenge": Effect(0.5, -0.1, 0.1)})
    with pytest.raises(ValueError, match=r"overall\.ci_high must be finite"):
        value_table(CFG, Effect(0.0, -0.1, math.nan))
    cfg = SimpleNamespace(staff_minutes_saved=15, weekly_benefit_dkk={"a": 1.0}, annual_jobsamtaler={"a": 1})
    with pytest.raises(ValueError, match=r"value\.staff_cost_per_hour_dkk is missing"):
        value_table(cfg, None)
    cfg = SimpleNamespace(
        staff_minutes_saved=15,
        staff_cost_per_hour_dkk=400,
        weekly_benefit_dkk={"a": 1.0},
        annual_jobsamtaler={},
    )
    with pytest.raises(ValueError, match=r"value\.annual_jobsamtaler\['a'\] is missing"):
        value_table(cfg, None)
    with pytest.raises(TypeError, match="weekly_benefit_dkk must be a number"):
        value_row("a", 15, 400, "4459", 1, None)


def _estimation_frames():
    est = pl.DataFrame(
        {
            "outcome": ["weeks_selfsupport_52w", "weeks_selfsupport_52w", "y_exit_26w"],
            "design": ["irm_att", "plr", "irm_att"],
            "estimate": [-0.05, 9.0, 9.0],
            "se": [0.07, 1.0, 1.0],
            "ci_low": [-0.2, 8.0, 8.0],
            "ci_high": [0.1, 10.0, 10.0],
            "n": [4000, 4000, 4000],
            "n_treated": [3000, 3000, 3000],
        }
    )
    # group effects as another branch writes them: with arm counts and other group variables
    ge = pl.DataFrame(
        {
            "outcome": ["weeks_selfsupport_52w"] * 4 + ["weeks_selfsupport_26w"],
            "design": ["irm_att"] * 5,
            "group_var": ["benefit_group", "benefit_group", "age_band", "sex", "benefit_group"],
            "group": ["dagpenge", "kontanthjaelp_jobparat", "dagpenge", "woman", "dagpenge"],
            "estimate": [-0.1, 0.2, 7.0, 7.0, 7.0],
            "se": [0.1, 0.08, 1.0, 1.0, 1.0],
            "ci_low": [-0.3, 0.05, 6.0, 6.0, 6.0],
            "ci_high": [0.1, 0.35, 8.0, 8.0, 8.0],
            "n": [3000, 1000, 50, 50, 50],
            "n_treated": [2200, 997, 20, 20, 20],
            "n_control": [800, 3, 30, 30, 30],
        }
    )
    return est, ge


def test_effects_read_by_name_from_the_estimation_tables(table):
    est, ge = _estimation_frames()
    overall, groups = V.effects_from_estimates(est, ge, "weeks_selfsupport_52w", "irm_att")
    assert overall == ALL
    assert groups == {"dagpenge": DP, "kontanthjaelp_jobparat": KH}
    assert value_table(CFG, overall, groups).equals(table)
    # without the arm counts (today's group effects) the same effects are read
    _, groups2 = V.effects_from_estimates(
        est, ge.drop("n_treated", "n_control"), "weeks_selfsupport_52w", "irm_att"
    )
    assert groups2 == groups
    # a missing cell or table gives no effect
    assert V.effects_from_estimates(None, None, "weeks_selfsupport_52w", "irm_att") == (None, {})
    assert V.effects_from_estimates(est, ge, "weeks_selfsupport_52w", "pliv") == (None, {})


def test_table_passes_the_disclosure_gate(table):
    est, ge = _estimation_frames()
    assert V.backing_counts(table, est, ge, "weeks_selfsupport_52w", "irm_att") == [800, 3, 1000]
    r = V.gate_value(table, est, ge, "weeks_selfsupport_52w", "irm_att", min_cell=5, n_units=[4000])
    assert r.approved, r.reason
    assert r.table.columns == list(V.VALUE_COLUMNS)
    # the kontanthjaelp estimate rests on 3 control meetings: its effect columns are suppressed,
    # its constants stay; the other rows are published whole
    kh = r.table.row(1, named=True)
    assert all(kh[c] is None for c in V.EFFECT_COLUMNS) and kh["break_even_weeks"] == pytest.approx(-0.06)
    assert all(r.suppressed[c][1] for c in V.EFFECT_COLUMNS)
    assert r.table.row(0, named=True)["net_dkk"] == pytest.approx(-250.0)
    assert r.table.row(2, named=True)["net_dkk"] == pytest.approx(-31.25)
    assert {e["row"] for e in r.log} and all(
        "benefit_group=kontanthjaelp_jobparat" in e["row"] for e in r.log
    )
    # with no counts known (no estimates) nothing that follows from an effect is published
    r0 = V.gate_value(table, None, None, "weeks_selfsupport_52w", "irm_att", min_cell=5)
    assert r0.approved and all(r0.table[c].null_count() == 3 for c in V.EFFECT_COLUMNS)
    # a group whose estimate a linked table suppresses is suppressed here too
    r1 = V.gate_value(table, est, ge, "weeks_selfsupport_52w", "irm_att", 5, hidden_groups=["dagpenge"])
    assert r1.table.row(0, named=True)["net_dkk"] is None


def test_gate_would_refuse_an_unbacked_value_table(table):
    # the rule the value gate relies on: values without a count are not vouched for
    from models.disclosure import TableSpec

    spec = TableSpec(
        name="value", df=table, count_columns=[], value_columns_by_count={}, description="x",
        key_columns=["benefit_group"],
    )  # fmt: skip
    assert not gate(spec).approved


def test_export_cells_keep_ten_digit_kroner_away_from_the_cpr_scan():
    from assets.report.scan import PNR_RE

    t = value_table(CFG, Effect(-2.0, -3.0, -1.0), {"dagpenge": Effect(-1.0, -2.0, 0.0)})
    out = V.export_cells(t)
    cells = [v for c in out.columns if c.startswith("national_") for v in out[c].to_list() if v is not None]
    assert any("e+09" in v for v in cells)
    assert not any(PNR_RE.search(v) for v in cells)
    assert float(out.filter(pl.col("benefit_group") == "all")["national_net_dkk"][0]) == pytest.approx(
        t.filter(pl.col("benefit_group") == "all")["national_net_dkk"][0], rel=1e-5
    )


def test_sentences_name_the_debates_figures(table):
    h = V.headline(table)
    assert "0.041 weeks per meeting" in h and "-0.050 weeks" in h and "-25.0 million kr a year" in h
    text = " ".join(V.debate_sentences(table, CFG))
    for needle in ("15 minutes", "30%", "20%", "250.0 million kr", "39.0 million kr", "includes zero"):
        assert needle in text, needle
    assert "lies entirely" not in text  # the interval (-0.2, 0.1) includes the break-even -0.041
    below = value_table(CFG, Effect(-0.5, -0.8, -0.2))
    assert "lies entirely below the break-even" in " ".join(V.debate_sentences(below, CFG))
