"""Meetings, eligibility rules in order, the sample flow, digital coding, same-week meetings."""

from __future__ import annotations

import datetime as dt

import polars as pl

from assets.contracts import contract_frame
from assets.treatment.logic import build_meetings
from data_contracts import tables as T
from data_contracts.config import load_config
from tests.register_logic.stages import run_stages


def _meetings(work):
    return pl.read_parquet(work / "treatment" / "meetings.parquet")


def test_sample_flow_counts_each_rule_in_order(main_run):
    work, _ = main_run
    flow = pl.read_parquet(work / "treatment" / "sample_flow.parquet")
    # 19 meetings: A,B,C,D,E,F (1 each), G 4, H 2, I 4, J, K, L (1 each).
    # meeting_type: I's type-4 letter (first failing rule counts, not kontaktform) -> 1
    # actor: I's a-kasse meeting -> 1; date_window: I's 2020-04-29 and 2021-03-01 -> 2
    # kontaktform: G's letter -> 1; confirmed_month: H's kommune 147 (BEKRAEFTET 0) and 151 (no row) -> 2
    # target_group_week: J (code 135) and K (not in DREAM) -> 2; known_in_bef: L -> 1. Left: 9.
    # duplicate_registration: none in this world (tested on its own below) -> 0
    assert flow.select("rule", "units_before", "units_removed", "units_after").rows() == [
        ("duplicate_registration", 19, 0, 19),
        ("meeting_type", 19, 1, 18),
        ("actor", 18, 1, 17),
        ("date_window", 17, 2, 15),
        ("kontaktform", 15, 1, 14),
        ("confirmed_month", 14, 2, 12),
        ("target_group_week", 12, 2, 10),
        ("known_in_bef", 10, 1, 9),
    ]
    elig = pl.read_parquet(work / "treatment" / "eligible_meetings.parquet")
    assert elig.height == 9


def test_each_rule_removes_the_right_meeting(main_run):
    work, _ = main_run
    m = _meetings(work)
    got = {(r["pnr"], r["meeting_date"]): r["excluded_by"] for r in m.iter_rows(named=True)}
    assert got[("0000900", dt.date(2020, 6, 3))] == "meeting_type"
    assert got[("0000900", dt.date(2020, 6, 10))] == "actor"
    assert got[("0000900", dt.date(2020, 4, 29))] == "date_window"
    assert got[("0000900", dt.date(2021, 3, 1))] == "date_window"
    assert got[("0000700", dt.date(2020, 9, 15))] == "kontaktform"  # letter
    assert got[("0000800", dt.date(2020, 10, 7))] == "confirmed_month"  # BEKRAEFTET = 0
    assert got[("0000800", dt.date(2020, 11, 4))] == "confirmed_month"  # no validation row
    assert got[("0001000", dt.date(2020, 6, 10))] == "target_group_week"  # 135: other kontanthjaelp
    assert got[("0001100", dt.date(2020, 6, 10))] == "target_group_week"  # not in DREAM
    assert got[("0001200", dt.date(2020, 6, 10))] == "known_in_bef"
    eligible = sorted(k for k, v in got.items() if v is None)
    assert [p for p, _ in eligible] == [
        "0000001",
        "0000300",
        "0000400",
        "0000500",
        "0000600",
        "0000700",
        "0000700",
        "0000700",
        "0012345",
    ]


def test_digital_coding_and_kontaktform_category(analysis):
    d = {
        (r["pnr"], r["meeting_date"]): (r["kontaktform"], r["digital"])
        for r in analysis.iter_rows(named=True)
    }
    assert d[("0000001", dt.date(2020, 12, 30))] == ("T", 1)  # telephone
    assert d[("0000300", dt.date(2020, 8, 5))] == ("V", 1)  # video
    assert d[("0000500", dt.date(2020, 11, 11))] == ("D", 1)  # other digital
    assert d[("0012345", dt.date(2020, 6, 3))] == ("P", 0)  # personal attendance


def test_meeting_form_three_arms(analysis):
    # the default codebook: T telephone, V video, D other digital -> video, P in person
    d = {(r["pnr"], r["meeting_date"]): r["meeting_form"] for r in analysis.iter_rows(named=True)}
    assert d[("0000001", dt.date(2020, 12, 30))] == "telephone"
    assert d[("0000300", dt.date(2020, 8, 5))] == "video"
    assert d[("0000500", dt.date(2020, 11, 11))] == "video"
    assert d[("0012345", dt.date(2020, 6, 3))] == "in_person"
    # the form agrees with digital on every row
    assert analysis.filter((pl.col("meeting_form") == "in_person") != (pl.col("digital") == 0)).height == 0


