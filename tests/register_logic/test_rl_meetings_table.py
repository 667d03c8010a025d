"""build_meetings pinned row by row on a hand-worked world: meeting_id, the duplicate rank, the DREAM code
and group of the meeting week, the month's confirmation, BEF known and the first failing rule of every
meeting, and the eligible meetings' spell columns (issue 22 restructured the joins behind these columns)."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest

from assets.cohort.logic import BENEFIT_SPELLS, BENEFIT_WEEKS, build_benefit_spells, build_benefit_weeks
from assets.treatment.logic import build_meetings

CONFIRMED_101 = [f"2020-{m:02d}" for m in range(5, 13)] + ["2021-01", "2021-02"]


def _world(rl):
    """Four persons, ten registrations (ISO weeks: Wed 2020-10-07 is 2020-W41, Wed 2021-01-06 2021-W01).

    0000002: dagpenge (111) 2020-W40..W50, other kontanthjaelp (135) W51..W53, nothing in 2021. Telephone
             meeting 2020-10-07 registered twice (once as 't '), one the next day in kommune 147 (October
             2020 not confirmed), one in W51 (135) and one in 2021-W02 (no code that week).
    0000003: dagpenge (112) 2020-W40..2021-W05; in BEF only from the 2020-12 snapshot (dated 2020-12-31).
             Meetings in 2020-W45 (before BEF knows the person), 2021-W01 in kommune 101 and in kommune
             151 (no validation row).
    0000004: in BEF, not in DREAM; meeting 2020-06-10.
    0000010: in DREAM (job-ready kontanthjaelp 130, 2020-W20..W30), not in BEF; video meeting 2020-06-10.
    """
    w = rl.World("2020-W01", "2021-W10")
    w.confirm(101, CONFIRMED_101).confirm(147, ["2020-10"], value=0)
    w.person("0000002").code("0000002", "2020-W40", "2020-W50", "111")
    w.code("0000002", "2020-W51", "2020-W53", "135")
    w.meeting("0000002", dt.date(2020, 10, 7), "T").meeting("0000002", dt.date(2020, 10, 7), "t ")
    w.meeting("0000002", dt.date(2020, 10, 8), "P", kommune=147)
    w.meeting("0000002", dt.date(2020, 12, 16), "P").meeting("0000002", dt.date(2021, 1, 13), "P")
    w.person("0000003", snapshots=[(2020, 12), (2021, 3)]).code("0000003", "2020-W40", "2021-W05", "112")
    w.meeting("0000003", dt.date(2020, 11, 4), "P").meeting("0000003", dt.date(2021, 1, 6), "P")
    w.meeting("0000003", dt.date(2021, 1, 7), "P", kommune=151)
    w.person("0000004", in_dream=False).meeting("0000004", dt.date(2020, 6, 10), "P")
    w.code("0000010", "2020-W20", "2020-W30", "130").meeting("0000010", dt.date(2020, 6, 10), "V")
    return w


def _build_meetings(work, benefit_weeks, cfg, codebook, duck, max_block_meetings):
    """build_meetings on the world's staged registers and spells, with long DREAM from ``benefit_weeks``."""
    st, cohort = work / "staging", work / "cohort"
    return build_meetings(
        st / "samtaler.parquet",
        st / "kontaktform_validering.parquet",
        benefit_weeks,
        cohort / BENEFIT_SPELLS,
        st / "bef.parquet",
        work / "treatment",
        cfg,
        codebook,
        duck,
        max_block_meetings=max_block_meetings,
    )


@pytest.fixture(params=[None, 1, 3], ids=["one_block", "ten_blocks", "four_blocks"])
def built(request, rl, tmp_path, cfg, codebook, duck):
    """The world's meetings built in one block (the default at this size) or in blocks of persons
    (``max_block_meetings`` 1 and 3: 10 and 4 blocks, several of them empty)."""
    work = _world(rl).write(tmp_path / "work")
    st, cohort = work / "staging", work / "cohort"
    build_benefit_weeks(st / "dream.parquet", cohort, codebook, duck)
    build_benefit_spells(st / "dream.parquet", cohort, codebook, cfg.cohort.target_groups, duck)
    res = _build_meetings(work, cohort / BENEFIT_WEEKS, cfg, codebook, duck, request.param)
    assert not [p.name for p in (work / "treatment").iterdir() if p.name.startswith(".")]  # no parts left
    assert res["n_blocks"] == {None: 1, 1: 10, 3: 4}[request.param]
    return work / "treatment", res


