"""The report's sentences computed from the approved numbers and the configuration: the headline, the
feasibility verdict, the run status and the trimming warnings, and the plain words for outcomes and designs.

No Dagster, no HTML (the templates escape these strings). Fixed prose lives in the templates.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import polars as pl

from assets.report.render.cells import primary, visible
from data_contracts.config import FINAL_MIN_REPS
from models.disclosure import GateResult, is_small
from models.feasibility import verdict

DESIGN_LABELS = {
    "irm_att": "IRM, ATT (effect on the digitally met)",
    "irm_ate": "IRM, ATE (average effect)",
    "plr": "PLR (partially linear, robustness)",
    "pliv": "PLIV (jobcentre-practice instrument)",
    "naive": "naive difference in means",
    "irm_att_first": "IRM, ATT on the first meeting of each spell (secondary unit)",
    "modality": "APOS, contrasts of the meeting forms (in person, telephone, video)",
}


def is_exit(outcome: str) -> bool:
    """An exit outcome (a probability, shown in percentage points)."""
    return str(outcome).startswith("y_")


def outcome_scale(outcome: str) -> tuple[float, str]:
    """The factor and unit an outcome's effects are shown in."""
    if "income" in str(outcome):
        return 1.0, "DKK"
    return (100.0, "percentage points") if is_exit(outcome) else (1.0, "weeks")


def _pct(x: float | None) -> str:
    if x is None:
        return "n/a"
    return f"{100 * x:.1f}%" if abs(x) >= 0.001 else f"{100 * x:.2g}%"


def outcome_label(outcome: str) -> str:
    """Plain words for an outcome name (``y_exit_13w`` -> "the probability of exit to employment ...")."""
    m = re.fullmatch(r"y_exit_(\d+)w", outcome)
    if m:
        return f"the probability of exit to employment within {m.group(1)} weeks"
    m = re.fullmatch(r"weeks_selfsupport_(\d+)w", outcome)
    if m:
        return f"the number of weeks of self-support in the {m.group(1)} weeks after the meeting"
    m = re.fullmatch(r"weeks_selfsupport_pre(\d+)w", outcome)
    if m:
        return f"the weeks of self-support in the {m.group(1)} weeks before the spell (placebo)"
    if outcome == "wage_income_2y_before":
        return "wage income two years before the meeting year (placebo)"
    m = re.fullmatch(r"y_exit_(\d+)w_pseudo", outcome)
    if m:
        return f"exit to employment within {m.group(1)} weeks of a pseudo-meeting before the spell (negative control)"
    return outcome


def _eff(v: float, outcome: str, signed: bool = True) -> str:
    s, unit = outcome_scale(outcome)
    x = v * s
    return f"{x:+.1f} {unit}" if signed else f"{x:.1f} {unit}"


def feasibility_verdict(r: GateResult | None, cfg: Any) -> tuple[list[str], str]:
    """The verdict that opens the report, from the gated feasibility table (never from suppressed cells):
    its sentences, or no sentences and why there is no verdict."""
    if r is None or r.table is None:
        why = (
            "the run wrote no feasibility table"
            if r is None
            else f"withheld by disclosure control: {r.reason}"
        )
        return [], why
    e = cfg.estimation
    df = visible(r, ["mde_80"])
    lines = verdict(
        df if df is not None and df.height else r.table.clear(), e.feasibility_outcome, e.feasibility_effect
    )
    return lines, ""


