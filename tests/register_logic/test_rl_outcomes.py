"""Outcomes: every rule of the plan's "Outcomes" section with hand-worked answers."""

from __future__ import annotations

import datetime as dt

import polars as pl

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


def _row(analysis, pnr, date=None):
    f = analysis.filter(pl.col("pnr") == pnr)
    if date is not None:
        f = f.filter(pl.col("meeting_date") == date)
    assert f.height == 1
    return f.select(OUT).row(0)


def test_spell_across_new_year_exit_after_week_53(analysis):
    # A: meeting 2020-W53 (m). Codes to 2021-W05; free from 2021-W06 with grad 50 (Feb 2021; W06's Thursday is
    # 11 Feb) -> exit week 2021-W06 = m+6: y4 = 0, y13 = y26 = y52 = 1 (an exit inside the horizon is 1 even
    # though DREAM ends 2021-W40 < m+55).
    # selfsupport26 = weeks m+1..m+26 = 2021-W01..W26 without code and grad>0: W06..W26 = 21.
    # selfsupport52: DREAM ends 2021-W40 < m+52 = 2021-W52 -> missing.
    # placebo: spell starts 2020-W40; window 2019-W40..2020-W39; grad 100 in Jan-Mar 2020 = weeks 2020-W01..W13
    # (Thursdays 2 Jan .. 26 Mar; W14's Thursday is 2 Apr) -> 13.
    assert _row(analysis, "0000001") == (0, 1, 1, 1, 21, None, 13)


def test_three_benefit_free_weeks_are_not_employment_four_are(analysis):
    # B: meeting 2020-W23; codes to W30; W31..W33 free with grad 80 (only 3 weeks: not an exit); 131 in W34..W36;
    # free from W37 with grad 80 -> exit week W37 = m+14: y4 = y13 = 0 (DREAM long enough, no censoring),
    # y26 = y52 = 1. selfsupport26 = W24..W49: free W31..W33 (3) + W37..W49 (13) = 16.
    # selfsupport52 = W24..2021-W22: 3 + W37..W53 (17) + 2021-W01..W22 (22) = 42. placebo window 2019-W20..2020-W19:
    # no code, no grad -> 0.
    assert _row(analysis, "0012345") == (0, 0, 1, 1, 16, 42, 0)


def test_grad_zero_in_exit_month(analysis):
    # C: meeting 2020-W32, codes to W35, free from W36; grad 0 in Aug and Sep, 60 from Oct 2020.
    # W36..W39 have Thursdays in September (grad 0): no exit. W40 (Mon 28 Sep, Thu 1 Oct) -> October -> exit = m+8.
    # selfsupport26 = W33..2021-W05: free W36..2021-W05, grad>0 only from W40: 14 (W40..W53) + 5 = 19.
    # selfsupport52 = W33..2021-W31: 14 + 31 = 45. placebo 0.
    assert _row(analysis, "0000300") == (0, 1, 1, 1, 19, 45, 0)


def test_censoring_at_end_of_dream(analysis):
    # D: codes 2019-W20 .. DREAM end 2021-W40; meeting m = 2021-W08. No exit. y_k missing iff DREAM ends before
    # m+k+3: m+7 = W15, m+16 = W24, m+29 = W37 are in DREAM -> 0; m+55 = 2022-W11 is not -> y52 missing.
    # selfsupport26 (needs m+26 = W34): 0; selfsupport52 (m+52 = 2022-W08) missing.
    # placebo: spell start 2019-W20, window from 2018-W20 but DREAM starts 2019-W01 -> missing.
    assert _row(analysis, "0000400") == (0, 0, 0, None, 0, None, None)


def test_censoring_code(analysis):
    # E: meeting m = 2020-W46, codes 111 to 2020-W53 (= m+7), 999 in 2021-W01 (= m+8), then nothing.
    # y4: censoring window m+1..m+7 has no 999 -> 0. y13/26/52: 999 in m+1..m+k+3 and no exit -> missing.
    # selfsupport26/52: 999 in m+1..m+k -> missing. placebo (2019-W45..2020-W44): 0.
    assert _row(analysis, "0000500") == (0, None, None, None, None, None, 0)


