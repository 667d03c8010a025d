"""Basic sanity of the simulated world: spells, gaps, employment degrees, meetings, meeting forms."""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl
import pytest

from data_contracts.codebook import load_codebook
from synth.calendar import Calendar
from synth.codes import Codes


@pytest.fixture(scope="module")
def world(delivery):
    out = delivery["out"]
    cal = Calendar()
    codes = Codes.from_codebook(load_codebook())
    dream = pl.read_parquet(out / "dream.parquet")
    cm = np.column_stack([dream[c].cast(pl.Int32).fill_null(0).to_numpy() for c in cal.y_columns])
    gr = np.column_stack([dream[c].cast(pl.Int32).fill_null(-1).to_numpy() for c in cal.grad_columns])
    sam = pl.concat([pl.read_parquet(out / f"samtaler{y}.parquet") for y in range(2019, 2023)])
    return {"cal": cal, "codes": codes, "cm": cm, "gr": gr, "sam": sam, "pnr": dream["PNR"]}


def _runs(mask_row: np.ndarray) -> list[tuple[int, int]]:
    d = np.diff(np.concatenate([[0], mask_row.astype(np.int8), [0]]))
    return list(zip(np.flatnonzero(d == 1), np.flatnonzero(d == -1), strict=True))


def test_spell_lengths_and_short_gaps(world):
    tl = world["codes"].target_lookup[world["cm"]]
    lengths, gaps = [], 0
    for row in tl[:1500]:
        runs = _runs(row == 0)
        lengths += [b - a for a, b in runs]
        gaps += sum(1 for (_, b), (a2, _) in zip(runs, runs[1:], strict=False) if 1 <= a2 - b <= 3)
    assert 5 <= np.median(lengths) <= 60
    assert gaps > 10  # short benefit-free gaps inside spells exist


def test_weekly_exit_rates_in_window(world):
    cal, codes = world["cal"], world["codes"]
    tl = codes.target_lookup[world["cm"]]
    w0 = cal.week_of_date(dt.date(2020, 6, 1))
    w1 = cal.week_of_date(dt.date(2021, 2, 22))
    rates = []
    for g in (0, 1):
        on = tl[:, w0:w1] == g
        leave = on & (tl[:, w0 + 1 : w1 + 1] != g)
        rates.append(leave.sum() / on.sum())
    assert 0.015 < rates[0] < 0.06  # dagpenge
    assert 0.005 < rates[1] < 0.03  # job-ready kontanthjaelp
    assert rates[1] < rates[0]


def test_employment_degrees(world):
    cal, cm, gr = world["cal"], world["cm"], world["gr"]
    assert (gr == 0).any()  # grad 0 occurs (exit months before a delayed job)
    # employed (benefit-free) months mostly have grad > 0; months fully on benefit mostly null
    free_weeks = np.add.reduceat(cm == 0, cal.month_start_week, axis=1)
    full_free = free_weeks == np.diff(np.append(cal.month_start_week, cal.n_weeks))[None, :]
    assert (gr[full_free] > 0).mean() > 0.6
    on_benefit = free_weeks == 0
    assert (gr[on_benefit] > 0).mean() < 0.3


def test_meetings_concentrated_and_forms(world):
    sam = world["sam"]
    cb = load_codebook()
    cat = {k: v.category for k, v in cb.kontaktform.items()}
    jc = sam.filter((pl.col("AKTOER") == "JC") & (pl.col("SAMTALETYPE") == 7)).with_columns(
        pl.col("KONTAKTFORM").replace_strict(cat).alias("cat"),
        pl.col("SAMTALE_DATO").dt.strftime("%Y-%m").alias("m"),
    )
    per_month = (
        jc.group_by("m").agg(pl.len().alias("n"), (pl.col("cat") == "digital").mean().alias("dig")).sort("m")
    )
    pm = dict(zip(per_month["m"], per_month["n"], strict=True))
    dig = dict(zip(per_month["m"], per_month["dig"], strict=True))
    window = [f"2020-{m:02d}" for m in range(6, 13)] + ["2021-01", "2021-02"]
    outside = [f"2019-{m:02d}" for m in range(1, 13)] + [f"2022-{m:02d}" for m in range(1, 13)]
    assert np.mean([pm[m] for m in window]) > 1.5 * np.mean([pm.get(m, 0) for m in outside])
    assert all(pm.get(m, 0) > 0 for m in outside[:12])  # present before the window
    assert dig["2020-04"] > 0.85
    assert dig["2019-06"] < 0.5
    assert np.mean([dig[m] for m in ("2020-09", "2020-10", "2020-11")]) < dig["2020-04"] - 0.2
    assert set(jc["cat"].unique()) == {"digital", "in_person", "other"}
    assert (sam["AKTOER"] == "AK").any() and (sam["SAMTALETYPE"] == 4).any()


def test_two_meetings_in_one_week(world):
    sam = world["sam"].filter(pl.col("AKTOER") == "JC")
    wk = sam.with_columns(pl.col("SAMTALE_DATO").dt.truncate("1w").alias("wk"))
    assert (wk.group_by("PNR", "wk").len()["len"] >= 2).any()


def test_meetings_per_year_of_dagpenge(world):
    cal, codes, cm = world["cal"], world["codes"], world["cm"]
    w0, w1 = cal.week_of_date(dt.date(2018, 12, 31)), cal.week_of_date(dt.date(2019, 12, 30))
    dp_weeks = (codes.target_lookup[cm[:, w0:w1]] == 0).sum()
    sam = world["sam"].filter(
        (pl.col("AKTOER") == "JC") & (pl.col("SAMTALETYPE") == 7) & (pl.col("SAMTALE_DATO").dt.year() == 2019)
    )
    idx = {p: i for i, p in enumerate(world["pnr"].to_list())}
    rows = np.array([idx[p] for p in sam["PNR"].to_list()])
    wk = cal.week_of(sam["SAMTALE_DATO"].to_numpy().astype("datetime64[D]"))
    on_dp = codes.target_lookup[cm[rows, wk]] == 0
    rate = on_dp.sum() / (dp_weeks / 52)
    assert 5 < rate < 11  # about 7.7 per year of dagpenge (2019)
