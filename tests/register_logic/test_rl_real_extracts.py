"""DREAM as DST delivers it (issue 16): weeks from 1991, grad_ ending before the weeks, gaps refused, the
placebo at grad's start, the local labour market's denominator, duplicate registrations.

Hand-built deliveries with hand-worked answers; each test fails when its rule is removed.
"""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest

from assets.covariates.logic import LOCAL_LEFT_OUT_WARNING
from assets.outcomes.logic import build_meeting_outcomes
from data_contracts import tables as T
from data_contracts.config import load_config
from tests.register_logic.stages import run_stages

OUT = [
    "y_exit_4w",
    "y_exit_13w",
    "y_exit_26w",
    "y_exit_52w",
    "weeks_selfsupport_26w",
    "weeks_selfsupport_52w",
    "weeks_selfsupport_pre52w",
]


def _run(world, tmp_path, codebook, duck, cfg=None, name="w"):
    work = tmp_path / name
    world.write(work)
    return work, run_stages(work, cfg)


def _missing_by_reason(work, codebook, duck) -> dict[str, dict]:
    """The outcomes stage's count of missing outcomes by reason, unsuppressed (the asset's metadata
    suppresses small counts): the stage function on the run's files, written aside."""
    res = build_meeting_outcomes(T.ELIGIBLE_MEETINGS.path(work), work / "staging" / "dream.parquet",
                                 work / "recount", load_config(), codebook, duck)  # fmt: skip
    return {r["outcome"]: r for r in res["missing_by_reason"]}


def _analysis(work):
    return pl.read_parquet(work / "analysis" / "analysis_table.parquet")


# ---- DREAM from 1991 -----------------------------------------------------------------------------


def test_dream_from_1991_gives_the_same_outcomes_spells_and_eligibility(rl, tmp_path, codebook, duck):
    """The main world with DREAM from 1991-W30 (y_9130 ... y_9952, y_0001 ...) and grad_ from 2008, as a
    real extract: the early weeks are empty, so no outcome, eligible meeting or spell may change.

    Before the century pivot, y_9901 was read as 2099-W01: DREAM "ended" in 2099 and every missing
    outcome of the main world became 0; 1992-W53 (y_9253) was refused as a week that does not exist.
    """
    short = rl.main_world()
    long = rl.main_world()
    long.first = rl.wk("1991-W30")
    long.grad_months = ("2008-01", "2021-10")  # 2021-W40's Thursday is 7 October
    w_short, _ = _run(short, tmp_path, codebook, duck, name="short")
    w_long, res = _run(long, tmp_path, codebook, duck, name="long")
    cols = pl.read_parquet_schema(w_long / "staging" / "dream.parquet")
    assert "y_9130" in cols and "y_9253" in cols and "y_9952" in cols and "y_0001" in cols
    assert (
        res.metadata["benefit_weeks"]["dream_first_week"] == "1991-W30"
        and res.metadata["benefit_weeks"]["dream_last_week"] == "2021-W40"
    )
    key = ["meeting_id", "pnr", "meeting_date", "digital", "spell_start_week", "elapsed_weeks"]
    a, b = _analysis(w_short).select(key + OUT), _analysis(w_long).select(key + OUT)
    assert a.height == 9 and a.drop(OUT[-1]).equals(b.drop(OUT[-1]))
    # the placebo window of a spell starting in 2019 reaches before the short DREAM (missing there) but
    # not before the long one; where the short DREAM has it, both agree
    known = a[OUT[-1]].is_not_null()
    assert known.sum() > 0 and a.filter(known)[OUT[-1]].equals(b.filter(known)[OUT[-1]])
    sort = ["pnr", "spell_start_week"]
    s1 = pl.read_parquet(w_short / "cohort" / "benefit_spells.parquet").sort(sort)
    s2 = pl.read_parquet(w_long / "cohort" / "benefit_spells.parquet").sort(sort)
    assert s1.height > 0 and s1.equals(s2)
    # the missing outcomes stay missing (not 0): D's y_exit_52w, A's weeks_selfsupport_52w
    d = _analysis(w_long).filter(pl.col("pnr") == "0000400")
    assert d["y_exit_52w"].to_list() == [None]