def test_other_exit_gives_zero_not_missing(analysis):
    # F: meeting m = 2020-W20, then 651 (other exit) from W21 to the end of DREAM (2021-W40 >= m+55 = 2021-W22):
    # no exit to employment, no censoring -> every y = 0, selfsupport 0 (651 is a code, not self-support).
    # placebo: 999 in 2019-W30, inside the window 2019-W10..2020-W09 -> missing.
    assert _row(analysis, "0000600") == (0, 0, 0, 0, 0, 0, None)


def test_horizon_boundary_end_of_dream(analysis):
    # G's meetings: no exit. m = 2020-W37: m+55 = 2021-W39 <= 2021-W40 -> y52 = 0.
    # m = 2020-W39: m+55 = 2021-W41 > 2021-W40 -> y52 missing (DREAM ends before m+k+3).
    assert _row(analysis, "0000700", dt.date(2020, 9, 8))[3] == 0
    assert _row(analysis, "0000700", dt.date(2020, 9, 21))[3] is None


def _single(rl, tmp_path, duck, codebook, cfg, codes, grads, last="2021-W10", meeting=dt.date(2020, 9, 2)):
    w = rl.World("2019-W01", last)
    w.confirm(101, [f"2020-{m:02d}" for m in range(5, 13)])
    w.person("0000077")
    for frm, to, c in codes:
        w.code("0000077", frm, to, c)
    for frm, to, g in grads:
        w.set_grad("0000077", frm, to, g)
    w.meeting("0000077", meeting, "T")
    w.write(tmp_path)
    res = run_stages(tmp_path, cfg)
    a = res.read("analysis_table")
    assert a.height == 1
    o = res.read("meeting_outcomes")
    return a.row(0, named=True), o.row(0, named=True)


def test_exit_search_needs_four_weeks_inside_dream(rl, tmp_path, duck, codebook, cfg):
    # meeting 2020-W36 (Wed 2 Sep); codes 2020-W30..W37; free from W38 with grad 50 to the end of DREAM
    # at 2020-W40: only W38..W40 (3 weeks) inside DREAM -> no exit can be confirmed. y4: DREAM ends
    # before m+7 = W43 -> missing (not 0).
    row, o = _single(
        rl,
        tmp_path,
        duck,
        codebook,
        cfg,
        [("2020-W30", "2020-W37", "111")],
        [("2020-01", "2020-12", 50)],
        last="2020-W40",
    )
    assert row["y_exit_4w"] is None and o["exit_week_index"] is None


def test_exit_at_horizon_needs_lookahead(rl, tmp_path, duck, codebook, cfg):
    # meeting m = 2020-W36; codes W30..W48 (m+12), free from W49 = m+13 with grad 50: exit week = m+13 exactly.
    # y13 = 1 (m < w <= m+13) although confirming it needs weeks up to m+16; y4 = 0.
    row, o = _single(
        rl, tmp_path, duck, codebook, cfg, [("2020-W30", "2020-W48", "111")], [("2020-01", "2021-12", 50)]
    )
    assert (row["y_exit_4w"], row["y_exit_13w"], row["y_exit_26w"]) == (0, 1, 1)
    assert o["exit_week_index"] == rl.wk("2020-W49")
    # selfsupport26 = m+1..m+26 = W37..2021-W09 (W36+17 = W53, +9): free W49..W53 (5) + 2021-W01..W09 (9) = 14
    assert row["weeks_selfsupport_26w"] == 14


