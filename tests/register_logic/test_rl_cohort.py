"""Long DREAM and benefit spells, checked against hand-worked answers."""

from __future__ import annotations

import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

from assets import weeks as W
from assets.cohort.logic import build_benefit_spells, build_benefit_weeks, open_connection, spells_query
from assets.io import sql_path


def test_benefit_weeks_long_only_coded_weeks(rl, codebook, duck, tmp_path):
    w = rl.World("2020-W50", "2021-W03")
    # person 0000042: 111 in 2020-W52, 2020-W53, 2021-W01; 999 in 2021-W03; 2021-W02 empty string (= no benefit)
    w.code("0000042", "2020-W52", "2021-W01", "111").code("0000042", "2021-W03", "2021-W03", "999")
    w.code("0000042", "2021-W02", "2021-W02", "")
    w.set_grad("0000042", "2021-01", "2021-01", 40)
    w.write(tmp_path)
    res = build_benefit_weeks(tmp_path / "staging" / "dream.parquet", tmp_path / "cohort", codebook, duck)
    bw = pl.read_parquet(res["benefit_weeks"]).sort("week_index")
    # 4 coded weeks; PNR keeps its leading zeros; 2020-W53 is followed by 2021-W01
    assert bw["pnr"].to_list() == ["0000042"] * 4
    assert bw["iso_week"].to_list() == ["2020-W52", "2020-W53", "2021-W01", "2021-W03"]
    assert bw["week_index"].to_list() == [
        rl.wk("2020-W52"),
        rl.wk("2020-W53"),
        rl.wk("2020-W53") + 1,
        rl.wk("2021-W03"),
    ]
    assert bw["benefit_group"].to_list() == ["dagpenge", "dagpenge", "dagpenge", "censoring"]
    assert bw["kind"].to_list() == ["target", "target", "target", "censoring"]
    # DREAM's first and last week as metadata: 2020-W50 .. 2021-W03 = 4 + 3 = 7 weeks (W50..W53, W01..W03)
    assert (res["first_week"], res["last_week"], res["n_weeks"]) == ("2020-W50", "2021-W03", 7)
    cal = pl.read_parquet(res["dream_calendar"]).sort("week_index")
    # the Thursday of 2020-W53 is 31 Dec 2020 -> grad_2020_12 (not delivered here? it is: months come from the weeks)
    assert cal.filter(pl.col("iso_week") == "2020-W53")["grad_column"].item() == "grad_2020_12"
    em = pl.read_parquet(res["employment_months"])
    # month_index = year * 12 + month - 1 (January 2021: 24252), from the grad column's name
    assert em.select("pnr", "month_index", "month_key", "grad").rows() == [("0000042", 24252, "2021-01", 40)]


def test_spells_across_new_year_and_group_change(rl, codebook, cfg, duck, tmp_path):
    w = rl.World("2020-W40", "2021-W20")
    # 0000007: 111 2020-W50..2021-W02 (5 + 2 = 6 weeks incl. W53), then 130 in 2021-W03..W04 (a new spell: other
    # target group), 890 (other benefit) in W05, 112 in W06..W07 (a new dagpenge spell), 135 (not target) W08.
    w.code("0000007", "2020-W50", "2021-W02", "111").code("0000007", "2021-W03", "2021-W04", "130")
    w.code("0000007", "2021-W05", "2021-W05", "890").code("0000007", "2021-W06", "2021-W07", "112")
    w.code("0000007", "2021-W08", "2021-W08", "135")
    w.write(tmp_path)
    build_benefit_weeks(tmp_path / "staging" / "dream.parquet", tmp_path / "cohort", codebook, duck)
    s = build_benefit_spells(
        tmp_path / "staging" / "dream.parquet", tmp_path / "cohort", codebook, cfg.cohort.target_groups, duck
    )
    sp = pl.read_parquet(s["benefit_spells"]).sort("spell_start_week")
    assert sp.select("benefit_group", "spell_start_iso_week", "spell_end_iso_week", "spell_weeks").rows() == [
        ("dagpenge", "2020-W50", "2021-W02", 6),
        ("kontanthjaelp_jobparat", "2021-W03", "2021-W04", 2),
        ("dagpenge", "2021-W06", "2021-W07", 2),
    ]
    assert sp["spell_id"].to_list()[0] == f"0000007:{rl.wk('2020-W50')}"


def test_main_world_spells(main_run, rl):
    work, _ = main_run
    sp = pl.read_parquet(work / "cohort" / "benefit_spells.parquet")
    a = sp.filter(pl.col("pnr") == "0000001")
    # A: 2020-W40..2020-W53 is 14 weeks, + 2021-W01..W05 = 19 weeks, one spell across the new year
    assert a.select("spell_start_iso_week", "spell_end_iso_week", "spell_weeks").rows() == [
        ("2020-W40", "2021-W05", 19)
    ]
    # B: three kontanthjaelp spells (2019-W10..W19, 2020-W20..W30, 2020-W34..W36): the 3-week gap splits them
    b = sp.filter(pl.col("pnr") == "0012345").sort("spell_start_week")
    assert b["spell_weeks"].to_list() == [10, 11, 3]
    # J's 135 is not a target group: no spell
    assert sp.filter(pl.col("pnr") == "0001000").height == 0
    assert W.week_label(int(a["spell_start_week"].item())) == "2020-W40"


