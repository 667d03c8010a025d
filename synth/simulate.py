"""Simulation of one chunk of persons: attributes, weekly benefit states, focal spells with meetings,
exit times with common random numbers, potential outcomes of every eligible meeting.

See ``docs/synth.md`` for the model. Everything is vectorised over persons (numpy); the only Python
loops are over segments of a person's history and over meetings of a schedule (both short).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from statistics import NormalDist

import numpy as np

from synth.calendar import Calendar
from synth.codes import OPR_LAND_DANISH, OPR_LAND_OTHER, Codes
from synth.outcomes import OUTCOMES, compute_outcomes
from synth.params import SynthParams
from synth.world import LOCKDOWN1_START, REOPEN_ALLOWED, WINDOW_END, WINDOW_START, World

# weekly states
EMP, NONEMP, DP, KHJ, KHO, OTHB, GAP, OEXIT, CENS, FOC1, FOC2 = range(11)
N_STATES = 11
BENEFIT_STATES = (DP, KHJ, KHO, OTHB, FOC1, FOC2)
TARGET_LIKE = (DP, KHJ, FOC1, FOC2)

# focal groups
G_DP, G_KH = 0, 1

# destinations after a focal spell
D_EMP, D_OTHB, D_NONEMP, D_OEXIT, D_CENS = range(5)

AGE_BANDS = ((0, 30, "16-29"), (30, 40, "30-39"), (40, 50, "40-49"), (50, 200, "50+"))
OBS_INDEX_CENTER = -0.38  # rough mean of the focal persons' observable prospect index (fixed constant)
BG_INDEX_CENTER = -0.10  # the same for the simpler index of background meetings
BATCH_ROWS = 20_000

_EDU_CUM = (0.20, 0.30, 0.62, 0.67, 0.82, 0.87, 0.98)
_EDU_CUTS = np.array([NormalDist(0, 1.07).inv_cdf(p) for p in _EDU_CUM])


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def _choose(rng: np.random.Generator, probs: np.ndarray) -> np.ndarray:
    """Row-wise categorical draw from probabilities (rows need not be normalised)."""
    c = np.cumsum(probs, axis=1)
    c = c / c[:, -1:]
    u = rng.random(probs.shape[0])
    return (u[:, None] > c).sum(axis=1).astype(np.int64)


def _age_at(birth: np.ndarray, dates: np.ndarray) -> np.ndarray:
    return (dates.astype("datetime64[D]") - birth).astype(np.int64) / 365.25


def age_band_labels(age: np.ndarray) -> np.ndarray:
    out = np.empty(age.shape, dtype=object)
    for lo, hi, lab in AGE_BANDS:
        out[(age >= lo) & (age < hi)] = lab
    return out


@dataclass
class Persons:
    pid: np.ndarray
    pnr: np.ndarray
    koen: np.ndarray
    woman: np.ndarray
    birth: np.ndarray  # datetime64[D]
    ie: np.ndarray
    immigrant: np.ndarray
    opr_land: np.ndarray
    civst: np.ndarray
    z: np.ndarray
    level: np.ndarray
    hfaudd: np.ndarray
    in_udda: np.ndarray
    member: np.ndarray
    akasse_id: np.ndarray
    kom0: np.ndarray
    kom1: np.ndarray
    move_week: np.ndarray
    wage_month: np.ndarray
    grad_level: np.ndarray
    parttime_dp: np.ndarray
    zero_exit_grad: np.ndarray
    self_employed: np.ndarray
    other_income: np.ndarray
    code_table: np.ndarray  # (n, N_STATES) uint16

    def kom_at(self, rows: np.ndarray, weeks: np.ndarray) -> np.ndarray:
        """Municipality index of persons ``rows`` in weeks ``weeks`` (broadcasting)."""
        return np.where(weeks >= self.move_week[rows], self.kom1[rows], self.kom0[rows])


def pnr_of(pid: np.ndarray, seed: int) -> np.ndarray:
    """Pseudonymised 10-digit PNR strings (a bijection of the person index; some with leading zeros)."""
    a = 7_919_393_171
    b = (int(seed) * 2_654_435_761 + 12_345) % 10**10
    v = (pid.astype(object) * a + b) % 10**10
    return np.array([f"{int(x):010d}" for x in v], dtype=object)


def draw_persons(
    rng: np.random.Generator, i0: int, n: int, seed: int, codes: Codes, cal: Calendar, world: World
) -> Persons:
    pid = np.arange(i0, i0 + n, dtype=np.int64)
    woman = rng.random(n) < 0.5
    koen = np.where(woman, codes.koen_woman, codes.koen_man).astype(np.int32)
    b0 = np.datetime64("1956-01-01", "D")
    span = int((np.datetime64("2002-12-31", "D") - b0).astype(int))
    birth = b0 + rng.integers(0, span, n).astype("timedelta64[D]")
    u = rng.random(n)
    ie = np.where(u < 0.86, codes.ie_danish, np.where(u < 0.96, codes.ie_immigrant, codes.ie_descendant))
    immigrant = ie != codes.ie_danish
    opr_other = np.array(OPR_LAND_OTHER, dtype=np.int32)
    opr_land = np.where(immigrant, opr_other[rng.integers(0, len(opr_other), n)], OPR_LAND_DANISH).astype(
        np.int32
    )
    z = rng.normal(0, 1, n) + 0.4 * immigrant
    estar = -0.7 * z + rng.normal(0, 0.8, n)
    level = (1 + np.searchsorted(_EDU_CUTS, estar)).astype(np.int16)
    age20 = _age_at(birth, np.full(n, np.datetime64("2020-07-01", "D")))
    level = np.where((age20 < 24) & (level > 5), 3, level).astype(np.int16)
    unknown = rng.random(n) < np.where(immigrant, 0.25, 0.01)
    level = np.where(unknown, 0, level).astype(np.int16)
    hfaudd = np.zeros(n, dtype=np.int32)
    for lv in np.unique(level):
        lo, hi = codes.hfaudd_range(int(lv))
        sel = level == lv
        hfaudd[sel] = lo + rng.integers(0, min(hi - lo + 1, 100), sel.sum())
    in_udda = ~(unknown & immigrant & (rng.random(n) < 0.4))
    member = rng.random(n) < np.clip(0.80 - 0.12 * z + 0.03 * (level >= 5), 0.05, 0.98)
    akasse_id = rng.integers(1, 25, n).astype(np.int32)
    k = world.kom_codes.shape[0]
    kom0 = rng.choice(k, n, p=world.weight)
    kom1 = rng.choice(k, n, p=world.weight)
    mover = rng.random(n) < 0.12
    move_week = np.where(mover, rng.integers(1, cal.n_weeks, n), cal.n_weeks + 1)
    p_mar = np.clip(0.05 + 0.015 * (age20 - 25), 0.03, 0.6)
    uc = rng.random(n)
    civst = np.where(
        uc < p_mar,
        codes.civ_married,
        np.where(
            uc < p_mar + 0.12 * (age20 > 35),
            codes.civ_divorced,
            np.where(
                uc < p_mar + 0.12 * (age20 > 35) + 0.02 * (age20 > 55), codes.civ_widowed, codes.civ_unmarried
            ),
        ),
    ).astype(object)
    lvl_eff = np.where(level == 0, 2, level).astype(np.float64)
    wage_month = np.round(19_000 + 3_500 * lvl_eff + rng.normal(0, 3_000, n), 0)
    full = rng.random(n) < 0.75
    grad_level = np.where(full, rng.integers(85, 101, n), rng.integers(25, 66, n)).astype(np.int16)
    parttime_dp = rng.random(n) < 0.2
    zero_exit_grad = rng.random(n) < 0.5
    self_employed = rng.random(n) < 0.06
    other_income = np.round(rng.gamma(1.5, 6_000, n), 0)
    # person-level codes of each state
    ct = np.zeros((n, N_STATES), dtype=np.uint16)
    dp = np.array(codes.dagpenge)
    dp_main = np.where(rng.random(n) < 0.8, dp[0], dp[rng.integers(0, len(dp), n)])
    ct[:, DP] = dp_main
    khj = np.array(codes.kh_jobparat)
    ct[:, KHJ] = khj[rng.integers(0, len(khj), n)]
    kho = np.array(codes.kh_other)
    ct[:, KHO] = kho[rng.integers(0, len(kho), n)]
    pref = np.array(codes.other_benefit_preferred)
    allob = np.array(codes.other_benefit)
    ct[:, OTHB] = np.where(
        rng.random(n) < 0.9, pref[rng.integers(0, len(pref), n)], allob[rng.integers(0, len(allob), n)]
    )
    oex = np.array(codes.other_exit)
    ct[:, OEXIT] = oex[rng.integers(0, len(oex), n)]
    cen = np.array(codes.censoring)
    ct[:, CENS] = cen[rng.integers(0, len(cen), n)]
    return Persons(
        pid,
        pnr_of(pid, seed),
        koen,
        woman,
        birth,
        ie.astype(np.int32),
        immigrant,
        opr_land,
        civst,
        z,
        level,
        hfaudd,
        in_udda,
        member,
        akasse_id,
        kom0,
        kom1,
        move_week,
        wage_month,
        grad_level,
        parttime_dp,
        zero_exit_grad,
        self_employed,
        other_income,
        ct,
    )


# ------------------------------------------------------------------------------------------------
# background histories
# ------------------------------------------------------------------------------------------------
def background_states(
    rng: np.random.Generator, p: Persons, cal: Calendar, zone: tuple[int, int]
) -> np.ndarray:
    """Weekly states of every person over the whole grid from a segment process (no focal spell).

    Target-group segments (dagpenge, job-ready kontanthjaelp) overlapping ``zone`` (weeks around the
    analysis window) become other benefits, so that every target-group week in the window belongs to a
    simulated focal spell.
    """
    n = p.pid.shape[0]
    n_w = cal.n_weeks
    z = p.z
    mem = p.member.astype(float)
    mean_dur = np.stack(
        [
            130 * np.exp(-0.5 * z),
            np.full(n, 35.0),
            20 * np.exp(0.25 * z),
            45 * np.exp(0.25 * z),
            np.full(n, 80.0),
            np.full(n, 14.0),
        ],
        axis=1,
    )
    trans = np.zeros((n, 6, 6))
    trans[:, EMP] = np.stack(
        [0 * z, 0.2 + 0 * z, 0.55 * mem, 0.55 * (1 - mem) * 0.6, 0.55 * (1 - mem) * 0.4, 0.25 + 0 * z], axis=1
    )
    trans[:, NONEMP] = [0.7, 0, 0, 0.15, 0.15, 0]
    trans[:, DP] = [0.82, 0.06, 0, 0.04, 0, 0.08]
    trans[:, KHJ] = [0.7, 0.1, 0, 0, 0.1, 0.1]
    trans[:, KHO] = [0.4, 0.2, 0, 0.2, 0, 0.2]
    trans[:, OTHB] = [0.75, 0.1, 0, 0.05, 0.1, 0]
    p_ben = _sigmoid(-2.0 + 0.8 * z)
    init = np.stack(
        [
            1 - p_ben - 0.08,
            np.full(n, 0.08),
            p_ben * 0.4 * mem,
            p_ben * 0.4 * (1 - mem),
            p_ben * 0.25,
            p_ben * 0.35,
        ],
        axis=1,
    )
    state = _choose(rng, np.clip(init, 0, None))
    cum = np.zeros(n, dtype=np.int64)
    seg_states: list[np.ndarray] = []
    seg_durs: list[np.ndarray] = []
    rows = np.arange(n)
    first = True
    while (cum < n_w).any() and len(seg_states) < 3 * 60:
        d = rng.geometric(1.0 / mean_dur[rows, state]).astype(np.int64)
        if first:
            d = np.maximum(1, np.ceil(d * rng.random(n))).astype(np.int64)
            first = False
        has_gap = np.isin(state, (DP, KHJ, KHO)) & (d >= 10) & (rng.random(n) < 0.25)
        a = np.where(has_gap, 3 + (rng.random(n) * np.maximum(d - 7, 1)).astype(np.int64), d)
        g = np.where(has_gap, rng.integers(1, 4, n), 0)
        start, end = cum, cum + d + g
        in_zone = (start <= zone[1]) & (end > zone[0])
        st = np.where(in_zone & (state == DP), OTHB, np.where(in_zone & (state == KHJ), KHO, state))
        seg_states += [st, np.full(n, GAP), st]
        seg_durs += [a, g, d - a]
        cum = end
        state = _choose(rng, trans[rows, state])
    s_mat = np.stack(seg_states, axis=1).astype(np.int8)
    d_mat = np.stack(seg_durs, axis=1)
    ends = np.cumsum(d_mat, axis=1)
    starts = ends - d_mat
    d_mat = np.clip(np.minimum(ends, n_w) - starts, 0, None)
    short = n_w - d_mat.sum(axis=1)
    d_mat[:, -1] += short
    states = np.repeat(s_mat.ravel(), d_mat.ravel()).reshape(n, n_w)
    w18 = cal.week_of(p.birth + np.timedelta64(18 * 365 + 4, "D"))
    states[np.arange(n_w)[None, :] < w18[:, None]] = NONEMP
    return states


# ------------------------------------------------------------------------------------------------
# focal spells
# ------------------------------------------------------------------------------------------------
@dataclass
class Focal:
    idx: np.ndarray  # person rows
    group: np.ndarray
    s: np.ndarray
    e: np.ndarray
    template: np.ndarray  # (F, W) states of the spell as if it never ended
    pre: np.ndarray  # (F, W) states before s (pre-gap included)
    dest: np.ndarray
    g: np.ndarray
    L: np.ndarray
    d1: np.ndarray
    d2: np.ndarray
    lam: np.ndarray  # (F, W) baseline exit intensity
    mult: np.ndarray  # (F, W) observed multiplier
    idx_last: np.ndarray  # (F, W) 1 + index of the last meeting before the week (0 = none)
    e_draw: np.ndarray  # Exp(1) draws
    obs_index: np.ndarray
    m_week: np.ndarray  # (F, K) meeting weeks (sorted), W+ for none
    m_day: np.ndarray
    m_type: np.ndarray
    m_kom: np.ndarray
    m_true_digital: np.ndarray
    m_letter: np.ndarray
    m_form: np.ndarray  # registered form code (object)
    m_hr: np.ndarray
    m_valid: np.ndarray
    # the three-arm truth: the hazard ratio of a telephone and of a video meeting, and whether the
    # meeting's latent digital form (the one it has if digital) is telephone; m_hr is the latent form's
    m_hr_tel: np.ndarray | None = None
    m_hr_vid: np.ndarray | None = None
    m_latent_tel: np.ndarray | None = None


def _calendar_factor(cal: Calendar, params: SynthParams) -> np.ndarray:
    mon = cal.mondays
    f = np.ones(cal.n_weeks)
    f[(mon >= np.datetime64("2020-03-09")) & (mon < np.datetime64("2020-06-01"))] = params.covid_spring_factor
    f[(mon >= np.datetime64("2020-06-01")) & (mon < np.datetime64("2021-03-01"))] = params.covid_autumn_factor
    f[mon >= np.datetime64("2021-03-01")] = params.reopening_factor
    return f


def log_hazard_ratio(
    params: SynthParams, group: np.ndarray, age: np.ndarray, woman: np.ndarray, level: np.ndarray
) -> np.ndarray:
    """True log hazard ratio of a digital (vs in-person) meeting for each meeting's group."""
    if params.null_effect:
        return np.zeros(group.shape)
    lhr = (
        params.effect_log_hr
        + params.effect_kh * (group == G_KH)
        + params.effect_age_young * (age < 30)
        + params.effect_age_old * (age >= 50)
        + params.effect_woman * woman
        + params.effect_edu_low * (level <= 1)
        + params.effect_edu_high * (level >= 6)
    )
    return params.effect_scale * lhr


