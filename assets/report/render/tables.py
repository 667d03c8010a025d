"""The report's tables as the disclosure gate sees them (:class:`models.disclosure.TableSpec`).

No Dagster. Each builder reads its input by the names :mod:`.inputs` declares and says which columns are
counts, which values each count backs, the keys and the margins; :func:`build_specs` lists them in report
order. A table that cannot be vouched for is a :class:`GateResult` rejected with its reason.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

import polars as pl

from assets.report.render.inputs import ReportInputs
from assets.report.render.modality import modality_specs
from assets.report.render.truth import with_truth
from models.disclosure import COUNT_NAME_RE, GateResult, TableSpec, is_small, rejected, sample_flow_spec
from models.feasibility import feasibility_spec

EST_VALUES = ["estimate", "se", "ci_low", "ci_high", "p_value"]


def _estimate_counts(est: pl.DataFrame | None) -> pl.DataFrame | None:
    """(outcome, design, n, n_treated, n_control) from the estimates, for tables that carry no counts."""
    if est is None or not {"outcome", "design", "n", "n_treated"} <= set(est.columns):
        return None
    return est.select(
        "outcome",
        "design",
        pl.col("n").cast(pl.Int64),
        pl.col("n_treated").cast(pl.Int64),
        (pl.col("n") - pl.col("n_treated")).cast(pl.Int64).alias("n_control"),
    ).unique(["outcome", "design"], keep="first")


def share_spec(df: pl.DataFrame | None, name: str, regional: bool, description: str) -> TableSpec | None:
    """A digital-share table (``analysis/digital_share_by_*``) as the gate sees it: ``month`` (and
    ``municipality``), counts ``n``, ``n_digital``, ``n_in_person`` (the two-arm count, n - n_digital)
    and, when the run has the meeting form, each form's count and share."""
    if df is None:
        return None
    kom = regional
    sel = df.select(
        *([pl.col("kommune").cast(pl.String).alias("municipality")] if kom else []),
        pl.col("calendar_month").cast(pl.String).alias("month"),
        pl.col("n_meetings").cast(pl.Int64).alias("n"),
        pl.col("n_digital").cast(pl.Int64),
        (pl.col("n_meetings") - pl.col("n_digital")).cast(pl.Int64).alias("n_in_person"),
        pl.col("digital_share").cast(pl.Float64).alias("share_digital"),
    )
    keys = ["municipality", "month"] if kom else ["month"]
    # the three forms (issue 21): telephone and video counts and shares beside the digital share; the
    # in-person count is the two-arm one (the file's n_in_person is the form's, which leaves out an
    # in-person code without a form)
    forms = [
        c for c in ("n_telephone", "n_video", "n_no_form") if c in df.columns and df[c].null_count() == 0
    ]
    if {"n_telephone", "n_video"} <= set(forms):
        sel = sel.with_columns(*[df.get_column(c).cast(pl.Int64).alias(c) for c in forms])
        # no meeting without a form anywhere: a structural zero, not a cell
        forms = [c for c in forms if c != "n_no_form" or int(sel[c].sum()) > 0]
        sel = sel.with_columns(
            [(pl.col(f"n_{f}") / pl.col("n")).alias(f"share_{f}") for f in ("telephone", "video")]
        )
    else:
        forms = []
    form_shares = [f"share_{c.removeprefix('n_')}" for c in forms if c != "n_no_form"]
    sel = sel.select(*keys, "n", "n_digital", "n_in_person", *forms, "share_digital", *form_shares).sort(keys)
    counts = ["n", "n_digital", "n_in_person", *forms]
    two = ["n_telephone", "n_video"]
    no_form_known = "n_no_form" in df.columns and df["n_no_form"].null_count() == 0
    margins: list[tuple[str, ...]] = [("municipality",), ("month",)] if kom else [()]
    force: dict[str, list[bool]] = {}
    if not kom and sel.height == 1:
        # One month: its row is the sample flow's final breakdown (published there, with the flow's own
        # complements), so its column totals are no margin this table could hide a cell in, and any cell
        # it shows beside a suppressed one may be the one the flow hides (n_digital less the flow's video
        # is its telephone). A small count withholds the month's counts (a 0 stays: nobody is behind it).
        margins = []
        if any(is_small(sel[c][0]) for c in counts):
            force = {c: [bool(sel[c][0])] for c in counts}
    return TableSpec(
        name=name,
        df=sel,
        count_columns=counts,
        value_columns_by_count={
            "n": ["share_digital", *form_shares],
            "n_digital": ["share_digital"],
            "n_in_person": ["share_digital"],
            **{c: [f"share_{c.removeprefix('n_')}"] for c in forms if c != "n_no_form"},
        },
        description=description,
        key_columns=keys,
        margins=margins,
        # n = n_digital + n_in_person = n_in_person + telephone + video (+ codes without a form), and
        # n_digital = telephone + video (+ digital codes without a form): each relation is a group in which
        # one suppressed cell takes another with it (the demo's May 2020: 4 in person would otherwise
        # follow from n less telephone less video)
        row_margins=[("n_digital", "n_in_person")]
        + ([("n_digital", *forms), ("n_in_person", *forms)] if forms else []),
        # the exact relations, which the gate's audit solves with the column totals: n is a cell too (a
        # month's n suppressed as the complement in the column of n, beside its published n_digital and
        # n_in_person, was their sum); the forms make up n_digital only when no code lacks a form
        row_relations=[{"n": 1, "n_digital": -1, "n_in_person": -1}]
        + ([{"n_digital": 1, "n_telephone": -1, "n_video": -1}] if no_form_known and forms == two else []),
        force_suppress=force,
        force_reason="a one-month table with a small count: its row is the sample flow's final breakdown",
        unit="meetings",
        rows_per=["month"] if kom else [],
    )


