"""The week and month grid of the synthetic delivery (ISO weeks 2015-W01 .. 2022-W52).

Local week index ``w`` = 0 for ISO 2015-W01 (Monday 2014-12-29). A week's month is the month of its
Thursday. Month index ``k`` = 0 for January 2015.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import numpy as np

FIRST_YEAR = 2015
LAST_YEAR = 2022
EPOCH_1990 = dt.date(1990, 1, 1)


@dataclass(frozen=True)
class Calendar:
    """Weeks and months of the delivery."""

    first_year: int = FIRST_YEAR
    last_year: int = LAST_YEAR
    mondays: np.ndarray = field(init=False, repr=False)
    iso_year: np.ndarray = field(init=False, repr=False)
    iso_week: np.ndarray = field(init=False, repr=False)
    week_month: np.ndarray = field(init=False, repr=False)
    month_start_week: np.ndarray = field(init=False, repr=False)

    def __post_init__(self) -> None:
        first = dt.date.fromisocalendar(self.first_year, 1, 1)
        last_week = dt.date(self.last_year, 12, 28).isocalendar()[1]
        last = dt.date.fromisocalendar(self.last_year, last_week, 1)
        n = (last - first).days // 7 + 1
        mondays = np.datetime64(first, "D") + 7 * np.arange(n)
        py = [first + dt.timedelta(days=7 * i) for i in range(n)]
        iso = [d.isocalendar() for d in py]
        thurs = [d + dt.timedelta(days=3) for d in py]
        wm = np.array([(t.year - self.first_year) * 12 + t.month - 1 for t in thurs], dtype=np.int32)
        object.__setattr__(self, "mondays", mondays)
        object.__setattr__(self, "iso_year", np.array([i[0] for i in iso], dtype=np.int32))
        object.__setattr__(self, "iso_week", np.array([i[1] for i in iso], dtype=np.int32))
        object.__setattr__(self, "week_month", wm)
        starts = np.searchsorted(wm, np.arange(self.n_months))
        object.__setattr__(self, "month_start_week", starts.astype(np.int64))

    @property
    def n_weeks(self) -> int:
        return int(self.mondays.shape[0])

    @property
    def n_months(self) -> int:
        return (self.last_year - self.first_year + 1) * 12

    @property
    def y_columns(self) -> list[str]:
        """DREAM weekly column names ``y_YYWW``."""
        return [f"y_{y % 100:02d}{w:02d}" for y, w in zip(self.iso_year, self.iso_week, strict=True)]

    @property
    def grad_columns(self) -> list[str]:
        """DREAM monthly column names ``grad_YYYY_MM``."""
        return [f"grad_{self.first_year + k // 12}_{k % 12 + 1:02d}" for k in range(self.n_months)]

    def week_of(self, dates: np.ndarray) -> np.ndarray:
        """Local week index of ``datetime64[D]`` dates (may fall outside 0..n_weeks-1)."""
        d = (dates.astype("datetime64[D]") - self.mondays[0]).astype(np.int64)
        return np.floor_divide(d, 7)

    def week_of_date(self, d: dt.date) -> int:
        return int((d - self.mondays[0].astype(dt.date)).days // 7)

    def month_of(self, dates: np.ndarray) -> np.ndarray:
        """Month index of ``datetime64[D]`` dates."""
        m = dates.astype("datetime64[M]").astype(np.int64)  # months since 1970-01
        return m - (self.first_year - 1970) * 12

    def global_week_index(self, w: np.ndarray) -> np.ndarray:
        """The design's ``week_index`` (weeks since ISO 1990-W01) of local week indices."""
        offset = (self.mondays[0].astype(dt.date) - EPOCH_1990).days // 7
        return np.asarray(w) + offset


# Real DREAM starts in ISO week 30 of 1991 and its grad_ months in January 2008 (delivery_format.md).
DREAM_FIRST_WEEK = (1991, 30)
GRAD_FIRST_YEAR = 2008


def _check_dream_from(dream_from: int, cal: Calendar) -> int:
    if isinstance(dream_from, bool) or not isinstance(dream_from, int | np.integer):
        raise ValueError(f"synth: --dream-from must be a year (an integer), got {dream_from!r}")
    if not DREAM_FIRST_WEEK[0] <= int(dream_from) <= cal.first_year:
        raise ValueError(
            f"synth: --dream-from must lie in {DREAM_FIRST_WEEK[0]}..{cal.first_year}, got {dream_from} "
            f"(real DREAM starts in {DREAM_FIRST_WEEK[0]}-W{DREAM_FIRST_WEEK[1]}; the simulation starts in "
            f"{cal.first_year})"
        )
    return int(dream_from)


