"""Aggregate, disclosure-controlled views of the register-logic outputs for Dagster metadata (no Dagster import).

Only aggregates leave these functions: no PNR, no per-person values. A cell resting on fewer than
``min_cell`` persons-or-meetings (counted both ways for a share: the numerator and its complement) is shown
as ``suppressed``.
"""

from __future__ import annotations

import polars as pl

from data_contracts.codebook import FORM_COUNT_COLUMNS

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
    """
    from models.disclosure import collapse_flow

    merged, _log = collapse_flow(flow, min_cell)
    out: list[dict[str, object]] = []
    hide = False
    for step, r in enumerate(merged.iter_rows(named=True), start=1):
        row: dict[str, object] = {"step": step, **r}
        removed, after = int(r["units_removed"] or 0), int(r["units_after"] or 0)
        hide = hide or 0 < removed < min_cell or 0 < after < min_cell
        if hide:
            row["units_removed"] = SUPPRESSED
            row["units_after"] = SUPPRESSED
            if step > 1 and out and out[-1]["units_after"] == SUPPRESSED:
                row["units_before"] = SUPPRESSED
        out.append(row)
    return out


def safe_share(df: pl.DataFrame, keys: list[str], min_cell: int) -> list[dict[str, object]]:
    """Digital share per cell: suppressed when meetings, digital or in-person meetings number under ``min_cell``.

    The three forms' counts (``n_in_person``, ``n_telephone``, ``n_video``, ``n_no_form``), when the table has
    them, are shown only when every nonzero one of them reaches ``min_cell``.
    """
    out = []
    for r in df.iter_rows(named=True):
        n, d = r["n_meetings"], r["n_digital"]
        ok = n >= min_cell and d >= min_cell and (n - d) >= min_cell
        row = {k: r[k] for k in keys}
        row.update(
            n_meetings=n if n >= min_cell else SUPPRESSED,
            n_digital=d if ok else SUPPRESSED,
            digital_share=round(r["digital_share"], 3) if ok else SUPPRESSED,
        )
        # The three forms (and the codes without one) add up to n_meetings, so one small arm would be
        # recovered from the others: a small arm suppresses every form count of its row.
        forms = [c for c in FORM_COUNT_COLUMNS if r.get(c) is not None]
        if forms:
            forms_ok = n >= min_cell and all(r[c] == 0 or r[c] >= min_cell for c in forms)
            row.update({c: r[c] if forms_ok else SUPPRESSED for c in forms})
        out.append(row)
    return out


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
