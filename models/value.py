"""What a digital meeting is worth: staff time saved against the effect on self-support, in kroner.

Pure (no Dagster, no I/O). The inputs are the ``value`` section of the run configuration
(:class:`data_contracts.config.ValueConfig`) and an effect with its 95% interval in weeks of self-support
per meeting; docs/value.md has the long form.

Per benefit group ``g`` with weekly benefit ``b_g`` and an effect ``e`` (weeks of self-support within the
outcome's horizon, digital minus in person):

- ``staff_saving_dkk`` = minutes saved / 60 x staff cost per hour
- ``benefit_saving_dkk`` = e x b_g (positive when digital meetings raise self-support: a week of
  self-support is taken to be a week of benefit not paid)
- ``net_dkk`` = staff saving + benefit saving; its interval puts the effect's interval bounds in the same
  formula (``b_g > 0``, so the bounds keep their order)
- ``break_even_weeks`` = -staff saving / b_g (the loss of self-support per meeting at which digital stops
  paying)
- ``national_net_dkk`` = net x the annual number of jobsamtaler of the group, with its interval likewise.

The row ``all`` takes the overall estimate (all benefit groups together) and its 95% interval; its weekly
benefit is the groups' weekly benefits weighted by their annual numbers of jobsamtaler, and its annual number
is their sum. The overall estimate weights the groups as the estimation sample does, not as the national
counts do; the group rows show how far the groups differ.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import polars as pl

from data_contracts.designs import PRIMARY_DESIGN

ALL = "all"
GROUP_VAR = "benefit_group"
VALUE_COLUMNS = (
    "benefit_group",
    "staff_minutes_saved",
    "staff_cost_per_hour_dkk",
    "staff_saving_dkk",
    "weekly_benefit_dkk",
    "effect_weeks",
    "effect_weeks_ci_low",
    "effect_weeks_ci_high",
    "benefit_saving_dkk",
    "net_dkk",
    "net_dkk_ci_low",
    "net_dkk_ci_high",
    "break_even_weeks",
    "annual_jobsamtaler",
    "national_net_dkk",
    "national_net_dkk_ci_low",
    "national_net_dkk_ci_high",
)
VALUE_SCHEMA = {
    c: (pl.String if c == "benefit_group" else pl.Int64 if c == "annual_jobsamtaler" else pl.Float64)
    for c in VALUE_COLUMNS
}
# columns that hold (or follow from) the estimated effect, as opposed to configured constants
EFFECT_COLUMNS = (
    "effect_weeks",
    "effect_weeks_ci_low",
    "effect_weeks_ci_high",
    "benefit_saving_dkk",
    "net_dkk",
    "net_dkk_ci_low",
    "net_dkk_ci_high",
    "national_net_dkk",
    "national_net_dkk_ci_low",
    "national_net_dkk_ci_high",
)

# The claims of the 2021 debate, for the sentences that set the result beside them.
LETTER_TIME_SAVED = {"jobcentres": 0.30, "a-kasser": 0.20}
LETTER_LOSS_DKK = 250e6
MINISTRY_MINUTES = 15.0
MINISTRY_LONG_TERM_DKK = 39e6


@dataclass(frozen=True)
class Effect:
    """An effect on weeks of self-support per meeting with its 95% confidence interval."""

    estimate: float
    ci_low: float
    ci_high: float


def _check_number(name: str, value: Any, low: float | None = None, strict: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be a number; got {value!r} of type {type(value).__name__}")
    v = float(value)
    if not math.isfinite(v):
        raise ValueError(f"{name} must be finite; got {value!r}")
    if low is not None and (v <= low if strict else v < low):
        raise ValueError(f"{name} must be {'above' if strict else 'at least'} {low}; got {value!r}")
    return v


def _check_effect(name: str, effect: Effect | None) -> Effect | None:
    if effect is None:
        return None
    if not isinstance(effect, Effect):
        raise TypeError(f"{name} must be an Effect or None; got {type(effect).__name__}")
    est = _check_number(f"{name}.estimate", effect.estimate)
    lo = _check_number(f"{name}.ci_low", effect.ci_low)
    hi = _check_number(f"{name}.ci_high", effect.ci_high)
    if not lo <= est <= hi:
        raise ValueError(
            f"{name}: the interval must contain the estimate (ci_low <= estimate <= ci_high); "
            f"got ci_low={lo!r}, estimate={est!r}, ci_high={hi!r}"
        )
    return effect


def _check_value_config(value_cfg: Any) -> None:
    for key in ("staff_minutes_saved", "staff_cost_per_hour_dkk", "weekly_benefit_dkk", "annual_jobsamtaler"):
        if not hasattr(value_cfg, key):
            raise ValueError(f"value.{key} is missing from the configuration")
    _check_number("value.staff_minutes_saved", value_cfg.staff_minutes_saved, low=0)
    _check_number("value.staff_cost_per_hour_dkk", value_cfg.staff_cost_per_hour_dkk, low=0, strict=True)
    benefits, counts = value_cfg.weekly_benefit_dkk, value_cfg.annual_jobsamtaler
    if not isinstance(benefits, Mapping) or not benefits:
        raise ValueError(f"value.weekly_benefit_dkk must map benefit groups to kroner; got {benefits!r}")
    if not isinstance(counts, Mapping):
        raise ValueError(f"value.annual_jobsamtaler must map benefit groups to counts; got {counts!r}")
    for g, b in benefits.items():
        _check_number(f"value.weekly_benefit_dkk[{g!r}]", b, low=0, strict=True)
    for g in benefits:
        if g not in counts:
            raise ValueError(f"value.annual_jobsamtaler[{g!r}] is missing (the group has a weekly benefit)")
        n = counts[g]
        if isinstance(n, bool) or not isinstance(n, int) or n < 0:
            raise ValueError(f"value.annual_jobsamtaler[{g!r}] must be a count (int >= 0); got {n!r}")
    extra = sorted(set(counts) - set(benefits))
    if extra:
        raise ValueError(f"value.weekly_benefit_dkk lacks group(s) {extra} that value.annual_jobsamtaler has")
    if sum(counts[g] for g in benefits) == 0:
        raise ValueError("value.annual_jobsamtaler: the counts add up to 0, so the row 'all' has no weights")


def value_row(
    benefit_group: str,
    staff_minutes_saved: float,
    staff_cost_per_hour_dkk: float,
    weekly_benefit_dkk: float,
    annual_jobsamtaler: int,
    effect: Effect | None,
) -> dict[str, Any]:
    """One row of the value table (see the module docstring for the formulas).

    Parameters
    ----------
    effect : Effect or None
        The effect on weeks of self-support per meeting and its 95% interval; None leaves the columns
        that follow from it empty (the staff saving and the break-even are still given).

    Returns
    -------
    dict
        The columns of :data:`VALUE_COLUMNS`.
    """
    minutes = _check_number("staff_minutes_saved", staff_minutes_saved, low=0)
    cost = _check_number("staff_cost_per_hour_dkk", staff_cost_per_hour_dkk, low=0, strict=True)
    b = _check_number("weekly_benefit_dkk", weekly_benefit_dkk, low=0, strict=True)
    if (
        isinstance(annual_jobsamtaler, bool)
        or not isinstance(annual_jobsamtaler, int)
        or annual_jobsamtaler < 0
    ):
        raise ValueError(f"annual_jobsamtaler must be a count (int >= 0); got {annual_jobsamtaler!r}")
    effect = _check_effect("effect", effect)
    staff = minutes / 60.0 * cost
    row: dict[str, Any] = {
        "benefit_group": str(benefit_group),
        "staff_minutes_saved": minutes,
        "staff_cost_per_hour_dkk": cost,
        "staff_saving_dkk": staff,
        "weekly_benefit_dkk": b,
        "break_even_weeks": -staff / b,
        "annual_jobsamtaler": int(annual_jobsamtaler),
    }
    row.update(dict.fromkeys(EFFECT_COLUMNS))
    if effect is not None:
        e, lo, hi = float(effect.estimate), float(effect.ci_low), float(effect.ci_high)
        net, net_lo, net_hi = staff + e * b, staff + lo * b, staff + hi * b
        row.update(
            effect_weeks=e,
            effect_weeks_ci_low=lo,
            effect_weeks_ci_high=hi,
            benefit_saving_dkk=e * b,
            net_dkk=net,
            net_dkk_ci_low=net_lo,
            net_dkk_ci_high=net_hi,
            national_net_dkk=net * annual_jobsamtaler,
            national_net_dkk_ci_low=net_lo * annual_jobsamtaler,
            national_net_dkk_ci_high=net_hi * annual_jobsamtaler,
        )
    return {c: row[c] for c in VALUE_COLUMNS}


def weighted_weekly_benefit(value_cfg: Any) -> float:
    """The weekly benefit of the row ``all``: the groups' benefits weighted by their annual jobsamtaler."""
    _check_value_config(value_cfg)
    b, n = value_cfg.weekly_benefit_dkk, value_cfg.annual_jobsamtaler
    total = sum(n[g] for g in b)
    return sum(b[g] * n[g] for g in b) / total


