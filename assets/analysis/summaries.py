"""Aggregate, disclosure-controlled views of the register-logic outputs for Dagster metadata (no Dagster import).

Only aggregates leave these functions: no PNR, no per-person values. Every table passes
:func:`models.disclosure.gate` with the specification the report and the run summary use for it (the sample
flow's :func:`models.disclosure.sample_flow_spec`, the report's digital-share spec, the outcome means'
contract), so a number is suppressed, with its complements, the same way wherever it is published; a
suppressed cell is shown as ``suppressed``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import polars as pl

from data_contracts.codebook import FORM_COUNT_COLUMNS
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
    if len(rows) == 1 and set(rows[0]) == {WITHHELD}:
        return f"withheld by disclosure control: {rows[0][WITHHELD]}"
    head = "| " + " | ".join(columns) + " |\n|" + "---|" * len(columns) + "\n"
    return head + "\n".join("| " + " | ".join(_fmt(r.get(c)) for c in columns) + " |" for r in rows)


WITHHELD = "withheld"


def or_withheld(publish: Callable[..., list[dict[str, object]]], *args: object) -> list[dict[str, object]]:
    """``publish(*args)`` (a ``safe_*`` table), or, when the gate refuses the table, one row
    ``{"withheld": reason}`` (the gate's reason names no suppressed value), so that the metadata says why
    instead of failing the asset; :func:`markdown_table` prints it as one line."""
    from models.disclosure import DisclosureError

    try:
        return publish(*args)
    except DisclosureError as e:
        return [{WITHHELD: str(e)}]


def _published(v: object, digits: int | None = None) -> object:
    """A gated cell as the metadata shows it: a null (suppressed, or no number) as ``suppressed``."""
    if v is None:
        return SUPPRESSED
    return round(v, digits) if digits is not None and isinstance(v, float) else v


def safe_sample_flow(flow: pl.DataFrame, min_cell: int) -> list[dict[str, object]]:
    """The sample flow as the gate publishes it (:func:`models.disclosure.sample_flow_spec`, the report's and
    the run summary's spec): rules whose removal is small are merged with the next one, and what merging
    cannot hide (a one-rule flow, a flow whose units fall under ``min_cell``) is suppressed with a
    complement, because ``units_before - units_removed = units_after`` holds in every row and each step's
    ``units_after`` is the next step's ``units_before``.

    The final step's meetings by form (``units_in_person``, ...; only on the rows that have them) add up to
    its ``units_after`` and are gated with it.

    Raises
    ------
    models.disclosure.DisclosureError
        The gate refuses the table (then nothing is published), e.g. as many steps as the meetings the flow
        ends with (the report's per-person-row rule, with the unit count the report takes from the flow).
    """
    from models.disclosure import gate, require_approved, sample_flow_spec

    spec, _log = sample_flow_spec(flow, min_cell)
    # the report's per-person-row rule with the unit count it takes from the flow (the meetings it ends with)
    safe = require_approved(gate(spec, min_cell, n_units=_flow_units(flow)))
    forms = [c for c in spec.count_columns if c not in ("units_before", "units_removed", "units_after")]
    out: list[dict[str, object]] = []
    for step, (r, g) in enumerate(
        zip(spec.df.iter_rows(named=True), safe.iter_rows(named=True), strict=True), 1
    ):
        row: dict[str, object] = {"step": step, "rule": r["rule"], "description": r["description"]}
        row.update({c: _published(g[c]) for c in ("units_before", "units_removed", "units_after")})
        # a form count only on the rows the flow breaks down (the last); elsewhere there is no such cell
        row.update({c: _published(g[c]) for c in forms if r[c] is not None})
        out.append(row)
    return out


def _flow_units(flow: pl.DataFrame) -> list[int] | None:
    """The meetings the flow ends with, the unit count the report's gate (``gate_all``) takes from it."""
    last = flow["units_after"][-1] if "units_after" in flow.columns and flow.height else None
    return [int(last)] if last is not None and int(last) > 0 else None


# The report's names of a digital-share table's columns (assets/report/render/tables.py share_spec) -> the file's.
_SHARE_NAMES = {"month": "calendar_month", "n": "n_meetings", "share_digital": "digital_share"}


def safe_share(
    df: pl.DataFrame, keys: list[str], min_cell: int, flow: pl.DataFrame | None = None
) -> list[dict[str, object]]:
    """The digital-share table by calendar month as the report's gate publishes it: the report's spec
    (:func:`assets.report.render.tables.share_spec`: meetings, digital and in-person counts, the three forms'
    counts and shares, each column's total and each row's relations as margins) through
    :func:`models.disclosure.gate`, with the file's column names (``calendar_month``, ``n_meetings``,
    ``digital_share``). ``n_in_person`` is the two-arm count (meetings less digital ones), as in the report.

    ``flow`` is the sample flow published beside the table (``treatment/sample_flow.parquet``): the months
    add up to its final step, so the table's column totals are linked to it as the report links them
    (:func:`assets.report.render.tables.link_share_to_flow`): a total the flow suppresses (a one-rule flow's
    ``units_after``) is not given back by the months. Pass it wherever the flow is published too.

    Shares are rounded to 3 decimals; a suppressed cell is ``suppressed``. A form that no meeting of the
    table has (e.g. no code without a form) is a structural zero, shown as 0.

    Raises
    ------
    models.disclosure.DisclosureError
        The gate refuses the table (e.g. as many months as meetings: the report's per-person-row rule,
        with the table's meetings, the sample flow's final count, as the unit count).
    """
    from assets.report.render.tables import link_share_to_flow, share_spec
    from models.disclosure import gate, require_approved

    if list(keys) != ["calendar_month"]:
        raise ValueError(f"keys: the metadata publishes the share table by calendar month only, got {keys}")
    spec = share_spec(
        df, "digital_share_by_month", False, "Digital share of eligible meetings by calendar month"
    )
    if spec is None:  # share_spec is None only for a missing table
        raise ValueError("df: no digital-share table to publish")
    spec = link_share_to_flow(spec, flow, min_cell)
    # the report's per-person-row rule: its gate takes the meetings the sample flow ends with as a unit
    # count, and they are the eligible meetings this table counts (a table with as many months as
    # meetings is refused). The estimates' counts, which the report also uses, do not exist yet here.
    total = int(df["n_meetings"].sum() or 0)
    safe = require_approved(gate(spec, min_cell, n_units=[total] if total > 0 else None))
    shares = {v for vs in spec.value_columns_by_count.values() for v in vs}
    out = []
    for g in safe.iter_rows(named=True):
        row = {_SHARE_NAMES.get(k, k): _published(v, 3 if k in shares else None) for k, v in g.items()}
        for c in FORM_COUNT_COLUMNS:
            if c not in row and c in df.columns and df[c].null_count() == 0:
                row[c] = 0
        out.append(row)
    return out


def outcome_means_spec(means: pl.DataFrame, binary: bool) -> TableSpec:
    """The outcome means (``analysis/outcome_means.parquet``, or the outcome stage's own) declared for the
    gate from their contract (``data_contracts.tables.OUTCOME_MEANS``), with what the contract cannot say:

    - the non-missing and missing counts add up to the eligible meetings, which the sample flow publishes
      (a row margin), and the digital and other meetings' counts to the non-missing (the contract's
      difference);
    - each mean is backed by its count and, when the outcomes are 0/1 (``binary``), by its numbers of 1s
      and 0s (``n_ones*``/``n_zeros*``, derived for the gate and never published): a mean of 2/60 gives 2
      exits away. The 1s of the digital and other meetings add up to all 1s, and so do the 0s; 1s and 0s
      add up to the count.

    The rows (outcomes) are separate cells, so 0/1 and other outcomes are gated as two tables.
    """
    from data_contracts.tables import OUTCOME_MEANS
    from models.disclosure import contract_spec

    ncol = {
        s: c
        for s, c in (("", "n_nonmissing"), ("_digital_1", "n_digital_1"), ("_digital_0", "n_digital_0"))
        if c in means.columns
    }
    rows = [("n_nonmissing", "n_missing")] if "n_missing" in means.columns else []
    backing: dict[str, list[str]] = {c: [f"mean{s}"] for s, c in ncol.items()}
    extra: list[str] = []
    df = means
    if binary:
        for s, c in ncol.items():
            ones = (pl.col(f"mean{s}") * pl.col(c)).round(0).cast(pl.Int64)
            df = df.with_columns(ones.alias(f"n_ones{s}"), (pl.col(c) - ones).alias(f"n_zeros{s}"))
            extra += [f"n_ones{s}", f"n_zeros{s}"]
            backing.update({f"n_ones{s}": [f"mean{s}"], f"n_zeros{s}": [f"mean{s}"]})
            rows.append((c, f"n_ones{s}", f"n_zeros{s}"))
        if len(ncol) == 3:
            rows += [(f"n_{k}", f"n_{k}_digital_1", f"n_{k}_digital_0") for k in ("ones", "zeros")]
    # the same relations with their signs, for the gate's audit: the first count of each is the sum of the
    # others, except non-missing + missing, whose sum (the eligible meetings) is published elsewhere
    exact = [
        {r[0]: 1, r[1]: 1} if r == ("n_nonmissing", "n_missing") else {r[0]: 1, **{c: -1 for c in r[1:]}}
        for r in rows
    ]
    return contract_spec(
        OUTCOME_MEANS,
        df,
        name="outcome_means_binary" if binary else "outcome_means",
        description="Each outcome's non-missing count and mean, overall and by digital",
        value_columns_by_count=backing,
        extra_counts=extra,
        row_margins=rows,
        row_relations=exact,
    )


def safe_outcome_means(means: pl.DataFrame, binary: set[str], min_cell: int) -> list[dict[str, object]]:
    """Outcome means as the gate publishes them (:func:`outcome_means_spec`): a count under ``min_cell``,
    and a mean whose count (or, for a 0/1 outcome in ``binary``, whose number of 1s or 0s) is small, are
    ``suppressed``, with complements wherever the counts' relations would give one away. Means are rounded
    to 3 decimals; the derived 1s and 0s are not shown. Rows keep the order of ``means``.

    Raises
    ------
    models.disclosure.DisclosureError
        The gate refuses the table.
    """
    from models.disclosure import gate, require_approved

    out: dict[str, dict[str, object]] = {}
    is_binary = pl.col("outcome").is_in(sorted(binary))
    for part, flag in ((means.filter(is_binary), True), (means.filter(~is_binary), False)):
        if part.height == 0:
            continue
        spec = outcome_means_spec(part, flag)
        safe = require_approved(gate(spec, min_cell))
        shown = [c for c in safe.columns if not c.startswith(("n_ones", "n_zeros"))]
        for r in safe.select(shown).iter_rows(named=True):
            out[r["outcome"]] = {
                k: v if k == "outcome" else _published(v, 3 if k.startswith("mean") else None)
                for k, v in r.items()
            }
    return [out[o] for o in means["outcome"].to_list()]


def safe_count(n: int, min_cell: int) -> int | str:
    """One count on its own (no total it adds up to): ``suppressed`` when small
    (:func:`models.disclosure.is_small`)."""
    from models.disclosure import is_small

    return SUPPRESSED if is_small(n, min_cell) else n


def safe_breakdown(parts: dict[str, int], min_cell: int, *, name: str, unit: str) -> dict[str, object]:
    """Counts by category that add up to a published total (e.g. the staged meetings by form category, whose
    sum is the table's row count), through :func:`models.disclosure.gate_breakdown`: a small part is
    suppressed, and when it is the only one, the smallest other non-zero part with it.

    Raises
    ------
    models.disclosure.DisclosureError
        The gate refuses the table.
    """
    from models.disclosure import gate_breakdown, require_approved

    if not parts:
        return {}
    cols = {f"part_{i}": k for i, k in enumerate(parts)}
    df = pl.DataFrame({c: [int(parts[k])] for c, k in cols.items()}, schema=dict.fromkeys(cols, pl.Int64))
    safe = require_approved(
        gate_breakdown(df, list(cols), min_cell, name=name, description=f"{unit} by category", unit=unit)
    )
    return {k: _published(safe[c][0]) for c, k in cols.items()}


MISSING_REASONS = ("dream_weeks", "employment_unknown", "censoring")


def safe_missing_reasons(
    rows: list[dict[str, object]], min_cell: int, hidden_missing: Iterable[str] = ()
) -> list[dict[str, object]]:
    """Per outcome, the units made missing by each reason, through the gate
    (:func:`models.disclosure.gate_breakdown`).

    The reasons add up to the outcome's ``n_missing``, which is published beside them, so one suppressed
    reason could be recovered by subtraction: when exactly one count of a row is suppressed, the smallest
    other non-zero count is suppressed with it. The outcomes in ``hidden_missing`` are those whose
    ``n_missing`` the published outcome means suppress (:func:`safe_outcome_means`, e.g. as the complement
    of a small non-missing count): their reasons would add it up again, so all of them are suppressed.
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
    hidden = set(hidden_missing)
    return [
        {
            k: SUPPRESSED if v is None or (k != "outcome" and r["outcome"] in hidden) else v
            for k, v in r.items()
        }
        for r in safe.iter_rows(named=True)
    ]