def simulate_focal(
    rng: np.random.Generator,
    p: Persons,
    bg: np.ndarray,
    cal: Calendar,
    world: World,
    params: SynthParams,
    codes: Codes,
) -> Focal:
    n = p.pid.shape[0]
    n_w = cal.n_weeks
    w_idx = np.arange(n_w)
    is_focal = rng.random(n) < np.clip(params.share_focal * 2 * _sigmoid(0.5 * (p.z - 0.2)), 0, 1)
    age_s_ok = _age_at(p.birth, np.full(n, np.datetime64("2019-10-01", "D"))) >= 18.5
    idx = np.flatnonzero(is_focal & age_s_ok)
    f = idx.shape[0]
    mem = p.member[idx]
    kh = np.where(mem, rng.random(f) < params.share_kh_member, rng.random(f) < params.share_kh_nonmember)
    keep = mem | kh
    idx, kh, mem = idx[keep], kh[keep], mem[keep]
    f = idx.shape[0]
    group = np.where(kh, G_KH, G_DP)
    # spell start
    wa, wb = cal.week_of_date(dt.date(2019, 9, 30)), cal.week_of_date(dt.date(2020, 3, 2))
    wc = cal.week_of_date(dt.date(2020, 4, 27))
    wd = cal.week_of_date(dt.date(2021, 2, 22))
    u = rng.random(f)
    s = np.where(
        u < 0.28,
        rng.integers(wa, wb, f),
        np.where(u < 0.40, rng.integers(wb, wc, f), rng.integers(wc, wd + 1, f)),
    )
    pre_gap = rng.geometric(0.5, f)
    pre_state = np.where(group == G_DP, EMP, np.where(rng.random(f) < 0.5, EMP, NONEMP))
    pre = bg[idx].copy()
    sel = w_idx[None, :] >= (s - pre_gap)[:, None]
    pre = np.where(sel, pre_state[:, None].astype(np.int8), pre)
    # spell template: codes, switches, short gaps
    template = np.where(w_idx[None, :] >= s[:, None], FOC1, EMP).astype(np.int8)
    switch = rng.random(f) < 0.2
    sw_at = s + rng.integers(4, 41, f)
    template = np.where(switch[:, None] & (w_idx[None, :] >= sw_at[:, None]), FOC2, template).astype(np.int8)
    for p_gap in (0.3, 0.1):
        has = rng.random(f) < p_gap
        at = s + rng.integers(5, 61, f)
        ln = rng.integers(1, 4, f)
        gm = has[:, None] & (w_idx[None, :] >= at[:, None]) & (w_idx[None, :] < (at + ln)[:, None])
        template = np.where(gm, GAP, template).astype(np.int8)
    # person code table for the focal spell
    ct = p.code_table
    if f:
        dpc = np.array(codes.dagpenge)
        khc = np.array(codes.kh_jobparat)
        c1 = np.where(group == G_DP, ct[idx, DP], ct[idx, KHJ])
        c2_dp = dpc[(np.searchsorted(dpc, ct[idx, DP]) + 1 + rng.integers(0, len(dpc) - 1, f)) % len(dpc)]
        c2_kh = khc[(np.searchsorted(khc, ct[idx, KHJ]) + 1) % len(khc)]
        ct[idx, FOC1] = c1
        ct[idx, FOC2] = np.where(group == G_DP, c2_dp, c2_kh)
    # covariates known at the spell start
    ben = np.isin(pre, BENEFIT_STATES)
    cs = np.concatenate([np.zeros((f, 1), dtype=np.int32), np.cumsum(ben, axis=1, dtype=np.int32)], axis=1)
    rows = np.arange(f)
    hist156 = cs[rows, s] - cs[rows, np.maximum(s - 156, 0)]
    age_s = _age_at(p.birth[idx], cal.mondays[np.clip(s, 0, n_w - 1)])
    lvl = p.level[idx]
    lvl_eff = np.where(lvl == 0, 2, lvl).astype(np.float64)
    obs_index = (
        0.10 * (lvl_eff - 4)
        - 0.012 * (age_s - 40)
        - 0.25 * (age_s >= 55)
        - 0.15 * p.immigrant[idx]
        - 0.25 * hist156 / 52
        - 0.05 * p.woman[idx]
    )
    unobs = -params.unobserved_hazard * p.z[idx]
    base = np.where(group == G_DP, params.hazard_dagpenge, params.hazard_kh)
    kom_s = p.kom_at(idx, s)
    log_lam = np.log(base) + obs_index + unobs + world.hazard_effect[kom_s]
    calf = _calendar_factor(cal, params)
    el = w_idx[None, :] - s[:, None]
    lam = np.where(
        el > 0,
        np.exp(log_lam)[:, None] * calf[None, :] * np.power(np.maximum(el, 1), params.duration_dependence),
        0.0,
    )
    # meeting schedule (jobcentre meetings of the spell)
    kmax = 40
    mw = np.empty((f, kmax), dtype=np.int64)
    mw[:, 0] = s + rng.integers(1, 5, f)
    for j in range(1, kmax):
        early = (mw[:, j - 1] - s) < 26
        lo = np.where(early, 3, 5)
        mean = np.where(early, params.meeting_interval_early, params.meeting_interval_late)
        mw[:, j] = mw[:, j - 1] + lo + rng.poisson(np.maximum(mean - lo, 0.1))
    day = rng.integers(0, 5, (f, kmax))
    dup = rng.random((f, kmax)) < params.duplicate_meeting_share
    # the second meeting of a week on another day: two meetings with the same date, form and actor would be
    # one meeting registered twice, which the plan counts once
    shift = 1 + rng.integers(0, 3, (f, kmax))
    dday = np.where(day + shift <= 4, day + shift, np.maximum(day - shift, 0))
    dday = np.where(dday == day, np.where(day < 4, day + 1, day - 1), dday)
    mw = np.concatenate([mw, np.where(dup, mw, n_w + 10)], axis=1)
    day = np.concatenate([day, dday], axis=1)
    isdup = np.concatenate([np.zeros((f, kmax), bool), np.ones((f, kmax), bool)], axis=1)
    valid = mw < n_w
    dates = cal.mondays[np.clip(mw, 0, n_w - 1)] + day.astype("timedelta64[D]")
    lock = (dates >= LOCKDOWN1_START) & (dates < REOPEN_ALLOWED) & (rng.random(mw.shape) < 0.5)
    valid &= ~lock
    key = np.where(valid, mw * 16 + day * 2 + isdup, np.iinfo(np.int64).max)
    order = np.argsort(key, axis=1, kind="stable")
    mw = np.take_along_axis(mw, order, 1)
    day = np.take_along_axis(day, order, 1)
    valid = np.take_along_axis(valid, order, 1)
    kk = mw.shape[1]
    mw = np.where(valid, mw, n_w + 10)
    dates = cal.mondays[np.clip(mw, 0, n_w - 1)] + day.astype("timedelta64[D]")
    # meeting attributes
    ut = rng.random((f, kk))
    others = np.array(codes.other_types)
    other_pick = np.where(
        rng.random((f, kk)) < 0.6, codes.followup_type, others[rng.integers(0, len(others), (f, kk))]
    )
    mtype = np.where(ut < params.non_jobsamtale_share, other_pick, codes.jobsamtale).astype(np.int32)
    rr = np.repeat(idx[:, None], kk, axis=1)
    mkom = p.kom_at(rr, mw)
    first = np.zeros((f, kk), bool)
    first[:, 0] = True
    age_m = _age_at(p.birth[idx][:, None], dates)
    logit = (
        world.digital_logit(mkom, dates)
        + params.selection_strength * (obs_index - OBS_INDEX_CENTER)[:, None]
        + params.selection_unobserved * (-p.z[idx])[:, None]
        + params.first_meeting_in_person * first
        + params.kh_digital_shift * (group == G_KH)[:, None]
    )
    true_dig = rng.random((f, kk)) < _sigmoid(logit)
    letter = rng.random((f, kk)) < params.letter_share
    true_dig &= ~letter
    dig_codes = np.array(codes.kf_digital, dtype=object)
    pd = np.array([0.7, 0.2, 0.1]) if len(dig_codes) == 3 else np.full(len(dig_codes), 1 / len(dig_codes))
    dig_pick = (
        dig_codes[_choose(rng, np.tile(pd, (f * kk, 1))).reshape(f, kk)] if f else np.empty((0, kk), object)
    )
    inp = codes.kf_in_person[0]
    let = codes.kf_other[0] if codes.kf_other else inp
    form = np.where(letter, let, np.where(true_dig, dig_pick, inp)).astype(object)
    # registration errors in unconfirmed municipality-months
    mon = np.clip(cal.month_of(dates), 0, cal.n_months - 1)
    conf = world.confirmed[mkom, mon] == 1
    wrong = ~conf & ~letter & (rng.random((f, kk)) < params.misregistration)
    form = np.where(wrong & true_dig, inp, np.where(wrong & ~true_dig, codes.kf_digital[0], form)).astype(
        object
    )
    lhr = log_hazard_ratio(
        params,
        np.repeat(group[:, None], kk, 1),
        age_m,
        np.repeat(p.woman[idx][:, None], kk, 1),
        np.repeat(lvl[:, None], kk, 1),
    )
    # a digital meeting's form shifts its log hazard ratio (telephone vs video, SynthParams); no draw added
    latent_tel = np.isin(dig_pick, codes.kf_telephone) if f else np.zeros((0, kk), bool)
    shift_scale = 0.0 if params.null_effect else params.effect_scale
    hr_tel = np.exp(lhr + shift_scale * params.effect_telephone_shift)
    hr_vid = np.exp(lhr + shift_scale * params.effect_video_shift)
    hr = np.where(latent_tel, hr_tel, hr_vid)
    factor = np.where(true_dig, hr, 1.0)
    # multiplier: factor of the last meeting held before the week
    idx_last = np.zeros((f, n_w), dtype=np.int16)
    ok = valid & (mw + 1 < n_w)
    ri, kj = np.nonzero(ok)
    np.maximum.at(idx_last, (ri, mw[ri, kj] + 1), (kj + 1).astype(np.int16))
    np.maximum.accumulate(idx_last, axis=1, out=idx_last)
    fpad = np.concatenate([np.ones((f, 1)), factor], axis=1)
    mult = np.take_along_axis(fpad, idx_last.astype(np.int64), axis=1)
    e_draw = rng.exponential(1.0, f)
    e = exit_weeks(lam, mult, e_draw)
    # destinations after the spell
    pr = np.where(
        (group == G_DP)[:, None], [[0.80, 0.09, 0.07, 0.025, 0.015]], [[0.65, 0.15, 0.15, 0.03, 0.02]]
    )
    dest = _choose(rng, pr)
    g = np.where(rng.random(f) < 0.7, 0, rng.integers(1, 5, f))
    L = rng.geometric(1 / 120, f)
    d1 = rng.geometric(1 / 15, f)
    d2 = rng.geometric(1 / 10, f)
    return Focal(
        idx,
        group,
        s,
        e,
        template,
        pre,
        dest,
        g,
        L,
        d1,
        d2,
        lam,
        mult,
        idx_last,
        e_draw,
        obs_index,
        mw,
        day,
        mtype,
        mkom,
        true_dig,
        letter,
        form,
        hr,
        valid,
        hr_tel,
        hr_vid,
        latent_tel,
    )


