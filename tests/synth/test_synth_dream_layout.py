"""DREAM as DST delivers it: ``--dream-from`` (weeks from 1991-W30, grad from 2008-01) and
``--grad-lag-months`` (grad ending before the weeks), and the truth under both."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow.parquet as pq
import pytest

from data_contracts.codebook import load_codebook
from pipelines.cli import main
from synth import SynthParams, generate_delivery
from synth.calendar import Calendar, DreamLayout
from synth.codes import Codes
from synth.outcomes import OUTCOMES, compute_outcomes

PARAMS = SynthParams(chunk_size=400)
SEED = 5
PERSONS = 1200
LAG = 20


def _iso_of(name: str) -> tuple[int, int]:
    """``y_YYWW`` -> (ISO year, ISO week), 19YY for YY >= 90 (written here independently of synth)."""
    m = re.fullmatch(r"y_(\d\d)(\d\d)", name)
    assert m, name
    yy = int(m[1])
    return (1900 + yy if yy >= 90 else 2000 + yy), int(m[2])


def _monday(name: str) -> dt.date:
    return dt.date.fromisocalendar(*_iso_of(name), 1)


def _y(cols: list[str]) -> list[str]:
    return [c for c in cols if c.startswith("y_")]


def _grad(cols: list[str]) -> list[str]:
    return [c for c in cols if c.startswith("grad_")]


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """The same seed written with the default short DREAM and with DREAM from 1991."""
    base = tmp_path_factory.mktemp("dream_layout")
    short = generate_delivery(base / "short", persons=PERSONS, seed=SEED, params=PARAMS)
    long = generate_delivery(base / "long", persons=PERSONS, seed=SEED, params=PARAMS, dream_from=1991)
    return {"short": short, "long": long, "base": base}


@pytest.fixture(scope="module")
def lagged(tmp_path_factory: pytest.TempPathFactory) -> dict:
    base = tmp_path_factory.mktemp("dream_lag")
    return generate_delivery(
        base / "lag", persons=PERSONS, seed=SEED, params=PARAMS, dream_from=1991, grad_lag_months=LAG
    )


# ---------------------------------------------------------------------------------------------------
# column names
def test_week_columns_from_1991():
    cols = DreamLayout(Calendar(), dream_from=1991).y_columns
    assert cols[0] == "y_9130" and cols[-1] == "y_2252"
    assert cols[cols.index("y_9952") + 1] == "y_0001"  # 1999 has 52 ISO weeks
    assert "y_9953" not in cols and "y_9253" in cols and "y_9853" in cols and "y_2053" in cols
    assert cols[cols.index("y_9253") + 1] == "y_9301" and cols[cols.index("y_9853") + 1] == "y_9901"
    assert len(cols) == len(set(cols)) == 1641


@pytest.mark.parametrize("dream_from", [1991, 1999, 2008, 2014, 2015])
def test_week_columns_are_consecutive_iso_weeks(dream_from):
    cols = DreamLayout(Calendar(), dream_from=dream_from).y_columns
    mondays = [_monday(c) for c in cols]
    for c, d in zip(cols, mondays, strict=True):
        y, w, wd = d.isocalendar()
        assert (y, w, wd) == (*_iso_of(c), 1)
    assert all((b - a).days == 7 for a, b in zip(mondays, mondays[1:], strict=False))
    first = (1991, 30) if dream_from == 1991 else (dream_from, 1)
    assert _iso_of(cols[0]) == first and cols[-1] == "y_2252"


def test_grad_months_from_2008_and_lagged():
    full = DreamLayout(Calendar(), dream_from=1991).grad_columns
    assert full[0] == "grad_2008_01" and full[-1] == "grad_2022_12" and len(full) == 180
    lag = DreamLayout(Calendar(), dream_from=1991, grad_lag_months=5).grad_columns
    assert lag[0] == "grad_2008_01" and lag[-1] == "grad_2022_07" and lag == full[:-5]
    short = DreamLayout(Calendar(), grad_lag_months=13).grad_columns
    assert short[0] == "grad_2015_01" and short[-1] == "grad_2021_11"
    for cols in (full, lag, short):
        months = [(int(c[5:9]), int(c[10:12])) for c in cols]
        assert all(
            (b[0] * 12 + b[1]) - (a[0] * 12 + a[1]) == 1 for a, b in zip(months, months[1:], strict=False)
        )


def test_observable_end_is_the_last_week_with_grad():
    cal = Calendar()
    # grad to 2022-12: the last week 2022-W52 (Thursday 29 December) is observed
    assert DreamLayout(cal).last_observable_week == cal.n_weeks - 1
    # grad to 2021-06: 2021-W25's Thursday is 24 June, 2021-W26's is 1 July
    lay = DreamLayout(cal, grad_lag_months=18)
    assert cal.mondays[lay.last_observable_week].astype(dt.date) == dt.date(2021, 6, 21)
    assert lay.describe()["observable_end_week"] == "2021-W25"


@pytest.mark.parametrize(
    ("kwargs", "needle"),
    [
        ({"dream_from": 1990}, "--dream-from must lie in 1991..2015, got 1990"),
        ({"dream_from": 2016}, "--dream-from must lie in 1991..2015, got 2016"),
        ({"dream_from": "1991"}, "--dream-from must be a year"),
        ({"grad_lag_months": -1}, "--grad-lag-months must lie in 0..95, got -1"),
        ({"grad_lag_months": 96}, "--grad-lag-months must lie in 0..95, got 96"),
    ],
)
def test_layout_arguments_checked(kwargs, needle):
    with pytest.raises(ValueError, match=re.escape(needle)):
        DreamLayout(Calendar(), **kwargs)


# ---------------------------------------------------------------------------------------------------
# the delivery
def test_delivered_columns(pair, lagged):
    long_cols = pq.read_schema(Path(pair["long"]["delivery"]) / "dream.parquet").names
    assert long_cols[0] == "PNR" and long_cols[1] == "y_9130"
    assert _y(long_cols) == DreamLayout(Calendar(), dream_from=1991).y_columns
    assert _grad(long_cols)[0] == "grad_2008_01" and _grad(long_cols)[-1] == "grad_2022_12"
    short_cols = pq.read_schema(Path(pair["short"]["delivery"]) / "dream.parquet").names
    assert _y(short_cols)[0] == "y_1501" and _grad(short_cols)[0] == "grad_2015_01"
    lag_cols = pq.read_schema(Path(lagged["delivery"]) / "dream.parquet").names
    assert _y(lag_cols) == _y(long_cols)
    assert _grad(lag_cols) == _grad(long_cols)[:-LAG] and _grad(lag_cols)[-1] == "grad_2021_04"


def _digests(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


def test_dream_from_changes_nothing_else(pair):
    short, long = Path(pair["short"]["delivery"]), Path(pair["long"]["delivery"])
    ds, dl = _digests(short), _digests(long)
    assert ds.keys() == dl.keys() and len(ds) == 71
    assert {k for k in ds if ds[k] != dl[k]} == {"dream.parquet"}
    a = pl.read_parquet(short / "dream.parquet")
    b = pl.read_parquet(long / "dream.parquet")
    assert set(a.columns) < set(b.columns)
    assert b.select(a.columns).equals(a)
    ts = json.loads(Path(pair["short"]["truth"]).read_text(encoding="utf-8"))
    tl = json.loads(Path(pair["long"]["truth"]).read_text(encoding="utf-8"))
    assert ts["effects"] == tl["effects"] and ts["sample"] == tl["sample"]
    assert pl.read_parquet(pair["short"]["meetings"]).equals(pl.read_parquet(pair["long"]["meetings"]))
    assert tl["dream"]["first_week"] == "1991-W30" and tl["dream"]["first_grad_month"] == "2008-01"


def test_early_weeks_mostly_empty_and_apart_from_2015(pair):
    d = pl.read_parquet(Path(pair["long"]["delivery"]) / "dream.parquet")
    early = [c for c in _y(d.columns) if _iso_of(c)[0] < 2015]
    filled = d.select(early).select(pl.all().is_not_null().sum()).row(0)
    share = sum(filled) / (len(early) * d.height)
    with_any = d.select(pl.any_horizontal([pl.col(c).is_not_null() for c in early])).to_series().mean()
    assert 0 < share < 0.01 and 0.02 < with_any < 0.25
    # the last 26 early weeks are empty, so no old episode joins a spell of the simulated years
    assert sum(filled[-26:]) == 0
    cb = load_codebook()
    codes = Codes.from_codebook(cb)
    seen = set()
    for c in early:
        seen |= {int(v) for v in d[c].drop_nulls().unique().to_list()}
    assert seen and not seen & (set(codes.censoring) | set(codes.other_exit))
    # grad before 2015: persons of working age who work, null in their benefit months
    g = d.select([c for c in _grad(d.columns) if c < "grad_2015"])
    assert g.width == 84 and 0.4 < g.select(pl.all().is_not_null().mean()).row(0)[0] < 0.95


def _outcomes_from_delivery(delivery: Path, meetings: pl.DataFrame, cb_codes: Codes) -> dict[str, np.ndarray]:
    """Observed outcomes recomputed from the delivered DREAM file alone (its columns define where it ends)."""
    d = pl.read_parquet(delivery / "dream.parquet")
    ycols, gcols = _y(d.columns), _grad(d.columns)
    epoch = dt.date(1990, 1, 1)
    first_idx = (_monday(ycols[0]) - epoch).days // 7
    months = [(int(c[5:9]), int(c[10:12])) for c in gcols]
    g0 = months[0][0] * 12 + months[0][1] - 1
    # month of each week's Thursday relative to the first grad month; outside the grad columns -> a null column
    wm = []
    for c in ycols:
        t = _monday(c) + dt.timedelta(days=3)
        k = t.year * 12 + t.month - 1 - g0
        wm.append(k if 0 <= k < len(gcols) else len(gcols))
    wm = np.array(wm)
    in_grad = np.flatnonzero(wm < len(gcols))
    end = min(len(ycols) - 1, int(in_grad.max()))  # the plan's "where DREAM ends"
    row_of = {p: i for i, p in enumerate(d["PNR"].to_list())}
    rows = np.array([row_of[p] for p in meetings["pnr"].to_list()])
    codes = d.select(ycols).to_numpy()[rows]
    codes = np.where(codes == None, 0, codes).astype(np.int64)  # noqa: E711
    grads = d.select(gcols).fill_null(-1).to_numpy()[rows].astype(np.int64)
    grads = np.concatenate([grads, np.full((grads.shape[0], 1), -1)], axis=1)
    m = meetings["week_index"].to_numpy() - first_idx
    return compute_outcomes(
        codes,
        grads,
        m,
        wm,
        cb_codes.kind_lookup,
        cb_codes.target_lookup,
        n_weeks_total=len(ycols),
        employment_end=end,
    )


def test_truth_is_what_the_lagged_delivery_shows(lagged):
    """The truth's observed outcomes equal those recomputed from the delivered (lagged) DREAM file."""
    meetings = pl.read_parquet(lagged["meetings"])
    got = _outcomes_from_delivery(Path(lagged["delivery"]), meetings, Codes.from_codebook(load_codebook()))
    for name in OUTCOMES:
        np.testing.assert_array_equal(meetings[f"{name}_obs"].to_numpy(), got[name], err_msg=name)
    t = json.loads(Path(lagged["truth"]).read_text(encoding="utf-8"))
    assert t["dream"]["last_grad_month"] == "2021-04" and t["dream"]["observable_end_week"] == "2021-W17"


