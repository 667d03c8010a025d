"""The report that leaves the server: one self-contained HTML file plus the same tables as CSV and LaTeX.

Pure (no Dagster). Every table passes :func:`models.disclosure.gate` before it is shown, written or
plotted; figures are drawn only from approved (gated) tables. Inputs that do not exist yet are named in
the report ("no data") rather than failing the run.

Entry points: :func:`load_inputs` (read the run folder), :func:`build_report` (gate, figures, HTML in
memory) and :func:`write_report` (write ``report.html``, ``tables/``, ``figures/``, ``suppression_log.csv``
and ``contents.csv`` into a report folder).
"""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import hashlib
import html
import io
import json
import math
import platform
import re
import shutil
import subprocess
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from assets.io import replace_path, swap_dir
from data_contracts.config import FINAL_MIN_REPS
from models.disclosure import (
    COUNT_NAME_RE,
    GateResult,
    TableSpec,
    gate,
    is_small,
    linked_suppression,
    log_to_frame,
    rejected,
    sample_flow_spec,
)
from models.feasibility import DESIGN_LABELS as FEASIBILITY_LABELS
from models.feasibility import feasibility_spec, verdict


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

DESIGN_LABELS = {
    "irm_att": "IRM, ATT (effect on the digitally met)",
    "irm_ate": "IRM, ATE (average effect)",
    "plr": "PLR (partially linear, robustness)",
    "pliv": "PLIV (jobcentre-practice instrument)",
    "naive": "naive difference in means",
    "irm_att_first": "IRM, ATT on the first meeting of each spell (secondary unit)",
    "modality": "APOS, contrasts of the meeting forms (in person, telephone, video)",
}
PACKAGES = (
    "polars",
    "duckdb",
    "pandas",
    "numpy",
    "scipy",
    "doubleml",
    "lightgbm",
    "scikit-learn",
    "dagster",
    "matplotlib",
    "pyarrow",
    "pydantic",
)
SUPPRESSED = "s"


# ---------------------------------------------------------------------------------------------------
# inputs


@dataclass
class ReportInputs:
    """Everything the report reads; any table may be None (that section then says "no data")."""

    sample_flow: pl.DataFrame | None = None
    share_month: pl.DataFrame | None = None
    share_municipality: pl.DataFrame | None = None
    estimates: pl.DataFrame | None = None
    overlap: pl.DataFrame | None = None
    balance: pl.DataFrame | None = None
    sensitivity: pl.DataFrame | None = None
    group_effects: pl.DataFrame | None = None
    placebos: pl.DataFrame | None = None
    power: pl.DataFrame | None = None
    nuisance_losses: pl.DataFrame | None = None
    value: pl.DataFrame | None = None
    feasibility: pl.DataFrame | None = None
    # the modality design: generalized propensity by arm, and each form's potential outcome and trimming
    overlap_by_arm: pl.DataFrame | None = None
    potential_outcomes: pl.DataFrame | None = None
    delivery_manifest_sha256: str | None = None
    delivery_name: str = ""
    sources: dict[str, str] = field(default_factory=dict)
    # what the data could not give this run (e.g. a covariate left out), stated near the top of the report
    data_notes: list[str] = field(default_factory=list)


def _read(path: Path) -> pl.DataFrame | None:
    try:
        return pl.read_parquet(path) if path.is_file() else None
    except Exception:  # noqa: BLE001 - an unreadable input is reported as missing
        return None


def manifest_hash(manifest: pl.DataFrame) -> str:
    """sha256 over the delivery manifest's sorted (file, sha256) pairs."""
    cols = [c for c in ("file", "sha256") if c in manifest.columns]
    rows = sorted(manifest.select(cols).iter_rows()) if cols else []
    text = "\n".join("|".join(str(x) for x in r) for r in rows)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def load_inputs(work_dir: str | Path) -> ReportInputs:
    """Read whatever exists of the run folder ``work_dir`` (``<workdir>/runs/<delivery>``)."""
    w = Path(work_dir)
    inp = ReportInputs(delivery_name=w.name)

    def take(attr: str, *cands: Path) -> None:
        for p in cands:
            df = _read(p)
            if df is not None:
                setattr(inp, attr, df)
                inp.sources[attr] = p.relative_to(w).as_posix()
                return

    take("sample_flow", w / "analysis" / "sample_flow.parquet", w / "treatment" / "sample_flow.parquet")
    est = w / "estimation"
    for attr, name in (
        ("estimates", "estimates"),
        ("overlap", "overlap"),
        ("balance", "balance"),
        ("sensitivity", "sensitivity"),
        ("group_effects", "group_effects"),
        ("placebos", "placebos"),
        ("power", "power"),
        ("nuisance_losses", "nuisance_losses"),
        ("value", "value"),
        ("feasibility", "feasibility"),
        ("overlap_by_arm", "overlap_by_arm"),
        ("potential_outcomes", "potential_outcomes"),
    ):
        take(attr, est / f"{name}.parquet")
    # digital-share summaries: names still in flux, so look for them
    for stage in ("analysis", "treatment"):
        d = w / stage
        if not d.is_dir():
            continue
        for p in sorted(d.glob("*.parquet")):
            n = p.stem.lower()
            if "share" not in n and "digital_by" not in n:
                continue
            regional = any(t in n for t in ("kom", "muni", "jobcent", "region"))
            attr = "share_municipality" if regional else "share_month"
            if getattr(inp, attr) is None:
                take(attr, p)
    m = _read(w / "raw" / "delivery_manifest.parquet")
    if m is not None:
        inp.delivery_manifest_sha256 = manifest_hash(m)
    cd = _read(w / "analysis" / "column_dictionary.parquet")
    if cd is not None and "name" in cd.columns and "local_benefit_share" not in cd["name"].to_list():
        from assets.covariates.logic import LOCAL_LEFT_OUT_WARNING

        inp.data_notes.append(LOCAL_LEFT_OUT_WARNING)
    return inp


# ---------------------------------------------------------------------------------------------------
# truth (synthetic deliveries only)


def _pick(d: Mapping[str, Any], *names: str) -> float | None:
    lower = {str(k).lower(): v for k, v in d.items()}
    for n in names:
        v = lower.get(n)
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            return float(v)
        if isinstance(v, dict):
            inner = _pick(v, "value", "overall", "all")
            if inner is not None:
                return inner
    return None


def normalize_truth(raw: Mapping[str, Any] | None) -> dict[str, dict[str, Any]] | None:
    """Adapt a truth file to ``{outcome: {"att": x, "ate": y, "groups": {group_var: {group: {"att", "ate"}}}}}``.

    Tolerates ``{"outcomes": {...}}``, ``{"effects": {...}}`` (the synthetic generator's file, with
    ``{"overall": {...}, "by_group": {...}}`` per outcome), ``{"overall": {...}}`` or outcomes at the top
    level; ATT under
    ``att``/``atte``; groups under ``groups``/``by_group``/``group_effects`` inside each outcome, or at the
    top level keyed by outcome.
    """
    if not raw or not isinstance(raw, Mapping):
        return None
    src = raw.get("outcomes") or raw.get("effects") or raw.get("overall") or raw.get("truth") or raw
    top_groups = raw.get("groups") or raw.get("by_group") or raw.get("group_effects") or {}
    out: dict[str, dict[str, Any]] = {}
    for outcome, d in src.items():
        if not isinstance(d, Mapping):
            continue
        base = d.get("overall") if isinstance(d.get("overall"), Mapping) else d
        att = _pick(base, "att", "atte", "att_true", "true_att")
        ate = _pick(base, "ate", "ate_true", "true_ate")
        if att is None and ate is None:
            continue
        groups_raw = d.get("groups") or d.get("by_group") or d.get("group_effects")
        if groups_raw is None and isinstance(top_groups, Mapping):
            groups_raw = top_groups.get(outcome)
        groups: dict[str, dict[str, dict[str, float | None]]] = {}
        if isinstance(groups_raw, Mapping):
            for gvar, gd in groups_raw.items():
                if not isinstance(gd, Mapping):
                    continue
                for g, v in gd.items():
                    if isinstance(v, Mapping):
                        groups.setdefault(str(gvar), {})[str(g)] = {
                            "att": _pick(v, "att", "atte"),
                            "ate": _pick(v, "ate"),
                        }
                    elif isinstance(v, (int, float)):
                        groups.setdefault(str(gvar), {})[str(g)] = {"att": float(v), "ate": float(v)}
        # the modality design's contrasts ({"video_vs_in_person": {"ate": x}} or a number), by name
        contrasts: dict[str, float | None] = {}
        craw = d.get("contrasts")
        if isinstance(craw, Mapping):
            for name, v in craw.items():
                contrasts[str(name)] = (
                    _pick(v, "ate")
                    if isinstance(v, Mapping)
                    else (float(v) if isinstance(v, (int, float)) else None)
                )
        out[str(outcome)] = {"att": att, "ate": ate, "groups": groups, "contrasts": contrasts}
    return out or None


