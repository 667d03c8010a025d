"""Aggregate, disclosure-controlled views of the register-logic outputs for Dagster metadata (no Dagster import).

Only aggregates leave these functions: no PNR, no per-person values. A cell resting on fewer than
``min_cell`` persons-or-meetings (counted both ways for a share: the numerator and its complement) is shown
as ``suppressed``.
"""

from __future__ import annotations

import dataclasses

import polars as pl

from data_contracts.codebook import FORM_COUNT_COLUMNS, SHARE_FORM_COLUMNS
from models.disclosure import TableSpec

SUPPRESSED = "suppressed"


def _fmt(x: object, digits: int = 3) -> str:
    if x is None:
        return ""
    if isinstance(x, float):
        return f"{x:.{digits}f}"
    return str(x)


def markdown_table(rows: list[dict[str, object]], columns: list[str]) -> str:
    if not rows:
        return "(no rows)"
    head = "| " + " | ".join(columns) + " |\n|" + "---|" * len(columns) + "\n"
    return head + "\n".join("| " + " | ".join(_fmt(r.get(c)) for c in columns) + " |" for r in rows)


def safe_sample_flow(flow: pl.DataFrame, min_cell: int) -> list[dict[str, object]]:
    """The sample flow as the export gate publishes it: rules whose removal is small are merged with the
    next one (:func:`models.disclosure.collapse_flow`), because ``units_before - units_after`` would give a
    suppressed ``units_removed`` away.

    What merging cannot hide (a one-rule flow, or a flow whose units fall under ``min_cell``) is suppressed
    from that row on: its removal and every later count.

    The final step's meetings by form (``units_in_person``, ``units_telephone``, ``units_video``,
    ``units_no_form``; only on the rows that have them) are as the gate publishes them
    (:func:`models.disclosure.sample_flow_spec`), and all suppressed when the row's ``units_after`` is.
    """
    from models.disclosure import gate, sample_flow_spec

    spec, _log = sample_flow_spec(flow, min_cell)
    merged = spec.df
    forms = [c for c in spec.count_columns if c not in ("units_before", "units_removed", "units_after")]
    gated = gate(spec, min_cell)
    out: list[dict[str, object]] = []
    hide = False
    for step, r in enumerate(merged.iter_rows(named=True), start=1):
        row: dict[str, object] = {"step": step, **{k: v for k, v in r.items() if k not in forms}}
        removed, after = int(r["units_removed"] or 0), int(r["units_after"] or 0)
        hide = hide or 0 < removed < min_cell or 0 < after < min_cell
        if hide:
            row["units_removed"] = SUPPRESSED
            row["units_after"] = SUPPRESSED
            if step > 1 and out and out[-1]["units_after"] == SUPPRESSED:
                row["units_before"] = SUPPRESSED
        for c in forms:
            if r[c] is None:
                continue
            # the forms add up to units_after: a hidden units_after hides them all
            safe = None if gated.table is None or hide else gated.table[c][step - 1]
            row[c] = SUPPRESSED if safe is None else int(safe)
        out.append(row)
    return out


def safe_share(df: pl.DataFrame, keys: list[str], min_cell: int) -> list[dict[str, object]]:
    """Digital share per cell: suppressed when meetings, digital or in-person meetings number under ``min_cell``.

    The three forms' counts (``n_in_person``, ``n_telephone``, ``n_video``, ``n_no_form``) and shares
    (``share_telephone``, ``share_video``), when the table has them, are as the gate publishes them
    (:func:`form_share_spec`).
    """
    from models.disclosure import gate

    out, hidden = [], []
    for r in df.iter_rows(named=True):
        n, d = r["n_meetings"], r["n_digital"]
        ok = n >= min_cell and d >= min_cell and (n - d) >= min_cell
        hidden.append(not ok)
        row = {k: r[k] for k in keys}
        row.update(
            n_meetings=n if n >= min_cell else SUPPRESSED,
            n_digital=d if ok else SUPPRESSED,
            digital_share=round(r["digital_share"], 3) if ok else SUPPRESSED,
        )
        out.append(row)
    spec = form_share_spec(df, keys)
    if spec is None:
        return out
    # the form counts make up n_digital, so the digital count's suppression is the gate's starting point,
    # and whatever more the gate hides of it (to protect a form) is hidden here too
    gated = gate(dataclasses.replace(spec, force_suppress={"n_digital": hidden}), min_cell)
    cols = [*spec.count_columns, *[v for vs in spec.value_columns_by_count.values() for v in vs]]
    for i, row in enumerate(out):
        for c in dict.fromkeys(cols):
            v = None if gated.table is None else gated.table[c][i]
            if c == "n_digital":
                if v is None:
                    row["n_digital"] = row["digital_share"] = SUPPRESSED
                continue
            row[c] = SUPPRESSED if v is None else (round(v, 3) if c.startswith("share_") else int(v))
        # a form that no meeting of the table has (e.g. no code without a form) is a structural zero
        for c in FORM_COUNT_COLUMNS:
            if c not in cols and c in df.columns and df[c].null_count() == 0:
                row[c] = 0
    return out


