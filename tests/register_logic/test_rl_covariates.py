"""Covariates: hand-worked values, explicit missing categories, and no look-ahead."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest

from assets import weeks as W
from assets.covariates.logic import provenance_violations
from tests.register_logic.stages import run_stages


def _cov(analysis, pnr, date=None):
    f = analysis.filter(pl.col("pnr") == pnr)
    if date is not None:
        f = f.filter(pl.col("meeting_date") == date)
    assert f.height == 1
    return f.row(0, named=True)


def test_person_a_covariates_by_hand(analysis):
    a = _cov(analysis, "0000001")
    # Meeting Wed 2020-12-30 in 2020-W53 (Monday 2020-12-28). BEF: the 2020-12 snapshot (31 Dec) is after the
    # meeting week's Monday -> 2020-09 snapshot is used: civst U (unmarried), not the later G.
    assert (a["civst_unmarried"], a["civst_married"], a["civst_missing"]) == (1, 0, 0)
    # born 1980-06-15 -> 40 on 2020-12-30
    assert (a["age"], a["age_missing"], a["sex_woman"], a["origin_danish_origin"]) == (40, 0, 0, 1)
    # meeting year = 2020 (year of the week's Monday): UDDA <= 2019 -> 2019's 3020 -> level 3 (not 2020's 6510)
    assert (a["education_level"], a["education_missing"]) == (3, 0)
    # IND, AKM, A-kasse of 2019 (not 2020's 999 / 131)
    assert (a["wage_income_prev_year"], a["total_income_prev_year"], a["income_missing"]) == (
        300000.0,
        350000.0,
        0,
    )
    assert (a["socio_unemployed"], a["socio_employee"], a["socio_missing"]) == (1, 0, 0)
    assert (a["akasse_member"], a["akasse_unknown"]) == (1, 0)
    assert (a["benefit_group_dagpenge"], a["benefit_group_kontanthjaelp_jobparat"], a["elapsed_weeks"]) == (
        1,
        0,
        14,
    )
    # benefit history before the spell start 2020-W40: no codes; DREAM starts 2019-W01: the 52-week window
    # (from 2019-W40) is inside DREAM, the 104/156-week windows are not -> truncated indicators.
    assert (
        a["benefit_weeks_pre_spell_52w"],
        a["benefit_history_truncated_52w"],
        a["benefit_history_truncated_104w"],
        a["benefit_history_truncated_156w"],
    ) == (0, 0, 1, 1)
    assert (a["kommune_101"], a["kommune_147"], a["month_2020_12"], a["month_2020_11"]) == (1, 0, 1, 0)
    # Local share, kommune 101, December 2020: 1 Dec is in 2020-W49 (Mon 30 Nov); BEF snapshot before that:
    # 2020-09-30. BEF residents aged 16-66 on 1 Dec 2020: A, B, C, D, E, F, G, H, I, J, K (L is not in BEF,
    # 0009998 is 70, 0009997 is 10). Previous month's weeks ending before W49: W45..W48 (Thursdays in Nov).
    # With a benefit code then: A (111), D (112), E (111 from W45), G (111 to W45), H (111), I (111) = 6;
    # F's 651 is an other-exit code, not a benefit. Denominator: the whole municipality from
    # befolkning_kommune, the latest count not after November 2020: AAR 2020 = 20 (not 2021's 99).
    assert a["local_benefit_share"] == pytest.approx(6 / 20) and a["local_share_missing"] == 0


def test_person_b_missing_sources_are_explicit(analysis):
    b = _cov(analysis, "0012345")
    # born 1990-06-03, meeting 2020-06-03: birthday on the meeting day -> 30
    assert b["age"] == 30
    assert (b["sex_woman"], b["origin_immigrant"], b["civst_married"]) == (1, 1, 1)
    # no UDDA/IND/AKM/A-kasse rows: explicit indicators, values 0
    assert (b["education_level"], b["education_missing"]) == (0, 1)
    assert (b["wage_income_prev_year"], b["income_missing"], b["socio_missing"]) == (0.0, 1, 1)
    # the a-kasse file of 2019 was delivered (A's row) -> B is simply not a member
    assert (b["akasse_member"], b["akasse_unknown"]) == (0, 0)
    # benefit history before the spell start 2020-W20: 130 in 2019-W10..W19 lies 53..62 weeks before -> 0 in 52, 10 in 104
    assert (
        b["benefit_weeks_pre_spell_52w"],
        b["benefit_weeks_pre_spell_104w"],
        b["benefit_weeks_pre_spell_156w"],
    ) == (0, 10, 10)
    assert b["benefit_group_kontanthjaelp_jobparat"] == 1


def test_earlier_meetings_and_akasse_unknown(analysis):
    d = _cov(analysis, "0000400")
    # D's meeting is in 2021: the a-kasse file of 2020 was not delivered -> unknown, not "not a member"
    assert (d["akasse_member"], d["akasse_unknown"]) == (0, 1)
    # C's local share, August 2020: 1 Aug is a Saturday in 2020-W31 (Mon 27 Jul); BEF 2020-06-30; July weeks
    # ending before W31: W27..W30. On benefit then: B (130), C (111 from W30), D, I, J (135) = 5 (F's 651 is
    # not a benefit) of the municipality's 20 (AAR 2020).
    c = _cov(analysis, "0000300")
    assert c["local_benefit_share"] == pytest.approx(5 / 20)
    # F: 999 in 2019-W30 lies in the 52 weeks before its spell start 2020-W10 -> counted as a benefit week
    assert _cov(analysis, "0000600")["benefit_weeks_pre_spell_52w"] == 1


def test_no_nulls_and_provenance(main_run):
    work, res = main_run
    a = pl.read_parquet(work / "analysis" / "analysis_table.parquet")
    cd = pl.read_parquet(work / "analysis" / "column_dictionary.parquet")
    cov = cd.filter(pl.col("role") == "covariate")["name"].to_list()
    assert a.select(pl.col(cov).null_count()).sum_horizontal().item() == 0
    v = provenance_violations(work / "covariates" / "covariate_provenance.parquet")
    assert v["n_after_meeting"].sum() == 0


# ---- no look-ahead ------------------------------------------------------------------------------
def _perturb_after(w, pnr, date):
    """Change every register value dated on or after the meeting week of (pnr, date)."""
    m = W.week_index(date)
    ws = W.week_monday(m)
    year = date.year
    for r in w.bef:
        if r["reference_date"] >= ws:
            r.update(koen=3 - r["koen"], civst="F", ie_type=3, kom=147, foed_dag=dt.date(1950, 1, 1))
    for lst, fld, val in ((w.udda, "hfaudd", 7010), (w.ind, "loenmv_13", 1.0), (w.akm, "socio13", 310)):
        for r in lst:
            if r["reference_date"] >= ws or r["year"] >= year:
                r[fld] = val
    for p in sorted(w.dream_persons):
        w.add_udda(p, year, 6010).add_ind(p, year, 5, 5).add_akm(p, year, 131)
        if p != pnr:
            w.add_akasse(p, year, 9)
    w.akasse = [
        r for r in w.akasse if not (r["pnr"] == pnr and (r["reference_date"] >= ws or r["year"] >= year))
    ]
    # DREAM from the meeting week on: swap coded <-> empty for everybody; the person's own meeting-week code
    # stays in its target group (111 -> 112, 130 -> 131) so that the meeting stays eligible.
    for p in sorted(w.dream_persons):
        d = w.codes.setdefault(p, {})
        for i in range(m, w.last + 1):
            if p == pnr and i == m:
                d[i] = {"111": "112", "112": "113", "130": "131", "131": "130"}[d[i]]
            else:
                d[i] = None if d.get(i) else "890"
        g = w.grad.setdefault(p, {})
        for y in (date.year, date.year + 1):
            for mo in range(1, 13):
                if (y, mo) >= (date.year, date.month):
                    g[(y, mo)] = 100
    # later meetings: drop those after this one (same week included) and add new ones
    w.meetings = [r for r in w.meetings if r["samtale_dato"] <= date]
    w.meeting(pnr, date + dt.timedelta(days=1), "P").meeting(pnr, date + dt.timedelta(days=10), "T")
    return w


@pytest.mark.parametrize(
    "pnr,date",
    [("0000001", dt.date(2020, 12, 30)), ("0000700", dt.date(2020, 9, 21)), ("0012345", dt.date(2020, 6, 3))],
)
def test_no_look_ahead(rl, codebook, cfg, duck, tmp_path, analysis, pnr, date):
    w = _perturb_after(rl.main_world(), pnr, date)
    w.write(tmp_path)
    res = run_stages(tmp_path)
    a2 = res.read("analysis_table")
    cd = res.read("column_dictionary")
    cov = cd.filter(pl.col("role") == "covariate")["name"].to_list()
    key = (pl.col("pnr") == pnr) & (pl.col("meeting_date") == date)
    before = analysis.filter(key).select(cov)
    after = a2.filter(key).select(cov)
    assert before.height == after.height == 1
    diff = [c for c in cov if before[c][0] != after[c][0]]
    assert diff == [], f"covariates changed by data dated after the meeting: {diff}"
    # the perturbation was real: this meeting's outcomes changed
    outs = ["y_exit_4w", "y_exit_13w", "weeks_selfsupport_26w"]
    assert analysis.filter(key).select(outs).rows() != a2.filter(key).select(outs).rows()
