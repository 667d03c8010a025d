"""The figures of the sensitivity, modality, value and feasibility sections (from approved tables only).

No Dagster.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import polars as pl

from assets.report.render.cells import primary_rows, visible
from assets.report.render.figures import FigureRecord, finish, plt
from assets.report.render.modality import FORMS
from assets.report.render.text import is_exit, outcome_scale
from models.disclosure import GateResult
from models.feasibility import DESIGN_LABELS as FEASIBILITY_LABELS


def max_bias_from_row(row: Mapping[str, Any]) -> float | None:
    """The bias scale S (DoubleML's ``max_bias``) implied by one sensitivity row.

    DoubleML: ``theta_lower/upper = theta -/+ |rho| * sqrt(cf_y * cf_d / (1 - cf_d)) * S``; so
    ``S = (theta_upper - theta_lower) / (2 |rho| sqrt(cf_y cf_d / (1 - cf_d)))``. A stored ``max_bias``
    column is used when present.
    """
    if row.get("max_bias") is not None:
        return float(row["max_bias"])
    try:
        cf_y, cf_d, rho = float(row["cf_y"]), float(row["cf_d"]), float(row["rho"])
        lo, hi = float(row["theta_lower"]), float(row["theta_upper"])
    except (KeyError, TypeError, ValueError):
        return None
    strength = abs(rho) * math.sqrt(cf_y * cf_d / (1.0 - cf_d)) if 0 < cf_d < 1 and cf_y > 0 else 0.0
    if strength <= 0:
        return None
    return (hi - lo) / (2.0 * strength)


def bias_bound(cf_y: np.ndarray, cf_d: np.ndarray, rho: float, max_bias: float) -> np.ndarray:
    """|rho| * sqrt(cf_y * cf_d / (1 - cf_d)) * max_bias (DoubleML's bound on the confounding bias)."""
    return abs(rho) * np.sqrt(cf_y * cf_d / (1.0 - cf_d)) * max_bias


def fig_sensitivity(r: GateResult, outcomes: Sequence[str]) -> FigureRecord | None:
    found = primary_rows(r, ["theta", "theta_lower", "theta_upper"], outcomes)
    if found is None:
        return None
    od, sub = found
    base = sub.filter(pl.col("benchmark").is_null()) if "benchmark" in sub.columns else sub
    if base.height == 0:
        base = sub
    row = base.row(0, named=True)
    S = max_bias_from_row(row)
    if S is None:
        return None
    theta = float(row["theta"])
    rho = float(row.get("rho") or 1.0)
    scale, unit = outcome_scale(od[0])
    pts = [
        (float(a), float(b))
        for a, b in sub.select("cf_y", "cf_d").iter_rows()
        if a is not None and b is not None
    ]
    top = min(0.5, max([0.15] + [1.5 * max(p) for p in pts]))
    g = np.linspace(0.0, top, 101)
    CY, CD = np.meshgrid(g, g, indexing="xy")  # x = cf_d, y = cf_y
    B = bias_bound(CY, np.minimum(CD, 0.999), rho, S)
    bound = (theta - B) if theta >= 0 else (theta + B)
    fig, ax = plt.subplots(figsize=(7.5, 5.5))
    cs = ax.contourf(CD, CY, bound * scale, levels=15, cmap="RdBu_r")
    cb = fig.colorbar(cs, ax=ax)
    cb.set_label(f"bias-adjusted {'lower' if theta >= 0 else 'upper'} bound ({unit})")
    try:
        z = ax.contour(CD, CY, bound, levels=[0.0], colors="black", linewidths=1.5)
        ax.clabel(z, fmt={0.0: "0"}, fontsize=8)
    except Exception:  # noqa: BLE001 - no zero crossing in the grid
        pass
    if "benchmark" in sub.columns:
        for b in sub.filter(pl.col("benchmark").is_not_null()).iter_rows(named=True):
            ax.scatter([b["cf_d"]], [b["cf_y"]], marker="^", color="black")
            ax.annotate(
                str(b["benchmark"]),
                (b["cf_d"], b["cf_y"]),
                fontsize=7,
                xytext=(3, 3),
                textcoords="offset points",
            )
    ax.scatter(
        [row["cf_d"]], [row["cf_y"]], marker="*", s=80, color="gold", edgecolor="black", label="scenario"
    )
    ax.set_xlabel("cf_d: confounder's share of residual treatment variation (partial R², 0-1)")
    ax.set_ylabel("cf_y: confounder's share of residual outcome variation (partial R², 0-1)")
    ax.set_title(f"Bias bound: {od[0]}, {od[1]} (rho = {rho:g}; black line = 0)")
    ax.legend(fontsize=7, loc="upper right")
    return finish(
        fig,
        "sensitivity_contour",
        "Sensitivity to unobserved confounding",
        [r.name],
        "Effect bound after removing the largest bias a confounder of the given strength could cause: "
        "theta - |rho| sqrt(cf_y cf_d / (1 - cf_d)) S, S backed out of the stored bounds.",
    )


def fig_modality(r: GateResult, forms: GateResult | None) -> FigureRecord | None:
    """One figure: the three forms' shares by month (left) and the contrasts with 95% intervals and, on
    synthetic data, the true values (right)."""
    df = visible(r, ["estimate", "ci_low", "ci_high"])
    if df is None or df.height == 0:
        return None
    # each form's line shows its published months only (a suppressed share is a gap, never drawn)
    fm = forms.table if forms is not None and forms.approved and forms.table is not None else None
    fig, axes = plt.subplots(1, 2, figsize=(12, 0.35 * df.height + 3.2), squeeze=False)
    ax0, ax1 = axes[0]
    sources = [r.name]
    if fm is not None and fm.height:
        x = np.arange(fm.height)
        for f, col in zip(FORMS, ("#7f7f7f", "#1f4e79", "#c55a11"), strict=True):
            vis = visible(forms, [f"share_{f}"])
            shown = set(vis["month"].to_list()) if vis is not None else set()
            v = [
                float(s) * 100 if m in shown and s is not None else np.nan
                for m, s in zip(fm["month"], fm[f"share_{f}"], strict=True)
            ]
            ax0.plot(x, v, marker="o", color=col, label=f.replace("_", " "))
        ax0.set_xticks(x, fm["month"].to_list(), rotation=45, ha="right", fontsize=8)
        ax0.set_ylim(0, 100)
        ax0.legend(fontsize=7)
        sources.append(forms.name)
    else:
        ax0.text(0.5, 0.5, "form counts not available", ha="center", va="center", transform=ax0.transAxes)
    ax0.set_xlabel("calendar month of the meeting (YYYY-MM)")
    ax0.set_ylabel("share of eligible meetings (%)")
    ax0.set_title("Meeting forms by month")
    scale = np.array([100.0 if is_exit(o) else 1.0 for o in df["outcome"]])
    y = np.arange(df.height)[::-1]
    est = df["estimate"].to_numpy() * scale
    lo, hi = df["ci_low"].to_numpy() * scale, df["ci_high"].to_numpy() * scale
    ax1.errorbar(est, y, xerr=[est - lo, hi - est], fmt="o", color="#1f4e79", ecolor="#6a8caf", capsize=3,
                 label="estimate with 95% CI")  # fmt: skip
    if "true_value" in df.columns and df["true_value"].null_count() < df.height:
        ax1.scatter(df["true_value"].to_numpy().astype(float) * scale, y, marker="x", color="#c00000", zorder=3,
                    label="true value (synthetic)")  # fmt: skip
    ax1.axvline(0, color="grey", lw=0.8)
    ax1.set_yticks(y, [f"{o} | {c}" for o, c in df.select("outcome", "contrast").iter_rows()], fontsize=7)
    ax1.set_xlabel("contrast of the forms (percentage points for exits, weeks for self-support)")
    ax1.set_ylabel("outcome | contrast (category)")
    ax1.set_title("Contrasts of the meeting forms")
    ax1.legend(fontsize=7, loc="best")
    return finish(
        fig,
        "modality_contrasts",
        "Meeting forms by month and their contrasts",
        sources,
        "Left: shares of the three forms among eligible meetings by month. Right: APOS contrasts (level minus "
        "reference) with 95% person-clustered intervals; exit outcomes in percentage points.",
    )


def fig_value(r: GateResult) -> FigureRecord | None:
    """Net value per digital meeting against the effect on weeks of self-support: one line per row of the
    value table, its break-even (net = 0) and the estimate with its 95% interval."""
    if r.table is None or r.table.height == 0:
        return None
    df = r.table
    shown = visible(r, ["effect_weeks", "effect_weeks_ci_low", "effect_weeks_ci_high"])
    xs = [float(v) for v in df["break_even_weeks"].to_list()]
    if shown is not None and shown.height:
        xs += shown["effect_weeks_ci_low"].to_list() + shown["effect_weeks_ci_high"].to_list()
    lo, hi = min(xs + [0.0]), max(xs + [0.0])
    pad = 0.15 * (hi - lo) if hi > lo else 0.1
    x = np.linspace(lo - pad, hi + pad, 200)
    fig, ax = plt.subplots(figsize=(9, 4.8))
    colors = ["#1f4e79", "#548235", "#c55a11", "#7030a0", "#808080"]
    for k, row in enumerate(df.iter_rows(named=True)):
        col = colors[k % len(colors)]
        g, staff, b, be = (
            row["benefit_group"],
            row["staff_saving_dkk"],
            row["weekly_benefit_dkk"],
            row["break_even_weeks"],
        )
        ax.plot(
            x,
            staff + x * b,
            color=col,
            lw=1.2,
            label=f"{g}: net value ({b:,.0f} DKK a week)".replace(",", " "),
        )
        ax.axvline(be, color=col, ls="--", lw=0.9, label=f"{g}: break-even {be:+.3f} weeks")
        if shown is not None:
            hit = shown.filter(pl.col("benefit_group") == g)
            if hit.height:
                h = hit.row(0, named=True)
                e, el, eh = h["effect_weeks"], h["effect_weeks_ci_low"], h["effect_weeks_ci_high"]
                # the interval runs along the group's line: net follows the effect monotonically
                ax.plot([el, eh], [staff + el * b, staff + eh * b], color=col, lw=6, alpha=0.3,
                        solid_capstyle="butt", label=f"{g}: 95% CI")  # fmt: skip
                ax.plot([e], [staff + e * b], "o", color=col, label=f"{g}: estimate {e:+.3f} weeks")
    ax.axhline(0, color="grey", lw=0.8)
    ax.set_xlabel("effect of a digital meeting on self-support (weeks per meeting)")
    ax.set_ylabel("net value per digital meeting (DKK)")
    ax.set_title("Net value of a digital rather than in-person jobsamtale")
    ax.legend(fontsize=6, loc="upper left", ncol=2)
    return finish(
        fig,
        "value_per_meeting",
        "What a digital meeting is worth",
        ["value"],
        "Lines: staff time saved plus the effect times the weekly benefit; dashed: the break-even effect "
        "(net value zero); points: the estimate, shaded: its 95% interval (a suppressed estimate is not shown).",
    )


def fig_feasibility(r: GateResult, effect: Sequence[float]) -> FigureRecord | None:
    """MDE of each design on the exit outcomes, beside the effect size that matters (dashed lines)."""
    df = visible(r, ["mde_80"])
    if df is None or df.height == 0:
        return None
    df = df.filter(pl.col("outcome").str.starts_with("y_exit") & (pl.col("design") != "naive"))
    if df.height == 0:
        return None
    outcomes = sorted(
        df["outcome"].unique().to_list(), key=lambda o: int("".join(ch for ch in o if ch.isdigit()) or 0)
    )
    designs = [
        d for d in ("irm_att", "irm_ate", "plr", "pliv", "irm_att_first") if d in set(df["design"].to_list())
    ]
    designs += sorted(set(df["design"].to_list()) - set(designs))
    fig, ax = plt.subplots(figsize=(9, 1.2 + 0.35 * len(outcomes) * len(designs)))
    # a dot plot on a log scale: a weak instrument's MDE can be a hundred times the others'
    h = 0.8 / max(len(designs), 1)
    markers = "osD^v"
    for j, d in enumerate(designs):
        sub = df.filter(pl.col("design") == d)
        ys, xs = [], []
        for i, o in enumerate(outcomes):
            v = sub.filter(pl.col("outcome") == o)["mde_80"]
            if v.len() and float(v[0]) > 0:
                ys.append(i + (j - (len(designs) - 1) / 2) * h)
                xs.append(100 * float(v[0]))
        ax.scatter(
            xs, ys, marker=markers[j % len(markers)], s=36, label=FEASIBILITY_LABELS.get(d, d), zorder=3
        )
        for x, y in zip(xs, ys, strict=True):
            ax.annotate(
                f"{x:,.0f}" if x >= 100 else f"{x:.3g}",
                (x, y),
                textcoords="offset points",
                xytext=(5, -3),
                fontsize=7,
            )
    ax.set_xscale("log")
    lo, hi = float(effect[0]), float(effect[-1])
    ax.axvline(100 * lo, color="black", linestyle="--", linewidth=1)
    if hi != lo:
        ax.axvline(100 * hi, color="black", linestyle=":", linewidth=1)
        ax.axvspan(
            100 * lo,
            100 * hi,
            color="0.85",
            zorder=0,
            label=f"effect that matters ({100 * lo:g}-{100 * hi:g} pp)",
        )
    ax.set_yticks(range(len(outcomes)), outcomes)
    ax.invert_yaxis()
    ax.set_xlabel("minimum detectable effect, 80% power, 5% level (percentage points, log scale)")
    ax.set_ylabel("outcome (exit within k weeks)")
    ax.set_title("Can the delivery detect the effect that matters?")
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    return finish(
        fig,
        "feasibility_mde",
        "Minimum detectable effect by outcome and design",
        [r.name],
        "Points: 2.8016 x the design's standard error (log scale). Dashed lines and shaded band: the effect size that matters "
        "(configuration estimation.feasibility_effect). A point right of the band means the design cannot tell an "
        "effect of that size from zero. The naive difference is left out (it is not a causal design).",
    )