def exit_weeks(lam: np.ndarray, mult: np.ndarray, e_draw: np.ndarray) -> np.ndarray:
    """First week whose cumulative intensity reaches the row's Exp(1) draw (n_weeks if none)."""
    cum = np.cumsum(lam * mult, axis=1)
    hit = cum >= e_draw[:, None]
    any_hit = hit.any(axis=1)
    return np.where(any_hit, hit.argmax(axis=1), lam.shape[1])


def assemble_states(
    pre: np.ndarray,
    template: np.ndarray,
    s: np.ndarray,
    e: np.ndarray,
    dest: np.ndarray,
    g: np.ndarray,
    L: np.ndarray,
    d1: np.ndarray,
    d2: np.ndarray,
) -> np.ndarray:
    """Weekly states of focal rows given their exit week ``e`` (the only thing a meeting form changes)."""
    n_w = pre.shape[1]
    w = np.arange(n_w, dtype=np.int32)[None, :]
    r = w - e.astype(np.int32)[:, None]
    after = r >= 0
    out = np.where(w < s.astype(np.int32)[:, None], pre, template).astype(np.int8)
    post = np.full(r.shape, EMP, dtype=np.int8)
    de = dest[:, None]
    gg = g.astype(np.int32)[:, None]
    gl = gg + L.astype(np.int32)[:, None]
    post[(de == D_EMP) & (r < gg)] = NONEMP
    post[(de == D_EMP) & (r >= gl) & (r < gl + d2.astype(np.int32)[:, None])] = OTHB
    short = r < d1.astype(np.int32)[:, None]
    post[(de == D_OTHB) & short] = OTHB
    post[(de == D_NONEMP) & short] = NONEMP
    post[np.broadcast_to(de == D_OEXIT, r.shape)] = OEXIT
    post[np.broadcast_to(de == D_CENS, r.shape)] = CENS
    np.copyto(out, post, where=after)
    return out