def load_truth(path: str | Path | None) -> dict[str, dict[str, Any]] | None:
    """Read and adapt a truth JSON file; None when no path is given or the file does not exist."""
    if not path:
        return None
    p = Path(path)
    if not p.is_file():
        return None
    return normalize_truth(json.loads(p.read_text(encoding="utf-8")))


def true_value(
    truth: Mapping[str, Any] | None,
    outcome: str,
    design: str,
    group_var: str | None = None,
    group: str | None = None,
    contrast: str | None = None,
) -> float | None:
    """The true effect a design targets: ATT for irm_att and naive, the contrast's ATE for the modality
    design (no group truths), else ATE."""
    if not truth or outcome not in truth or str(design).endswith("_first"):
        return None  # the truth files hold no effects for the secondary unit (first meetings of spells)
    t = truth[outcome]
    if design == "modality":
        if contrast is None or group_var is not None:
            return None
        return (t.get("contrasts") or {}).get(str(contrast))
    if group_var is not None:
        t = t.get("groups", {}).get(str(group_var), {}).get(str(group))
        if not t:
            return None
    key = "att" if design in ("irm_att", "naive") else "ate"
    v = t.get(key)
    return v if v is not None else t.get("att" if key == "ate" else "ate")


# ---------------------------------------------------------------------------------------------------
# tables through the gate


def _is_exit(outcome: str) -> bool:
    return str(outcome).startswith("y_")


def _first(df: pl.DataFrame, *names: str) -> str | None:
    low = {c.lower(): c for c in df.columns}
    for n in names:
        if n in low:
            return low[n]
    return None


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


def _share_spec(
    df: pl.DataFrame | None, name: str, regional: bool, description: str
) -> TableSpec | GateResult | None:
    if df is None:
        return None
    month = _first(df, "month", "calendar_month", "year_month", "ym", "period", "maaned")
    kom = (
        _first(df, "kom", "kommune", "municipality", "jobcentre", "jobcenter", "kommune_kode")
        if regional
        else None
    )
    share = _first(df, "share_digital", "digital_share", "share", "pct_digital", "andel_digital")
    n = _first(df, "n", "n_meetings", "meetings", "units", "n_units", "antal", "count", "n_total")
    n_dig = _first(df, "n_digital", "digital", "meetings_digital", "antal_digital")
    n_phys = _first(df, "n_in_person", "n_physical", "in_person", "meetings_in_person", "antal_fysisk")
    if month is None or (regional and kom is None):
        return rejected(name, description, "no month (or municipality) column could be identified")
    if n is None and n_dig is not None and n_phys is not None:
        df = df.with_columns((pl.col(n_dig) + pl.col(n_phys)).alias("n"))
        n = "n"
    if n is None:
        return rejected(
            name,
            description,
            "no count column could be identified for the digital share: the gate cannot vouch for it",
        )
    cols = {month: "month", n: "n"}
    if kom:
        cols[kom] = "municipality"
    sel = df.select(
        [pl.col(k).alias(v) for k, v in cols.items()]
        + ([pl.col(share).cast(pl.Float64).alias("share_digital")] if share else [])
        + ([pl.col(n_dig).alias("n_digital")] if n_dig else [])
        + ([pl.col(n_phys).alias("n_in_person")] if n_phys else [])
    )
    sel = sel.with_columns(pl.col("month").cast(pl.String), pl.col("n").cast(pl.Int64))
    if kom:
        sel = sel.with_columns(pl.col("municipality").cast(pl.String))
    if "n_digital" not in sel.columns:
        if "share_digital" not in sel.columns:
            return rejected(
                name, description, "neither a digital share nor a count of digital meetings found"
            )
        sel = sel.with_columns(
            (pl.col("share_digital") * pl.col("n")).round(0).cast(pl.Int64).alias("n_digital")
        )
    if "n_in_person" not in sel.columns:
        sel = sel.with_columns((pl.col("n") - pl.col("n_digital")).cast(pl.Int64).alias("n_in_person"))
    if "share_digital" not in sel.columns:
        sel = sel.with_columns((pl.col("n_digital") / pl.col("n")).alias("share_digital"))
    keys = ["municipality", "month"] if kom else ["month"]
    # the three forms (issue 21): telephone and video counts and shares beside the digital share; the
    # two-arm in-person count stays n - n_digital (the table's n_in_person is the form's, which leaves out
    # an in-person code without a form)
    forms = [
        c for c in ("n_telephone", "n_video", "n_no_form") if c in df.columns and df[c].null_count() == 0
    ]
    if {"n_telephone", "n_video"} <= set(forms):
        sel = sel.with_columns(
            (pl.col("n") - pl.col("n_digital")).cast(pl.Int64).alias("n_in_person"),
            *[df.get_column(c).cast(pl.Int64).alias(c) for c in forms],
        )
        # no meeting without a form anywhere: a structural zero, not a cell
        forms = [c for c in forms if c != "n_no_form" or int(sel[c].sum()) > 0]
        sel = sel.with_columns(
            [(pl.col(f"n_{f}") / pl.col("n")).alias(f"share_{f}") for f in ("telephone", "video")]
        )
    else:
        forms = []
    form_shares = [f"share_{c.removeprefix('n_')}" for c in forms if c != "n_no_form"]
    sel = sel.select(*keys, "n", "n_digital", "n_in_person", *forms, "share_digital", *form_shares).sort(keys)
    margins = [("municipality",), ("month",)] if kom else [()]
    return TableSpec(
        name=name,
        df=sel,
        count_columns=["n", "n_digital", "n_in_person", *forms],
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
        unit="meetings",
        rows_per=["month"] if kom else [],
    )


def _with_truth(df: pl.DataFrame, truth: Mapping[str, Any] | None, group: bool = False) -> pl.DataFrame:
    if not truth:
        return df
    # the modality design's rows carry their contrast (null for the other designs)
    con = (
        df.get_column("contrast")
        if "contrast" in df.columns
        else pl.repeat(None, df.height, dtype=pl.String, eager=True)
    )
    if group:
        vals = [
            true_value(truth, o, d, gv, g, c)
            for (o, d, gv, g), c in zip(
                df.select("outcome", "design", "group_var", "group").iter_rows(), con, strict=True
            )
        ]
    else:
        vals = [
            true_value(truth, o, d, contrast=c)
            for (o, d), c in zip(df.select("outcome", "design").iter_rows(), con, strict=True)
        ]
    return df.with_columns(pl.Series("true_value", vals, dtype=pl.Float64))


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
    est_vals = ["estimate", "se", "ci_low", "ci_high", "p_value"]
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
    df = _with_truth(df, truth)
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
        s = _share_spec(df, name, regional, desc)
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
    est_vals = ["estimate", "se", "ci_low", "ci_high", "p_value"]
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
            df = _with_truth(df, truth, group=True)
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
    specs += _modality_specs(inp, truth)
    return specs, prelog