def test_lag_makes_late_windows_missing_and_keeps_early_ones(pair, lagged):
    """Per meeting: potential outcomes whose window ends by the observable end are unchanged by the lag;
    later ones are missing unless the exit was seen by then."""
    full = pl.read_parquet(pair["long"]["meetings"])
    lag = pl.read_parquet(lagged["meetings"])
    assert full["pnr"].equals(lag["pnr"]) and full["week_index"].equals(lag["week_index"])
    end = json.loads(Path(lagged["truth"]).read_text(encoding="utf-8"))["dream"]["observable_end_week_index"]
    m = full["week_index"].to_numpy()
    changed_any = False
    for k in (4, 13, 26, 52):
        for arm in ("0", "1"):
            a = full[f"y_exit_{k}w_{arm}"].to_numpy()
            b = lag[f"y_exit_{k}w_{arm}"].to_numpy()
            inside = m + k + 3 <= end
            np.testing.assert_array_equal(a[inside], b[inside])
            # past the end: a 1 stays 1 only if the exit week + 3 was observed; a 0 becomes missing
            assert np.isnan(b[~inside & (a == 0)]).all()
            changed_any |= bool((~inside & (a == 0)).any())
    assert changed_any
    for k in (26, 52):
        b = lag[f"weeks_selfsupport_{k}w_0"].to_numpy()
        assert np.isnan(b[m + k > end]).all()
    t_full = json.loads(Path(pair["long"]["truth"]).read_text(encoding="utf-8"))["effects"]
    t_lag = json.loads(Path(lagged["truth"]).read_text(encoding="utf-8"))["effects"]
    assert t_lag["y_exit_52w"]["overall"]["n_missing"] > t_full["y_exit_52w"]["overall"]["n_missing"]
    assert t_lag["y_exit_4w"]["overall"] == t_full["y_exit_4w"]["overall"]