def grads_of(
    states: np.ndarray,
    pid: np.ndarray,
    grad_level: np.ndarray,
    parttime: np.ndarray,
    zero_exit: tuple[np.ndarray, np.ndarray] | None,
    cal: Calendar,
    k0: int = 0,
    w0: int = 0,
) -> np.ndarray:
    """Monthly degree of employment (-1 = null) from weekly states.

    Months with employed weeks get the person's level scaled by the employed share of the month (at
    least a quarter) plus a small deterministic wobble; months on dagpenge/kontanthjaelp with part-time
    work get 10-29; ``zero_exit`` rows (focal rows leaving to a delayed job) get grad 0 in the month
    ``zero_exit[1]`` of their exit week when it has no employment. ``states`` may be a crop of the weeks
    that starts at week ``w0``, the first week of month ``k0``, and ends at a month boundary.
    """
    emp = states == EMP
    n_w = states.shape[1]
    k1 = int(cal.week_month[w0 + n_w - 1]) + 1
    starts = cal.month_start_week[k0:k1] - w0
    cnt = np.add.reduceat(emp, starts, axis=1, dtype=np.int16)
    nweeks = np.diff(np.append(starts, n_w))
    frac = np.clip(cnt / nweeks[None, :], 0.25, 1.0)
    months = np.arange(k0, k1)
    wobble = ((pid[:, None] * 7 + months[None, :] * 13) % 11) - 5
    g = np.clip(np.round(grad_level[:, None] * frac + wobble), 1, 100).astype(np.int16)
    out = np.where(cnt > 0, g, -1).astype(np.int16)
    if parttime.any():
        tgt = np.isin(states, TARGET_LIKE)
        tcnt = np.add.reduceat(tgt, starts, axis=1, dtype=np.int16)
        pt = parttime[:, None] & (tcnt > 0) & (cnt == 0)
        out = np.where(pt, (10 + (pid[:, None] + months[None, :]) % 20).astype(np.int16), out)
    if zero_exit is not None and zero_exit[0].any():
        mon = zero_exit[1] - k0
        zr = np.flatnonzero(zero_exit[0] & (mon >= 0) & (mon < k1 - k0))
        cur = out[zr, mon[zr]]
        out[zr, mon[zr]] = np.where(cur == -1, 0, cur)
    return out