FORMS = ("in_person", "telephone", "video")


def _modality_specs(inp: ReportInputs, truth: Mapping[str, Any] | None) -> list[TableSpec]:
    """The modality section's tables: the three forms' counts and shares by month (from the digital-share
    table's form counts) and the modality design's contrasts with their true values on synthetic data."""
    out: list[TableSpec] = []
    sm = inp.share_month
    form_cols = [f"n_{f}" for f in FORMS]
    if (
        sm is not None
        and set(form_cols) <= set(sm.columns)
        and sm.select(form_cols).null_count().sum_horizontal().item() == 0
    ):
        month = _first(sm, "month", "calendar_month")
        if month is not None:
            df = sm.select(
                pl.col(month).cast(pl.String).alias("month"), *[pl.col(c).cast(pl.Int64) for c in form_cols]
            )
            df = df.with_columns(pl.sum_horizontal(form_cols).alias("n_with_form"))
            df = df.with_columns(
                [(pl.col(f"n_{f}") / pl.col("n_with_form")).alias(f"share_{f}") for f in FORMS]
            )
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
    e = inp.estimates
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
            df = _with_truth(df, truth)
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


def _arm_links(arms: GateResult, df: pl.DataFrame, arm_cols: Sequence[str], count: str) -> list[bool]:
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


def _link_forms_to_share(spec: TableSpec, share: GateResult | None) -> TableSpec:
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


def fig_modality(r: GateResult, forms: GateResult | None) -> FigureRecord | None:
    """One figure: the three forms' shares by month (left) and the contrasts with 95% intervals and, on
    synthetic data, the true values (right)."""
    df = _visible(r, ["estimate", "ci_low", "ci_high"])
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
            vis = _visible(forms, [f"share_{f}"])
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
    scale = np.array([100.0 if _is_exit(o) else 1.0 for o in df["outcome"]])
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
    return _finish(
        fig,
        "modality_contrasts",
        "Meeting forms by month and their contrasts",
        sources,
        "Left: shares of the three forms among eligible meetings by month. Right: APOS contrasts (level minus "
        "reference) with 95% person-clustered intervals; exit outcomes in percentage points.",
    )


TABLE_INPUTS = (
    "sample_flow",
    "share_month",
    "share_municipality",
    "estimates",
    "overlap",
    "balance",
    "sensitivity",
    "group_effects",
    "placebos",
    "power",
    "nuisance_losses",
    "feasibility",
    "overlap_by_arm",
    "potential_outcomes",
)


def _build_specs_safely(
    inp: ReportInputs, truth: Mapping[str, Any] | None, min_cell: int
) -> tuple[list[TableSpec | GateResult], list[dict[str, str]]]:
    """:func:`build_specs`, table by table if anything unexpected happens (that table is then rejected)."""
    try:
        return build_specs(inp, truth, min_cell)
    except Exception:  # noqa: BLE001 - fall back to one input at a time
        pass
    specs: list[TableSpec | GateResult] = []
    prelog: list[dict[str, str]] = []
    for attr in TABLE_INPUTS:
        if getattr(inp, attr) is None:
            continue
        one = ReportInputs(**{attr: getattr(inp, attr)})
        if attr != "estimates":
            one.estimates = inp.estimates
        try:
            got, log = build_specs(one, truth, min_cell, include_estimates=attr == "estimates")
            specs += got
            prelog += log
        except Exception as e:  # noqa: BLE001
            specs.append(rejected(attr, attr, f"could not be prepared ({type(e).__name__}: {e})"))
    return specs, prelog


def gate_all(
    inp: ReportInputs, truth: Mapping[str, Any] | None, min_cell: int
) -> tuple[dict[str, GateResult], pl.DataFrame]:
    specs, prelog = _build_specs_safely(inp, truth, min_cell)
    n_units: list[int] = []
    try:
        if inp.estimates is not None and "n" in inp.estimates.columns:
            n_max = inp.estimates["n"].drop_nulls().max()
            if n_max is not None:
                n_units.append(int(n_max))
            if "n_persons" in inp.estimates.columns and inp.estimates["n_persons"].drop_nulls().len():
                n_units.append(int(inp.estimates["n_persons"].drop_nulls().min()))
        if (
            inp.sample_flow is not None
            and "units_after" in inp.sample_flow.columns
            and inp.sample_flow.height
        ):
            last = inp.sample_flow["units_after"][-1]
            if last is not None:
                n_units.append(int(last))
    except Exception:  # noqa: BLE001 - unknown unit counts only weaken nothing: the other rules still apply
        pass
    n_units = [u for u in n_units if u > 0]
    results: dict[str, GateResult] = {}
    for s in specs:
        if isinstance(s, TableSpec) and s.name == "digital_share_by_municipality_month":
            # the monthly table is this table's margin: a suppressed month hides its municipality cells
            # (and the municipality table is its other margin)
            forced: dict[str, list[bool]] = {}
            for total_name, by in (
                ("digital_share_by_month", "month"),
                ("digital_share_by_municipality", "municipality"),
            ):
                total = results.get(total_name)
                if total is None:
                    continue
                f = linked_suppression(total, s.df, [by], list(s.count_columns))
                for c, m in f.items():
                    prev = forced.get(c, [False] * s.df.height)
                    forced[c] = [a or b for a, b in zip(prev, m, strict=True)]
            if forced:
                s = dataclasses.replace(
                    s,
                    force_suppress=forced,
                    force_reason="its month or municipality total is suppressed in a linked table",
                )
        if isinstance(s, TableSpec) and s.name == "forms_by_month":
            s = _link_forms_to_share(s, results.get("digital_share_by_month"))
        arm_spec = next((x for x in specs if isinstance(x, TableSpec) and x.name == "modality_arms"), None)
        if arm_spec is not None and s.name in ("estimates", "modality_overlap", "modality_arms"):
            # the arms' trimmed counts are gated first: the estimates' modality rows and the overlap by arm
            # hide what would give a suppressed one away
            if "modality_arms" not in results:
                results["modality_arms"] = gate(arm_spec, min_cell=min_cell, n_units=n_units or None)
            arms = results["modality_arms"]
            if s.name == "modality_arms":
                continue
            if isinstance(s, TableSpec) and s.name == "estimates" and "contrast" in s.df.columns:
                lvl_ref = s.df.select(
                    "outcome",
                    "design",
                    pl.col("contrast").str.split("_vs_").list.get(0, null_on_oob=True).alias("_lvl"),
                    pl.col("contrast").str.split("_vs_").list.get(1, null_on_oob=True).alias("_ref"),
                )
                m = _arm_links(arms, lvl_ref, ["_lvl", "_ref"], "n_trimmed")
                if any(m) and "n_trimmed" in s.count_columns:
                    s = dataclasses.replace(
                        s,
                        force_suppress={"n_trimmed": m},
                        force_reason="gives a form's suppressed trimmed count away (modality_arms)",
                    )
            if isinstance(s, TableSpec) and s.name == "modality_overlap":
                m = _arm_links(arms, s.df, ["arm"], "n")
                if any(m):
                    s = dataclasses.replace(
                        s,
                        force_suppress={"n_used": m},
                        force_reason="the form's meetings used are suppressed in modality_arms",
                    )
        r = s if isinstance(s, GateResult) else gate(s, min_cell=min_cell, n_units=n_units or None)
        results[r.name] = r
    log = log_to_frame(prelog + [e for r in results.values() for e in r.log])
    return results, log