def value_table(
    value_cfg: Any, overall: Effect | None, by_group: Mapping[str, Effect | None] | None = None
) -> pl.DataFrame:
    """The value table: one row per benefit group of the configuration, then the row ``all``.

    Parameters
    ----------
    value_cfg : ValueConfig
        The configuration's ``value`` section (or any object with its attributes).
    overall : Effect or None
        The overall estimate (all benefit groups) and its 95% interval, for the row ``all``.
    by_group : mapping of str to Effect or None, optional
        The group effects; a group of the configuration without one gets empty effect columns.

    Returns
    -------
    polars.DataFrame
        The columns of :data:`VALUE_COLUMNS`; a benefit group of ``by_group`` that the configuration has
        no weekly benefit for is refused (its kroner cannot be computed).
    """
    _check_value_config(value_cfg)
    by_group = dict(by_group or {})
    unknown = sorted(set(by_group) - set(value_cfg.weekly_benefit_dkk))
    if unknown:
        raise ValueError(
            f"value.weekly_benefit_dkk has no weekly benefit for benefit group(s) {unknown} of the estimates"
        )
    m, c = value_cfg.staff_minutes_saved, value_cfg.staff_cost_per_hour_dkk
    rows = [
        value_row(
            g,
            m,
            c,
            b,
            int(value_cfg.annual_jobsamtaler[g]),
            _check_effect(f"by_group[{g!r}]", by_group.get(g)),
        )
        for g, b in value_cfg.weekly_benefit_dkk.items()
    ]
    total = int(sum(value_cfg.annual_jobsamtaler[g] for g in value_cfg.weekly_benefit_dkk))
    rows.append(
        value_row(ALL, m, c, weighted_weekly_benefit(value_cfg), total, _check_effect("overall", overall))
    )
    return pl.DataFrame(rows, schema=VALUE_SCHEMA)