# ------------------------------------------------------------------------------------------------
# the chunk
# ------------------------------------------------------------------------------------------------
@dataclass
class ChunkResult:
    persons: Persons
    states: np.ndarray
    codes: np.ndarray  # (n, W) uint16
    grads: np.ndarray  # (n, M) int16, -1 = null
    meetings: dict[str, np.ndarray]
    truth: dict[str, np.ndarray]
    n_focal: int


def simulate_chunk(
    chunk: int,
    i0: int,
    n: int,
    seed: int,
    params: SynthParams,
    codes: Codes,
    cal: Calendar,
    world: World,
    obs_end: int | None = None,
) -> ChunkResult:
    """Simulate persons ``i0 .. i0+n-1`` (chunk number ``chunk``).

    ``obs_end`` is the local index of the week where DREAM ends for the outcomes (default: the last
    week); the potential and observed outcomes treat every later week as unobserved, as the pipeline
    does when ``grad_`` ends before the weeks. It changes no simulated value.
    """
    rng = np.random.default_rng([seed, 2, chunk])
    p = draw_persons(rng, i0, n, seed, codes, cal, world)
    zone = (cal.week_of_date(dt.date(2020, 2, 24)), cal.week_of_date(dt.date(2021, 4, 5)))
    bg = background_states(rng, p, cal, zone)
    foc = simulate_focal(rng, p, bg, cal, world, params, codes)
    states = bg
    states[foc.idx] = assemble_states(
        foc.pre, foc.template, foc.s, foc.e, foc.dest, foc.g, foc.L, foc.d1, foc.d2
    )
    zflag = np.zeros(n, bool)
    zmon = np.zeros(n, np.int64)
    ok, mon = _zero_exit_arg_rows(foc, p, np.arange(foc.idx.shape[0]), foc.e, cal)
    zflag[foc.idx] = ok
    zmon[foc.idx] = mon
    grads = grads_of(states, p.pid, p.grad_level, p.parttime_dp, (zflag, zmon), cal)
    codes_mat = np.take_along_axis(p.code_table, states.astype(np.int64), axis=1)
    meetings, elig_mask = _meetings(rng, p, foc, states, codes_mat, cal, world, params, codes)
    del elig_mask
    end = cal.n_weeks - 1 if obs_end is None else int(obs_end)
    truth = potential_outcomes(p, foc, codes_mat, grads, meetings, cal, codes, end)
    return ChunkResult(p, states, codes_mat, grads, meetings, truth, int(foc.idx.shape[0]))