# ---------------------------------------------------------------------------------------------------
# formatting


def fmt_num(v: Any, count: bool = False) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return ""
    if isinstance(v, bool):
        return str(v)
    if count or isinstance(v, int):
        return str(int(round(float(v))))
    if isinstance(v, float):
        if v == 0:
            return "0"
        a = abs(v)
        if a < 1e-4:
            return f"{v:.2e}"
        return f"{v:.4g}" if a < 1000 else f"{v:,.0f}".replace(",", "")
    return str(v)


def table_cells(r: GateResult) -> tuple[list[str], list[list[str]]]:
    """Header and formatted cells of an approved table; suppressed cells are ``s``."""
    assert r.table is not None
    df = r.table
    rows = []
    for i in range(df.height):
        row = []
        for c in df.columns:
            if r.suppressed.get(c, [False] * df.height)[i]:
                row.append(SUPPRESSED)
            else:
                row.append(fmt_num(df[c][i], count=c in r.count_columns))
        rows.append(row)
    return list(df.columns), rows


def to_csv(r: GateResult) -> str:
    import csv

    header, rows = table_cells(r)
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(header)
    w.writerows(rows)
    return buf.getvalue()


def _tex_escape(s: str) -> str:
    rep = {
        "\\": r"\textbackslash{}",
        "&": r"\&",
        "%": r"\%",
        "$": r"\$",
        "#": r"\#",
        "_": r"\_",
        "{": r"\{",
        "}": r"\}",
        "~": r"\textasciitilde{}",
        "^": r"\textasciicircum{}",
    }
    return "".join(rep.get(ch, ch) for ch in s)


def to_latex(r: GateResult, min_cell: int) -> str:
    header, rows = table_cells(r)
    align = "".join("r" if (c in r.count_columns or c in r.value_columns) else "l" for c in header)
    lines = [
        "% " + _tex_escape(r.description),
        r"\begin{table}[htbp]",
        r"\centering",
        r"\small",
        r"\caption{" + _tex_escape(r.description) + "}",
        r"\begin{tabular}{" + align + "}",
        r"\hline",
        " & ".join(_tex_escape(h) for h in header) + r" \\",
        r"\hline",
    ]
    lines += [" & ".join(_tex_escape(c) for c in row) + r" \\" for row in rows]
    lines += [
        r"\hline",
        r"\end{tabular}",
        r"\par\footnotesize{s = suppressed (fewer than "
        + str(min_cell)
        + r" units, or would reveal such a cell).}",
        r"\end{table}",
        "",
    ]
    return "\n".join(lines)


def to_html_table(r: GateResult, max_rows: int = 80) -> str:
    header, rows = table_cells(r)
    out = [
        '<div class="tw"><table class="t"><thead><tr>'
        + "".join(f"<th>{html.escape(h)}</th>" for h in header)
        + "</tr></thead><tbody>"
    ]
    for row in rows[:max_rows]:
        tds = []
        for h, c in zip(header, row, strict=True):
            cls = ' class="num"' if (h in r.count_columns or h in r.value_columns) else ""
            if c == SUPPRESSED:
                cls = ' class="sup"'
            tds.append(f"<td{cls}>{html.escape(c)}</td>")
        out.append("<tr>" + "".join(tds) + "</tr>")
    out.append("</tbody></table></div>")
    if len(rows) > max_rows:
        out.append(
            f"<p class='note'>First {max_rows} of {len(rows)} rows; all rows are in tables/{r.name}.csv.</p>"
        )
    return "\n".join(out)


# ---------------------------------------------------------------------------------------------------
# figures


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


def _finish(fig: plt.Figure, name: str, title: str, sources: Sequence[str], caption: str) -> FigureRecord:
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


def _scale(outcome: str) -> tuple[float, str]:
    if "income" in str(outcome):
        return 1.0, "DKK"
    return (100.0, "percentage points") if _is_exit(outcome) else (1.0, "weeks")


def _visible(r: GateResult | None, cols: Sequence[str]) -> pl.DataFrame | None:
    """Rows of an approved table where none of ``cols`` is suppressed or missing."""
    if r is None or r.table is None:
        return None
    df = r.table.with_row_index("_i")
    keep = [
        i
        for i in range(df.height)
        if all(
            not r.suppressed.get(c, [False] * df.height)[i] and df[c][i] is not None
            for c in cols
            if c in df.columns
        )
    ]
    return df.filter(pl.col("_i").is_in(keep)).drop("_i")


def fig_forest(r: GateResult) -> FigureRecord | None:
    df = _visible(r, ["estimate", "ci_low", "ci_high"])
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
    return _finish(
        fig,
        "forest_estimates",
        "Effect estimates with 95% confidence intervals",
        [r.name],
        "Points are estimates, bars 95% confidence intervals; exit outcomes in percentage points.",
    )


def fig_share_month(r: GateResult) -> FigureRecord | None:
    df = _visible(r, ["share_digital"])
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
    return _finish(
        fig,
        "digital_share_by_month",
        "Digital share by month",
        [r.name],
        "Share of eligible meetings held by phone or video; months with small counts are suppressed.",
    )


def fig_share_municipality(r: GateResult) -> FigureRecord | None:
    df = _visible(r, ["share_digital"])
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
    return _finish(
        fig,
        "digital_share_by_municipality",
        "Digital share by municipality and month",
        [r.name],
        "Each cell is a municipality-month; near 0% or 100% cells carry little treatment variation.",
    )


def fig_share_by_municipality(r: GateResult) -> FigureRecord | None:
    df = _visible(r, ["share_digital"])
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
    return _finish(
        fig,
        "digital_share_by_municipality_total",
        "Digital share by municipality",
        [r.name],
        "Municipalities with small or revealing counts are left out (suppressed).",
    )


def _primary(
    df: pl.DataFrame, outcomes: Sequence[str], designs: Sequence[str] = ("irm_att", "irm_ate", "plr", "naive")
) -> tuple[str, str] | None:
    pairs = set(df.select("outcome", "design").iter_rows())
    for o in list(outcomes) + sorted({p[0] for p in pairs}):
        for d in list(designs) + sorted({p[1] for p in pairs}):
            if (o, d) in pairs:
                return o, d
    return None


def fig_overlap(r: GateResult, outcomes: Sequence[str]) -> FigureRecord | None:
    df = _visible(r, [])
    if df is None or df.height == 0:
        return None
    od = _primary(df, outcomes)
    if od is None:
        return None
    sub = df.filter((pl.col("outcome") == od[0]) & (pl.col("design") == od[1])).sort("bin_low")
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
    return _finish(
        fig,
        "overlap",
        "Propensity overlap",
        [r.name],
        "Meetings by estimated propensity bin; suppressed bins are drawn empty.",
    )


def fig_balance(r: GateResult, outcomes: Sequence[str]) -> FigureRecord | None:
    df = _visible(r, ["smd_before", "smd_after"])
    if df is None or df.height == 0 or "covariate" not in df.columns:
        return None
    od = _primary(df, outcomes)
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
    return _finish(
        fig, "balance", "Covariate balance", [r.name], "Love plot of standardized mean differences."
    )


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
    df = _visible(r, ["theta", "theta_lower", "theta_upper"])
    if df is None or df.height == 0:
        return None
    od = _primary(df, outcomes)
    if od is None:
        return None
    sub = df.filter((pl.col("outcome") == od[0]) & (pl.col("design") == od[1]))
    base = sub.filter(pl.col("benchmark").is_null()) if "benchmark" in sub.columns else sub
    if base.height == 0:
        base = sub
    row = base.row(0, named=True)
    S = max_bias_from_row(row)
    if S is None:
        return None
    theta = float(row["theta"])
    rho = float(row.get("rho") or 1.0)
    scale, unit = _scale(od[0])
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
    return _finish(
        fig,
        "sensitivity_contour",
        "Sensitivity to unobserved confounding",
        [r.name],
        "Effect bound after removing the largest bias a confounder of the given strength could cause: "
        "theta - |rho| sqrt(cf_y cf_d / (1 - cf_d)) S, S backed out of the stored bounds.",
    )


