"""The modality section's tables (three meeting forms, DoubleML APOS) and the links that keep their
suppressions consistent with the digital-share and estimates tables.

No Dagster.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

import polars as pl

from assets.report.render.inputs import ReportInputs
from assets.report.render.truth import with_truth
from models.disclosure import GateResult, TableSpec, rejected

FORMS = ("in_person", "telephone", "video")


def modality_specs(
    inp: ReportInputs, truth: Mapping[str, Any] | None, include_estimates: bool = True
) -> list[TableSpec]:
    """The modality section's tables: the three forms' counts and shares by month (from the digital-share
    table's form counts) and, with ``include_estimates``, the modality design's contrasts with their true
    values on synthetic data."""
    out: list[TableSpec] = []
    sm = inp.share_month
    form_cols = [f"n_{f}" for f in FORMS]
    if (
        sm is not None
        and set(form_cols) <= set(sm.columns)
        and sm.select(form_cols).null_count().sum_horizontal().item() == 0
    ):
        df = sm.select(
            pl.col("calendar_month").cast(pl.String).alias("month"),
            *[pl.col(c).cast(pl.Int64) for c in form_cols],
        )
        df = df.with_columns(pl.sum_horizontal(form_cols).alias("n_with_form"))
        df = df.with_columns([(pl.col(f"n_{f}") / pl.col("n_with_form")).alias(f"share_{f}") for f in FORMS])
        shares = [f"share_{f}" for f in FORMS]
        out.append(
            TableSpec(
                name="forms_by_month",
                df=df.sort("month"),
                count_columns=["n_with_form", *form_cols],
                # a form's share is its count over the month's: it goes with either count
                value_columns_by_count={
                    "n_with_form": shares,
                    **{f"n_{f}": [f"share_{f}"] for f in FORMS},
                },
                description="Eligible meetings in person, by telephone and by video, by calendar month",
                key_columns=["month"],
                margins=[()],
                row_margins=[tuple(form_cols)],
                unit="meetings",
            )
        )
    e = inp.estimates if include_estimates else None
    if e is not None and {"contrast", "design", "estimate", "ci_low", "ci_high", "n", "n_treated"} <= set(
        e.columns
    ):
        m = e.filter(pl.col("design") == "modality")
        if m.height:
            vals = ["estimate", "se", "ci_low", "ci_high", "p_value"]
            df = m.select(
                "outcome",
                "design",
                "contrast",
                *vals,
                pl.col("n").cast(pl.Int64),
                pl.col("n_treated").cast(pl.Int64),
            ).with_columns((pl.col("n") - pl.col("n_treated")).alias("n_control"))
            df = with_truth(df, truth)
            vals += ["true_value"] if "true_value" in df.columns else []
            out.append(
                TableSpec(
                    name="modality_contrasts",
                    df=df.rename({"n_treated": "n_level", "n_control": "n_reference"}),
                    count_columns=["n", "n_level", "n_reference"],
                    value_columns_by_count={"n": vals, "n_level": vals, "n_reference": vals},
                    description="Contrasts of the meeting forms (APOS): level minus reference, 95% intervals",
                    key_columns=["outcome", "design", "contrast"],
                    margins=[],
                    row_margins=[("n_level", "n_reference")],
                    unit="meetings",
                )
            )
    po = inp.potential_outcomes
    if po is not None and {"outcome", "design", "level", "n", "n_trimmed"} <= set(po.columns):
        vals = [c for c in ("estimate", "se", "ci_low", "ci_high") if c in po.columns]
        out.append(
            TableSpec(
                name="modality_arms",
                df=po.select(
                    "outcome",
                    "design",
                    pl.col("level").alias("form"),
                    *vals,
                    pl.col("n").cast(pl.Int64),
                    pl.col("n_trimmed").cast(pl.Int64),
                ),
                count_columns=["n", "n_trimmed"],
                value_columns_by_count={"n": vals},
                description="Each form's average potential outcome (APOS) and its meetings used and trimmed",
                key_columns=["outcome", "design", "form"],
                # the three pair sums of the estimates table give every arm's count and their total
                margins=[("outcome", "design")],
                rows_per=["outcome", "design"],
                unit="meetings",
            )
        )
    ob = inp.overlap_by_arm
    if ob is not None and {"outcome", "design", "form", "arm", "n"} <= set(ob.columns):
        qs = [c for c in ("min", "p05", "p25", "p50", "p75", "p95", "max") if c in ob.columns]
        if po is None or not {"outcome", "design", "level", "n"} <= set(po.columns):
            out.append(
                rejected(
                    "modality_overlap",
                    "Generalized propensity by arm",
                    "no count of each form's meetings used (potential_outcomes) to back the quantiles",
                )
            )
            return out
        # The quantiles are over the arm's meetings before trimming, but they are backed by the meetings
        # used (n_used, as in modality_arms and the contrasts): a count before trimming beside the one
        # used would give a small trimmed count away.
        used = po.select(
            "outcome", "design", pl.col("level").alias("arm"), pl.col("n").cast(pl.Int64).alias("n_used")
        )
        df = ob.select("outcome", "design", "form", "arm", *qs).join(
            used, on=["outcome", "design", "arm"], how="left"
        )
        out.append(
            TableSpec(
                name="modality_overlap",
                df=df.select("outcome", "design", "form", "arm", "n_used", *qs),
                count_columns=["n_used"],
                value_columns_by_count={"n_used": qs},
                description="Generalized propensity P(form | X) among each arm's meetings, before trimming",
                key_columns=["outcome", "design", "form", "arm"],
                margins=[("outcome", "design", "form")],
                rows_per=["outcome", "design"],
                unit="meetings",
            )
        )
    return out


def arm_links(arms: GateResult, df: pl.DataFrame, arm_cols: Sequence[str], count: str) -> list[bool]:
    """Rows of ``df`` (keyed by outcome and design) touching an arm whose ``count`` (``n_trimmed``: the
    estimates' pair sums solve for it; ``n``: the overlap table's ``n_used`` is the same count) the
    ``modality_arms`` table suppresses."""
    if arms.table is None:
        return [True] * df.height
    t = arms.table
    hidden = {
        (o, d, f)
        for i, (o, d, f) in enumerate(t.select("outcome", "design", "form").iter_rows())
        if arms.suppressed[count][i]
    }
    rows = df.select("outcome", "design", *arm_cols).iter_rows()
    return [any((o, d, a) in hidden for a in arms_) for o, d, *arms_ in rows]


# forms_by_month's counts and the digital-share-by-month counts they equal or follow from: the form's
# in-person count is the two-arm one less the in-person codes without a form, n_with_form is n less n_no_form
_FORMS_FROM_SHARE = {
    "n_telephone": ("n_telephone",),
    "n_video": ("n_video",),
    "n_in_person": ("n_in_person", "n_no_form"),
    "n_with_form": ("n", "n_no_form"),
}


def link_forms_to_share(spec: TableSpec, share: GateResult | None) -> TableSpec:
    """forms_by_month with every cell suppressed whose month's counterpart the digital-share-by-month table
    suppresses (or does not publish), so that the two tables together give no suppressed count away."""
    if share is None:
        return spec
    months = spec.df.get_column("month").to_list()
    if share.table is None:
        forced = {c: [True] * len(months) for c in _FORMS_FROM_SHARE}
    else:
        at = {m: i for i, m in enumerate(share.table.get_column("month").to_list())}
        forced = {}
        for c, sources in _FORMS_FROM_SHARE.items():
            masks = [share.suppressed[x] for x in sources if x in share.suppressed]
            forced[c] = [m not in at or any(k[at[m]] for k in masks) for m in months]
    return dataclasses.replace(
        spec, force_suppress=forced, force_reason="suppressed in the digital share by month (linked table)"
    )