@settings(max_examples=15, deadline=None)
@given(
    st.lists(
        st.lists(
            st.sampled_from([None, "111", "112", "130", "131", "135", "890", "651", "999"]),
            min_size=12,
            max_size=12,
        ),
        min_size=1,
        max_size=8,
    )
)
def test_wide_spells_equal_gaps_and_islands(tmp_path_factory, rows):
    """The sort-free spells from wide DREAM equal gaps and islands on long DREAM (random persons)."""
    from data_contracts.codebook import load_codebook
    from data_contracts.config import load_config

    cb, cfg = load_codebook(), load_config()
    tmp = tmp_path_factory.mktemp("spells")
    # 12 weeks across the new year: 2020-W46 .. 2021-W04 (W53 included)
    first = W.iso_to_week_index(2020, 46)
    cols = {}
    for j in range(12):
        y, w, _ = W.week_monday(first + j).isocalendar()
        cols[f"y_{y % 100:02d}{w:02d}"] = [r[j] for r in rows]
    df = pl.DataFrame(
        {"pnr": [f"{i:07d}" for i in range(len(rows))], **cols}, schema_overrides={c: pl.String for c in cols}
    )
    df.write_parquet(tmp / "dream.parquet")
    duck = {"threads": 1, "memory_limit": "256MB"}
    r = build_benefit_weeks(tmp / "dream.parquet", tmp, cb, duck)
    wide = pl.read_parquet(
        build_benefit_spells(tmp / "dream.parquet", tmp, cb, cfg.cohort.target_groups, duck)["benefit_spells"]
    )
    con = open_connection(duck)
    long = con.execute(
        spells_query(f"read_parquet({sql_path(r['benefit_weeks'])})", cfg.cohort.target_groups)
    ).pl()
    key = ["pnr", "benefit_group", "spell_start_week", "spell_end_week", "spell_id"]
    assert wide.select(key).sort(key).rows() == long.select(key).sort(key).rows()


def test_duplicate_person_weeks_are_counted(tmp_path):
    """The blocking check's count: 0 for sound long DREAM; a repeated (pnr, week) pair counts once, however
    many times it repeats; the same week for another person or another week for the same person is fine."""
    from assets.cohort.logic import count_duplicate_person_weeks

    sound = pl.DataFrame({"pnr": ["0000001", "0000001", "0000002"], "week_index": [1600, 1601, 1600]})
    sound.write_parquet(tmp_path / "sound.parquet")
    assert count_duplicate_person_weeks(tmp_path / "sound.parquet", {"threads": 1}) == 0
    bad = pl.concat([sound, sound.head(1), sound.head(1), sound.tail(1)])
    bad.write_parquet(tmp_path / "bad.parquet")
    assert count_duplicate_person_weeks(tmp_path / "bad.parquet", {"threads": 1}) == 2


def test_duplicate_person_weeks_screen_edge_cases(tmp_path):
    """The per-person screen (rows against distinct weeks) misses nothing: null keys are not counted,
    an empty file has none, the first and last week of the file count, and random files agree with a
    plain group-by of the pairs."""
    import random

    from assets.cohort.logic import count_duplicate_person_weeks

    schema = {"pnr": pl.String, "week_index": pl.Int32}
    pl.DataFrame(schema=schema).write_parquet(tmp_path / "empty.parquet")
    assert count_duplicate_person_weeks(tmp_path / "empty.parquet", {"threads": 1}) == 0
    nulls = pl.DataFrame(
        {"pnr": ["0000001", None, None, "0000002", "0000002"], "week_index": [1600, 1600, 1600, None, None]},
        schema=schema,
    )
    nulls.write_parquet(tmp_path / "nulls.parquet")
    assert count_duplicate_person_weeks(tmp_path / "nulls.parquet", {"threads": 1}) == 0
    edges = pl.DataFrame(
        {"pnr": ["0000001"] * 3 + ["0000002"] * 2, "week_index": [1304, 1721, 1721, 1304, 1304]},
        schema=schema,
    )
    edges.write_parquet(tmp_path / "edges.parquet")
    assert count_duplicate_person_weeks(tmp_path / "edges.parquet", {"threads": 1}) == 2
    rng = random.Random(5)
    for i in range(20):
        n = rng.randint(1, 400)
        df = pl.DataFrame(
            {
                "pnr": [f"{rng.randint(0, 30):07d}" for _ in range(n)],
                "week_index": [rng.randint(1500, 1500 + rng.choice([1, 5, 300])) for _ in range(n)],
            },
            schema=schema,
        )
        df.write_parquet(tmp_path / f"r{i}.parquet")
        want = df.group_by("pnr", "week_index").len().filter(pl.col("len") > 1).height
        assert count_duplicate_person_weeks(tmp_path / f"r{i}.parquet", {"threads": 1}) == want
