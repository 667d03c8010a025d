"""Can this delivery answer the question? Minimum detectable effects, effective sample sizes and a verdict.

Every number here is an aggregate of the estimation's results and of the analysis table (no per-person
value leaves this module). The arithmetic (docs/estimation.md, "Feasibility"):

* ``mde_80`` = (z_{0.975} + z_{0.80}) x SE = 2.8016 x SE: the smallest true effect the design's two-sided
  5% test finds with 80% probability (normal approximation, the SE taken as known).
* Kish's effective sample size of weights w in one arm: (sum w)^2 / sum w^2. IRM-ATT weighs treated
  meetings 1 and controls p/(1-p); IRM-ATE weighs 1/p and 1/(1-p) (p the cross-fitted propensity).
* A 1:1 reversed trial with the same MDE needs n = 2 (z_{0.975} + z_{0.80})^2 sigma^2 / MDE^2 persons per
  arm, sigma the standard deviation of the outcome (observed values of the analysis table, one meeting per
  randomized person assumed).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import polars as pl
from scipy.stats import norm

from data_contracts.designs import CAUSAL_DESIGN_NAMES, DESIGNS, outcome_kind_name
from data_contracts.designs import outcome as outcome_record
from models._checks import _check_column, _check_table
from models.disclosure import TableSpec
from models.instrument import WEAK_F

Z_ALPHA = float(norm.ppf(0.975))
Z_POWER = float(norm.ppf(0.80))
MDE_FACTOR = Z_ALPHA + Z_POWER  # 2.8016
SMALL_CELL = 5

# designs whose estimate is a causal effect of digital under their assumptions (the naive difference is not)
CAUSAL_DESIGNS = CAUSAL_DESIGN_NAMES
DESIGN_LABELS = {d.name: d.short_label for d in DESIGNS if d.binary}


def _exit_horizon(name: str) -> int | None:
    """The horizon (weeks) of an exit outcome (kind ``exit``), else None."""
    return outcome_record(name).horizon if outcome_kind_name(name) == "exit" else None


FEASIBILITY_COLUMNS = [
    "outcome", "design", "contrast", "n", "n_treated", "n_control", "se", "mde_80", "relevant_effect",
    "mde_to_effect", "ess_treated", "ess_control", "n_trimmed_treated", "n_trimmed_control", "share_meetings_small_cells",
    "first_stage_f", "outcome_sd", "trial_persons_per_arm", "trial_persons",
]  # fmt: skip


def _check_positive(name: str, value: float) -> float:
    if not (
        isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value) and value > 0
    ):
        raise ValueError(f"{name} must be a finite positive number; got {value!r}")
    return float(value)


def kish_ess(weights: np.ndarray) -> float:
    """Kish's effective sample size (sum w)^2 / sum w^2 of non-negative ``weights`` (0 for no weight)."""
    w = np.asarray(weights, dtype=np.float64)
    if w.ndim != 1 or not np.all(np.isfinite(w)) or np.any(w < 0):
        raise ValueError(f"weights must be a 1-d array of finite non-negative numbers; got shape {w.shape}")
    ss = float(np.sum(w * w))
    return 0.0 if ss == 0 else float(np.sum(w)) ** 2 / ss


def ess_by_arm(
    propensity: np.ndarray, treated: np.ndarray, target: str = "ATT", clip: float = 1e-2
) -> tuple[float, float]:
    """Kish effective sample sizes (treated, control) of the IRM weights.

    Parameters
    ----------
    propensity : array
        Cross-fitted propensities of the units the estimate uses (after trimming).
    treated : array
        0/1 treatment of the same units.
    target : {"ATT", "ATE"}
        ATT weights: treated 1, controls p/(1-p); ATE weights: 1/p and 1/(1-p).
    clip : float
        Propensities are clipped to [clip, 1 - clip], as DoubleML clips them in the score.
    """
    p = np.asarray(propensity, dtype=np.float64)
    d = np.asarray(treated, dtype=np.float64)
    if p.shape != d.shape or p.ndim != 1:
        raise ValueError(f"propensity and treated must be 1-d of one length; got {p.shape} and {d.shape}")
    if target not in ("ATT", "ATE"):
        raise ValueError(f"target must be 'ATT' or 'ATE'; got {target!r}")
    if not 0 <= clip < 0.5:
        raise ValueError(f"clip must lie in [0, 0.5); got {clip!r}")
    p = np.clip(p, clip, 1 - clip)
    t, c = d == 1, d == 0
    if target == "ATT":
        return kish_ess(np.ones(int(t.sum()))), kish_ess(p[c] / (1 - p[c]))
    return kish_ess(1 / p[t]), kish_ess(1 / (1 - p[c]))