def test_missing_rule_at_the_end_by_hand():
    """One person on benefit in weeks 0-9, benefit-free from week 10, grad positive wherever delivered;
    meeting in week 2, so y_exit_13w needs weeks 3..18 (m+13+3).

    * y_ weeks to 19, grad to week 19: the exit in week 10 (weeks 10-13 free) is seen: 1.
    * y_ weeks to 12 only: weeks 11-13 cannot be checked: no exit, DREAM ends before 18: missing.
    * y_ weeks to 19, grad only to week 10: week 10 has grad, 11-13 are free in the y_ weeks: 1.
    * y_ weeks to 19, grad only to week 9: week 10's grad is unknown: no exit, ends before 18: missing.
    * y_exit_4w (weeks 3..9 needed): no exit by week 6, everything to 9 observed: 0 in all four.
    """
    codes = np.zeros((1, 20), dtype=np.int64)
    codes[0, :10] = 111
    grads = np.full((1, 1), 50)
    week_month = np.zeros(20, dtype=np.int64)
    cb = Codes.from_codebook(load_codebook())

    def run(**kw):
        return compute_outcomes(
            codes, grads, np.array([2]), week_month, cb.kind_lookup, cb.target_lookup, **kw
        )

    full, short_y = run(n_weeks_total=20), run(n_weeks_total=13)
    grad_to_10, grad_to_9 = run(employment_end=10), run(employment_end=9)
    assert full["y_exit_13w"][0] == 1.0 and np.isnan(short_y["y_exit_13w"][0])
    assert grad_to_10["y_exit_13w"][0] == 1.0 and np.isnan(grad_to_9["y_exit_13w"][0])
    assert [r["y_exit_4w"][0] for r in (full, short_y, grad_to_10, grad_to_9)] == [0.0] * 4
    # self-support counts only weeks with grad: weeks 3..28 would be needed for 26 weeks: missing
    assert np.isnan(grad_to_10["weeks_selfsupport_26w"][0])


def test_cli_dream_options(tmp_path):
    out = tmp_path / "d"
    rc = main(
        [
            "synth",
            "--persons",
            "150",
            "--seed",
            "3",
            "--out",
            str(out),
            "--dream-from",
            "1991",
            "--grad-lag-months",
            "2",
            "--quiet",
            "--no-meetings-file",
        ]
    )
    assert rc == 0
    cols = pq.read_schema(out / "dream.parquet").names
    assert cols[1] == "y_9130" and cols[-1] == "grad_2022_10"
    t = json.loads((tmp_path / "d.truth.json").read_text(encoding="utf-8"))
    assert t["dream"]["dream_from"] == 1991 and t["dream"]["grad_lag_months"] == 2
    assert main(["synth", "--persons", "10", "--out", str(tmp_path / "e"), "--dream-from", "1985"]) == 2
