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