def test_digital_share_tables_count_the_three_forms(main_run, tmp_path):
    from assets.treatment.logic import digital_share_tables

    work, _ = main_run
    elig = pl.read_parquet(work / "treatment" / "eligible_meetings.parquet")
    by_month, by_km = digital_share_tables(work / "treatment" / "eligible_meetings.parquet")
    for t in (by_month, by_km):
        # the forms add up to the meetings, and telephone + video to the digital ones
        assert (t["n_in_person"] + t["n_telephone"] + t["n_video"] + t["n_no_form"] == t["n_meetings"]).all()
        assert (t["n_telephone"] + t["n_video"] == t["n_digital"]).all()
        # beside digital_share, the telephone and video shares of all the cell's meetings
        for f in ("telephone", "video"):
            assert ((t[f"share_{f}"] * t["n_meetings"] - t[f"n_{f}"]).abs() < 1e-9).all()
        assert ((t["share_telephone"] + t["share_video"] - t["digital_share"]).abs() < 1e-9).all()
    want = (
        elig.group_by("calendar_month")
        .agg((pl.col("meeting_form") == "video").sum().alias("v"))
        .sort("calendar_month")
    )
    assert by_month["n_video"].to_list() == want["v"].to_list()
    # a table without meeting_form (written before it existed) gives null form counts
    old = tmp_path / "old.parquet"
    elig.drop("meeting_form").write_parquet(old)
    m, _ = digital_share_tables(old)
    assert (
        m["n_video"].null_count() == m.height and m["n_digital"].to_list() == by_month["n_digital"].to_list()
    )
    assert m["share_video"].null_count() == m.height


def test_safe_share_form_counts_pass_the_gate():
    from assets.analysis.summaries import safe_share

    t = contract_frame(
        T.DIGITAL_SHARE_BY_MONTH,
        {
            "calendar_month": ["2020-06", "2020-07"],
            "n_meetings": [30, 30],
            "n_digital": [15, 15],
            "digital_share": [0.5, 0.5],
            "n_in_person": [15, 15],
            "n_telephone": [3, 7],
            "n_video": [12, 8],
            "n_no_form": [0, 0],
            "share_telephone": [0.1, 7 / 30],
            "share_video": [0.4, 8 / 30],
        },
    )
    rows = safe_share(t, ["calendar_month"], 5)
    cols = ("n_in_person", "n_telephone", "n_video", "n_no_form", "share_telephone", "share_video")
    S = "suppressed"
    # June's 3 telephone meetings (primary) take June's smallest other form, video 12, with them (the forms
    # add up to the month's meetings); the telephone column's total then takes July's 7, and July's row its
    # video 8. In person is published; no code lacks a form, so n_no_form is a structural 0.
    assert [rows[0][c] for c in cols] == [15, S, S, 0, S, S]
    assert [rows[1][c] for c in cols] == [15, S, S, 0, S, S]
    assert rows[0]["n_digital"] == 15  # the two-arm counts keep their own rule
    # every form large enough: all published, shares rounded
    big = t.with_columns(
        pl.Series("n_telephone", [5, 7]),
        pl.Series("n_video", [10, 8]),
        pl.Series("share_telephone", [5 / 30, 7 / 30]),
        pl.Series("share_video", [10 / 30, 8 / 30]),
    )
    rows = safe_share(big, ["calendar_month"], 5)
    assert [rows[0][c] for c in cols] == [15, 5, 10, 0, 0.167, 0.333]


def test_safe_share_telephone_not_recovered_through_n_digital():
    from assets.analysis.summaries import safe_sample_flow, safe_share

    # 3 telephone meetings in the only month. Within the table, hiding them with in person (40, the row's
    # smallest other form) would not do, because n_digital (60) is shown and 60 - 57 video = 3. But the
    # month's row is also the sample flow's final breakdown, which hides the 3 with in person (its
    # smallest other form) and shows the 57 video meetings: any n_digital beside it gives the 3 away. So
    # a one-month table with a small count withholds the month's counts (issue 19).
    t = contract_frame(
        T.DIGITAL_SHARE_BY_MONTH,
        {
            "calendar_month": ["2020-05"],
            "n_meetings": [100],
            "n_digital": [60],
            "digital_share": [0.6],
            "n_in_person": [40],
            "n_telephone": [3],
            "n_video": [57],
            "n_no_form": [0],
        },
    )
    flow = pl.DataFrame(
        {"rule": ["r1"], "description": ["d"], "units_before": [100], "units_removed": [0], "units_after": [100],
         "units_in_person": [40], "units_telephone": [3], "units_video": [57], "units_no_form": [0]}
    )  # fmt: skip
    (final,) = safe_sample_flow(flow, 5)
    assert (final["units_telephone"], final["units_in_person"], final["units_video"]) == (
        "suppressed",
    ) * 2 + (57,)
    may = safe_share(t, ["calendar_month"], 5)[0]
    S = "suppressed"
    assert [may[c] for c in ("n_meetings", "n_digital", "n_in_person", "n_telephone", "n_video")] == [S] * 5
    assert may["digital_share"] == S and may["n_no_form"] == 0
    # without a small count the month is published whole
    t5 = t.with_columns(pl.Series("n_telephone", [5]), pl.Series("n_video", [55]))
    assert safe_share(t5, ["calendar_month"], 5)[0]["n_telephone"] == 5