def fig_group_effects(r: GateResult, outcomes: Sequence[str]) -> FigureRecord | None:
    df = _visible(r, ["estimate", "ci_low", "ci_high"])
    if df is None or df.height == 0:
        return None
    od = _primary(df, outcomes)
    if od is None:
        return None
    sub = df.filter((pl.col("outcome") == od[0]) & (pl.col("design") == od[1]))
    scale, unit = _scale(od[0])
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
    return _finish(fig, "group_effects", "Group effects", [r.name], "Effects within groups, 95% intervals.")


def fig_power(r: GateResult) -> FigureRecord | None:
    df = _visible(r, ["mde"])
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
    return _finish(
        fig,
        "power_reversed_trial",
        "Reversed trial: minimum detectable effect",
        [r.name],
        "80% power, 5% two-sided test, from the observed outcome means and variances.",
    )


# ---------------------------------------------------------------------------------------------------
# what a digital meeting is worth (models/value.py; docs/value.md)


def _gate_value_into(
    inp: ReportInputs, cfg: Any, results: dict[str, GateResult], min_cell: int
) -> GateResult | None:
    """Gate ``estimation/value.parquet`` and add it to ``results`` as ``value`` (export form).

    The effect columns are backed by the count behind the estimate they use; a benefit group whose estimate
    the group-effects table suppresses is suppressed here too. Returns the gated table with numbers (for the
    figure and the sentences), or None when the run has no value table or the configuration no value section.
    """
    from models import value as V

    vcfg = getattr(cfg, "value", None)
    if inp.value is None or vcfg is None:
        return None
    missing = [c for c in V.VALUE_COLUMNS if c not in inp.value.columns]
    if missing:
        results["value"] = rejected("value", "What a digital meeting is worth", f"columns {missing} missing")
        return None
    try:
        hidden: list[str] = []
        ge = results.get("group_effects")
        if ge is not None and ge.table is not None and "estimate" in ge.table.columns:
            sup = ge.suppressed.get("estimate", [False] * ge.table.height)
            key = (vcfg.outcome, vcfg.design, V.GROUP_VAR)
            for i, row in enumerate(ge.table.iter_rows(named=True)):
                if (row["outcome"], row["design"], row["group_var"]) == key and sup[i]:
                    hidden.append(str(row["group"]))
        n_units: list[int] = []
        if (
            inp.estimates is not None
            and "n" in inp.estimates.columns
            and inp.estimates["n"].drop_nulls().len()
        ):
            n_units.append(int(inp.estimates["n"].drop_nulls().max()))
        r = V.gate_value(
            inp.value.select(V.VALUE_COLUMNS), inp.estimates, inp.group_effects, vcfg.outcome, vcfg.design,
            min_cell, n_units=[u for u in n_units if u > 0] or None, hidden_groups=hidden,
        )  # fmt: skip
    except Exception as e:  # noqa: BLE001 - a table that cannot be prepared is not exported, the report goes on
        results["value"] = rejected(
            "value", "What a digital meeting is worth", f"could not be prepared ({type(e).__name__}: {e})"
        )
        return None
    if r.table is None:
        results["value"] = r
        return None
    results["value"] = dataclasses.replace(r, table=V.export_cells(r.table))
    return r


def fig_value(r: GateResult) -> FigureRecord | None:
    """Net value per digital meeting against the effect on weeks of self-support: one line per row of the
    value table, its break-even (net = 0) and the estimate with its 95% interval."""
    if r.table is None or r.table.height == 0:
        return None
    df = r.table
    shown = _visible(r, ["effect_weeks", "effect_weeks_ci_low", "effect_weeks_ci_high"])
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
    return _finish(
        fig,
        "value_per_meeting",
        "What a digital meeting is worth",
        ["value"],
        "Lines: staff time saved plus the effect times the weekly benefit; dashed: the break-even effect "
        "(net value zero); points: the estimate, shaded: its 95% interval (a suppressed estimate is not shown).",
    )


def _linked(text: str) -> str:
    """Escaped text with its web addresses as links (the sources of the value section's inputs)."""
    return re.sub(
        r"https?://[^\s;<>\"']+",
        lambda m: f'<a href="{m.group(0)}">{m.group(0)}</a>',
        html.escape(text, quote=False),
    )


def value_section_html(r: GateResult | None, cfg: Any) -> str:
    """The sentences and the inputs with their sources for the section "What a digital meeting is worth"."""
    from models import value as V

    vcfg = getattr(cfg, "value", None)
    if vcfg is None:
        return ""
    parts = []
    if r is not None and r.table is not None:
        t = r.table
        rows = t.filter(pl.col("benefit_group") == V.ALL)
        sentences = [V.headline(t, vcfg.design, vcfg.outcome)] + V.debate_sentences(t, vcfg)
        i_all = t["benefit_group"].to_list().index(V.ALL) if rows.height else None
        if i_all is not None and r.suppressed.get("effect_weeks", [False] * t.height)[i_all]:
            sentences.append("The overall estimate is suppressed by disclosure control in this table.")
        parts.append("<ul>" + "".join(f"<li>{html.escape(x)}</li>" for x in sentences) + "</ul>")
    parts.append(
        "<p>Every input is an assumption: change it in the run configuration's <code>value</code> section and "
        "rerun. A week of self-support is counted as a week of benefit not paid; tax revenue, the value of "
        "the work, and the citizen's time and travel are left out. The row <code>all</code> takes the overall "
        "estimate and its interval at the weekly benefit weighted by the annual numbers of jobsamtaler.</p>"
    )
    rows_html = "".join(
        f"<tr><th><code>{html.escape(k)}</code></th><td class='num'>{html.escape(v)}</td>"
        f"<td>{_linked(src)}</td></tr>"
        for k, v, src in V.assumption_rows(vcfg)
    )
    parts.append(
        "<table class='t'><thead><tr><th>input</th><th>value</th><th>source (year)</th></tr></thead><tbody>"
        + rows_html
        + "</tbody></table>"
    )
    return "\n".join(parts)


# ---------------------------------------------------------------------------------------------------
# text


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
    s, unit = _scale(outcome)
    x = v * s
    return f"{x:+.1f} {unit}" if signed else f"{x:.1f} {unit}"


def feasibility_html(r: GateResult | None, cfg: Any) -> str:
    """The verdict that opens the report, from the gated feasibility table (never from suppressed cells)."""
    head = "<h2 id='verdict'>Can this delivery answer the question?</h2>"
    if r is None or r.table is None:
        why = (
            "the run wrote no feasibility table"
            if r is None
            else f"withheld by disclosure control: {r.reason}"
        )
        return head + f"<p class='nodata'>No feasibility verdict ({html.escape(why)}).</p>"
    e = cfg.estimation
    df = _visible(r, ["mde_80"])
    lines = verdict(
        df if df is not None and df.height else r.table.clear(), e.feasibility_outcome, e.feasibility_effect
    )
    return (
        head
        + "<ul class='headline'>"
        + "".join(f"<li>{html.escape(x)}</li>" for x in lines)
        + "</ul><p class='note'>Details, by outcome and design: <a href='#feasibility'>Feasibility</a>.</p>"
    )