def test_century_pivot_weeks_around_the_millennium(tmp_path, world_cls, codebook, duck):
    """y_9952 (1999-W52, Mon 27 Dec 1999) is followed by y_0001 (2000-W01, Mon 3 Jan 2000): a spell coded in
    both weeks is one spell of two weeks, not two spells 100 years apart."""
    w = world_cls("1999-W40", "2000-W20")
    w.person("0000042").code("0000042", "1999-W52", "2000-W01", "111")
    work = tmp_path / "mill"
    w.write(work)
    from assets.cohort.logic import build_benefit_spells

    res = build_benefit_spells(
        work / "staging" / "dream.parquet", work / "cohort", codebook, ("dagpenge",), duck
    )
    sp = pl.read_parquet(res["benefit_spells"])
    assert sp.select("spell_start_iso_week", "spell_end_iso_week", "spell_weeks").rows() == [
        ("1999-W52", "2000-W01", 2)
    ]


# ---- grad_ ends before the weeks -----------------------------------------------------------------


def _grad_lag_world(world_cls):
    """DREAM weeks 2020-W01 .. 2021-W40, grad_ only to 2021-03: the last week with known employment is
    2021-W12 (Thursday 25 March; W13's Thursday is 1 April). Meetings on Wed 2021-02-17: m = 2021-W07.

    P: dagpenge 2020-W40 .. 2021-W08, meeting Wed 2021-02-17 (W07); benefit-free from 2021-W09 with grad 60
       in March 2021: exit week 2021-W09 = m+2 (W09..W12 free, W09's Thursday 4 March). Observed.
    Q: dagpenge 2020-W40 .. 2021-W13, meeting Wed 2021-02-17 (W07); benefit-free from 2021-W14 (April):
       grad unknown from April, so the exit cannot be seen: every y_exit is missing (not 0), and
       weeks_selfsupport_26w too (m+26 = 2021-W33 is after W12).
    R: dagpenge 2020-W40 .. 2021-W11, meeting Wed 2021-02-17; free from W12 with grad 60 in March: W12 has
       grad (Thursday 25 March), W13..W15 are benefit-free with unknown grad: exit week W12 = m+5 is
       observed (an exit needs grad only in its own week).
    """
    w = world_cls("2020-W01", "2021-W40")
    w.grad_months = ("2020-01", "2021-03")
    w.confirm(101, ["2021-02"])
    for pnr, last_code, grad_from in (("0000010", "2021-W08", "2021-03"), ("0000011", "2021-W13", None),
                                      ("0000012", "2021-W11", "2021-03")):  # fmt: skip
        w.person(pnr).code(pnr, "2020-W40", last_code, "111")
        if grad_from:
            w.set_grad(pnr, grad_from, "2021-03", 60)
        w.meeting(pnr, dt.date(2021, 2, 17), "T")
    return w


def test_exits_after_grad_ends_are_missing_exits_before_are_kept(tmp_path, world_cls, codebook, duck):
    w = _grad_lag_world(world_cls)
    work, res = _run(w, tmp_path, codebook, duck)
    a = _analysis(work).sort("pnr")
    got = {r["pnr"]: tuple(r[c] for c in OUT[:5]) for r in a.iter_rows(named=True)}
    # P: exit m+2: 1 within 4, 13, 26, 52 weeks; weeks_selfsupport_26w needs weeks to m+26 = W33 > W12: missing
    assert got["0000010"] == (1, 1, 1, 1, None)
    # Q: no observable exit; employment known only to W12 < m+4+3 = W14: missing, never 0
    assert got["0000011"] == (None, None, None, None, None)
    # R: exit week W12 = m+5: y_exit_4w: no exit in m+1..m+4 and W12 < m+7 -> missing; 13/26/52 -> 1
    assert got["0000012"] == (None, 1, 1, 1, None)
    reasons = _missing_by_reason(work, codebook, duck)
    # missing because employment is unknown while DREAM's weeks go on (to 2021-W40 >= m+7 = 2021-W14)
    assert reasons["y_exit_4w"]["employment_unknown"] == 2 and reasons["y_exit_4w"]["dream_weeks"] == 0
    assert reasons["y_exit_13w"]["employment_unknown"] == 1
    # weeks_selfsupport_26w: m+26 = 2021-W33 <= 2021-W40 (weeks) but > W12 (employment) for all three
    assert reasons["weeks_selfsupport_26w"]["employment_unknown"] == 3
    # weeks_selfsupport_52w: m+52 = 2022-W07 is after DREAM's last week: DREAM's weeks, not grad
    assert reasons["weeks_selfsupport_52w"]["dream_weeks"] == 3
    assert reasons["weeks_selfsupport_52w"]["employment_unknown"] == 0