def link_share_to_flow(spec: TableSpec, flow: pl.DataFrame | None, min_cell: int) -> TableSpec:
    """``spec`` (a digital-share table over the whole window: by month, or by municipality) with its column
    totals linked to the sample flow's final step (:func:`models.disclosure.link_totals`): its ``n`` adds
    up to the flow's ``units_after``, its forms to the flow's, and its two-arm in-person count to
    ``units_in_person`` when no code lacks a form (the flow's ``units_no_form`` is 0). A total the flow
    suppresses (a one-rule flow hides ``units_after`` with its small removal) is then a hidden cell of the
    share table's margin: the gate suppresses months until neither table's hidden cells follow from both.

    The flow's cells are taken as the gate suppresses them without the per-person-row rule, which only
    refuses the whole flow: assuming an outsider sees them hides more, never less. The report
    (``gating.gate_all``) and the metadata (``summaries.safe_share``) both link through here. Without a
    flow, or one the gate cannot read, ``spec`` is returned as it is (no flow is published).
    """
    from models.disclosure import gate, link_totals

    if flow is None or flow.height == 0:
        return spec
    try:
        flow_spec, _ = sample_flow_spec(flow, min_cell)
    except Exception:  # noqa: BLE001 - a flow without its columns is rejected by the report, published nowhere
        return spec
    last = flow_spec.df.height - 1
    fcounts = set(flow_spec.count_columns)
    pairs = [("n", "units_after"), ("n_telephone", "units_telephone"), ("n_video", "units_video"),
             ("n_no_form", "units_no_form")]  # fmt: skip
    no_form = flow_spec.df["units_no_form"][last] if "units_no_form" in fcounts else None
    if no_form == 0:
        pairs.append(("n_in_person", "units_in_person"))
    totals = {
        c: (fc, last)
        for c, fc in pairs
        if c in spec.count_columns and fc in fcounts and flow_spec.df[fc][last] is not None
    }
    if "n" not in totals:
        return spec
    return dataclasses.replace(spec, linked_totals=link_totals(flow_spec, gate(flow_spec, min_cell), totals))


