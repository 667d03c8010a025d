"""ISO-week arithmetic: Python and DuckDB versions agree with date.isocalendar()."""

from __future__ import annotations

import datetime as dt

import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

from assets import weeks as W
from assets.io import connect

DATES = st.dates(min_value=dt.date(1985, 1, 1), max_value=dt.date(2040, 12, 31))


def _con():
    return W.register_sql_macros(connect({"threads": 1, "memory_limit": "256MB"}))


def test_epoch_and_new_year_2020_53():
    # 1990-01-01 is a Monday and the first day of ISO 1990-W01 -> index 0.
    assert W.week_index(dt.date(1990, 1, 1)) == 0
    assert W.week_index(dt.date(1989, 12, 31)) == -1
    # 2020 has an ISO week 53 (Mon 2020-12-28 .. Sun 2021-01-03); the next week is 2021-W01.
    w53 = W.iso_to_week_index(2020, 53)
    assert W.week_label(w53 + 1) == "2021-W01"
    assert W.week_index(dt.date(2021, 1, 3)) == w53 and W.week_index(dt.date(2021, 1, 4)) == w53 + 1
    assert W.dream_column_week_index("y_2053") == w53 and W.dream_column_week_index("y_2101") == w53 + 1
    # Thursday of 2020-W53 is 2020-12-31 -> December grad; Thursday of 2021-W01 is 2021-01-07.
    assert W.week_month(w53) == (2020, 12) and W.grad_column_of_week(w53 + 1) == "grad_2021_01"
    # A week whose Monday is in one month and Thursday in the next: 2020-W40 = Mon 28 Sep, Thu 1 Oct -> October.
    assert W.week_month(W.iso_to_week_index(2020, 40)) == (2020, 10)
    assert W.label_to_week_index("2021-W01") == w53 + 1
    with_sql = (
        _con()
        .execute(
            "SELECT rl_week_label(rl_iso_to_week_index(2020, 53) + 1), rl_dream_column_week_index('y_2053'), "
            "rl_month_key(rl_week_month_index(rl_iso_to_week_index(2020, 40)))"
        )
        .fetchone()
    )
    assert with_sql == ("2021-W01", w53, "2020-10")


def test_week_53_does_not_exist_in_2021():
    try:
        W.iso_to_week_index(2021, 53)
    except ValueError:
        pass
    else:  # pragma: no cover
        raise AssertionError("2021-W53 does not exist")


@settings(max_examples=300, deadline=None)
@given(DATES)
def test_python_week_index_matches_isocalendar(d):
    y, w, wd = d.isocalendar()
    i = W.week_index(d)
    assert W.iso_to_week_index(y, w) == i
    assert W.week_label(i) == f"{y}-W{w:02d}"
    assert W.week_monday(i) == d - dt.timedelta(days=wd - 1)
    thu = W.week_thursday(i)
    assert thu.isocalendar()[:2] == (y, w) and W.week_month(i) == (thu.year, thu.month)
    if 1990 <= y < 2090:  # y_YYWW: 19YY for YY >= 90, else 20YY (the default century pivot)
        assert W.dream_column_week_index(f"y_{y % 100:02d}{w:02d}") == i
    # consecutive days in one week share the index; +7 days is +1 week
    assert W.week_index(d + dt.timedelta(days=7)) == i + 1


@settings(max_examples=20, deadline=None)
@given(st.lists(DATES, min_size=1, max_size=200))
def test_sql_week_functions_match_python(dates):
    con = _con()
    con.register("d", pl.DataFrame({"d": dates}, schema={"d": pl.Date}).to_arrow())
    rows = con.execute(
        """SELECT d, rl_week_index(d) AS i, rl_week_label(rl_week_index(d)) AS label,
                  rl_iso_to_week_index(isoyear(d), weekofyear(d)) AS i2, rl_week_monday(rl_week_index(d)) AS monday,
                  rl_month_key(rl_week_month_index(rl_week_index(d))) AS mk,
                  CASE WHEN isoyear(d) BETWEEN 1990 AND 2089 THEN rl_dream_column_week_index(
                      'y_' || lpad(CAST(isoyear(d) % 100 AS VARCHAR), 2, '0') || lpad(CAST(weekofyear(d) AS VARCHAR), 2, '0')) END AS i3
           FROM d"""
    ).fetchall()
    for d, i, label, i2, monday, mk, i3 in rows:
        y, w, _ = d.isocalendar()
        assert i == W.week_index(d) == i2
        assert label == f"{y}-W{w:02d}" == W.week_label(i)
        assert monday == W.week_monday(i)
        ty, tm = W.week_month(i)
        assert mk == f"{ty}-{tm:02d}"
        if 2000 <= y < 2100:
            assert i3 == i


def test_sql_age_matches_hand_values():
    con = _con()
    got = con.execute(
        "SELECT rl_age(DATE '1990-06-03', DATE '2020-06-03'), rl_age(DATE '1985-08-06', DATE '2020-08-05'), "
        "rl_age(DATE '2000-02-29', DATE '2021-02-28'), rl_age(DATE '2000-02-29', DATE '2021-03-01')"
    ).fetchone()
    # birthday on the day counts; the day before does not; 29 Feb births turn a year older on 1 March
    assert got == (30, 34, 20, 21)


def test_grad_column_month_index_sql():
    con = _con()
    assert con.execute("SELECT rl_grad_column_month_index('grad_2020_05')").fetchone()[0] == W.month_index(
        2020, 5
    )


@settings(max_examples=300, deadline=None)
@given(st.dates(min_value=dt.date(1990, 1, 1), max_value=dt.date(2089, 12, 28)))
def test_dream_week_names_19yy_20yy_match_isocalendar(d):
    """y_YYWW is ISO week WW of 19YY for YY >= 90 and of 20YY below (real DREAM starts with y_9130)."""
    from data_contracts.dream_columns import dream_week_index, dream_week_iso, dream_week_name

    y, w, _ = d.isocalendar()
    name = f"y_{y % 100:02d}{w:02d}"
    assert dream_week_iso(name) == (y, w)
    assert dream_week_index(name) == W.week_index(d) == W.dream_column_week_index(name)
    assert dream_week_name(W.week_index(d)) == name


def test_dream_weeks_across_the_millennium_and_the_53rd_weeks():
    from data_contracts.dream_columns import dream_week_iso, valid_dream_week, week_gaps

    # 1999 has 52 ISO weeks: y_9952 is followed by y_0001
    assert W.dream_column_week_index("y_0001") == W.dream_column_week_index("y_9952") + 1
    assert W.week_label(W.dream_column_week_index("y_9130")) == "1991-W30"
    # 1992, 1998, 2004, 2009, 2015, 2020 and 2026 have a week 53; 1999 and 2021 have none
    for yy in ("92", "98", "04", "09", "15", "20", "26"):
        assert valid_dream_week(f"y_{yy}53"), yy
    assert not valid_dream_week("y_9953") and not valid_dream_week("y_2153")
    assert dream_week_iso("y_9253") == (1992, 53)
    # another pivot (a DREAM reaching past 2089) reads y_95xx as 2095
    assert dream_week_iso("y_9501", pivot=96) == (2095, 1)
    # contiguity: the weeks between the first and the last that are not delivered, in order
    assert week_gaps(["y_9951", "y_0002", "y_9952"]) == ["y_0001"]
    assert week_gaps(["y_2052", "y_2101"]) == ["y_2053"]