def test_grad_lag_metadata_is_disclosure_controlled(tmp_path, world_cls, codebook, duck):
    from assets.analysis.summaries import SUPPRESSED, safe_missing_reasons

    rows = [{"outcome": "y", "dream_weeks": 40, "employment_unknown": 3, "censoring": 12}]
    # 3 < 5 is suppressed, and with it the smallest other count (else 3 = n_missing - 40 - 12)
    assert safe_missing_reasons(rows, 5) == [
        {"outcome": "y", "dream_weeks": 40, "employment_unknown": SUPPRESSED, "censoring": SUPPRESSED}
    ]
    assert safe_missing_reasons([{**rows[0], "employment_unknown": 0}], 5)[0]["employment_unknown"] == 0


# ---- the placebo at grad's start -----------------------------------------------------------------


def test_placebo_missing_where_its_window_reaches_before_grad_starts(tmp_path, world_cls, codebook, duck):
    """DREAM weeks from 2006-W01, grad_ from 2008-01 (as real extracts): the first week with known
    employment is 2008-W01 (Thursday 3 January 2008).

    S: spell 2008-W30 .. 2020-W40 (meeting Wed 2020-09-30, W40): the placebo window 2007-W30 .. 2008-W29
       begins before grad does: missing (before, it counted the unknown weeks as not self-supporting: 0).
    T: spell 2009-W10 .. 2020-W40: window 2008-W10 .. 2009-W09 lies after grad's start; grad 50 in
       2008-04 .. 2008-06 (Thursdays in April..June 2008: W14 (Thu 3 Apr) .. W26 (Thu 26 Jun) = 13 weeks).
    """
    w = world_cls("2006-W01", "2021-W40")
    w.grad_months = ("2008-01", "2021-10")
    w.confirm(101, ["2020-09"])
    w.person("0000020").code("0000020", "2008-W30", "2020-W40", "111")
    w.person("0000021").code("0000021", "2009-W10", "2020-W40", "111").set_grad(
        "0000021", "2008-04", "2008-06", 50
    )
    for pnr in ("0000020", "0000021"):
        w.meeting(pnr, dt.date(2020, 9, 30), "P")
    work, res = _run(w, tmp_path, codebook, duck)
    a = _analysis(work).sort("pnr")
    assert a["weeks_selfsupport_pre52w"].to_list() == [None, 13]
    # the negative-control exit after a pseudo-meeting 52 weeks before the spell: S's window (from 2007-W31)
    # starts before grad does -> missing, not 0; T's pseudo-meeting is 2008-W10 and T is employed from
    # 2008-W14 (grad 50 in April, benefit-free) -> an exit within 13 weeks: 1
    assert a["y_exit_13w_pseudo"].to_list() == [None, 1]
    reasons = _missing_by_reason(work, codebook, duck)
    assert reasons["weeks_selfsupport_pre52w"]["employment_unknown"] == 1


# ---- the local labour market --------------------------------------------------------------------


def test_local_labour_market_left_out_without_a_whole_population(rl, tmp_path, codebook, duck):
    w = rl.main_world()
    w.population = []  # no befolkning_kommune delivered
    work, res = _run(w, tmp_path, codebook, duck)
    assert res.metadata["meeting_covariates"]["local_labour_market"] == "left_out"
    assert res.metadata["meeting_covariates"]["warnings"] == LOCAL_LEFT_OUT_WARNING
    cols = _analysis(work).columns
    assert "local_benefit_share" not in cols and "local_share_missing" not in cols
    cd = pl.read_parquet(work / "analysis" / "column_dictionary.parquet")
    assert "local_benefit_share" not in cd["name"].to_list()


def test_local_labour_market_from_bef_when_declared_whole(rl, tmp_path, codebook, duck):
    """BEF as the denominator only when the configuration says it covers whole municipalities: A's
    December 2020 share is 6 on benefit (F's 651 is an other exit, not a benefit) of BEF's 11 residents."""
    w = rl.main_world()
    w.population = []
    cfg = load_config(overrides={"covariates": {"bef_covers_municipalities": True}})
    work, res = _run(w, tmp_path, codebook, duck, cfg=cfg)
    assert res.metadata["meeting_covariates"]["local_labour_market"] == "bef"
    a = _analysis(work).filter(pl.col("pnr") == "0000001").row(0, named=True)
    assert a["local_benefit_share"] == pytest.approx(6 / 11)