def _meetings(
    rng: np.random.Generator,
    p: Persons,
    foc: Focal,
    states: np.ndarray,
    codes_mat: np.ndarray,
    cal: Calendar,
    world: World,
    params: SynthParams,
    codes: Codes,
) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """All meeting rows of the chunk (focal schedules held before the exit, background meetings)."""
    n_w = cal.n_weeks
    w19 = cal.week_of_date(dt.date(2018, 12, 31))
    # focal: meetings held before the exit week
    held = foc.m_valid & (foc.m_week < foc.e[:, None])
    fi, fk = np.nonzero(held)
    f_rows = foc.idx[fi]
    f_week = foc.m_week[fi, fk]
    f_dates = cal.mondays[f_week] + foc.m_day[fi, fk].astype("timedelta64[D]")
    keep = f_week >= w19
    parts = [
        dict(
            row=f_rows[keep],
            date=f_dates[keep],
            type=foc.m_type[fi, fk][keep],
            form=foc.m_form[fi, fk][keep],
            actor=np.full(keep.sum(), codes.jc, dtype=object),
            kom=foc.m_kom[fi, fk][keep],
            focal_k=fk[keep],
            focal_i=fi[keep],
            true_digital=foc.m_true_digital[fi, fk][keep],
        )
    ]
    # background jobcentre meetings on benefit weeks outside focal spells (2019 on)
    sub = states[:, w19:]
    nw = sub.shape[1]
    ben = np.isin(sub, (DP, KHJ, KHO, OTHB))
    ww = np.arange(nw)[None, :]
    change = np.ones_like(sub, dtype=bool)
    change[:, 1:] = sub[:, 1:] != sub[:, :-1]
    last_change = np.maximum.accumulate(np.where(change, ww, 0), axis=1)
    elapsed = ww - last_change
    tgt = np.isin(sub, (DP, KHJ))
    prob = (
        np.where(
            tgt,
            np.where(elapsed < 26, 1 / params.meeting_interval_early, 1 / params.meeting_interval_late),
            1 / 8.0,
        )
        * ben
    )
    draw = rng.random(sub.shape, dtype=np.float32) < prob
    bi, bw = np.nonzero(draw)
    bw_full = bw + w19
    b_dates = cal.mondays[bw_full] + rng.integers(0, 5, bi.shape[0]).astype("timedelta64[D]")
    is_t = tgt[bi, bw]
    others = np.array(codes.other_types)
    u = rng.random(bi.shape[0])
    b_type = np.where(
        is_t,
        np.where(u < 0.9, codes.jobsamtale, codes.followup_type),
        np.where(
            u < 0.5,
            codes.followup_type,
            np.where(u < 0.75, codes.jobsamtale, others[rng.integers(0, len(others), bi.shape[0])]),
        ),
    )
    b_kom = p.kom_at(bi, bw_full)
    parts.append(
        dict(
            row=bi,
            date=b_dates,
            type=b_type.astype(np.int32),
            actor=np.full(bi.shape[0], codes.jc, object),
            kom=b_kom,
        )
    )
    # a-kasse meetings on dagpenge weeks (focal ones included)
    dpw = np.isin(sub, (DP, FOC1, FOC2)) & np.isin(codes_mat[:, w19:], np.array(codes.dagpenge))
    draw = dpw & (rng.random(sub.shape, dtype=np.float32) < 1 / 12)
    ai, aw = np.nonzero(draw)
    aw_full = aw + w19
    a_dates = cal.mondays[aw_full] + rng.integers(0, 5, ai.shape[0]).astype("timedelta64[D]")
    ua = rng.random(ai.shape[0])
    a_type = np.where(ua < 0.5, codes.jobsamtale, others[rng.integers(0, len(others), ai.shape[0])])
    parts.append(
        dict(
            row=ai,
            date=a_dates,
            type=a_type.astype(np.int32),
            actor=np.full(ai.shape[0], codes.ak, object),
            kom=p.kom_at(ai, aw_full),
        )
    )
    # forms of the non-focal meetings
    dig_codes = np.array(codes.kf_digital, dtype=object)
    inp = codes.kf_in_person[0]
    let = codes.kf_other[0] if codes.kf_other else inp
    lvl = np.where(p.level == 0, 2, p.level).astype(np.float64)
    age20 = _age_at(p.birth, np.full(p.pid.shape[0], np.datetime64("2020-07-01", "D")))
    idx_all = 0.10 * (lvl - 4) - 0.012 * (age20 - 40) - 0.15 * p.immigrant
    for part in parts[1:]:
        r = part["row"]
        k = r.shape[0]
        logit = world.digital_logit(part["kom"], part["date"]) + params.selection_strength * (
            idx_all[r] - BG_INDEX_CENTER
        )
        dig = rng.random(k) < _sigmoid(logit)
        letter = rng.random(k) < params.letter_share
        dig &= ~letter
        form = np.where(
            letter, let, np.where(dig, dig_codes[rng.integers(0, len(dig_codes), k)], inp)
        ).astype(object)
        mon = np.clip(cal.month_of(part["date"]), 0, cal.n_months - 1)
        wrong = (world.confirmed[part["kom"], mon] == 0) & ~letter & (rng.random(k) < params.misregistration)
        part["form"] = np.where(wrong & dig, inp, np.where(wrong & ~dig, dig_codes[0], form)).astype(object)
        part["focal_k"] = np.full(k, -1)
        part["focal_i"] = np.full(k, -1)
        part["true_digital"] = dig
    m = {key: np.concatenate([pt[key] for pt in parts]) for key in parts[0]}
    order = np.lexsort((m["actor"].astype(str), m["date"], m["row"]))
    m = {key: v[order] for key, v in m.items()}
    # eligibility (the plan's default rules, applied to the registered data)
    week = cal.week_of(m["date"])
    d = m["date"]
    in_window = (d >= np.datetime64(WINDOW_START, "D")) & (d <= np.datetime64(WINDOW_END, "D"))
    cat_ok = np.isin(m["form"], codes.kf_digital + codes.kf_in_person)
    mon = np.clip(cal.month_of(d), 0, cal.n_months - 1)
    conf = world.confirmed[m["kom"], mon] == 1
    code_m = codes_mat[m["row"], np.clip(week, 0, n_w - 1)]
    tgt_m = codes.target_lookup[code_m] >= 0
    elig = (m["type"] == codes.jobsamtale) & (m["actor"] == codes.jc) & in_window & cat_ok & conf & tgt_m
    if (elig & (m["focal_k"] < 0)).any():
        raise RuntimeError("synth: an eligible meeting outside a simulated focal spell (generator bug)")
    m["week"] = week
    m["digital"] = np.isin(m["form"], codes.kf_digital)
    m["eligible"] = elig
    return m, elig