def fig_feasibility(r: GateResult, effect: Sequence[float]) -> FigureRecord | None:
    """MDE of each design on the exit outcomes, beside the effect size that matters (dashed lines)."""
    df = _visible(r, ["mde_80"])
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
    return _finish(
        fig,
        "feasibility_mde",
        "Minimum detectable effect by outcome and design",
        [r.name],
        "Points: 2.8016 x the design's standard error (log scale). Dashed lines and shaded band: the effect size that matters "
        "(configuration estimation.feasibility_effect). A point right of the band means the design cannot tell an "
        "effect of that size from zero. The naive difference is left out (it is not a causal design).",
    )


def headlines(results: Mapping[str, GateResult], cfg: Any, synthetic: bool) -> list[str]:
    """Plain-language sentences from the approved numbers: what, on whom, how big, how sure, what if wrong."""
    out: list[str] = []
    outcomes = list(cfg.estimation.primary_outcomes)
    est = results.get("estimates")
    df = _visible(est, ["estimate", "ci_low", "ci_high"]) if est else None
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
    od = _primary(df, outcomes)
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
    sdf = _visible(sens, ["rv"]) if sens else None
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
    pdf = _visible(plc, ["estimate", "ci_low", "ci_high"]) if plc else None
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


def methods_text(cfg: Any) -> str:
    c, e, oc, dc = cfg.cohort, cfg.estimation, cfg.outcomes, cfg.disclosure
    items = [
        f"Units: jobsamtaler ({', '.join(c.meeting_types)}) held by {', '.join(c.actors)} from {c.window_start} to "
        f"{c.window_end}, persons in target groups {', '.join(c.target_groups)}"
        + (", only municipality-months whose meeting form was confirmed" if c.require_confirmed else "")
        + ".",
        f"Treatment: {c.treated_category} (phone, video, other digital) = 1 versus {c.control_category} = 0.",
        f"Outcomes: exit to employment within {', '.join(map(str, oc.exit_horizons))} weeks "
        f"({oc.employment_benefit_free_weeks}+ consecutive benefit-free weeks with grad above {oc.employment_min_grad}); "
        f"weeks of self-support within {', '.join(map(str, oc.selfsupport_horizons))} weeks; placebo outcome "
        f"over the {oc.placebo_weeks} weeks before the spell.",
        f"Designs: {', '.join(DESIGN_LABELS.get(d, d) for d in e.designs)}.",
        f"Nuisance learner: {e.learner}"
        + (f" ({e.lgbm_n_estimators} trees, {e.lgbm_num_threads} thread(s))" if e.learner == "lgbm" else "")
        + (
            " (LightGBM tuned on person-grouped inner folds, then for each nuisance the learner with the "
            "smallest out-of-fold loss among LightGBM, lasso/logistic and random forest)"
            if e.learner == "auto"
            else ""
        )
        + f"; {e.n_folds} folds drawn by person; {e.n_reps} repetition(s) (median aggregated); seed {e.seed}; "
        f"standard errors clustered by {e.cluster.replace('_', ' ')}.",
        f"Trimming: units with an estimated propensity outside [{e.trim[0]}, {e.trim[1]}] are dropped and counted.",
        f"Group effects by {', '.join(e.group_effects)}; reversed-trial sizes {', '.join(map(str, e.trial_sizes))}.",
        f"Disclosure control: every published count at least {dc.min_cell}; secondary suppression; no key "
        f"columns, no per-person values (see the suppression log).",
    ]
    return "<ul>" + "".join(f"<li>{html.escape(i)}</li>" for i in items) + "</ul>"


def code_version() -> str:
    here = Path(__file__).resolve().parent
    try:
        out = subprocess.run(
            ["git", "-C", str(here), "describe", "--always", "--dirty", "--abbrev=12"],
            capture_output=True,
            text=True,
            timeout=10,
        )
        if out.returncode == 0 and out.stdout.strip():
            return out.stdout.strip()
    except Exception:  # noqa: BLE001
        pass
    try:
        return "regdml " + metadata.version("regdml")
    except metadata.PackageNotFoundError:
        return "unknown"


def package_versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for p in PACKAGES:
        try:
            out[p] = metadata.version(p)
        except metadata.PackageNotFoundError:
            out[p] = "not installed"
    return out


# ---------------------------------------------------------------------------------------------------
# the report


@dataclass
class Report:
    html: str
    results: dict[str, GateResult]
    figures: list[FigureRecord]
    log: pl.DataFrame
    headlines: list[str]
    missing: list[str]

    @property
    def n_suppressed(self) -> int:
        return int(self.log["action"].is_in(["suppressed", "merged"]).sum()) if self.log.height else 0

    @property
    def rejected(self) -> dict[str, str]:
        return {k: r.reason for k, r in self.results.items() if not r.approved}


CSS = """
body{font-family:Helvetica,Arial,sans-serif;max-width:1100px;margin:2em auto;color:#222;line-height:1.45}
h1{border-bottom:3px solid #1f4e79}h2{color:#1f4e79;border-bottom:1px solid #ccc;margin-top:2em}
table.t{border-collapse:collapse;font-size:12px;margin:0.5em 0}table.t th,table.t td{border:1px solid #ccc;padding:2px 6px}
table.t th{background:#eef2f7}td.num{text-align:right}td.sup{text-align:center;color:#a00;background:#fbecec}
.banner{background:#fff3cd;border:2px solid #e0a800;padding:0.8em;font-weight:bold}
.headline{background:#eef5ea;border-left:5px solid #548235;padding:0.6em 1em}.headline li{margin:0.3em 0}
.nodata{color:#a00;font-style:italic}.note{font-size:12px;color:#555}figure{margin:1em 0}
figcaption{font-size:12px;color:#444}.tw{overflow-x:auto;max-width:100%}img{max-width:100%}code{font-size:12px}
"""


