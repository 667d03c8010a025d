"""Every table through the gate (:func:`models.disclosure.gate`), linked tables after the tables they
depend on, so that two published tables together give no suppressed cell away.

No Dagster.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

import polars as pl

from assets.report.render.inputs import ReportInputs
from assets.report.render.modality import arm_links, link_forms_to_share
from assets.report.render.tables import build_specs, link_share_to_flow
from models.disclosure import GateResult, TableSpec, gate, linked_suppression, log_to_frame, rejected

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
    """Gate every table of ``inp``: the results by table name and the suppression log."""
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
        if isinstance(s, TableSpec) and s.name in ("digital_share_by_month", "digital_share_by_municipality"):
            # the tables over the whole window add up to the sample flow's final step: a total the flow
            # hides is a hidden margin of theirs (as the metadata's safe_share links it)
            s = link_share_to_flow(s, inp.sample_flow, min_cell)
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
            s = link_forms_to_share(s, results.get("digital_share_by_month"))
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
                m = arm_links(arms, lvl_ref, ["_lvl", "_ref"], "n_trimmed")
                if any(m) and "n_trimmed" in s.count_columns:
                    s = dataclasses.replace(
                        s,
                        force_suppress={"n_trimmed": m},
                        force_reason="gives a form's suppressed trimmed count away (modality_arms)",
                    )
            if isinstance(s, TableSpec) and s.name == "modality_overlap":
                m = arm_links(arms, s.df, ["arm"], "n")
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


def gate_value_into(
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