def headlines(results: Mapping[str, GateResult], cfg: Any, synthetic: bool) -> list[str]:
    """Plain-language sentences from the approved numbers: what, on whom, how big, how sure, what if wrong."""
    out: list[str] = []
    outcomes = list(cfg.estimation.primary_outcomes)
    est = results.get("estimates")
    df = visible(est, ["estimate", "ci_low", "ci_high"]) if est else None
    placebo_outcomes = set(getattr(cfg.estimation, "placebo_outcomes", ()))
    present = [o for o in outcomes if df is not None and o in set(df["outcome"].to_list())] or outcomes
    designs = [d for d in cfg.estimation.designs if df is None or d in set(df["design"].to_list())]
    out.append(
        "What was estimated: the effect of holding a jobsamtale digitally (by phone or video) rather than in "
        "person on "
        + "; ".join(outcome_label(o) for o in present)
        + ", using "
        + ", ".join(DESIGN_LABELS.get(d, d) for d in (designs or cfg.estimation.designs))
        + "."
    )
    if df is None or df.height == 0:
        out.append("No estimate is available for publication yet (estimation outputs missing or suppressed).")
        return out
    od = primary(df, outcomes)
    row = df.filter((pl.col("outcome") == od[0]) & (pl.col("design") == od[1])).row(0, named=True)
    o, d = od
    n_txt = "an unpublished number of" if row.get("n") is None else f"{row['n']:,}".replace(",", " ")
    nt = (
        ""
        if row.get("n_treated") is None
        else ", of which " + f"{row['n_treated']:,}".replace(",", " ") + " digital"
    )
    trim = ""
    if row.get("n_trimmed") is not None:
        trim = f"; {row['n_trimmed']} meetings were left out for lack of overlap (propensity outside {list(cfg.estimation.trim)})"
    out.append(
        f"On whom: {n_txt} eligible jobsamtaler{nt}, held by jobcentres from {cfg.cohort.window_start} to "
        f"{cfg.cohort.window_end} with " + " and ".join(cfg.cohort.target_groups) + " recipients" + trim + "."
    )
    p = row.get("p_value")
    sig = p is not None and p < 0.05
    crosses = row["ci_low"] <= 0 <= row["ci_high"]
    who = "for the meetings that were held digitally" if d == "irm_att" else "on average over all meetings"
    out.append(
        f"How big: {who}, a digital rather than an in-person meeting changed {outcome_label(o)} ({o}) by "
        f"{_eff(row['estimate'], o)} "
        f"({DESIGN_LABELS.get(d, d)})."
    )
    out.append(
        f"How sure: the 95% confidence interval runs from {_eff(row['ci_low'], o)} to {_eff(row['ci_high'], o)}"
        + (f" (p = {p:.3g})" if p is not None else "")
        + "; "
        + (
            "the interval includes zero, so the data cannot tell the effect from no effect."
            if crosses
            else (
                "the effect is statistically distinguishable from zero."
                if sig or p is None
                else "the effect is borderline."
            )
        )
    )
    first = df.filter((pl.col("outcome") == o) & (pl.col("design") == f"{d}_first"))
    if first.height:
        # the secondary unit beside the primary: later meetings condition on still being unemployed
        f = first.row(0, named=True)
        out.append(
            "On the first eligible meeting of each spell only (the secondary unit, which does not condition on "
            f"still being unemployed at a later meeting): {_eff(f['estimate'], o)} (95% CI {_eff(f['ci_low'], o)} "
            f"to {_eff(f['ci_high'], o)}"
            + ("" if f.get("n") is None else ", " + f"{f['n']:,}".replace(",", " ") + " meetings")
            + ")."
        )
    others = df.filter(
        (pl.col("design") == d)
        & (pl.col("outcome") != o)
        & pl.col("outcome").is_in(outcomes)
        & ~pl.col("outcome").is_in(list(placebo_outcomes))
    )
    if others.height:
        out.append(
            "Other outcomes ("
            + DESIGN_LABELS.get(d, d)
            + "): "
            + "; ".join(
                f"{r['outcome']} {_eff(r['estimate'], r['outcome'])} (95% CI {_eff(r['ci_low'], r['outcome'])} "
                f"to {_eff(r['ci_high'], r['outcome'])})"
                for r in others.iter_rows(named=True)
            )
            + "."
        )
    if "first_stage_f" in df.columns:
        weak = df.filter((pl.col("design") == "pliv") & (pl.col("first_stage_f") < 10))
        if weak.height:
            out.append(
                "Weak instrument: the jobcentre-practice instrument has a first-stage F below 10 for "
                + ", ".join(weak["outcome"].to_list())
                + "; its Wald intervals are unreliable, use the Anderson-Rubin intervals (ar_ci_low, ar_ci_high)."
            )
    sens = results.get("sensitivity")
    sdf = visible(sens, ["rv"]) if sens else None
    wrong = (
        "What would have to be true for it to be wrong: the estimate assumes that, given the covariates "
        "(benefit history, age, education, income, municipality, month and others), whether a meeting "
        "was digital is unrelated to the person's chances of finding work, that registered meeting forms "
        "are correct in the confirmed municipality-months, and that comparable digital and in-person "
        "meetings exist (overlap)."
    )
    if sdf is not None and sdf.height:
        srow = sdf.filter((pl.col("outcome") == o) & (pl.col("design") == d))
        if srow.height:
            base = srow.filter(pl.col("benchmark").is_null()) if "benchmark" in srow.columns else srow
            s = (base if base.height else srow).row(0, named=True)
            wrong += (
                f" An unobserved confounder would have to explain {_pct(s['rv'])} of the residual "
                f"variation of both the meeting form and the outcome to bring the estimate to zero"
                + (
                    "; the estimate is already not statistically significant"
                    if crosses
                    else (
                        f", and {_pct(s.get('rva'))} to make it statistically insignificant"
                        if s.get("rva") is not None
                        else ""
                    )
                )
                + "."
            )
            bm = (
                srow.filter(pl.col("benchmark").is_not_null())
                if "benchmark" in srow.columns
                else srow.head(0)
            )
            if bm.height:
                b = bm.row(0, named=True)
                wrong += (
                    f" For comparison, the observed covariates '{b['benchmark']}' correspond to "
                    f"cf_y = {b['cf_y']:.3g} and cf_d = {b['cf_d']:.3g}."
                )
    plc = results.get("placebos")
    pdf = visible(plc, ["estimate", "ci_low", "ci_high"]) if plc else None
    if pdf is not None and pdf.height and "design" in pdf.columns:
        # the placebo of the headline design (the naive difference is expected to fail it)
        same = pdf.filter(pl.col("design") == d)
        pdf = same if same.height else pdf.filter(pl.col("design") != "naive")
    if pdf is not None and pdf.height:
        for pr in pdf.iter_rows(named=True):
            ok = pr["ci_low"] <= 0 <= pr["ci_high"]
            po = pr.get("outcome", "")
            wrong += (
                f" The {str(pr.get('kind', 'placebo')).replace('_', ' ')} placebo ({po}) gives "
                f"{_eff(pr['estimate'], po)} (95% CI {_eff(pr['ci_low'], po)} to {_eff(pr['ci_high'], po)}): "
                + (
                    "consistent with no effect, as it should be."
                    if ok
                    else "NOT consistent with no effect, a warning sign of remaining confounding."
                )
            )
    out.append(wrong)
    if synthetic and row.get("true_value") is not None:
        tv = row["true_value"]
        inside = row["ci_low"] <= tv <= row["ci_high"]
        out.append(
            f"Synthetic check: the true value built into the synthetic data is {_eff(tv, o)}; the "
            f"interval {'covers' if inside else 'does NOT cover'} it."
        )
    return out


