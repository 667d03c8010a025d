"""Placebos that can fail (issue 17): wage income two years before and the pseudo-meeting's exit, hand-worked."""

from __future__ import annotations

import datetime as dt

import polars as pl

from assets.outcomes.placebos import PSEUDO_EXIT, WAGE_PLACEBO, placebo_names
from tests.register_logic.stages import run_stages

MONTHS = [f"2020-{m:02d}" for m in range(5, 13)] + ["2021-01", "2021-02"]


def _world(rl):
    w = rl.World("2019-W01", "2021-W40")
    w.confirm(101, MONTHS)
    # X: dagpenge 2020-W30..W45, telephone meeting Wed 2020-09-02 (W36): spell start s = 2020-W30, so the
    #    pseudo-meeting is p = s - 52 = 2019-W30, its window p+1 .. p+16 = 2019-W31..W46. Earlier dagpenge
    #    2019-W20..W35, free from 2019-W36 with grad 80 in Sep-Dec 2019: exit week 2019-W36 <= p+13 = W43 -> 1.
    #    IND: 2018 wage 250,000 (meeting year 2020 - 2: the placebo), 2019 wage 100,000 (the covariate).
    w.person("0000501").code("0000501", "2019-W20", "2019-W35", "111")
    w.set_grad("0000501", "2019-09", "2019-12", 80).code("0000501", "2020-W30", "2020-W45", "111")
    w.meeting("0000501", dt.date(2020, 9, 2), "T")
    w.add_ind("0000501", 2018, 250000, 300000).add_ind("0000501", 2019, 100000, 150000)
    # Y: the same spell, earlier codes to 2019-W44: the first exit week 2019-W45 is after p+13 = W43 -> 0.
    #    No IND row for 2018 -> the wage placebo is missing (only the 2019 row exists).
    w.person("0000502").code("0000502", "2019-W20", "2019-W44", "111")
    w.set_grad("0000502", "2019-09", "2019-12", 80).code("0000502", "2020-W30", "2020-W45", "111")
    w.meeting("0000502", dt.date(2020, 9, 2), "P")
    w.add_ind("0000502", 2019, 50000, 90000)
    # Z: dagpenge 2021-W01..W10, in-person meeting Wed 2021-02-03 (W05): s = 2021-W01, p = s - 52 = 2020-W02
    #    (2020 has 53 weeks), window 2020-W03..W18: sickness benefit 890 throughout with a censoring 999 in
    #    2020-W10 and no exit -> missing. Meeting year 2021: the placebo is the 2019 wage (77,000).
    w.person("0000503").code("0000503", "2020-W03", "2020-W18", "890").code(
        "0000503", "2020-W10", "2020-W10", "999"
    )
    w.code("0000503", "2021-W01", "2021-W10", "111").meeting("0000503", dt.date(2021, 2, 3), "P")
    w.add_ind("0000503", 2019, 77000, 80000).add_ind("0000503", 2020, 1, 1)
    # V: dagpenge 2019-W40..2020-W25 (no earlier code), digital meeting 2020-05-06 (W19): p = 2018-W40 is
    #    before DREAM's first week (2019-W01) -> missing. 2018 wage 5,000.
    w.person("0000504").code("0000504", "2019-W40", "2020-W25", "111").meeting(
        "0000504", dt.date(2020, 5, 6), "V"
    )
    w.add_ind("0000504", 2018, 5000, 6000)
    return w


def test_placebo_outcomes_by_hand(rl, tmp_path, duck, codebook, cfg):
    _world(rl).write(tmp_path)
    res = run_stages(tmp_path)
    a = res.read("analysis_table")
    got = {r["pnr"]: (r[WAGE_PLACEBO], r[PSEUDO_EXIT]) for r in a.iter_rows(named=True)}
    assert got == {
        "0000501": (250000.0, 1),
        "0000502": (None, 0),
        "0000503": (77000.0, None),
        "0000504": (5000.0, None),
    }
    # the covariate holds the year before only: the placebo is not one of the covariates
    cov = dict(zip(a["pnr"], a["wage_income_prev_year"], strict=True))
    assert cov["0000501"] == 100000.0 and cov["0000503"] == 1.0
    cd = res.read("column_dictionary")
    roles = dict(zip(cd["name"], cd["role"], strict=True))
    assert all(roles[n] == "outcome" for n in placebo_names())
    assert a.columns == cd["name"].to_list()


def test_no_look_ahead(rl, tmp_path, duck, codebook, cfg):
    """Information after the placebo windows does not move them: X's DREAM weeks after the pseudo window
    (2019-W47 .. the spell) and IND of the year before the meeting year are changed; the placebos stay."""
    w = _world(rl)
    w.code(
        "0000501", "2019-W47", "2020-W29", "890"
    )  # benefit from right after the pseudo window to the spell
    w.ind = [r for r in w.ind if not (r["pnr"] == "0000501" and r["year"] == 2019)]
    w.add_ind("0000501", 2019, 1, 1).add_ind("0000501", 2020, 2, 2)
    w.write(tmp_path)
    res = run_stages(tmp_path)
    a = res.read("analysis_table").filter(pl.col("pnr") == "0000501")
    assert a.select(WAGE_PLACEBO, PSEUDO_EXIT).row(0) == (250000.0, 1)
    assert a["wage_income_prev_year"].item() == 1.0  # the covariate did see the change