def mde_80(se: float) -> float:
    """Minimum detectable effect at 80% power and a two-sided 5% level: 2.8016 x ``se``."""
    return MDE_FACTOR * _check_positive("se", se)


def trial_persons_per_arm(sigma: float, mde: float) -> int:
    """Persons per arm of a 1:1 trial that detects ``mde`` (80% power, 5% two-sided) for an outcome of
    standard deviation ``sigma``: ceil(2 (z_{0.975} + z_{0.80})^2 sigma^2 / mde^2)."""
    s = _check_positive("sigma", sigma)
    m = _check_positive("mde", mde)
    # rounded before the ceiling, so that a floating-point excess (3200.0000000004) does not add a person
    return int(math.ceil(round(2 * MDE_FACTOR**2 * s * s / (m * m), 6)))


def small_cell_share(
    table: pl.DataFrame, treatment: str, cells: Sequence[str], min_in_person: int = SMALL_CELL
) -> float:
    """Share of the table's meetings that lie in cells (e.g. municipality x month) with fewer than
    ``min_in_person`` in-person meetings (``treatment`` = 0): where the comparison has almost nothing to
    compare with."""
    _check_table("table", table)
    for c in (treatment, *cells):
        _check_column("cells" if c != treatment else "treatment", table, c)
    if table.height == 0:
        raise ValueError("table has no rows")
    per = table.group_by(list(cells)).agg(pl.len().alias("_n"), (pl.col(treatment) == 0).sum().alias("_c"))
    small = per.filter(pl.col("_c") < min_in_person)["_n"].sum()
    return float(small) / table.height


def feasibility_table(
    estimates: pl.DataFrame,
    table: pl.DataFrame,
    treatment: str,
    cells: Sequence[str],
    relevant_effect: float,
    min_in_person: int = SMALL_CELL,
) -> pl.DataFrame:
    """``feasibility.parquet``: per outcome and design (and contrast: the modality design's, null for a binary
    design, as in the estimates) the SE, ``mde_80``, the effect size that matters
    (``relevant_effect``, on every outcome's own scale: meant for the exit outcomes) and the ratio of the
    two, Kish ESS by arm and units trimmed by arm (when the estimates carry them; null otherwise), the
    share of meetings in ``cells`` with fewer than ``min_in_person`` in-person meetings (of the rows with
    the outcome observed), PLIV's first-stage F, the outcome's SD and the 1:1 trial with the same MDE.
    """
    _check_table("estimates", estimates)
    _check_table("table", table)
    _check_positive("relevant_effect", relevant_effect)
    for c in ("outcome", "design", "se", "n"):
        _check_column("estimates", estimates, c)
    rows = []
    cache: dict[str, tuple[float | None, float]] = {}
    for r in estimates.iter_rows(named=True):
        o = r["outcome"]
        if o not in cache:
            sd: float | None = None
            share = float("nan")
            if o in table.columns:
                obs = table.filter(pl.col(o).is_not_null() & pl.col(o).cast(pl.Float64).is_not_nan())
                s = obs.get_column(o).cast(pl.Float64)
                sd = float(s.std()) if s.len() >= 2 else None
                if obs.height:
                    share = small_cell_share(obs, treatment, cells, min_in_person)
            cache[o] = (sd, share)
        sd, share = cache[o]
        se = r["se"]
        ok = se is not None and math.isfinite(se) and se > 0
        mde = mde_80(se) if ok else None
        per_arm = trial_persons_per_arm(sd, mde) if (mde is not None and sd) else None
        n_t = r.get("n_treated")
        rows.append({
            "outcome": o, "design": r["design"], "contrast": r.get("contrast"), "n": r["n"], "n_treated": n_t,
            "n_control": r.get("n_control", (r["n"] - n_t) if n_t is not None else None),
            "se": se if ok else None, "mde_80": mde, "relevant_effect": float(relevant_effect),
            "mde_to_effect": None if mde is None else mde / relevant_effect,
            "ess_treated": r.get("ess_treated"), "ess_control": r.get("ess_control"),
            "n_trimmed_treated": r.get("n_trimmed_treated"), "n_trimmed_control": r.get("n_trimmed_control"),
            "share_meetings_small_cells": share, "first_stage_f": r.get("first_stage_f"), "outcome_sd": sd,
            "trial_persons_per_arm": per_arm, "trial_persons": None if per_arm is None else 2 * per_arm,
        })  # fmt: skip
    schema = {c: pl.Float64 for c in FEASIBILITY_COLUMNS}
    schema.update(outcome=pl.String, design=pl.String, contrast=pl.String)
    for c in ("n", "n_treated", "n_control", "n_trimmed_treated", "n_trimmed_control", "trial_persons_per_arm",
              "trial_persons"):  # fmt: skip
        schema[c] = pl.Int64
    return pl.DataFrame(rows, schema=schema, strict=False).select(FEASIBILITY_COLUMNS)