def _generic_spec(
    name: str, df: pl.DataFrame, counts: pl.DataFrame | None, description: str, join_on: Sequence[str]
) -> TableSpec | GateResult:
    """A table with estimation keys but no counts of its own: attach the estimate's counts."""
    on = [c for c in join_on if c in df.columns]
    own_counts = [c for c in df.columns if COUNT_NAME_RE.match(c) and df.schema[c].is_numeric()]
    if counts is None or not on:
        if not own_counts:
            return rejected(
                name,
                description,
                "no count column could be identified (no estimates to take n from): not exported",
            )
        merged = df
    else:
        cnt = counts.group_by(on).agg(pl.col("n", "n_treated", "n_control").min())
        drop = [c for c in ("n", "n_treated", "n_control") if c in df.columns]
        merged = df.drop(drop).join(cnt, on=on, how="left")
        own_counts = sorted(set(own_counts) - set(drop)) + ["n", "n_treated", "n_control"]
    keys = [c for c in merged.columns if c not in own_counts and not merged.schema[c].is_numeric()]
    keys += [
        c
        for c in ("cf_y", "cf_d", "rho", "bin_low", "bin_high", "trial_size", "fold", "rep")
        if c in merged.columns and c not in keys
    ]
    values = [c for c in merged.columns if c not in own_counts and c not in keys]
    return TableSpec(
        name=name,
        df=merged,
        count_columns=own_counts,
        value_columns_by_count={c: values for c in own_counts} if values else {},
        description=description,
        key_columns=keys,
        margins=[],
        unit="meetings",
        rows_per=[k for k in ("outcome", "design", "kind") if k in keys],
    )


def estimates_spec(e: pl.DataFrame, truth: Mapping[str, Any] | None = None) -> TableSpec | GateResult:
    """The estimates table as the gate sees it (the report and the run summary publish it through this):
    counts ``n``, ``n_treated``, ``n_control`` and, where present, ``n_trimmed``, ``n_missing_outcome``,
    ``n_missing_instrument``, ``n_persons``; a GateResult when columns are missing."""
    est_vals = EST_VALUES
    need = {"outcome", "design", "estimate", "se", "ci_low", "ci_high", "n", "n_treated"}
    if not need <= set(e.columns):
        return rejected("estimates", "Main estimates", f"columns {sorted(need - set(e.columns))} missing")
    keep_keys = [
        c
        for c in (
            "outcome",
            "design",
            "contrast",
            "model",
            "score",
            "learner",
            "folds",
            "reps",
            "seed",
            "cluster",
        )
        if c in e.columns
    ]
    vals = [c for c in est_vals if c in e.columns]
    # PLIV's first stage and Anderson-Rubin set (null for the other designs)
    vals += [
        c for c in ("first_stage_f", "first_stage_partial_r2", "ar_ci_low", "ar_ci_high") if c in e.columns
    ]
    keep_keys += [c for c in ("ar_set",) if c in e.columns]
    extra_counts = [c for c in ("n_trimmed", "n_missing_outcome", "n_missing_instrument") if c in e.columns]
    person_counts = [c for c in ("n_persons",) if c in e.columns]
    df = e.select(
        *keep_keys,
        *vals,
        pl.col("n").cast(pl.Int64),
        pl.col("n_treated").cast(pl.Int64),
        *[pl.col(c).cast(pl.Int64) for c in extra_counts + person_counts],
    )
    # a negative count (e.g. n_treated = -1 for a non-binary treatment) means "not known"
    df = df.with_columns(
        [
            pl.when(pl.col(c) < 0).then(None).otherwise(pl.col(c)).alias(c)
            for c in ["n", "n_treated", *extra_counts, *person_counts]
        ]
    )
    df = df.with_columns((pl.col("n") - pl.col("n_treated")).alias("n_control"))
    for c in ("folds", "reps", "seed"):
        if c in df.columns:
            df = df.with_columns(pl.col(c).cast(pl.String))
    df = with_truth(df, truth)
    vals = vals + (["true_value"] if "true_value" in df.columns else [])
    cnts = ["n", "n_treated", "n_control", *extra_counts, *person_counts]
    return TableSpec(
        name="estimates",
        df=df,
        count_columns=cnts,
        value_columns_by_count={"n": vals, "n_treated": vals, "n_control": vals},
        description="Main estimates by outcome and design (95% confidence intervals)",
        key_columns=keep_keys,
        margins=[],
        row_margins=[("n_treated", "n_control"), tuple(["n", *extra_counts])]
        if extra_counts
        else [("n_treated", "n_control")],
        unit="meetings",
    )


