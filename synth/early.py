"""DREAM's early weeks and grad months (before the simulation's first week), for ``--dream-from``.

Real DREAM starts in 1991-W30 and grad in 2008-01. The simulation starts in 2015 (``Calendar``); the
weeks and months before it are drawn here from their own random stream (``[seed, 3, chunk]``), so a
delivery with early columns holds exactly the same values in every other column and file as one without.

The early history is deliberately simple and never reaches the analysis: weeks before a person's 18th
birthday are empty; a minority of adults (about 11%, more with a high disadvantage ``z``) has one or two
old benefit episodes (dagpenge for a-kasse members, otherwise job-ready or other kontanthjaelp or another
benefit, one code per episode) that all end at least :data:`BUFFER_WEEKS` weeks before 2015-W01, so they
join no spell of the simulated years; every other early week is empty, as for people not yet on
benefits. Adults who work (about 80%) have grad months at their usual level outside benefit months; the
others have none.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from synth.calendar import DreamLayout
from synth.simulate import DP, KHJ, KHO, OTHB, Persons, _sigmoid

BUFFER_WEEKS = 26
MEAN_EPISODE_WEEKS = 20.0
MAX_EPISODE_WEEKS = 104


@dataclass
class EarlyHistory:
    """Per-person draws of the early weeks; :meth:`block` turns a row range into DREAM cells."""

    layout: DreamLayout
    pid: np.ndarray
    grad_level: np.ndarray
    adult_week: np.ndarray  # early week index of the 18th birthday (may be < 0 or >= n_early_weeks)
    works: np.ndarray
    ep_start: np.ndarray  # (n, 2) early week index, -1 = no episode
    ep_end: np.ndarray  # (n, 2) exclusive
    ep_code: np.ndarray  # (n, 2) uint16

    def block(self, a: int, b: int) -> tuple[np.ndarray, np.ndarray]:
        """Codes (rows a..b-1 x early weeks, uint16, 0 = none) and grads (x early months, int16, -1 = null)."""
        lay = self.layout
        n_w = lay.n_early_weeks
        w = np.arange(n_w)[None, :]
        codes = np.zeros((b - a, n_w), dtype=np.uint16)
        for j in range(self.ep_start.shape[1]):
            s = self.ep_start[a:b, j, None]
            e = self.ep_end[a:b, j, None]
            on = (w >= s) & (w < e)
            codes = np.where(on, self.ep_code[a:b, j, None], codes)
        n_m = lay.n_early_months
        if n_m == 0:
            return codes, np.empty((b - a, 0), dtype=np.int16)
        # weeks whose Thursday lies in the early grad months, by month
        thursdays = lay.early_mondays + np.timedelta64(3, "D")
        month = thursdays.astype("datetime64[M]").astype(np.int64) - (lay.grad_first_year - 1970) * 12
        in_grad = (month >= 0) & (month < n_m)
        first_w = int(np.argmax(in_grad))
        starts = first_w + np.searchsorted(month[in_grad], np.arange(n_m))
        ben = np.add.reduceat(codes[:, first_w : first_w + int(in_grad.sum())] > 0, starts - first_w, axis=1)
        months = np.arange(n_m)
        month_start_week = starts[None, :]
        adult = month_start_week >= self.adult_week[a:b, None]
        wobble = ((self.pid[a:b, None] * 7 + months[None, :] * 13) % 11) - 5
        level = np.clip(self.grad_level[a:b, None] + wobble, 1, 100).astype(np.int16)
        has = self.works[a:b, None] & adult & (ben == 0)
        return codes, np.where(has, level, -1).astype(np.int16)


def draw_early(p: Persons, layout: DreamLayout, seed: int, chunk: int) -> EarlyHistory:
    """The early history of a chunk's persons (their own random stream; no effect on the simulation)."""
    rng = np.random.default_rng([seed, 3, chunk])
    n = p.pid.shape[0]
    n_w = layout.n_early_weeks
    first = np.datetime64(layout.first_monday, "D")
    adult_day = p.birth + np.timedelta64(18 * 365 + 4, "D")
    adult_week = np.floor_divide((adult_day - first).astype(np.int64), 7)
    works = rng.random(n) < _sigmoid(1.6 - 0.5 * p.z)
    p_episode = _sigmoid(-2.3 + 0.6 * p.z)
    n_ep = (rng.random(n) < p_episode).astype(np.int64) * (1 + (rng.random(n) < 0.35))
    ep_start = np.full((n, 2), -1, dtype=np.int64)
    ep_end = np.full((n, 2), -1, dtype=np.int64)
    ep_code = np.zeros((n, 2), dtype=np.uint16)
    last_end = n_w - BUFFER_WEEKS  # every episode ends (exclusive) by here
    lo = np.maximum(adult_week, 0)
    u = rng.random((n, 2))
    dur = np.minimum(rng.geometric(1.0 / MEAN_EPISODE_WEEKS, (n, 2)), MAX_EPISODE_WEEKS)
    kind = rng.random((n, 2))
    ct = p.code_table.astype(np.uint16)
    for j in range(2):
        room = last_end - dur[:, j] - lo
        ok = (n_ep > j) & (room > 0)
        s = lo + np.floor(u[:, j] * np.maximum(room, 1)).astype(np.int64)
        ep_start[:, j] = np.where(ok, s, -1)
        ep_end[:, j] = np.where(ok, s + dur[:, j], -1)
        code = np.where(
            p.member & (kind[:, j] < 0.6),
            ct[:, DP],
            np.where(kind[:, j] < 0.75, ct[:, KHJ], np.where(kind[:, j] < 0.85, ct[:, KHO], ct[:, OTHB])),
        )
        ep_code[:, j] = np.where(ok, code, 0)
    return EarlyHistory(layout, p.pid, p.grad_level, adult_week, works, ep_start, ep_end, ep_code)