def _pp(v: float) -> str:
    return f"{100 * v:.1f} percentage points"


def verdict(feasibility: pl.DataFrame, outcome: str, effect: tuple[float, float] | float) -> list[str]:
    """The feasibility verdict as sentences (first the answer, then the closest design, then the trial).

    Parameters
    ----------
    feasibility : polars.DataFrame
        :func:`feasibility_table`'s output.
    outcome : str
        The outcome the question is about (default in the configuration: exit within 26 weeks).
    effect : float or (float, float)
        The effect size that matters, as a share (0.01 = 1 percentage point), or a range (low, high): the
        delivery can answer if its best design detects ``low``; it can detect only large effects if its
        MDE lies between ``low`` and ``high``; it cannot answer above ``high``.
    """
    _check_table("feasibility", feasibility)
    lo, hi = (effect, effect) if isinstance(effect, int | float) else tuple(effect)
    _check_positive("effect", lo)
    _check_positive("effect", hi)
    if hi < lo:
        raise ValueError(f"effect must be (low, high) with low <= high; got {effect!r}")
    usable = feasibility.filter(pl.col("design").is_in(list(CAUSAL_DESIGNS)) & pl.col("mde_80").is_not_null())
    rows = usable.filter(pl.col("outcome") == outcome).sort("mde_80")
    note = None
    if rows.height == 0:
        # the configured outcome was not estimated in this run: the longest exit horizon that was, said so
        exits = sorted(
            {o for o in usable["outcome"].to_list() if _exit_horizon(o) is not None},
            key=_exit_horizon,
        )
        if exits:
            note = f"(on {exits[-1]}: the configured outcome {outcome} was not estimated in this run)"
            outcome = exits[-1]
            rows = usable.filter(pl.col("outcome") == outcome).sort("mde_80")
    if rows.height == 0:
        return [
            f"NOT ASSESSED: no design estimated {outcome} with a usable standard error, so this run cannot say "
            "whether the delivery can detect an effect of the size that matters."
        ]
    best = rows.row(0, named=True)
    name = DESIGN_LABELS.get(best["design"], best["design"])
    size = _pp(lo) if lo == hi else f"{100 * lo:.1f}-{100 * hi:.1f} percentage points"
    mde = best["mde_80"]
    if mde <= lo:
        head = (
            f"CAN ANSWER: this delivery can tell an effect of {_pp(lo)} on {outcome} from zero. The closest "
            f"design, {name}, detects effects of {_pp(mde)} or more (80% power, 5% level; SE {_pp(best['se'])})."
        )
    elif mde <= hi:
        head = (
            f"ONLY LARGE EFFECTS: this delivery can tell an effect of {_pp(hi)} on {outcome} from zero but not one "
            f"of {_pp(lo)}. The closest design, {name}, detects effects of {_pp(mde)} or more (80% power, 5% level; "
            f"SE {_pp(best['se'])})."
        )
    else:
        head = (
            f"CANNOT ANSWER: this delivery cannot tell an effect of the size that matters ({size}) on {outcome} "
            f"from zero. The closest design, {name}, detects only effects of {_pp(mde)} or more (80% power, 5% "
            f"level; SE {_pp(best['se'])}): a null result would not show that the meeting form does not matter."
        )
    out = [head] if note is None else [f"{head} {note}"]

    def weak(r: dict) -> str:
        f = r.get("first_stage_f")
        return f" (weak instrument: first-stage F {f:.1f})" if f is not None and f < WEAK_F else ""

    others = [
        f"{DESIGN_LABELS.get(r['design'], r['design'])} {_pp(r['mde_80'])}{weak(r)}"
        for r in rows.iter_rows(named=True)
    ][1:]
    if others:
        out.append("Minimum detectable effects of the other designs: " + "; ".join(others) + ".")
    share = best.get("share_meetings_small_cells")
    if share is not None and math.isfinite(share):
        out.append(
            f"{100 * share:.0f}% of the meetings lie in municipality-months with fewer than {SMALL_CELL} in-person "
            "meetings to compare with."
        )
    sd = best.get("outcome_sd")
    if sd:
        need = trial_persons_per_arm(sd, lo)
        out.append(
            f"A 1:1 reversed trial (randomizing the meeting form) of about {2 * need:,} persons ({need:,} per arm; "
            f"sigma = {sd:.3f}, the standard deviation of {outcome} in this delivery) would detect {_pp(lo)}; this "
            f"delivery's best design is worth a trial of {best['trial_persons']:,} persons."
        )
    return out