SECTIONS: list[tuple[str, str, list[str], str]] = [
    # id, title, tables, intro
    (
        "flow",
        "Sample flow",
        ["sample_flow"],
        "Every rule of the analysis plan, in order, with the number of meetings before and after it. Rules that "
        "removed fewer than the minimum number of meetings are merged with the next rule.",
    ),
    (
        "share",
        "Digital share by month and municipality",
        ["digital_share_by_month", "digital_share_by_municipality", "digital_share_by_municipality_month"],
        "How often jobsamtaler were held digitally. Municipality-months near 0% or 100% offer little comparison.",
    ),
    (
        "estimates",
        "Main estimates",
        ["estimates"],
        "Effect of a digital rather than in-person meeting, by outcome and design. Exit outcomes are "
        "probabilities (0-1) in the table and percentage points in the figure; self-support outcomes are weeks.",
    ),
    (
        "modality",
        "In person, by telephone or by video",
        ["forms_by_month", "modality_contrasts", "modality_arms", "modality_overlap"],
        "The meeting form as three arms (the modality design, DoubleML APOS): the forms' shares by month, and "
        "the average contrasts telephone vs in person, video vs in person and video vs telephone, with "
        "person-clustered 95% intervals. n_level and n_reference count the two forms' meetings. Overlap by "
        "arm: each form's average potential outcome with its meetings used (n) and trimmed (n_trimmed: a "
        "meeting whose estimated probability of any form is under the trimming bound is left out, counted by "
        "its own form), and the generalized propensity P(form | X) among each arm's meetings before trimming "
        "(quantiles; a form the meetings of some arm almost never get is where the comparison rests on "
        "extrapolation).",
    ),
    (
        "overlap",
        "Overlap",
        ["overlap"],
        "Estimated propensity of a digital meeting among digital and in-person meetings. Units outside the "
        "trimming bounds are left out and counted in the estimates table (n_trimmed).",
    ),
    (
        "balance",
        "Covariate balance",
        ["balance"],
        "Standardized mean differences between digital and in-person meetings before and after weighting.",
    ),
    (
        "sensitivity",
        "Sensitivity to unobserved confounding",
        ["sensitivity"],
        "DoubleML's omitted-variable bounds (Chernozhukov et al., 'Long story short'), with confidence limits "
        "clustered as the estimate (by person). rv is the robustness "
        "value: the share of residual variation of treatment and outcome a confounder must explain to move the "
        "estimate to zero; rva to make it insignificant at 5%. The contour plot shows the bias-adjusted bound "
        "theta - |rho| * sqrt(cf_y * cf_d / (1 - cf_d)) * S, where S (DoubleML's max_bias) is backed out of "
        "the stored bounds: S = (theta_upper - theta_lower) / (2 |rho| sqrt(cf_y cf_d / (1 - cf_d))).",
    ),
    (
        "placebos",
        "Placebo tests",
        ["placebos"],
        "None of these should show an effect; each can detect some failures and not others. "
        "weeks_selfsupport_pre52w (kind pre_period_outcome, self-support in the 52 weeks before the spell): "
        "nearly a function of the benefit-history covariates, so it can hardly fail; it detects little beyond "
        "errors in the employment-degree part. wage_income_2y_before (pre_period_income, wage income two years "
        "before the meeting year; the covariates hold only the year before): detects selection on earning "
        "capacity that last year's income and the benefit history miss; it cannot detect confounding that arises "
        "later (a shock at the spell start, health or motivation at the meeting). y_exit_13w_pseudo "
        "(negative_control_outcome, exit to employment within 13 weeks of a pseudo-meeting 52 weeks before the "
        "spell): the primary outcome's own process in weeks the meeting cannot have affected; it detects "
        "selection on the speed of finding work in the past, not on what changed since. permuted_treatment "
        "(digital shuffled within municipality-month): detects a design or code that finds effects where none "
        "can be, not confounding. An effect on a placebo is a warning; no effect does not prove "
        "unconfoundedness.",
    ),
    (
        "groups",
        "Group effects",
        ["group_effects"],
        "Effects within benefit group, age band, sex and education level.",
    ),
    (
        "value",
        "What a digital meeting is worth",
        ["value"],
        "Staff time saved by a digital jobsamtale against the effect of the meeting form on weeks of "
        "self-support within the outcome's horizon, in kroner: per meeting and nationally a year, per benefit "
        "group and for all meetings, with 95% intervals carried over from the effect's interval. Every input "
        "(listed below with its source and year) is an assumption that the run configuration (section value) can change.",
    ),
    (
        "feasibility",
        "Feasibility: can this delivery detect an effect of the size that matters?",
        ["feasibility"],
        "Per outcome and design: the standard error and the minimum detectable effect at 80% power and a "
        "two-sided 5% level (mde_80 = 2.8016 x SE); Kish effective sample sizes of the design's weights by arm "
        "(IRM: ATT weights 1 and p/(1-p), ATE weights 1/p and 1/(1-p); PLR: the regression weights (d - m)^2); "
        "units trimmed by arm when the estimates report them; the share of meetings in municipality-months with "
        "fewer than 5 in-person meetings; PLIV's first-stage F; and the persons a 1:1 reversed trial would need "
        "for the same MDE (2 (z_0.975 + z_0.8)^2 sigma^2 / MDE^2 per arm, sigma the outcome's standard deviation "
        "in this delivery, one meeting per person).",
    ),
    (
        "power",
        "Power for the reversed trial",
        ["power"],
        "Minimum detectable effect (80% power, 5% two-sided) of a randomized trial of physical meetings, for "
        "given numbers of randomized persons, from the observed outcome means and variances.",
    ),
    ("nuisance", "Nuisance losses", ["nuisance_losses"], "Out-of-fold losses of the nuisance learners."),
]