def test_configurable_employment_rule(rl, tmp_path, duck, codebook):
    # Same person as B's pattern: 3 free weeks with grad 30, then codes again.
    # With employment_benefit_free_weeks = 3 the 3-week gap is an exit; with min_grad = 40 grad 30 is not enough.
    codes = [("2020-W30", "2020-W38", "111"), ("2020-W42", "2021-W10", "111")]
    grads = [("2020-01", "2021-12", 30)]
    cfg3 = load_config(overrides={"outcomes": {"employment_benefit_free_weeks": 3}})
    row, _ = _single(rl, tmp_path / "a", duck, codebook, cfg3, codes, grads)
    # m = 2020-W36; free W39..W41 -> exit W39 = m+3 -> y4 = 1
    assert row["y_exit_4w"] == 1
    cfg4 = load_config()
    row, _ = _single(rl, tmp_path / "b", duck, codebook, cfg4, codes, grads)
    assert row["y_exit_4w"] == 0 and row["y_exit_13w"] == 0
    cfg_g = load_config(
        overrides={"outcomes": {"employment_benefit_free_weeks": 3, "employment_min_grad": 40}}
    )
    row, _ = _single(rl, tmp_path / "c", duck, codebook, cfg_g, codes, grads)
    assert row["y_exit_4w"] == 0
    # selfsupport counts grad > min_grad too: 0 weeks with grad > 40
    assert row["weeks_selfsupport_26w"] == 0


def test_configurable_horizons(rl, tmp_path, duck, codebook):
    cfg = load_config(
        overrides={"outcomes": {"exit_horizons": [8], "selfsupport_horizons": [10], "placebo_weeks": 20}}
    )
    row, _ = _single(
        rl, tmp_path, duck, codebook, cfg, [("2020-W30", "2020-W40", "111")], [("2020-01", "2021-12", 50)]
    )
    # m = 2020-W36; free from W41 = m+5 -> y8 = 1; selfsupport10 = W41..W46 = 6; placebo over 20 weeks before
    # the spell (2020-W10..W29) with grad 50 everywhere = 20.
    assert (row["y_exit_8w"], row["weeks_selfsupport_10w"], row["weeks_selfsupport_pre20w"]) == (1, 6, 20)


def test_outcome_values_within_bounds(analysis):
    for c in OUT[:4]:
        assert set(analysis[c].drop_nulls().to_list()) <= {0, 1}
    assert analysis["weeks_selfsupport_26w"].drop_nulls().is_between(0, 26).all()
    assert analysis["weeks_selfsupport_52w"].drop_nulls().is_between(0, 52).all()


def test_dream_status_string_hand_worked(tmp_path, codebook):
    # DREAM weeks 2020-W52, 2020-W53, (no column for 2021-W01: a gap week has no code), 2021-W02.
    # Thursdays: W52 24 Dec, W53 31 Dec (December), W01 7 Jan, W02 14 Jan (January).
    # A: code 111 in W52; grad Dec 50, Jan 0 -> c (code), 1 (free, Dec grad 50 > 0), 0 (gap, Jan grad 0), 0.
    # B: censoring code in W53; no grad at all -> 0, x, 0, 0.
    # C: leading-zero PNR, no code, grad Jan 7 -> 0 (Dec grad missing), 0, 1, 1.
    import duckdb

    from assets.outcomes.logic import dream_status_sql

    censor = codebook.codes_of_kind("censoring")[0]
    dream = pl.DataFrame(
        {
            "pnr": ["0000001", "0000002", "0000003"],
            "y_2052": ["111", None, None],
            "y_2053": [None, censor, None],
            "y_2102": [None, None, None],
            "grad_2020_12": pl.Series([50, None, None], dtype=pl.Int16),
            "grad_2021_01": pl.Series([0, None, 7], dtype=pl.Int16),
        }
    )
    dream.write_parquet(tmp_path / "dream.parquet")
    expr, first, last = dream_status_sql(dream.columns, codebook, min_grad=0)
    got = duckdb.sql(
        f"SELECT pnr, {expr} FROM read_parquet('{tmp_path / 'dream.parquet'}') ORDER BY pnr"
    ).fetchall()
    assert got == [("0000001", "c100"), ("0000002", "0x00"), ("0000003", "0011")]
    assert (last - first) == 3
    # a higher minimum grad turns A's December week (grad 50) into a week without self-support
    expr50, _, _ = dream_status_sql(dream.columns, codebook, min_grad=50)
    assert (
        duckdb.sql(f"SELECT {expr50} FROM read_parquet('{tmp_path / 'dream.parquet'}') LIMIT 1").fetchone()[0]
        == "c000"
    )
