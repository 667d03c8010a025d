"""The report's figures, drawn only from approved (gated) tables: each a :class:`FigureRecord` whose axes
have a title and labels with units (:func:`check_figure`), naming the tables it shows.

No Dagster. matplotlib's pyplot is imported on first use (:class:`_LazyPyplot`).
"""

from __future__ import annotations

import base64
import io
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl

from assets.report.render.cells import primary, primary_rows, visible
from assets.report.render.text import outcome_scale
from models.disclosure import GateResult


class _LazyPyplot:
    """``matplotlib.pyplot`` with the Agg backend, imported on first use.

    Importing pyplot builds matplotlib's font cache under the user's home folder. Dagster imports this
    module in every process it spawns for a step (and the webserver's code server), so importing it must
    not write files or take seconds; only drawing a figure does. Agg, because a GUI backend (TkAgg on
    Windows) has no place in a worker process.
    """

    _module: Any = None

    def __getattr__(self, name: str) -> Any:
        if _LazyPyplot._module is None:
            import matplotlib

            matplotlib.use("Agg")
            import matplotlib.pyplot

            _LazyPyplot._module = matplotlib.pyplot
        return getattr(_LazyPyplot._module, name)


plt = _LazyPyplot()


@dataclass
class FigureRecord:
    """A figure the report embeds: labels checked before encoding, and the approved tables it shows."""

    name: str
    title: str
    axes: list[dict[str, str]]
    source_tables: tuple[str, ...]
    caption: str
    png: bytes

    @property
    def base64(self) -> str:
        return base64.b64encode(self.png).decode("ascii")


class FigureLabelError(ValueError):
    pass


def _has_unit(label: str) -> bool:
    return "(" in label and ")" in label or "[" in label and "]" in label


def check_figure(fig: plt.Figure) -> list[dict[str, str]]:
    """Every axes must have a title (or the figure a suptitle), and x and y labels with units."""
    sup = fig._suptitle.get_text() if getattr(fig, "_suptitle", None) else ""
    axes_info = []
    for ax in fig.get_axes():
        if ax.get_label() == "<colorbar>":
            lab = ax.get_ylabel() or ax.get_xlabel()
            if not lab or not _has_unit(lab):
                raise FigureLabelError(f"colour bar without a label with units: {lab!r}")
            continue
        title, xl, yl = ax.get_title() or sup, ax.get_xlabel(), ax.get_ylabel()
        for what, lab in (("title", title), ("x label", xl), ("y label", yl)):
            if not lab.strip():
                raise FigureLabelError(f"figure '{sup or title}': axes without a {what}")
        for what, lab in (("x label", xl), ("y label", yl)):
            if not _has_unit(lab):
                raise FigureLabelError(f"figure '{sup or title}': {what} {lab!r} has no unit in brackets")
        axes_info.append({"title": title, "xlabel": xl, "ylabel": yl})
    if not axes_info:
        raise FigureLabelError("figure without axes")
    return axes_info


def finish(fig: plt.Figure, name: str, title: str, sources: Sequence[str], caption: str) -> FigureRecord:
    axes_ = [a for a in fig.get_axes() if a.get_label() != "<colorbar>"]
    if len(axes_) > 1 or any(not a.get_title() for a in axes_):
        if not (getattr(fig, "_suptitle", None) and fig._suptitle.get_text()):
            fig.suptitle(title)
    axes = check_figure(fig)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, metadata={"Software": None})
    plt.close(fig)
    return FigureRecord(
        name=name, title=title, axes=axes, source_tables=tuple(sources), caption=caption, png=buf.getvalue()
    )


def fig_forest(r: GateResult) -> FigureRecord | None:
    df = visible(r, ["estimate", "ci_low", "ci_high"])
    if df is not None and "design" in df.columns:
        df = df.filter(pl.col("design") != "modality")  # the contrasts have their own figure
    if df is None or df.height == 0:
        return None
    kinds = [("exit", "Exit to employment", "percentage points"), ("weeks", "Weeks of self-support", "weeks")]
    panels = []
    for kind, label, unit in kinds:
        sub = df.filter(pl.col("outcome").str.starts_with("y_") == (kind == "exit"))
        if sub.height:
            panels.append((sub, label, unit))
    fig, axes = plt.subplots(len(panels), 1, figsize=(9, 0.38 * df.height + 1.8 * len(panels)), squeeze=False)
    for ax, (sub, label, unit) in zip(axes[:, 0], panels, strict=True):
        s = 100.0 if unit == "percentage points" else 1.0
        ylabels = [f"{o} | {d}" for o, d in sub.select("outcome", "design").iter_rows()]
        y = np.arange(sub.height)[::-1]
        est = sub["estimate"].to_numpy() * s
        lo, hi = sub["ci_low"].to_numpy() * s, sub["ci_high"].to_numpy() * s
        ax.errorbar(
            est,
            y,
            xerr=[est - lo, hi - est],
            fmt="o",
            color="#1f4e79",
            ecolor="#6a8caf",
            capsize=3,
            label="estimate with 95% CI",
        )
        if "true_value" in sub.columns and sub["true_value"].null_count() < sub.height:
            tv = sub["true_value"].to_numpy().astype(float) * s
            ax.scatter(tv, y, marker="x", color="#c00000", zorder=3, label="true value (synthetic)")
        ax.axvline(0, color="grey", lw=0.8)
        ax.set_yticks(y, ylabels, fontsize=8)
        ax.set_xlabel(f"effect of a digital rather than in-person meeting ({unit})")
        ax.set_ylabel("outcome | design (category)")
        ax.set_title(label)
        ax.legend(fontsize=7, loc="best")
    return finish(
        fig,
        "forest_estimates",
        "Effect estimates with 95% confidence intervals",
        [r.name],
        "Points are estimates, bars 95% confidence intervals; exit outcomes in percentage points.",
    )