def _effect_of(row: Mapping[str, Any]) -> Effect | None:
    vals = [row.get(k) for k in ("estimate", "ci_low", "ci_high")]
    if any(v is None or not math.isfinite(float(v)) for v in vals):
        return None
    return Effect(*(float(v) for v in vals))


def effects_from_estimates(
    estimates: pl.DataFrame | None, group_effects: pl.DataFrame | None, outcome: str, design: str
) -> tuple[Effect | None, dict[str, Effect | None]]:
    """The overall effect and the benefit-group effects of one (outcome, design) from the estimation tables.

    Reads ``estimates.parquet`` and ``group_effects.parquet`` by column name (extra columns, such as arm
    counts, are ignored) and keeps the rows with ``group_var == "benefit_group"``. A missing table, cell or
    group gives None.
    """
    need = ("outcome", "design", "estimate", "ci_low", "ci_high")
    overall = None
    if estimates is not None and set(need) <= set(estimates.columns):
        hit = estimates.filter((pl.col("outcome") == outcome) & (pl.col("design") == design))
        if hit.height:
            overall = _effect_of(hit.row(0, named=True))
    groups: dict[str, Effect | None] = {}
    if group_effects is not None and {*need, "group_var", "group"} <= set(group_effects.columns):
        hit = group_effects.filter(
            (pl.col("outcome") == outcome) & (pl.col("design") == design) & (pl.col("group_var") == GROUP_VAR)
        )
        for r in hit.iter_rows(named=True):
            groups[str(r["group"])] = _effect_of(r)
    return overall, groups


def _kr(v: float) -> str:
    return f"{v:,.0f} kr".replace(",", " ") if abs(v) >= 100 else f"{v:.0f} kr"


def _mkr(v: float) -> str:
    return f"{v / 1e6:,.1f} million kr".replace(",", " ")


def _int(n: int) -> str:
    return f"{int(n):,}".replace(",", " ")


def _weeks(v: float) -> str:
    return f"{v:+.3f} weeks"