def test_every_meeting_row_by_hand(built):
    out, res = built
    m = pl.read_parquet(out / "meetings.parquet").sort("meeting_id")
    cols = [
        "meeting_id",
        "pnr",
        "meeting_date",
        "kontaktform",
        "duplicate_rank",
        "meeting_week",
        "week_code",
        "week_benefit_group",
        "bekraeftet",
        "bef_known",
        "excluded_by",
    ]
    d = dt.date
    # meeting_id follows (pnr, date, type, form as registered, ...): 'T' sorts before 't '; the copy gets
    # duplicate rank 2 after normalising its form to 'T'.
    assert m.select(cols).rows() == [
        (1, "0000002", d(2020, 10, 7), "T", 1, "2020-W41", "111", "dagpenge", 1, True, None),
        (2, "0000002", d(2020, 10, 7), "T", 2, "2020-W41", "111", "dagpenge", 1, True, "duplicate_registration"),
        (3, "0000002", d(2020, 10, 8), "P", 1, "2020-W41", "111", "dagpenge", 0, True, "confirmed_month"),
        (4, "0000002", d(2020, 12, 16), "P", 1, "2020-W51", "135", "kontanthjaelp_other", 1, True, "target_group_week"),
        (5, "0000002", d(2021, 1, 13), "P", 1, "2021-W02", None, None, 1, True, "target_group_week"),
        (6, "0000003", d(2020, 11, 4), "P", 1, "2020-W45", "112", "dagpenge", 1, False, "known_in_bef"),
        (7, "0000003", d(2021, 1, 6), "P", 1, "2021-W01", "112", "dagpenge", 1, True, None),
        (8, "0000003", d(2021, 1, 7), "P", 1, "2021-W01", "112", "dagpenge", None, True, "confirmed_month"),
        (9, "0000004", d(2020, 6, 10), "P", 1, "2020-W24", None, None, 1, True, "target_group_week"),
        (10, "0000010", d(2020, 6, 10), "V", 1, "2020-W24", "130", "kontanthjaelp_jobparat", 1, False, "known_in_bef"),
    ]  # fmt: skip
    e = pl.read_parquet(out / "eligible_meetings.parquet").sort("meeting_id")
    # meeting 7: spell 2020-W40..2021-W05, 14 weeks of 2020 (W40..W53) + 1; meeting 6 (W45) is an earlier
    # jobsamtale of the spell although it is not eligible itself
    assert e.select(
        "meeting_id",
        "week_code",
        "benefit_group",
        "elapsed_weeks",
        "n_earlier_jobsamtaler_spell",
        "first_in_spell",
    ).rows() == [(1, "111", "dagpenge", 2, 0, 1), (7, "112", "dagpenge", 15, 1, 1)]
    assert res["n_meetings"] == 10 and res["n_eligible"] == 2 and res["n_eligible_persons"] == 2
    flow = pl.read_parquet(out / "sample_flow.parquet")
    assert flow.select("rule", "units_removed").rows() == [
        ("duplicate_registration", 1),
        ("meeting_type", 0),
        ("actor", 0),
        ("date_window", 0),
        ("kontaktform", 0),
        ("confirmed_month", 2),
        ("target_group_week", 3),
        ("known_in_bef", 2),
    ]


def test_n_blocks_is_the_meetings_over_the_block_size():
    from assets.treatment.logic import n_blocks

    assert [n_blocks(n, 5) for n in (0, 1, 5, 6, 10, 11)] == [1, 1, 1, 2, 2, 3]


@pytest.mark.parametrize("blocks", [4, 10])
def test_the_blocks_split_the_world_across_pnr_order(blocks):
    """The fixture's block builds (10 blocks for max_block_meetings=1, 4 for 3) put the four persons in
    at least two blocks and not in pnr order, so its pinned meeting_ids (1-10 over the persons in pnr
    order) test the per-person offsets across blocks, not one block's row numbers."""
    import duckdb

    from assets.treatment.logic import block_sql

    pnrs = ["0000002", "0000003", "0000004", "0000010"]
    con = duckdb.connect()
    got = [con.execute(f"SELECT {block_sql('?', blocks)}", [p]).fetchone()[0] for p in pnrs]
    assert all(0 <= b < blocks for b in got)
    assert len(set(got)) >= 2 and got != sorted(got)


def test_blocks_with_no_dream_week_in_the_meetings_weeks(rl, tmp_path, cfg, codebook, duck):
    """An input with no rows in the meetings' weeks (long DREAM here) still gives every block a file: the
    meetings are built, none has a DREAM code, all fail target_group_week or an earlier rule."""
    work = _world(rl).write(tmp_path / "work")
    st, cohort = work / "staging", work / "cohort"
    build_benefit_weeks(st / "dream.parquet", cohort, codebook, duck)
    build_benefit_spells(st / "dream.parquet", cohort, codebook, cfg.cohort.target_groups, duck)
    bw = pl.read_parquet(cohort / BENEFIT_WEEKS)
    bw.clear().write_parquet(cohort / "no_weeks.parquet")
    res = _build_meetings(work, cohort / "no_weeks.parquet", cfg, codebook, duck, 3)
    m = pl.read_parquet(work / "treatment" / "meetings.parquet").sort("meeting_id")
    assert res["n_blocks"] == 4 and res["n_meetings"] == 10 and res["n_eligible"] == 0
    assert m["meeting_id"].to_list() == list(range(1, 11)) and m["week_code"].null_count() == 10
    assert m["excluded_by"].to_list() == [
        "target_group_week",
        "duplicate_registration",
        "confirmed_month",
        "target_group_week",
        "target_group_week",
        "target_group_week",  # known_in_bef with DREAM, but target_group_week is checked first
        "target_group_week",
        "confirmed_month",
        "target_group_week",
        "target_group_week",  # likewise
    ]


@pytest.mark.parametrize("bad", [0, -1, 2.5, True])
def test_max_block_meetings_is_checked(bad, tmp_path, cfg, codebook):
    with pytest.raises(ValueError, match="max_block_meetings must be a positive integer or None, got"):
        build_meetings(*(tmp_path / "x" for _ in range(6)), cfg, codebook, max_block_meetings=bad)