def run_status(cfg: Any) -> str:
    """'final' or 'exploratory' with the number of repetitions (the plan: a final run has at least 5)."""
    e = cfg.estimation
    n = e.n_reps
    if n < FINAL_MIN_REPS:
        return (
            f"exploratory: {n} repetition(s) of the sample split, fewer than the {FINAL_MIN_REPS} of a final "
            "run (regdml run --final)"
        )
    return (
        f"final: {n} repetitions of the sample split" if e.final else f"{n} repetitions of the sample split"
    )


def trimming_warnings(estimates: pl.DataFrame | None, min_cell: int, share: float = 0.10) -> list[str]:
    """A warning per estimate whose trimming removed more than ``share`` of the treated or of the control
    units: the estimand is then the effect among the units with overlap. Shares only, never counts, and
    the share itself only when at least ``min_cell`` units were removed (a share of fewer could reveal
    a small count)."""
    need = {"outcome", "design", "n_treated", "n", "n_trimmed_treated", "n_trimmed_control"}
    if estimates is None or not need <= set(estimates.columns):
        return []
    out = []
    for r in estimates.iter_rows(named=True):
        if r["n_treated"] is None or r["n_trimmed_treated"] is None or r["n_trimmed_control"] is None:
            continue
        arms = (("treated", r["n_trimmed_treated"], r["n_treated"]),
                ("control", r["n_trimmed_control"], r["n"] - r["n_treated"]))  # fmt: skip
        for arm, k, kept in arms:
            total = k + kept
            if total > 0 and k / total > share:
                how = f"more than {100 * share:.0f}%" if is_small(k, min_cell) else f"{100 * k / total:.0f}%"
                out.append(
                    f"{r['outcome']}, {DESIGN_LABELS.get(r['design'], r['design'])}: trimming removed {how} "
                    f"of the {arm} meetings (warning above {100 * share:.0f}%); the estimand changed to the "
                    "effect among meetings with overlap."
                )
    return out


def value_text(r: GateResult | None, cfg: Any) -> dict[str, Any] | None:
    """The sentences of the section "What a digital meeting is worth" (from the gated value table) and
    its inputs as (name, value, source) rows; None when the configuration has no value section."""
    from models import value as V

    vcfg = getattr(cfg, "value", None)
    if vcfg is None:
        return None
    sentences: list[str] = []
    if r is not None and r.table is not None:
        t = r.table
        sentences = [V.headline(t, vcfg.design, vcfg.outcome)] + V.debate_sentences(t, vcfg)
        groups = t["benefit_group"].to_list()
        if V.ALL in groups and r.suppressed.get("effect_weeks", [False] * t.height)[groups.index(V.ALL)]:
            sentences.append("The overall estimate is suppressed by disclosure control in this table.")
    return {"sentences": sentences, "inputs": list(V.assumption_rows(vcfg))}