def test_sample_flow_final_step_counts_the_three_forms(main_run):
    work, _ = main_run
    flow = pl.read_parquet(work / "treatment" / "sample_flow.parquet")
    forms = ["units_in_person", "units_telephone", "units_video", "units_no_form"]
    # the 9 eligible meetings: in person B, D, F and G's two; telephone A and G; video C and E (E's "other
    # digital" D is video by the default codebook); none without a form
    assert flow.select(forms).row(-1) == (5, 2, 2, 0)
    assert flow["units_after"][-1] == 9
    # only the final step is broken down (two steps' breakdowns would give each rule's losses by form)
    assert flow.head(flow.height - 1).select(forms).null_count().row(0) == (flow.height - 1,) * 4


def test_sample_flow_counts_a_code_without_a_form(rl, codebook, tmp_path, duck):
    from data_contracts.codebook import KontaktformCode

    # "other digital" left out of the modality design: E's meeting is counted without a form
    kf = dict(codebook.kontaktform)
    kf["D"] = KontaktformCode(category="digital", label="Other digital", form=None)
    cb = codebook.model_copy(update={"kontaktform": kf})
    rl.main_world().write(tmp_path)
    run = run_stages(tmp_path)  # the cohort the meetings are placed in; then the treatment stage with cb
    st = tmp_path / "staging"
    flow = build_meetings(
        st / "samtaler.parquet",
        st / "kontaktform_validering.parquet",
        run.path("benefit_weeks"),
        run.path("benefit_spells"),
        st / "bef.parquet",
        tmp_path / "treatment",
        load_config(),
        cb,
        duck,
    )["flow"]
    assert flow.select("units_in_person", "units_telephone", "units_video", "units_no_form").row(-1) == (
        5,
        2,
        1,
        1,
    )


def test_sample_flow_forms_pass_the_gate(main_run):
    from assets.analysis.summaries import safe_sample_flow
    from models.disclosure import gate, sample_flow_spec

    work, _ = main_run
    flow = pl.read_parquet(work / "treatment" / "sample_flow.parquet")
    spec, _ = sample_flow_spec(flow, 5)
    # removals 0 | 1 1 2 1 | 2 2 1 merge into 0 | 5 | 5: the last merged row keeps the final breakdown
    assert spec.df.select("units_before", "units_removed", "units_after").rows() == [
        (19, 0, 19), (19, 5, 14), (14, 5, 9),
    ]  # fmt: skip
    safe = gate(spec, 5).table
    # telephone 2 and video 2 are small (primary); in person 5 and the structural 0 are published
    assert safe.select("units_in_person", "units_telephone", "units_video", "units_no_form").row(-1) == (
        5, None, None, 0,
    )  # fmt: skip
    assert safe["units_telephone"].null_count() == 3  # the earlier rows have no breakdown
    # the metadata view: the forms as the gate publishes them, on the final row only
    meta = safe_sample_flow(flow, 5)
    assert [meta[-1][c] for c in ("units_in_person", "units_telephone", "units_video", "units_no_form")] == [
        5, "suppressed", "suppressed", 0,
    ]  # fmt: skip
    assert "units_video" not in meta[0]


def test_same_week_meetings_elapsed_and_first_in_spell(analysis):
    g = analysis.filter(pl.col("pnr") == "0000700").sort("meeting_date")
    # G's spell starts 2020-W37. Meeting Tue 2020-09-08 is in W37: elapsed 1, first in spell, no earlier meeting.
    # W38 letter (not eligible) still counts as an earlier jobsamtale. Both W39 meetings: elapsed 3; earlier =
    # W37 + W38 = 2 (the other W39 meeting is in the same week and does not count); neither is first in spell.
    assert g.select(
        "meeting_week", "elapsed_weeks", "first_in_spell", "n_earlier_jobsamtaler_spell"
    ).rows() == [
        ("2020-W37", 1, 1, 0),
        ("2020-W39", 3, 0, 2),
        ("2020-W39", 3, 0, 2),
    ]
    assert g["spell_id"].n_unique() == 1
    # one first_in_spell per spell over the whole table
    assert (
        analysis.group_by("spell_id").agg(pl.col("first_in_spell").sum())["first_in_spell"].to_list()
        == [1] * analysis["spell_id"].n_unique()
    )


def test_meeting_week_across_new_year(analysis):
    a = analysis.filter(pl.col("pnr") == "0000001")
    # Wed 2020-12-30 lies in ISO 2020-W53 (Mon 28 Dec .. Sun 3 Jan); spell from 2020-W40 -> elapsed 14
    assert a.select("meeting_week", "elapsed_weeks", "calendar_month", "benefit_group").row(0) == (
        "2020-W53",
        14,
        "2020-12",
        "dagpenge",
    )


def test_require_confirmed_false_keeps_unconfirmed(rl, codebook, tmp_path, duck):
    w = rl.main_world()
    w.write(tmp_path)
    res = run_stages(tmp_path, {"cohort": {"require_confirmed": False}})
    flow = res.read("sample_flow")
    assert "confirmed_month" not in flow["rule"].to_list()
    # H's two meetings are now eligible: 9 + 2
    assert res.read("eligible_meetings").height == 11