def _check_grad_lag(grad_lag_months: int, cal: Calendar) -> int:
    last = int(cal.week_month[-1])
    if isinstance(grad_lag_months, bool) or not isinstance(grad_lag_months, int | np.integer):
        raise ValueError(f"synth: --grad-lag-months must be an integer, got {grad_lag_months!r}")
    if not 0 <= int(grad_lag_months) <= last:
        raise ValueError(
            f"synth: --grad-lag-months must lie in 0..{last}, got {grad_lag_months} (grad_ must keep at "
            f"least one month from {cal.first_year})"
        )
    return int(grad_lag_months)


@dataclass(frozen=True)
class DreamLayout:
    """The columns of the delivered DREAM file around the simulation's :class:`Calendar`.

    The simulation always runs on the calendar's weeks (2015-2022), so a longer or shorter DREAM never
    changes a simulated value. ``dream_from`` adds *early* week columns before the calendar's first
    week (from ISO week 1 of that year; for 1991 from week 30, where real DREAM starts) and early grad
    months from January of ``max(dream_from, 2008)``. ``grad_lag_months`` ends the grad columns that many
    months before the month of the last week (as eIndkomst lags DREAM's weeks).

    Parameters
    ----------
    cal : Calendar
        The simulation's weeks and months.
    dream_from : int, optional
        First year of the week columns (default: the calendar's first year, i.e. no early weeks).
    grad_lag_months : int
        Months by which grad ends before the month of the last week (default 0).
    """

    cal: Calendar
    dream_from: int | None = None
    grad_lag_months: int = 0

    def __post_init__(self) -> None:
        start = self.cal.first_year if self.dream_from is None else self.dream_from
        object.__setattr__(self, "dream_from", _check_dream_from(start, self.cal))
        object.__setattr__(self, "grad_lag_months", _check_grad_lag(self.grad_lag_months, self.cal))

    @property
    def first_monday(self) -> dt.date:
        """Monday of the first delivered week."""
        if self.dream_from == DREAM_FIRST_WEEK[0]:
            return dt.date.fromisocalendar(*DREAM_FIRST_WEEK, 1)
        return dt.date.fromisocalendar(int(self.dream_from), 1, 1)  # type: ignore[arg-type]

    @property
    def n_early_weeks(self) -> int:
        """Week columns before the calendar's first week."""
        return (self.cal.mondays[0].astype(dt.date) - self.first_monday).days // 7

    @property
    def early_mondays(self) -> np.ndarray:
        return np.datetime64(self.first_monday, "D") + 7 * np.arange(self.n_early_weeks)

    @property
    def early_y_columns(self) -> list[str]:
        out = []
        for d in self.early_mondays.astype(dt.date):
            y, w, _ = d.isocalendar()
            out.append(f"y_{y % 100:02d}{w:02d}")
        return out

    @property
    def grad_first_year(self) -> int:
        return max(GRAD_FIRST_YEAR, int(self.dream_from))  # type: ignore[arg-type]

    @property
    def n_early_months(self) -> int:
        """grad months before the calendar's first month."""
        return (self.cal.first_year - self.grad_first_year) * 12

    @property
    def early_grad_columns(self) -> list[str]:
        y0 = self.grad_first_year
        return [f"grad_{y0 + k // 12}_{k % 12 + 1:02d}" for k in range(self.n_early_months)]

    @property
    def n_sim_grad_months(self) -> int:
        """Calendar months delivered in grad (those up to the last week's month minus the lag)."""
        return int(self.cal.week_month[-1]) + 1 - self.grad_lag_months

    @property
    def y_columns(self) -> list[str]:
        return self.early_y_columns + self.cal.y_columns

    @property
    def grad_columns(self) -> list[str]:
        return self.early_grad_columns + self.cal.grad_columns[: self.n_sim_grad_months]

    @property
    def last_observable_week(self) -> int:
        """Local index of the week where DREAM ends for employment outcomes (analysis plan, "Time").

        The earlier of the last week and the last week whose Thursday lies in a delivered grad month.
        """
        last_month = self.n_sim_grad_months - 1
        w = int(np.searchsorted(self.cal.week_month, last_month, side="right")) - 1
        return min(w, self.cal.n_weeks - 1)

    def describe(self) -> dict[str, object]:
        """The layout for the truth file (ISO weeks as ``YYYY-Www``)."""

        def iso(d: dt.date) -> str:
            y, w, _ = d.isocalendar()
            return f"{y}-W{w:02d}"

        last_obs = self.last_observable_week
        grads = self.grad_columns
        return {
            "first_week": iso(self.first_monday),
            "last_week": iso(self.cal.mondays[-1].astype(dt.date)),
            "n_week_columns": self.n_early_weeks + self.cal.n_weeks,
            "first_grad_month": grads[0][5:].replace("_", "-"),
            "last_grad_month": grads[-1][5:].replace("_", "-"),
            "n_grad_columns": len(grads),
            "dream_from": self.dream_from,
            "grad_lag_months": self.grad_lag_months,
            "observable_end_week": iso(self.cal.mondays[last_obs].astype(dt.date)),
            "observable_end_week_index": int(self.cal.global_week_index(np.array([last_obs]))[0]),
        }