def headline(
    table: pl.DataFrame, design: str = PRIMARY_DESIGN, outcome: str = "weeks_selfsupport_52w"
) -> str:
    """One sentence for the row ``all`` (or the only row): break-even, estimate, national figure."""
    rows = table.filter(pl.col("benefit_group") == ALL)
    r = (rows if rows.height else table).row(0, named=True)
    who = "all meetings" if r["benefit_group"] == ALL else f"{r['benefit_group']} meetings"
    s = (
        f"Digital pays off unless it lowers self-support by more than {-r['break_even_weeks']:.3f} weeks per "
        f"meeting ({who}: {_kr(r['staff_saving_dkk'])} staff time saved, {_kr(r['weekly_benefit_dkk'])} benefit "
        "a week)"
    )
    if r["effect_weeks"] is None:
        return s + f"; no estimate of {outcome} ({design}) to set beside it."
    return s + (
        f"; the estimate ({outcome}, {design}) is {_weeks(r['effect_weeks'])} "
        f"(95% CI {r['effect_weeks_ci_low']:+.3f} to {r['effect_weeks_ci_high']:+.3f}): "
        f"{_kr(r['net_dkk'])} net per meeting ({_kr(r['net_dkk_ci_low'])} to {_kr(r['net_dkk_ci_high'])}), "
        f"nationally {_mkr(r['national_net_dkk'])} a year ({_mkr(r['national_net_dkk_ci_low'])} to "
        f"{_mkr(r['national_net_dkk_ci_high'])}) for {_int(r['annual_jobsamtaler'])} jobsamtaler."
    )


def debate_sentences(table: pl.DataFrame, value_cfg: Any) -> list[str]:
    """Sentences that set the result beside the claims of the 2021 debate, without weighing them."""
    rows = table.filter(pl.col("benefit_group") == ALL)
    if not rows.height:
        return []
    r = rows.row(0, named=True)
    staff_national = r["staff_saving_dkk"] * r["annual_jobsamtaler"]
    out = [
        f"Staff time: this run assumes {value_cfg.staff_minutes_saved:g} minutes saved per digital jobsamtale at "
        f"{value_cfg.staff_cost_per_hour_dkk:g} kr an hour. The ministry's costing of the June 2021 agreement "
        f"assumed about {MINISTRY_MINUTES:g} minutes ({_mkr(MINISTRY_LONG_TERM_DKK)} a year for the long-term "
        "unemployed alone); STAR's survey reported "
        f"{LETTER_TIME_SAVED['jobcentres']:.0%} of staff time saved in jobcentres and "
        f"{LETTER_TIME_SAVED['a-kasser']:.0%} in a-kasser, the same figures as Ase's letter of 24 June 2021.",
        f"Efficiency side alone: {_kr(r['staff_saving_dkk'])} per meeting, {_mkr(staff_national)} a year for "
        f"{_int(r['annual_jobsamtaler'])} jobsamtaler of the benefit groups here; the letter put the lost "
        f"efficiency of going back to physical meetings at at least {_mkr(LETTER_LOSS_DKK)} a year (all meetings, "
        "jobcentres and a-kasser). The two figures cover different meetings and are not a test of each other.",
    ]
    be = r["break_even_weeks"]
    if r["effect_weeks"] is None:
        out.append(
            f"Employment side: no estimate in this run. Digital would stop paying at a loss of {-be:.3f} weeks of "
            "self-support per meeting."
        )
        return out
    lo, hi = r["effect_weeks_ci_low"], r["effect_weeks_ci_high"]
    zero = "includes" if lo <= 0 <= hi else "excludes"
    where = "lies entirely above" if lo > be else "lies entirely below" if hi < be else "includes"
    out.append(
        "Employment side: the letter said there is no evidence of a lower employment effect; the minister's "
        "concern was that a small loss of employment costs benefit payments. Here the 95% interval of the "
        f"effect ({lo:+.3f} to {hi:+.3f} weeks of self-support per meeting) {zero} zero and {where} the "
        f"break-even of {be:+.3f} weeks (about {-5 * be:.2f} working days); the national net figure ranges "
        f"from {_mkr(r['national_net_dkk_ci_low'])} to {_mkr(r['national_net_dkk_ci_high'])} a year."
    )
    return out


def source_text(src: Any) -> str:
    """One source of the value section (a ``ValueSource``) as a sentence: kind, year, text, addresses."""
    from data_contracts.config import VALUE_SOURCE_KINDS

    out = f"{VALUE_SOURCE_KINDS.get(src.kind, src.kind)} ({src.year}): {src.source}"
    if src.urls:
        out += " Found at: " + "; ".join(src.urls)
    return out