def feasibility_spec(feasibility: pl.DataFrame) -> TableSpec:
    """The feasibility table as offered to the disclosure gate (``tables/feasibility.csv``).

    Counts: ``n``, ``n_treated``, ``n_control`` (meetings of the estimate) and, when reported,
    ``n_trimmed_treated`` / ``n_trimmed_control``; every other number (SE, MDE, ESS, shares, F, SD, the
    hypothetical trial's persons) is a value backed by the estimate's counts, so a suppressed count hides
    the row's values.
    """
    _check_table("feasibility", feasibility)
    # the file's key has the modality design's contrast; the published table is by outcome and design, as it
    # was before the key (the report and the summary unchanged)
    df = feasibility.drop("contrast", strict=False)
    # a trimming count no estimate reported is left out rather than published as empty
    df = df.drop(
        [
            c
            for c in ("n_trimmed_treated", "n_trimmed_control")
            if c in df.columns and df[c].null_count() == df.height
        ]
    )
    keys = ["outcome", "design"]
    counts = [
        c
        for c in ("n", "n_treated", "n_control", "n_trimmed_treated", "n_trimmed_control")
        if c in df.columns
    ]
    values = [c for c in df.columns if c not in keys and c not in counts]
    base = [c for c in ("n", "n_treated", "n_control") if c in counts]
    row_margins = [("n_treated", "n_control")] if {"n_treated", "n_control"} <= set(counts) else []
    if {"n_trimmed_treated", "n_trimmed_control"} <= set(counts):
        row_margins.append(("n_trimmed_treated", "n_trimmed_control"))
    return TableSpec(
        name="feasibility",
        df=df.select(*keys, *values, *[pl.col(c).cast(pl.Int64) for c in counts]),
        count_columns=counts,
        value_columns_by_count={c: values for c in base},
        description="Feasibility: minimum detectable effect (80% power, 5% level), effective sample sizes and "
        "the 1:1 reversed trial with the same MDE, by outcome and design",
        key_columns=keys,
        margins=[],
        row_margins=row_margins,
        unit="meetings",
    )
