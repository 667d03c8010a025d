"""The closing summary of ``regdml run``: what was estimated, on how many, and where the outputs are.

Everything printed here is an aggregate that passes the same disclosure rules as the report.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import polars as pl

from assets.resources import RunPaths
from data_contracts.config import EstimationConfig
from data_contracts.designs import DESIGNS, PRIMARY_DESIGN, UNIT_MEETINGS, outcome_unit


def _show(title: str, df: pl.DataFrame) -> None:
    with pl.Config(
        tbl_rows=80, tbl_cols=20, tbl_width_chars=180, tbl_hide_dataframe_shape=True, float_precision=4
    ):
        print(f"\n== {title}")
        print(df)


def print_run_summary(
    paths: RunPaths,
    truth: Path | None = None,
    min_cell: int = 5,
    value: Any = None,
    cfg=None,
    estimation: EstimationConfig | None = None,
) -> None:
    """Print the run's headline tables (all aggregates that pass disclosure control), opening with the
    feasibility verdict (``estimation``: the verdict's outcome and effect size; default configuration).

    ``value`` is the configuration's value section (its outcome and design label the value table's
    headline); the plan's defaults when not given. With the run configuration ``cfg``, also whether the
    run is final or exploratory (fewer than 5 repetitions).
    """
    work = paths.work_dir
    print_feasibility(work / "estimation", estimation or EstimationConfig(), min_cell)
    status = None
    if cfg is not None:
        from assets.report.render import run_status

        status = run_status(cfg)
        print(f"\n== Run: {'EXPLORATORY (' + status + ')' if cfg.estimation.exploratory else status}")
    # What is printed may be screenshotted, and a screenshot is a transfer: every table below is the one
    # the report's gate publishes (the same specifications, linked tables and unit counts), or a summary
    # of its published cells.
    gated, why = _gated(work, min_cell)
    if why:
        print(f"\nNot shown (cannot be read): {why}")
    flow = gated.get("sample_flow")
    if flow is not None and flow.table is not None:
        _show(
            "Sample flow (eligible meetings, rule by rule; small removals merged and small counts "
            "suppressed (null) for disclosure control; the last step's meetings by form)",
            flow.table,
        )
    elif flow is not None:
        print(f"\nSample flow: not shown ({flow.reason})")
    est = work / "estimation" / "estimates.parquet"
    df = None
    if est.is_file():
        from assets.report.render import estimates_spec
        from models.disclosure import GateResult, gate

        spec = estimates_spec(pl.read_parquet(est))
        res = spec if isinstance(spec, GateResult) else gate(spec, min_cell)
        if not res.approved:
            print(f"\nEstimates: not shown ({res.reason})")
            df = None
        else:
            df = res.table
            if "contrast" in df.columns and "n_trimmed" in df.columns:
                # a contrast's trimmed count is the sum of two forms' counts, disclosed with the arms
                # table of the report (linked suppression), not here
                df = df.with_columns(
                    pl.when(pl.col("contrast").is_null()).then(pl.col("n_trimmed")).alias("n_trimmed")
                )
    if df is not None:
        ests = pl.read_parquet(est, columns=[c for c in ("outcome", "design", "contrast", "rep_spread")
                                             if c in pl.read_parquet_schema(est)])  # fmt: skip
        if "rep_spread" in ests.columns:
            on = [c for c in ("outcome", "design", "contrast") if c in df.columns and c in ests.columns]
            df = df.join(ests, on=on, how="left", nulls_equal=True)
        keep = [
            c
            for c in (
                "outcome",
                "design",
                "contrast",  # the modality design's rows (null for the other designs)
                "estimate",
                "se",
                "ci_low",
                "ci_high",
                "n",
                "n_treated",
                "n_trimmed",
                "rep_spread",
            )
            if c in df.columns
        ]
        df = df.select(keep)
        if truth is not None and Path(truth).is_file():
            df = attach_truth(df, Path(truth))
        title = "Estimates (effect of a digital rather than in-person jobsamtale)"
        if "contrast" in df.columns and df.get_column("contrast").drop_nulls().len():
            title += "; modality rows: the contrast's first form minus its second"
        _show(title, df)
    _diagnostics(gated)
    _value(work / "estimation", min_cell, value)
    for name, rel in (("report", "report/report.html"), ("export bundle", "report/export_bundle")):
        p = work / rel
        if p.exists():
            print(f"{name}: {p}")
    print(f"outputs: {work}")
    if status is not None and cfg.estimation.exploratory:
        print(f"note: an EXPLORATORY run ({status})")


def attach_truth(estimates: pl.DataFrame, truth_file: Path) -> pl.DataFrame:
    """Add the synthetic delivery's true value beside each estimate (the report's own rule: the ATT for
    ATT-type designs, the ATE for IRM-ATE)."""
    from assets.report.render import load_truth, true_value

    truth = load_truth(truth_file)
    if not truth:
        return estimates
    con = estimates.get_column("contrast") if "contrast" in estimates.columns else [None] * estimates.height
    vals = [
        true_value(truth, o, d, contrast=c)
        for (o, d), c in zip(estimates.select("outcome", "design").iter_rows(), con, strict=True)
    ]
    return estimates.with_columns(pl.Series("true_value", vals, dtype=pl.Float64))


def _share_outcomes(table: pl.DataFrame) -> list[str]:
    """The outcomes of ``table`` measured as shares (exit outcomes, data_contracts/designs.py), on whose scale
    the effect size that matters is given."""
    return [o for o in table.get_column("outcome").unique().to_list() if outcome_unit(o) == "share"]


def _gated(work: Path, min_cell: int) -> tuple[dict[str, Any], str]:
    """The run folder's tables as the report's gate publishes them (:func:`assets.report.render.gating.gate_all`),
    and which inputs could not be read ("" when all could; those tables are left out, the others shown)."""
    from assets.report.render import REPORT_INPUTS, ReportInputError, ReportInputs
    from assets.report.render.gating import gate_all
    from assets.report.render.inputs import read_input

    inp, unread = ReportInputs(delivery_name=work.name), []
    for spec in REPORT_INPUTS:
        try:
            df = read_input(work, spec)
        except ReportInputError as e:
            unread.append(str(e))
            continue
        if df is not None:
            setattr(inp, spec.key, df)
    results, _ = gate_all(inp, None, min_cell)
    return results, "; ".join(unread)


def _published(gated: dict[str, Any], name: str) -> pl.DataFrame | None:
    """The gated table ``name``, or None (with the gate's reason printed when it was refused)."""
    r = gated.get(name)
    if r is None:
        return None
    if r.table is None:
        print(f"\n{name}: not shown ({r.reason})")
    return r.table


def _diagnostics(gated: dict[str, Any]) -> None:
    """Headline numbers of the diagnostics for the primary design (IRM, ATT), from the gated tables (a
    statistic whose count is suppressed is null and left out of the maxima)."""
    primary = PRIMARY_DESIGN
    parts = []
    bal = _published(gated, "balance")
    if bal is not None:
        parts.append(
            bal.filter(pl.col("design") == primary)
            .group_by("outcome", maintain_order=True)
            .agg(
                pl.col("smd_before").abs().max().alias("max_abs_smd_before"),
                pl.col("smd_after").abs().max().alias("max_abs_smd_after"),
            )
        )
    s = _published(gated, "sensitivity")
    if s is not None:
        s = s.filter((pl.col("design") == primary) & pl.col("benchmark").is_null())
        parts.append(
            s.select(
                "outcome", pl.col("rv").alias("robustness_value"), pl.col("rva").alias("robustness_value_a")
            )
        )
    if parts:
        table = parts[0]
        for other in parts[1:]:
            table = table.join(other, on="outcome", how="full", coalesce=True)
        _show(
            "Diagnostics of the primary design (IRM, ATT): balance and robustness to hidden confounding",
            table,
        )
    p = _published(gated, "placebos")
    if p is not None:
        irm = [d.name for d in DESIGNS if d.model == "irm" and d.unit == UNIT_MEETINGS]
        # placebo outcomes (every kind but the permuted treatment) for the IRM designs only
        flt = pl.col("kind") == "permuted_treatment"
        if "design" in p.columns:
            flt = flt | pl.col("design").is_in(irm)
        p = p.filter(flt)
        p = p.with_columns(((pl.col("ci_low") <= 0) & (pl.col("ci_high") >= 0)).alias("covers_zero"))
        keep = [
            c
            for c in ("kind", "outcome", "design", "estimate", "ci_low", "ci_high", "covers_zero", "n")
            if c in p.columns
        ]
        _show("Placebos (should show no effect)", p.select(keep))
    w = _published(gated, "power")
    if w is not None:
        w = w.filter(pl.col("outcome").is_in(_share_outcomes(w)))
        w = w.pivot(on="trial_size", index="outcome", values="mde")
        _show(
            "Reversed trial: minimum detectable effect (80% power, 5% level) by number of randomized persons",
            w,
        )


def _value(est_dir: Path, min_cell: int, value: Any = None) -> None:
    """What a digital meeting is worth (estimation/value.parquet): its headline and a compact table, after
    the same disclosure gate as the report (an effect resting on fewer than ``min_cell`` meetings is shown
    as null)."""
    f = est_dir / "value.parquet"
    if not f.is_file():
        return
    from data_contracts.config import ValueConfig
    from models import value as V

    v = value if value is not None else ValueConfig()

    def read(name: str) -> pl.DataFrame | None:
        p = est_dir / f"{name}.parquet"
        return pl.read_parquet(p) if p.is_file() else None

    r = V.gate_value(
        pl.read_parquet(f).select(V.VALUE_COLUMNS), read("estimates"), read("group_effects"), v.outcome,
        v.design, min_cell,
    )  # fmt: skip
    if r.table is None:
        print(f"\n== What a digital meeting is worth: not shown ({r.reason})")
        return
    t = r.table

    def ci(est: Any, lo: Any, hi: Any, fmt: str, k: float = 1.0) -> str | None:
        if est is None:
            return None
        return f"{est / k:{fmt}} [{lo / k:{fmt}}, {hi / k:{fmt}}]"

    rows = [
        {
            "benefit_group": x["benefit_group"],
            "break_even_weeks": round(x["break_even_weeks"], 4),
            "effect_weeks [95% CI]": ci(
                x["effect_weeks"], x["effect_weeks_ci_low"], x["effect_weeks_ci_high"], "+.3f"
            ),
            "net kr per meeting": ci(x["net_dkk"], x["net_dkk_ci_low"], x["net_dkk_ci_high"], ".0f"),
            "national mio kr a year": ci(
                x["national_net_dkk"], x["national_net_dkk_ci_low"], x["national_net_dkk_ci_high"], ".1f", 1e6
            ),
        }
        for x in t.iter_rows(named=True)
    ]
    compact = pl.DataFrame(
        rows, schema={k: (pl.Float64 if k == "break_even_weeks" else pl.String) for k in rows[0]}
    )
    _show(
        "What a digital meeting is worth (kroner per meeting; national figures in million kroner a year; "
        "every input an assumption of the configuration's value section)",
        compact,
    )
    print(V.headline(t, v.design, v.outcome))


def feasibility_lines(est_dir: Path, estimation: EstimationConfig) -> list[str] | None:
    """The feasibility verdict of a run folder's ``estimation/feasibility.parquet`` (None without it)."""
    from models.feasibility import verdict

    f = est_dir / "feasibility.parquet"
    if not f.is_file():
        return None
    return verdict(pl.read_parquet(f), estimation.feasibility_outcome, estimation.feasibility_effect)


def print_feasibility(est_dir: Path, estimation: EstimationConfig, min_cell: int = 5) -> None:
    """The verdict, then the exit outcomes' MDE table as it passes the disclosure gate."""
    lines = feasibility_lines(est_dir, estimation)
    if lines is None:
        return
    print("\n== Feasibility: can this delivery tell an effect of the size that matters from zero?")
    for s in lines:
        print(s)
    from models.disclosure import gate
    from models.feasibility import feasibility_spec

    r = gate(feasibility_spec(pl.read_parquet(est_dir / "feasibility.parquet")), min_cell=min_cell)
    if r.table is None:
        print(f"(feasibility table withheld by disclosure control: {r.reason})")
        return
    if "n_trimmed_treated" not in r.table.columns:
        print("Units trimmed by arm: not reported by this run's estimates.")
    keep = [c for c in ("outcome", "design", "se", "mde_80", "ess_treated", "ess_control", "n_trimmed_treated",
                        "n_trimmed_control", "share_meetings_small_cells", "first_stage_f", "trial_persons")
            if c in r.table.columns]  # fmt: skip
    _show(
        "Minimum detectable effect (80% power, 5% level) by outcome and design; trial_persons: a 1:1 reversed "
        "trial with the same MDE",
        r.table.filter(pl.col("outcome").is_in(_share_outcomes(r.table))).select(keep),
    )