def _inputs(value_cfg: Any) -> list[tuple[str, Any]]:
    return [
        ("staff_minutes_saved", value_cfg.staff_minutes_saved),
        ("staff_cost_per_hour_dkk", value_cfg.staff_cost_per_hour_dkk),
        *((f"weekly_benefit_dkk.{g}", b) for g, b in value_cfg.weekly_benefit_dkk.items()),
        *((f"annual_jobsamtaler.{g}", n) for g, n in value_cfg.annual_jobsamtaler.items()),
    ]


def _fmt_input(val: Any) -> str:
    return f"{val:g}" if isinstance(val, float) else str(val)


def assumption_rows(value_cfg: Any) -> list[tuple[str, str, str]]:
    """(input, value in force, source with its year) for the report, from the configuration's sources.

    A number changed from its default but still carrying the default's source is named as the user's
    choice (the default's source no longer describes it); a number with a source of its own shows that.
    """
    from data_contracts.config import ValueConfig

    default = ValueConfig()
    dflt_values = dict(_inputs(default))
    sources = getattr(value_cfg, "sources", None) or {}
    out: list[tuple[str, str, str]] = []
    for key, val in _inputs(value_cfg):
        dflt, src, dsrc = dflt_values.get(key), sources.get(key), default.sources.get(key)
        if src is None:
            text = "Set in the run configuration, no source given" + (
                " (no default)" if dflt is None else f" (default {_fmt_input(dflt)})"
            )
        elif dflt is not None and val != dflt and src == dsrc:
            text = f"Set in the run configuration (default {_fmt_input(dflt)}: {source_text(dsrc)})"
        elif val != dflt:
            text = f"Set in the run configuration: {source_text(src)}"
        else:
            text = source_text(src)
        out.append((f"value.{key}", _fmt_input(val), text))
    out.append(("value.outcome", value_cfg.outcome, "the analysis plan's outcome in weeks (52 weeks)"))
    out.append(("value.design", value_cfg.design, "the analysis plan's primary design (IRM, ATT)"))
    return out


def sources_markdown(value_cfg: Any) -> str:
    """The value section's inputs and sources as the Markdown table of docs/value.md (generated, not typed:
    tests/models/test_value_sources.py checks the docs against it)."""
    lines = ["| key | default | kind | year | source |", "|---|---|---|---|---|"]
    for key, val in _inputs(value_cfg):
        src = value_cfg.sources.get(key)
        if src is None:
            lines.append(f"| `{key}` | {_fmt_input(val)} | none | | no source given |")
            continue
        where = (" Found at: " + "; ".join(f"<{u}>" for u in src.urls)) if src.urls else ""
        lines.append(f"| `{key}` | {_fmt_input(val)} | {src.kind} | {src.year} | {src.source}{where} |")
    return "\n".join(lines) + "\n"


def long_form(table: pl.DataFrame, group: str) -> pl.DataFrame:
    """One group's row as (column, value) pairs, for printing."""
    hit = table.filter(pl.col("benefit_group") == group)
    if not hit.height:
        raise ValueError(f"group must be one of {table['benefit_group'].to_list()}; got {group!r}")
    r = hit.row(0, named=True)
    return pl.DataFrame(
        {"column": list(VALUE_COLUMNS), "value": [format_cell(c, r[c]) for c in VALUE_COLUMNS]}
    )


def format_cell(column: str, v: Any) -> str:
    """A value of the table for printing: kroner whole (digits grouped by spaces), weeks to 4 decimals."""
    if v is None:
        return ""
    if isinstance(v, str):
        return v
    if column == "annual_jobsamtaler":
        return _int(v)
    if "_dkk" in column and column != "staff_cost_per_hour_dkk":
        return f"{v:,.0f}".replace(",", " ") if abs(v) >= 1000 else f"{v:.2f}"
    if "weeks" in column:
        return f"{v:+.4f}"
    return f"{v:g}"


# ---------------------------------------------------------------------------------------------------
# disclosure control


def _arm_counts(row: Mapping[str, Any]) -> int | None:
    """The smallest count behind an estimate: its treated and control arms when known, else its n."""
    n = row.get("n")
    nt = row.get("n_treated")
    nc = row.get("n_control")
    if nc is None and n is not None and nt is not None:
        nc = n - nt
    known = [int(v) for v in (n, nt, nc) if v is not None and v >= 0]
    return min(known) if known else None