def potential_outcomes(
    p: Persons,
    foc: Focal,
    codes_mat: np.ndarray,
    grads: np.ndarray,
    meetings: dict,
    cal: Calendar,
    codes: Codes,
    obs_end: int | None = None,
) -> dict[str, np.ndarray]:
    """Both potential values of every outcome for every eligible meeting (common random numbers).

    Outcomes are computed as the delivery shows them: ``obs_end`` (local index; default the last week)
    is the last week with employment information (its month delivered in grad), where DREAM ends for the
    outcomes (see :func:`synth.outcomes.compute_outcomes`).

    For meeting j of focal person i the multiplier of the weeks after j up to the next meeting is set
    to 1 (in person) or to the meeting's hazard ratio (digital); everything else (the Exp(1) draw, the
    later meetings' forms and weeks, the post-exit path relative to the exit week) is kept.
    """
    sel = np.flatnonzero(meetings["eligible"])
    fi = meetings["focal_i"][sel]
    fk = meetings["focal_k"][sel]
    m_week = meetings["week"][sel]
    n_w = cal.n_weeks
    res: dict[str, list[np.ndarray]] = {}
    for b0 in range(0, sel.shape[0], BATCH_ROWS):
        bi = fi[b0 : b0 + BATCH_ROWS]
        bk = fk[b0 : b0 + BATCH_ROWS]
        bm = m_week[b0 : b0 + BATCH_ROWS]
        rows = foc.idx[bi]
        # crop to whole months holding every week an outcome looks at
        k0 = int(cal.week_month[max(int(foc.s[bi].min()) - 60, 0)])
        w0 = int(cal.month_start_week[k0])
        hi = min(int(bm.max()) + 64, n_w - 1)
        k1 = int(cal.week_month[hi]) + 1
        w1 = int(cal.month_start_week[k1]) if k1 < cal.n_months else n_w
        in_int = foc.idx_last[bi, w0:w1] == (bk + 1)[:, None]
        # d = 2: the other digital form than the meeting's latent one (the three-arm truth)
        lat_tel = foc.m_latent_tel[bi, bk]
        other_hr = np.where(lat_tel, foc.m_hr_vid[bi, bk], foc.m_hr_tel[bi, bk])
        for d in (0, 1, 2):
            f_d = np.ones(bi.shape[0]) if d == 0 else foc.m_hr[bi, bk] if d == 1 else other_hr
            mult = np.where(in_int, f_d[:, None], foc.mult[bi, w0:w1])
            e_c = exit_weeks(foc.lam[bi, w0:w1], mult, foc.e_draw[bi])
            e_d = np.where(e_c < w1 - w0, e_c + w0, n_w)
            st = assemble_states(
                foc.pre[bi, w0:w1],
                foc.template[bi, w0:w1],
                foc.s[bi] - w0,
                e_d - w0,
                foc.dest[bi],
                foc.g[bi],
                foc.L[bi],
                foc.d1[bi],
                foc.d2[bi],
            )
            zf = _zero_exit_arg_rows(foc, p, bi, e_d, cal)
            gr = grads_of(st, p.pid[rows], p.grad_level[rows], p.parttime_dp[rows], zf, cal, k0, w0)
            cm = np.take_along_axis(p.code_table[rows], st.astype(np.int64), axis=1)
            out = compute_outcomes(
                cm,
                gr,
                bm,
                cal.week_month[w0:w1] - k0,
                codes.kind_lookup,
                codes.target_lookup,
                week0=w0,
                n_weeks_total=n_w,
                employment_end=obs_end,
            )
            for name in OUTCOMES:
                res.setdefault(f"{name}__{d}", []).append(out[name])
            res.setdefault(f"exit_spell__{d}", []).append(e_d)
        obs = compute_outcomes(
            codes_mat[rows],
            grads[rows],
            bm,
            cal.week_month,
            codes.kind_lookup,
            codes.target_lookup,
            employment_end=obs_end,
        )
        for name in OUTCOMES:
            res.setdefault(f"{name}__obs", []).append(obs[name])
        res.setdefault("spell_start", []).append(obs["spell_start"])
        res.setdefault("hr", []).append(foc.m_hr[bi, bk])
        res.setdefault("latent_telephone", []).append(lat_tel)
    out_arr = {k: np.concatenate(v) if v else np.empty(0) for k, v in res.items()}
    # potential values under telephone and video: the latent form's (d = 1) and the other form's (d = 2)
    if "latent_telephone" in out_arr:
        lt = out_arr.pop("latent_telephone").astype(bool)
        for name in OUTCOMES:
            y1, y2 = out_arr[f"{name}__1"], out_arr.pop(f"{name}__2")
            out_arr[f"{name}__tel"] = np.where(lt, y1, y2)
            out_arr[f"{name}__vid"] = np.where(lt, y2, y1)
        out_arr.pop("exit_spell__2", None)
    if not out_arr:
        for name in OUTCOMES:
            for suf in ("__0", "__1", "__obs", "__tel", "__vid"):
                out_arr[name + suf] = np.empty(0)
        out_arr["spell_start"] = np.empty(0, np.int64)
        out_arr["hr"] = np.empty(0)
        out_arr["exit_spell__0"] = out_arr["exit_spell__1"] = np.empty(0, np.int64)
    out_arr["_sel"] = sel
    return out_arr


def _zero_exit_arg_rows(
    foc: Focal, p: Persons, bi: np.ndarray, e: np.ndarray, cal: Calendar
) -> tuple[np.ndarray, np.ndarray]:
    rows = foc.idx[bi]
    ok = (foc.dest[bi] == D_EMP) & (foc.g[bi] > 0) & (e < cal.n_weeks) & p.zero_exit_grad[rows]
    mon = cal.week_month[np.clip(e, 0, cal.n_weeks - 1)]
    return ok, mon