def build_report(
    inp: ReportInputs,
    cfg: Any,
    truth: Mapping[str, Any] | None = None,
    title: str = "Digital versus in-person jobsamtaler and exit to employment",
    draw_figures: bool = True,
) -> Report:
    """Gate every table, draw the figures from the approved tables and compose the HTML (in memory).

    ``draw_figures=False`` leaves the figures out (quick previews and tests of the tables only).
    """
    synthetic = truth is not None
    truth = normalize_truth(truth) if truth and not _is_normalized(truth) else truth
    min_cell = cfg.disclosure.min_cell
    results, log = gate_all(inp, truth, min_cell)
    value_numeric = _gate_value_into(inp, cfg, results, min_cell)
    if value_numeric is not None:
        log = pl.concat([log, value_numeric.log_frame()], how="vertical_relaxed")
    outcomes = list(cfg.estimation.primary_outcomes)
    fig_fns = {
        "digital_share_by_month": [fig_share_month],
        "digital_share_by_municipality": [fig_share_by_municipality],
        "digital_share_by_municipality_month": [fig_share_municipality],
        "estimates": [fig_forest],
        "modality_contrasts": [lambda r: fig_modality(r, results.get("forms_by_month"))],
        "overlap": [lambda r: fig_overlap(r, outcomes)],
        "balance": [lambda r: fig_balance(r, outcomes)],
        "sensitivity": [lambda r: fig_sensitivity(r, outcomes)],
        "group_effects": [lambda r: fig_group_effects(r, outcomes)],
        "power": [fig_power],
        "value": [lambda r: fig_value(value_numeric) if value_numeric is not None else None],
        "feasibility": [lambda r: fig_feasibility(r, cfg.estimation.feasibility_effect)],
    }
    figures: list[FigureRecord] = []
    figs_by_table: dict[str, list[FigureRecord]] = {}
    figure_errors: dict[str, list[str]] = {}
    for tname, fns in (fig_fns if draw_figures else {}).items():
        r = results.get(tname)
        if r is None or not r.approved:
            continue
        for fn in fns:
            try:
                f = fn(r)
            except FigureLabelError:
                raise
            except Exception as e:  # noqa: BLE001 - a figure that cannot be drawn is named, not fatal
                plt.close("all")
                figure_errors.setdefault(tname, []).append(f"{type(e).__name__}: {e}")
                continue
            if f is not None:
                assert all(results[s].approved for s in f.source_tables), "figure from an unapproved table"
                figures.append(f)
                figs_by_table.setdefault(tname, []).append(f)
    heads = headlines(results, cfg, synthetic)

    parts = [
        f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
        f"<style>{CSS}</style></head><body>",
        f"<h1>{html.escape(title)}</h1>",
    ]
    if synthetic:
        parts.append(
            "<p class='banner'>SYNTHETIC DATA. These results come from a synthetic, DST-shaped "
            "delivery generated by regdml, not from real registers. True values built into the "
            "synthetic data are shown beside the estimates (column true_value, red crosses).</p>"
        )
    parts.append(feasibility_html(results.get("feasibility"), cfg))
    if cfg.estimation.n_reps < FINAL_MIN_REPS:
        parts.append(f"<p class='banner'>EXPLORATORY RUN: {html.escape(run_status(cfg))}.</p>")
    for w in trimming_warnings(inp.estimates, min_cell):
        parts.append(f"<p class='banner'>Warning: {html.escape(w)}</p>")
    parts.append(
        "<h2>Headline</h2><ul class='headline'>"
        + "".join(f"<li>{html.escape(h)}</li>" for h in heads)
        + "</ul>"
    )
    c = cfg.cohort
    parts.append(
        "<h2>The question and the data</h2>"
        "<p>During and after the Covid-19 lockdown of 2020 Danish jobcentres held many of their statutory "
        "jobsamtaler with unemployed people by phone or video instead of in person. The question is whether "
        "a digital meeting rather than an in-person one changes how fast people leave benefits for work. "
        "This mirrors the Ministry of Employment's halted register analysis of 2021 (Rosholm &amp; Svarer): the "
        "effect of the form of the meeting on exit to employment, estimated with double machine learning "
        "that adjusts for everything registered about the person and the local labour market before the meeting.</p>"
        f"<p>The data are registers shaped like Statistics Denmark's: meetings held by jobcentres "
        f"({html.escape(', '.join(c.meeting_types))}) from {c.window_start} to {c.window_end} for "
        f"{html.escape(' and '.join(c.target_groups))} recipients, with the meeting form as registered "
        f"(only municipality-months whose registration the municipality confirmed), weekly benefit codes "
        f"(DREAM) for outcomes, and population, education, income and employment registers for covariates. "
        f"The unit is the meeting; one person can have several. Only aggregates leave the research server: "
        f"every published count is at least {min_cell}.</p>"
    )
    for note in inp.data_notes:
        parts.append(f"<p class='banner'>{html.escape(note)}</p>")
    missing: list[str] = []
    for sid, stitle, tables, intro in SECTIONS:
        parts.append(f"<h2 id='{sid}'>{html.escape(stitle)}</h2><p>{html.escape(intro)}</p>")
        if sid == "value":
            parts.append(value_section_html(value_numeric, cfg))
        for t in tables:
            r = results.get(t)
            if r is None:
                missing.append(t)
                parts.append(f"<p class='nodata'>No data: the table '{t}' was not produced by this run.</p>")
                continue
            if not r.approved:
                parts.append(
                    f"<p class='nodata'>Not exported: table '{t}' did not pass disclosure control "
                    f"({html.escape(r.reason)}).</p>"
                )
                continue
            for err in figure_errors.get(t, []):
                parts.append(
                    f"<p class='nodata'>The figure for '{t}' could not be drawn ({html.escape(err)}).</p>"
                )
            for f in figs_by_table.get(t, []):
                parts.append(
                    f"<figure><img alt='{html.escape(f.title)}' src='data:image/png;base64,{f.base64}'>"
                    f"<figcaption>{html.escape(f.title)}. {html.escape(f.caption)}</figcaption></figure>"
                )
            parts.append(
                f"<p class='note'>{html.escape(r.description)} (tables/{t}.csv, tables/{t}.tex). "
                f"s = suppressed.</p>"
            )
            parts.append(to_html_table(r))
    parts.append("<h2 id='methods'>Methods (from the configuration in force)</h2>" + methods_text(cfg))
    sup = log.filter(pl.col("action") != "rejected") if log.height else log
    rej = log.filter(pl.col("action") == "rejected") if log.height else log
    parts.append(
        f"<h2 id='disclosure'>Disclosure control</h2><p>Minimum cell {min_cell}. "
        f"{sup.height} cell(s) suppressed or merged; {rej.height} table(s) not exported. "
        "The full log is in suppression_log.csv (it never contains a suppressed value).</p>"
    )
    if rej.height:
        parts.append(
            "<ul>"
            + "".join(
                f"<li>{html.escape(t)}: {html.escape(rs)}</li>"
                for t, rs in rej.select("table", "reason").iter_rows()
            )
            + "</ul>"
        )
    pv = package_versions()
    seeds = (
        sorted({str(s) for s in inp.estimates["seed"].to_list()})
        if inp.estimates is not None and "seed" in inp.estimates.columns
        else []
    )
    repro = [
        ("code version", code_version()),
        ("configuration sha256", cfg.sha256),
        ("delivery", inp.delivery_name or "unknown"),
        ("delivery manifest sha256", inp.delivery_manifest_sha256 or "no delivery manifest found"),
        ("seed (configuration)", str(cfg.estimation.seed)),
        ("seeds (estimates)", ", ".join(seeds) or "n/a"),
        ("generated (UTC)", dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M")),
        ("inputs", "; ".join(f"{k}: {v}" for k, v in sorted(inp.sources.items())) or "none"),
    ] + [(f"package {k}", v) for k, v in pv.items()]
    parts.append(
        "<h2 id='repro'>Reproducibility</h2><table class='t'>"
        + "".join(
            f"<tr><th>{html.escape(k)}</th><td><code>{html.escape(v)}</code></td></tr>" for k, v in repro
        )
        + "</table>"
    )
    parts.append(
        "<details><summary>Configuration in force (YAML)</summary><pre>"
        + html.escape(cfg.to_yaml())
        + "</pre></details>"
    )
    parts.append("</body></html>")
    return Report(
        html="\n".join(parts), results=results, figures=figures, log=log, headlines=heads, missing=missing
    )


def _is_normalized(truth: Mapping[str, Any]) -> bool:
    return all(
        isinstance(v, Mapping) and "groups" in v and ("att" in v or "ate" in v) for v in truth.values()
    )


@dataclass
class WrittenReport:
    report_dir: Path
    html_path: Path
    files: dict[str, str]  # relative path -> description
    report: Report


def write_report(report: Report, report_dir: str | Path, min_cell: int) -> WrittenReport:
    """Write report.html, tables/*.csv|tex, figures/*.png, suppression_log.csv, contents.csv.

    Built in a temporary folder beside ``report_dir`` and moved into place, so a failure leaves the last
    good report; ``report_dir/export_bundle`` (written by the bundle step) is left alone.
    """
    root = Path(report_dir)
    root.mkdir(parents=True, exist_ok=True)
    tmp = root / f".render-{uuid.uuid4().hex}"
    files: dict[str, str] = {}
    try:
        (tmp / "tables").mkdir(parents=True)
        (tmp / "figures").mkdir()
        (tmp / "report.html").write_text(report.html, encoding="utf-8")
        files["report.html"] = (
            "The report: question, data, estimates, diagnostics, methods (self-contained HTML)"
        )
        for name, r in report.results.items():
            if not r.approved:
                continue
            (tmp / "tables" / f"{name}.csv").write_text(to_csv(r), encoding="utf-8")
            (tmp / "tables" / f"{name}.tex").write_text(to_latex(r, min_cell), encoding="utf-8")
            files[f"tables/{name}.csv"] = f"{r.description} (CSV; s = suppressed)"
            files[f"tables/{name}.tex"] = f"{r.description} (LaTeX)"
        for f in report.figures:
            (tmp / "figures" / f"{f.name}.png").write_bytes(f.png)
            files[f"figures/{f.name}.png"] = f"Figure: {f.title}"
        report.log.write_csv(tmp / "suppression_log.csv")
        files["suppression_log.csv"] = (
            "Disclosure-control log: suppressed/merged cells and tables not exported"
        )
        pl.DataFrame({"file": list(files), "description": list(files.values())}).write_csv(
            tmp / "contents.csv"
        )
        # move into place
        for sub in ("tables", "figures"):
            swap_dir(tmp / sub, root / sub)
        for fname in ("suppression_log.csv", "contents.csv", "report.html"):
            replace_path(tmp / fname, root / fname)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return WrittenReport(report_dir=root, html_path=root / "report.html", files=files, report=report)


def render_run(
    work_dir: str | Path,
    cfg: Any,
    truth: Mapping[str, Any] | None = None,
    report_dir: str | Path | None = None,
) -> WrittenReport:
    """Read a run folder, build and write its report (``<work_dir>/report`` by default)."""
    inp = load_inputs(work_dir)
    rep = build_report(inp, cfg, truth=truth)
    return write_report(rep, report_dir or Path(work_dir) / "report", cfg.disclosure.min_cell)