def form_share_spec(df: pl.DataFrame, keys: list[str], name: str = "meeting_forms") -> TableSpec | None:
    """The forms' counts and the telephone and video shares of a digital-share table, declared for the gate.

    The form counts of a row add up to its meetings (a row margin), telephone, video and the codes
    without a form to ``n_digital`` (a count of the spec, so that the relation is a margin too), and each
    column to the table's total (``margins=[()]``). A form count that is zero in every row (e.g. ``n_no_form`` when every code has a
    form) is left out: a structural zero protects no cell as a complement. None when the table has no
    form counts (written before the form existed).
    """
    counts = [c for c in FORM_COUNT_COLUMNS if c in df.columns and df[c].null_count() == 0]
    if not counts:
        return None
    counts = [c for c in counts if c != "n_no_form" or int(df[c].sum()) > 0]
    shares = {f"n_{c.removeprefix('share_')}": c for c in SHARE_FORM_COLUMNS if c in df.columns}
    digital = [c for c in counts if c != "n_in_person"]
    return TableSpec(
        name=name,
        df=df.select(*keys, "n_digital", *counts, *shares.values()),
        count_columns=["n_digital", *counts],
        value_columns_by_count={n: [s] for n, s in shares.items() if n in counts},
        description="Eligible meetings by form (in person, telephone, video, no form)",
        key_columns=keys,
        margins=[()],
        row_margins=[tuple(counts), ("n_digital", *digital)],
        unit="meetings",
    )


def safe_outcome_means(means: pl.DataFrame, binary: set[str], min_cell: int) -> list[dict[str, object]]:
    """Outcome means; a mean is suppressed when its n (or, for a 0/1 outcome, its number of 1s or 0s) is small."""
    out = []
    for r in means.iter_rows(named=True):
        row: dict[str, object] = {"outcome": r["outcome"]}
        for suffix in ("", "_digital_1", "_digital_0"):
            ncol = "n_nonmissing" if suffix == "" else f"n{suffix}"
            mcol = f"mean{suffix}"
            if ncol not in r:
                continue
            n, mean = r[ncol], r[mcol]
            ok = n >= min_cell and mean is not None
            if ok and r["outcome"] in binary:
                ones = round(mean * n)
                ok = ones >= min_cell and n - ones >= min_cell
            row[ncol] = n if n >= min_cell or n == 0 else SUPPRESSED
            row[mcol] = round(mean, 3) if ok else SUPPRESSED
        nm = r["n_missing"]
        row["n_missing"] = nm if nm == 0 or nm >= min_cell else SUPPRESSED
        out.append(row)
    return out


MISSING_REASONS = ("dream_weeks", "employment_unknown", "censoring")


def safe_missing_reasons(rows: list[dict[str, object]], min_cell: int) -> list[dict[str, object]]:
    """Per outcome, the units made missing by each reason, through the gate
    (:func:`models.disclosure.gate_breakdown`).

    The reasons add up to the outcome's ``n_missing``, which is published beside them, so one suppressed
    reason could be recovered by subtraction: when exactly one count of a row is suppressed, the smallest
    other non-zero count is suppressed with it.
    """
    from models.disclosure import gate_breakdown, require_approved

    if not rows:
        return []
    df = pl.DataFrame(
        [{"outcome": str(r["outcome"]), **{c: int(r[c]) for c in MISSING_REASONS}} for r in rows],  # type: ignore[call-overload]
        schema={"outcome": pl.String, **dict.fromkeys(MISSING_REASONS, pl.Int64)},
    )
    safe = require_approved(
        gate_breakdown(
            df,
            MISSING_REASONS,
            min_cell,
            name="missing_by_reason",
            description="units with a missing outcome, by reason",
            key_columns=["outcome"],
            unit="meetings",
        )
    )
    return [{k: SUPPRESSED if v is None else v for k, v in r.items()} for r in safe.iter_rows(named=True)]