def backing_counts(
    table: pl.DataFrame,
    estimates: pl.DataFrame | None,
    group_effects: pl.DataFrame | None,
    outcome: str,
    design: str,
) -> list[int | None]:
    """For each row of the value table, the smallest count behind its effect (None when unknown).

    The row ``all`` takes the overall estimate's counts, a group row its group estimate's (arm counts when
    the group effects carry them, else n). Columns are read by name, so extra columns do no harm.
    """
    overall: int | None = None
    if estimates is not None and {"outcome", "design", "n"} <= set(estimates.columns):
        hit = estimates.filter((pl.col("outcome") == outcome) & (pl.col("design") == design))
        if hit.height:
            overall = _arm_counts(hit.row(0, named=True))
    groups: dict[str, int | None] = {}
    if group_effects is not None and {"outcome", "design", "group_var", "group", "n"} <= set(
        group_effects.columns
    ):
        hit = group_effects.filter(
            (pl.col("outcome") == outcome) & (pl.col("design") == design) & (pl.col("group_var") == GROUP_VAR)
        )
        for r in hit.iter_rows(named=True):
            groups[str(r["group"])] = _arm_counts(r)
    return [overall if g == ALL else groups.get(g) for g in table["benefit_group"].to_list()]


def gate_value(
    table: pl.DataFrame,
    estimates: pl.DataFrame | None,
    group_effects: pl.DataFrame | None,
    outcome: str,
    design: str,
    min_cell: int,
    n_units: Sequence[int] | None = None,
    hidden_groups: Sequence[str] = (),
):
    """Pass the value table through the disclosure gate (models/disclosure.py).

    The configured constants (minutes, cost, weekly benefit, staff saving, break-even, annual national
    count) are labels of the row; the columns that follow from the effect are values backed by the smallest
    count behind that effect (:func:`backing_counts`), so they are suppressed when it is below ``min_cell``
    or unknown, or when the group's estimate is suppressed in a linked table (``hidden_groups``, e.g. by
    the group-effects table's secondary suppression). The backing count is dropped after the gate: the
    published table has the columns of :data:`VALUE_COLUMNS` only (the counts are in the estimates and
    group-effects tables).

    Returns
    -------
    models.disclosure.GateResult
    """
    import dataclasses

    from models.disclosure import TableSpec, gate

    counts = backing_counts(table, estimates, group_effects, outcome, design)
    df = table.select(VALUE_COLUMNS).with_columns(pl.Series("n", counts, dtype=pl.Int64))
    hidden = set(hidden_groups)
    forced = [g in hidden for g in df["benefit_group"].to_list()]
    spec = TableSpec(
        name="value",
        df=df,
        count_columns=["n"],
        value_columns_by_count={"n": list(EFFECT_COLUMNS)},
        description="What a digital meeting is worth: staff time saved against the effect on weeks of "
        "self-support, in kroner per meeting and nationally a year (95% intervals)",
        key_columns=[c for c in VALUE_COLUMNS if c not in EFFECT_COLUMNS],
        margins=[],
        unit="meetings",
        force_suppress={"n": forced} if any(forced) else {},
        force_reason="the group's estimate is suppressed in the group-effects table",
    )
    r = gate(spec, min_cell=min_cell, n_units=n_units)
    if r.table is None:
        return r
    return dataclasses.replace(
        r,
        table=r.table.drop("n"),
        count_columns=(),
        suppressed={k: v for k, v in r.suppressed.items() if k != "n"},
    )


def export_cells(table: pl.DataFrame) -> pl.DataFrame:
    """The value table for CSV and HTML: national figures of a billion kroner or more in exponent form.

    A whole number of ten digits looks like a CPR number to the output-control scan; kroner figures that
    large are written as ``-1.59712e+09`` (6 significant digits) instead.
    """
    cols = [c for c in table.columns if c.startswith("national_")]

    def fmt(v: float | None) -> str | None:
        if v is None:
            return None
        return f"{v:.6g}" if abs(v) >= 1e9 else f"{v:.0f}"

    return table.with_columns([pl.col(c).map_elements(fmt, return_dtype=pl.String).alias(c) for c in cols])


__all__: Sequence[str] = (
    "ALL",
    "Effect",
    "VALUE_COLUMNS",
    "assumption_rows",
    "source_text",
    "sources_markdown",
    "backing_counts",
    "export_cells",
    "format_cell",
    "gate_value",
    "debate_sentences",
    "effects_from_estimates",
    "headline",
    "long_form",
    "value_row",
    "value_table",
    "weighted_weekly_benefit",
)