def build_specs(
    inp: ReportInputs,
    truth: Mapping[str, Any] | None,
    min_cell: int,
    include_estimates: bool = True,
) -> tuple[list[TableSpec | GateResult], list[dict[str, str]]]:
    """The tables offered to the gate, in report order (a GateResult = rejected before the gate)."""
    specs: list[TableSpec | GateResult] = []
    prelog: list[dict[str, str]] = []
    if inp.sample_flow is not None:
        need = {"rule", "description", "units_before", "units_removed", "units_after"}
        if need <= set(inp.sample_flow.columns):
            # the final step's meetings by form (units_in_person, ...) ride along as a row margin
            flow_spec, prelog = sample_flow_spec(inp.sample_flow, min_cell)
            specs.append(flow_spec)
        else:
            specs.append(
                rejected(
                    "sample_flow",
                    "Sample flow",
                    f"columns {sorted(need - set(inp.sample_flow.columns))} missing",
                )
            )
    for df, name, regional, desc in (
        (
            inp.share_month,
            "digital_share_by_month",
            False,
            "Digital share of eligible meetings by calendar month",
        ),
        (
            inp.share_municipality,
            "digital_share_by_municipality_month",
            True,
            "Digital share of eligible meetings by municipality and month",
        ),
    ):
        s = share_spec(df, name, regional, desc)
        if s is None:
            continue
        if regional and isinstance(s, TableSpec):
            # municipality totals over the window: the margins the municipality-month table assumes known
            share_cols = [c for c in s.df.columns if c.startswith("share_") and c != "share_digital"]
            agg = (
                s.df.group_by("municipality")
                .agg(pl.col(s.count_columns).sum())
                .with_columns(
                    (pl.col("n_digital") / pl.col("n")).alias("share_digital"),
                    *[(pl.col(f"n_{c.removeprefix('share_')}") / pl.col("n")).alias(c) for c in share_cols],
                )
                .select("municipality", *[c for c in s.df.columns if c not in ("municipality", "month")])
                .sort("municipality")
            )
            specs.append(
                dataclasses.replace(
                    s,
                    name="digital_share_by_municipality",
                    df=agg,
                    description="Digital share of eligible meetings by municipality (whole window)",
                    key_columns=["municipality"],
                    margins=[()],
                )
            )
        specs.append(s)

    try:
        counts = _estimate_counts(inp.estimates)
    except Exception:  # noqa: BLE001 - unusable counts: tables that need them are rejected below
        counts = None
    est_vals = EST_VALUES
    if inp.estimates is not None and include_estimates:
        specs.append(estimates_spec(inp.estimates, truth))
    if inp.overlap is not None:
        o = inp.overlap
        keys = [c for c in ("outcome", "design", "bin_low", "bin_high") if c in o.columns]
        if not {"n_treated", "n_control"} <= set(o.columns) or len(keys) < 4:
            specs.append(
                rejected(
                    "overlap",
                    "Propensity overlap",
                    "expected columns outcome, design, bin_low, bin_high, n_treated, n_control",
                )
            )
        else:
            specs.append(
                TableSpec(
                    name="overlap",
                    df=o.select(
                        *keys, pl.col("n_treated").cast(pl.Int64), pl.col("n_control").cast(pl.Int64)
                    ),
                    count_columns=["n_treated", "n_control"],
                    value_columns_by_count={},
                    description="Propensity overlap: meetings by estimated propensity bin",
                    key_columns=keys,
                    margins=[("outcome", "design")],
                    rows_per=["outcome", "design"],
                    unit="meetings",
                )
            )
    if inp.balance is not None:
        specs.append(
            _generic_spec(
                "balance",
                inp.balance,
                counts,
                "Covariate balance: standardized mean differences before and after weighting",
                ["outcome", "design"],
            )
        )
    if inp.sensitivity is not None:
        specs.append(
            _generic_spec(
                "sensitivity",
                inp.sensitivity,
                counts,
                "Sensitivity to unobserved confounding: bounds and robustness values",
                ["outcome", "design"],
            )
        )
    if inp.group_effects is not None:
        g = inp.group_effects
        need = {"outcome", "design", "group_var", "group", "estimate", "n"}
        if not need <= set(g.columns):
            specs.append(
                rejected("group_effects", "Group effects", f"columns {sorted(need - set(g.columns))} missing")
            )
        else:
            gc = [c for c in ("n", "n_treated") if c in g.columns]
            # the modality design has one row per group and contrast
            ck = ["contrast"] if "contrast" in g.columns else []
            df = g.select(
                "outcome",
                "design",
                *ck,
                "group_var",
                pl.col("group").cast(pl.String),
                *[c for c in est_vals if c in g.columns],
                *[pl.col(c).cast(pl.Int64) for c in gc],
            )
            if "n_treated" in gc:
                df = df.with_columns((pl.col("n") - pl.col("n_treated")).alias("n_control"))
                gc.append("n_control")
            df = with_truth(df, truth, group=True)
            vals = [c for c in [*est_vals, "true_value"] if c in df.columns]
            specs.append(
                TableSpec(
                    name="group_effects",
                    df=df,
                    count_columns=gc,
                    value_columns_by_count={c: vals for c in gc},
                    description="Group effects by benefit group, age band, sex and education level",
                    key_columns=["outcome", "design", *ck, "group_var", "group"],
                    margins=[("outcome", "design", *ck, "group_var")],
                    rows_per=["outcome", "design", *ck],
                    row_margins=[("n_treated", "n_control")] if "n_treated" in gc else [],
                    unit="meetings",
                )
            )
    if inp.placebos is not None:
        p = inp.placebos
        if "n" not in p.columns:
            specs.append(_generic_spec("placebos", p, counts, "Placebo tests", ["outcome"]))
        else:
            keys = [c for c in ("kind", "outcome", "design") if c in p.columns]
            vals = [c for c in est_vals if c in p.columns]
            specs.append(
                TableSpec(
                    name="placebos",
                    df=p.select(*keys, *vals, pl.col("n").cast(pl.Int64)),
                    count_columns=["n"],
                    value_columns_by_count={"n": vals},
                    description="Placebo tests: pre-period outcome and permuted treatment (should show no effect)",
                    key_columns=keys,
                    margins=[],
                    unit="meetings",
                )
            )
    if inp.power is not None:
        pw = inp.power
        if counts is not None and "outcome" in pw.columns:
            cnt = counts.group_by("outcome").agg(pl.col("n", "n_treated", "n_control").min())
            pw = pw.drop([c for c in ("n", "n_treated", "n_control") if c in pw.columns]).join(
                cnt, on="outcome", how="left"
            )
            keys = [c for c in ("outcome", "trial_size") if c in pw.columns]
            vals = [c for c in pw.columns if c not in keys and c not in ("n", "n_treated", "n_control")]
            specs.append(
                TableSpec(
                    name="power",
                    df=pw.select(*keys, *vals, "n", "n_treated", "n_control"),
                    count_columns=["n", "n_treated", "n_control"],
                    value_columns_by_count={"n": vals, "n_treated": vals, "n_control": vals},
                    description="Power of the reversed trial: minimum detectable effect by number randomized",
                    key_columns=keys,
                    margins=[],
                    unit="meetings",
                )
            )
        else:
            specs.append(
                rejected(
                    "power",
                    "Power of the reversed trial",
                    "no count behind the observed means and variances (no estimates to take n from)",
                )
            )
    if inp.feasibility is not None:
        try:
            specs.append(feasibility_spec(inp.feasibility))
        except Exception as e:  # noqa: BLE001 - an unusable table is withheld, with the reason
            specs.append(
                rejected("feasibility", "Feasibility", f"could not be prepared ({type(e).__name__}: {e})")
            )
    if inp.nuisance_losses is not None:
        specs.append(
            _generic_spec(
                "nuisance_losses",
                inp.nuisance_losses,
                counts,
                "Nuisance losses per learner (out-of-fold)",
                ["outcome", "design"],
            )
        )
    specs += modality_specs(inp, truth, include_estimates)
    return specs, prelog