def fig_share_month(r: GateResult) -> FigureRecord | None:
    df = visible(r, ["share_digital"])
    if df is None or df.height == 0:
        return None
    fig, ax = plt.subplots(figsize=(9, 3.8))
    x = np.arange(df.height)
    ax.plot(x, df["share_digital"].to_numpy() * 100, marker="o", color="#1f4e79")
    ax.set_xticks(x, df["month"].to_list(), rotation=45, ha="right", fontsize=8)
    ax.set_ylim(0, 100)
    ax.set_xlabel("calendar month of the meeting (YYYY-MM)")
    ax.set_ylabel("digital share of meetings (%)")
    ax.set_title("Digital share of eligible jobsamtaler by month")
    return finish(
        fig,
        "digital_share_by_month",
        "Digital share by month",
        [r.name],
        "Share of eligible meetings held by phone or video; months with small counts are suppressed.",
    )


def fig_share_municipality(r: GateResult) -> FigureRecord | None:
    df = visible(r, ["share_digital"])
    if df is None or df.height == 0:
        return None
    munis = sorted(df["municipality"].unique().to_list())
    months = sorted(df["month"].unique().to_list())
    grid = np.full((len(munis), len(months)), np.nan)
    mi, ti = {m: i for i, m in enumerate(munis)}, {m: i for i, m in enumerate(months)}
    for m, t, s in df.select("municipality", "month", "share_digital").iter_rows():
        grid[mi[m], ti[t]] = s * 100
    fig, ax = plt.subplots(figsize=(9, max(3.0, 0.12 * len(munis) + 1.5)))
    im = ax.imshow(grid, aspect="auto", cmap="viridis", vmin=0, vmax=100, interpolation="nearest")
    ax.set_xticks(np.arange(len(months)), months, rotation=45, ha="right", fontsize=7)
    step = max(1, len(munis) // 40)
    ax.set_yticks(np.arange(0, len(munis), step), munis[::step], fontsize=6)
    ax.set_xlabel("calendar month (YYYY-MM)")
    ax.set_ylabel("municipality (code)")
    ax.set_title("Digital share by municipality and month (blank = suppressed or none)")
    cb = fig.colorbar(im, ax=ax)
    cb.set_label("digital share of meetings (%)")
    return finish(
        fig,
        "digital_share_by_municipality",
        "Digital share by municipality and month",
        [r.name],
        "Each cell is a municipality-month; near 0% or 100% cells carry little treatment variation.",
    )


def fig_share_by_municipality(r: GateResult) -> FigureRecord | None:
    df = visible(r, ["share_digital"])
    if df is None or df.height == 0:
        return None
    df = df.sort("share_digital")
    fig, ax = plt.subplots(figsize=(9, 3.8))
    x = np.arange(df.height)
    ax.bar(x, df["share_digital"].to_numpy() * 100, color="#1f4e79")
    step = max(1, df.height // 40)
    ax.set_xticks(x[::step], df["municipality"].to_list()[::step], rotation=90, fontsize=6)
    ax.set_ylim(0, 100)
    ax.set_xlabel("municipality, sorted by digital share (code)")
    ax.set_ylabel("digital share of meetings (%)")
    ax.set_title("Digital share of eligible jobsamtaler by municipality, whole window")
    return finish(
        fig,
        "digital_share_by_municipality_total",
        "Digital share by municipality",
        [r.name],
        "Municipalities with small or revealing counts are left out (suppressed).",
    )


def fig_overlap(r: GateResult, outcomes: Sequence[str]) -> FigureRecord | None:
    found = primary_rows(r, [], outcomes)
    if found is None:
        return None
    od, sub = found
    sub = sub.sort("bin_low")
    fig, ax = plt.subplots(figsize=(9, 3.8))
    lo, hi = sub["bin_low"].to_numpy().astype(float), sub["bin_high"].to_numpy().astype(float)
    w = hi - lo
    t = np.nan_to_num(sub["n_treated"].to_numpy().astype(float))
    c = np.nan_to_num(sub["n_control"].to_numpy().astype(float))
    ax.bar(lo, t, width=w, align="edge", color="#1f4e79", label="digital (treated)")
    ax.bar(lo, -c, width=w, align="edge", color="#c55a11", label="in person (control)")
    ax.axhline(0, color="black", lw=0.6)
    ax.set_xlabel("estimated propensity of a digital meeting (probability)")
    ax.set_ylabel("meetings (count; control drawn below zero)")
    ax.set_title(f"Propensity overlap: {od[0]}, {od[1]} (suppressed bins drawn as 0)")
    ax.legend(fontsize=8)
    return finish(
        fig,
        "overlap",
        "Propensity overlap",
        [r.name],
        "Meetings by estimated propensity bin; suppressed bins are drawn empty.",
    )


def fig_balance(r: GateResult, outcomes: Sequence[str]) -> FigureRecord | None:
    df = visible(r, ["smd_before", "smd_after"])
    if df is None or df.height == 0 or "covariate" not in df.columns:
        return None
    od = primary(df, outcomes)
    if od is None:
        return None
    sub = df.filter((pl.col("outcome") == od[0]) & (pl.col("design") == od[1]))
    sub = sub.with_columns(pl.col("smd_before").abs().alias("_b")).sort("_b")
    fig, ax = plt.subplots(figsize=(9, 0.28 * sub.height + 1.8))
    y = np.arange(sub.height)
    ax.scatter(sub["smd_before"].abs().to_numpy(), y, marker="o", color="#c55a11", label="before weighting")
    ax.scatter(sub["smd_after"].abs().to_numpy(), y, marker="s", color="#1f4e79", label="after weighting")
    ax.axvline(0.1, color="grey", ls="--", lw=0.8, label="0.1 (common threshold)")
    ax.set_yticks(y, sub["covariate"].to_list(), fontsize=7)
    ax.set_xlabel("absolute standardized mean difference (standard deviations)")
    ax.set_ylabel("covariate (name)")
    ax.set_title(f"Covariate balance: {od[0]}, {od[1]}")
    ax.legend(fontsize=7)
    return finish(
        fig, "balance", "Covariate balance", [r.name], "Love plot of standardized mean differences."
    )


def fig_group_effects(r: GateResult, outcomes: Sequence[str]) -> FigureRecord | None:
    found = primary_rows(r, ["estimate", "ci_low", "ci_high"], outcomes)
    if found is None:
        return None
    od, sub = found
    scale, unit = outcome_scale(od[0])
    fig, ax = plt.subplots(figsize=(9, 0.35 * sub.height + 1.8))
    y = np.arange(sub.height)[::-1]
    est = sub["estimate"].to_numpy() * scale
    lo, hi = sub["ci_low"].to_numpy() * scale, sub["ci_high"].to_numpy() * scale
    ax.errorbar(
        est, y, xerr=[est - lo, hi - est], fmt="o", color="#1f4e79", capsize=3, label="estimate, 95% CI"
    )
    if "true_value" in sub.columns and sub["true_value"].null_count() < sub.height:
        ax.scatter(
            sub["true_value"].to_numpy().astype(float) * scale,
            y,
            marker="x",
            color="#c00000",
            label="true value (synthetic)",
        )
    ax.axvline(0, color="grey", lw=0.8)
    ax.set_yticks(y, [f"{a}: {b}" for a, b in sub.select("group_var", "group").iter_rows()], fontsize=8)
    ax.set_xlabel(f"effect ({unit})")
    ax.set_ylabel("group (variable: value)")
    ax.set_title(f"Group effects: {od[0]}, {od[1]}")
    ax.legend(fontsize=7)
    return finish(fig, "group_effects", "Group effects", [r.name], "Effects within groups, 95% intervals.")


def fig_power(r: GateResult) -> FigureRecord | None:
    df = visible(r, ["mde"])
    if df is None or df.height == 0 or "trial_size" not in df.columns:
        return None
    exits = df.filter(pl.col("outcome").str.starts_with("y_"))
    weeks = df.filter(~pl.col("outcome").str.starts_with("y_"))
    panels = [
        (s, u, k) for s, u, k in ((exits, "percentage points", 100.0), (weeks, "weeks", 1.0)) if s.height
    ]
    fig, axes = plt.subplots(1, len(panels), figsize=(5 * len(panels) + 1, 4), squeeze=False)
    for ax, (sub, unit, k) in zip(axes[0], panels, strict=True):
        for o in sorted(sub["outcome"].unique().to_list()):
            s = sub.filter(pl.col("outcome") == o).sort("trial_size")
            ax.plot(s["trial_size"].to_numpy(), s["mde"].to_numpy() * k, marker="o", label=o)
        ax.set_xscale("log")
        sizes = sorted(sub["trial_size"].unique().to_list())
        ax.set_xticks(sizes, [f"{int(x):,}".replace(",", " ") for x in sizes], rotation=30, fontsize=8)
        ax.minorticks_off()
        ax.set_xlabel("persons randomized in the trial (count, log scale)")
        ax.set_ylabel(f"minimum detectable effect ({unit})")
        ax.set_title("Exit outcomes" if unit != "weeks" else "Self-support outcomes")
        ax.legend(fontsize=7)
    return finish(
        fig,
        "power_reversed_trial",
        "Reversed trial: minimum detectable effect",
        [r.name],
        "80% power, 5% two-sided test, from the observed outcome means and variances.",
    )
