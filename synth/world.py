"""The municipalities of the synthetic world: size, local labour market, meeting-form practice over
time (the jobcentre-practice variation the instrument uses) and month-by-month confirmation.

Digital practice (logit of the share of digital jobcentre meetings), by date:

* before 12 March 2020: a low pre-Covid level (about 20%, varying by municipality);
* 12 March - 25 May 2020 (obligations suspended): near 100%;
* 26 May 2020 until the municipality's reopening date (drawn between late May and October 2020): high;
* reopening - 15 December 2020: the municipality's own level (roughly 35-85%);
* 16 December 2020 (second lockdown) until the municipality's return date (February - April 2021): high;
* return - 31 July 2021: own level, a little higher; from 1 August 2021: a post-Covid level (about 45%).

The levels are those of the ``easy`` world; the world's parameters (``SynthParams``: ``lockdown1_logit``,
``reopen_allowed_logit``, ``level_own_share`` ...) set them, and a share ``share_never_reopen`` of
municipalities stays digital (``never_reopen_logit``) from 26 May 2020 until 1 August 2021.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np

from synth.calendar import Calendar
from synth.codes import Codes
from synth.params import SynthParams

LOCKDOWN1_START = np.datetime64("2020-03-12", "D")
REOPEN_ALLOWED = np.datetime64("2020-05-26", "D")
LOCKDOWN2_START = np.datetime64("2020-12-16", "D")
INPERSON_BACK = np.datetime64("2021-08-01", "D")
WINDOW_START = dt.date(2020, 5, 1)
WINDOW_END = dt.date(2021, 2, 28)
VALIDATION_FIRST_MONTH = (2019, 1)
VALIDATION_LAST_MONTH = (2022, 12)


def _logit(p: float) -> float:
    return float(np.log(p / (1 - p)))


@dataclass(frozen=True)
class World:
    """Municipality-level quantities (arrays indexed like ``codes.kommuner``)."""

    kom_codes: np.ndarray
    weight: np.ndarray
    hazard_effect: np.ndarray
    level_pre: np.ndarray
    level_own: np.ndarray
    level_post: np.ndarray
    reopen: np.ndarray  # datetime64[D]
    return2: np.ndarray  # datetime64[D]
    confirmed: np.ndarray  # (K, n_months of the calendar) int8; months outside the validation file: 1
    never_reopen: np.ndarray  # bool: digital throughout until 1 August 2021
    lockdown1_logit: float = 4.2
    reopen_allowed_logit: float = 2.4
    lockdown2_logit: float = 3.0
    return_shift: float = 0.4
    never_reopen_logit: float = 4.5

    @classmethod
    def draw(cls, seed: int, codes: Codes, cal: Calendar, params: SynthParams) -> World:
        rng = np.random.default_rng([seed, 1])
        k = len(codes.kommuner)
        weight = rng.lognormal(0.0, 1.0, k)
        weight = weight / weight.sum()
        hazard_effect = rng.normal(0.0, 0.12, k)
        level_pre = _logit(0.20) + rng.normal(0, 0.4, k)
        # drawn as standard normal and scaled afterwards, so the world's level and spread change no draw
        level_own = (
            _logit(params.level_own_share)
            + params.level_own_sd * rng.normal(0, 1.0, k)
            + params.level_hazard_link * hazard_effect
        )
        level_post = _logit(0.45) + rng.normal(0, 0.4, k)
        reopen = REOPEN_ALLOWED + rng.integers(0, params.reopen_max_weeks * 7, k).astype("timedelta64[D]")
        return2 = np.datetime64("2021-02-01", "D") + rng.integers(0, 89, k).astype("timedelta64[D]")
        poor = rng.random(k) < params.share_poor_registration
        months = cal.n_months
        month_dates = np.array(
            [np.datetime64(f"{cal.first_year + i // 12}-{i % 12 + 1:02d}-01", "D") for i in range(months)]
        )
        in_window = (month_dates >= np.datetime64(WINDOW_START.replace(day=1), "D")) & (
            month_dates <= np.datetime64(WINDOW_END, "D")
        )
        p_unconf = np.where(
            poor[:, None] & in_window[None, :],
            params.unconfirmed_share_high,
            np.where(in_window[None, :], 0.04, 0.02),
        )
        confirmed = (rng.random((k, months)) >= p_unconf).astype(np.int8)
        # municipalities that stay digital throughout: a stream of their own, so that worlds without them
        # draw every other quantity exactly as before
        never = np.random.default_rng([seed, 1, 1]).random(k) < params.share_never_reopen
        return cls(
            np.array(codes.kommuner, dtype=np.int32),
            weight,
            hazard_effect,
            level_pre,
            level_own,
            level_post,
            reopen,
            return2,
            confirmed,
            never,
            params.lockdown1_logit,
            params.reopen_allowed_logit,
            params.lockdown2_logit,
            params.return_shift,
            params.never_reopen_logit,
        )

    def digital_logit(self, kom_idx: np.ndarray, dates: np.ndarray) -> np.ndarray:
        """Municipality practice (logit of the digital share) at each meeting date."""
        d = dates.astype("datetime64[D]")
        out = self.level_pre[kom_idx].copy()
        out = np.where(d >= LOCKDOWN1_START, self.lockdown1_logit, out)
        out = np.where(d >= REOPEN_ALLOWED, self.reopen_allowed_logit, out)
        out = np.where(d >= self.reopen[kom_idx], self.level_own[kom_idx], out)
        out = np.where(d >= LOCKDOWN2_START, self.lockdown2_logit, out)
        out = np.where(d >= self.return2[kom_idx], self.level_own[kom_idx] + self.return_shift, out)
        never = self.never_reopen[kom_idx] & (d >= REOPEN_ALLOWED)
        out = np.where(never, np.maximum(out, self.never_reopen_logit), out)
        out = np.where(d >= INPERSON_BACK, self.level_post[kom_idx], out)
        return out

    def validation_rows(self, cal: Calendar) -> dict[str, list]:
        """Rows of ``kontaktform_validering``: every municipality x month of the validation period."""
        y0, m0 = VALIDATION_FIRST_MONTH
        y1, m1 = VALIDATION_LAST_MONTH
        first = (y0 - cal.first_year) * 12 + m0 - 1
        last = (y1 - cal.first_year) * 12 + m1 - 1
        kom, maaned, bek = [], [], []
        for ki, code in enumerate(self.kom_codes):
            for mi in range(first, last + 1):
                kom.append(int(code))
                maaned.append(f"{cal.first_year + mi // 12}-{mi % 12 + 1:02d}")
                bek.append(int(self.confirmed[ki, mi]))
        return {"KOMMUNE": kom, "MAANED": maaned, "BEKRAEFTET": bek}

    def population_rows(self, persons: int, coverage: float, years: range) -> dict[str, list]:
        """Rows of the optional aggregate ``befolkning_kommune``: residents aged 16-66 by municipality and
        year, the whole municipality (the synthetic persons are ``coverage`` of it)."""
        n = np.maximum(np.round(self.weight * persons / coverage), 1).astype(np.int64)
        kom, aar, cnt = [], [], []
        for ki, code in enumerate(self.kom_codes):
            for y in years:
                kom.append(int(code))
                aar.append(int(y))
                cnt.append(int(n[ki]))
        return {"KOMMUNE": kom, "AAR": aar, "N_16_66": cnt}