def test_population_file_monthly_counts_no_look_ahead(rl, tmp_path, codebook, duck):
    """Monthly counts: the latest MAANED not after the month before the meeting's month. A's meeting is in
    December 2020: November's count (40) is used, not December's (1000)."""
    w = rl.main_world()
    w.population = []
    w.add_population(101, 60, maaned="2020-10").add_population(101, 40, maaned="2020-11")
    w.add_population(101, 1000, maaned="2020-12")
    work, _ = _run(w, tmp_path, codebook, duck)
    a = _analysis(work).filter(pl.col("pnr") == "0000001").row(0, named=True)
    assert a["local_benefit_share"] == pytest.approx(6 / 40) and a["local_share_missing"] == 0


# ---- duplicate registrations ---------------------------------------------------------------------


def test_duplicate_registrations_count_once(rl, tmp_path, codebook, duck):
    """A gets a telephone jobsamtale on 2020-11-04 registered twice and its 2020-12-30 telephone meeting
    registered three times (one copy with its form as 't '): 3 copies, removed by their own rule, first in
    the sample flow. A same-day meeting in another form (P) is a different meeting. The copy of 11-04 must
    not count as a second earlier meeting of A's December meetings."""
    base = rl.main_world()
    w = rl.main_world()
    w.meeting("0000001", dt.date(2020, 11, 4), "T").meeting("0000001", dt.date(2020, 11, 4), "T")
    w.meeting("0000001", dt.date(2020, 12, 30), "T").meeting("0000001", dt.date(2020, 12, 30), "t ")
    w.meeting("0000001", dt.date(2020, 12, 30), "P")
    w_base, _ = _run(base, tmp_path, codebook, duck, name="base")
    w_dup, _ = _run(w, tmp_path, codebook, duck, name="dup")
    flow = pl.read_parquet(w_dup / "treatment" / "sample_flow.parquet")
    assert flow["rule"][0] == "duplicate_registration"
    assert flow.row(0, named=True)["units_removed"] == 3
    a_base, a_dup = _analysis(w_base), _analysis(w_dup)
    assert a_dup.height == a_base.height + 2  # 2020-11-04 T and 2020-12-30 P are new units
    a_rows = a_dup.filter(pl.col("pnr") == "0000001").sort("meeting_date", "kontaktform")
    assert a_rows.select("meeting_date", "kontaktform", "n_earlier_jobsamtaler_spell").rows() == [
        (dt.date(2020, 11, 4), "T", 0),
        (dt.date(2020, 12, 30), "P", 1),
        (dt.date(2020, 12, 30), "T", 1),
    ]


def test_dream_column_order_does_not_matter(rl, tmp_path, codebook, duck):
    """A DREAM whose week and grad columns come in another order (e.g. grad_ first, weeks reversed) gives
    the same spells and outcomes: every week is placed by its name, never by its position."""
    w_ref, _ = _run(rl.main_world(), tmp_path, codebook, duck, name="ref")
    work = tmp_path / "shuffled"
    rl.main_world().write(work)
    p = work / "staging" / "dream.parquet"
    d = pl.read_parquet(p)
    weeks = [c for c in d.columns if c.startswith("y_")]
    grads = [c for c in d.columns if c.startswith("grad_")]
    d.select(["source_file", *grads[::-1], *weeks[::-1], "pnr"]).write_parquet(p)
    run_stages(work)
    cols = ["meeting_id", "spell_start_week", *OUT]
    assert _analysis(work).select(cols).equals(_analysis(w_ref).select(cols))


def test_population_rows_without_a_period_are_refused(rl, tmp_path, codebook, duck):
    """A befolkning_kommune row with neither AAR nor MAANED cannot be dated (no look-ahead check possible):
    refused with the register, both columns and the count named."""
    w = rl.main_world()
    w.add_population(101, 25).add_population(147, 30)  # no AAR, no MAANED
    with pytest.raises(ValueError, match=r"befolkning_kommune: 2 row\(s\) have neither AAR nor MAANED"):
        _run(w, tmp_path, codebook, duck)
