"""No published table gives a suppressed cell away through the relations its counts obey (issue 19, point 4).

The sample flow's metadata once suppressed a small ``units_removed`` but showed ``units_before`` and
``units_after``, whose difference is the suppressed number. The tests here take the published tables as an
outsider reads them (Dagster metadata, the run summary, the report's export) and solve the linear relations
the counts obey (differences, the chaining of the flow's steps, breakdowns, totals, published shares times
published counts): no suppressed cell may be determined by them (:func:`recoverable`).
"""

from __future__ import annotations

import dataclasses

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from assets.analysis.summaries import (
    MISSING_REASONS,
    SUPPRESSED,
    WITHHELD,
    markdown_table,
    or_withheld,
    safe_missing_reasons,
    safe_outcome_means,
    safe_sample_flow,
    safe_share,
)
from assets.report.render.gating import gate_all
from assets.report.render.inputs import ReportInputs
from data_contracts.codebook import FLOW_FORM_COLUMNS
from models.disclosure import DisclosureError, TableSpec, gate, require_approved, sample_flow_spec

MIN_CELL = 5
Cell = tuple[str, int]


def recoverable(
    cells: dict[Cell, float | None],
    relations: list[dict[Cell, float]],
    truth: dict[Cell, float] | None = None,
) -> list[Cell]:
    """The unknown cells (value None) that the linear ``relations`` (each: sum of coefficient x cell equals
    something known) determine, given the known cells. A cell is determined when its unit vector lies in
    the row space of the relations restricted to the unknown cells.

    With ``truth`` (the true value of each cell), a determined cell that is truly 0 is left out: a zero
    taken as a complement hides nothing by itself, and what it would give away is determined too."""
    unknown = sorted(k for k, v in cells.items() if v is None)
    if not unknown:
        return []
    idx = {k: i for i, k in enumerate(unknown)}
    rows = [
        [rel.get(k, 0.0) for k in unknown]
        for rel in relations
        if all(k in cells for k in rel) and any(k in idx and rel[k] != 0 for k in rel)
    ]
    if not rows:
        return []
    a = np.array(rows, dtype=float)
    rank = np.linalg.matrix_rank(a)
    out = []
    for k in unknown:
        e = np.zeros(len(unknown))
        e[idx[k]] = 1.0
        if np.linalg.matrix_rank(np.vstack([a, e])) == rank and (truth is None or truth.get(k) != 0):
            out.append(k)
    return out


def _value(v: object) -> float | None:
    return None if v is None or v == SUPPRESSED else float(v)  # type: ignore[arg-type]


def test_the_gate_audit_breaks_two_suppression_cycles_joined_by_one_cell():
    # A 4 x 4 table whose row and column totals are known. The small cells are r1c1 (2), r2c3 (3) and r3c3
    # (2). One margin at a time, the gate takes r2c1 (7) for column 1, r1c2 (6) for row 1, r3c4 (6) for
    # row 3, then r2c2 (8), r4c4 (8) and r4c3 (7): every row and column has 0 or at least 2 suppressed
    # cells, but the cycles r1-r2 x c1-c2 and r3-r4 x c3-c4 are joined by r2c3 alone, which rows 1 and 2
    # less columns 1 and 2 give away (3). The audit finds it and suppresses r1c3 (50; the smallest free
    # cell of its row or column, the first row on a tie), which closes a cycle through it.
    df = pl.DataFrame({"k": ["r1", "r2", "r3", "r4"], "c1": [2, 7, 50, 50], "c2": [6, 8, 50, 50],
                       "c3": [50, 3, 2, 7], "c4": [50, 50, 6, 8]})  # fmt: skip
    cols = ["c1", "c2", "c3", "c4"]
    spec = TableSpec(name="t", df=df, count_columns=cols, value_columns_by_count={}, description="d",
                     key_columns=["k"], margins=[()], row_relations=[dict.fromkeys(cols, 1)])  # fmt: skip

    def relations(published: pl.DataFrame) -> tuple[dict[Cell, float | None], list[dict[Cell, float]]]:
        cells = {(c, i): _value(published[c][i]) for c in cols for i in range(4)}
        rels = [{(c, i): 1.0 for c in cols} for i in range(4)] + [
            {(c, i): 1.0 for i in range(4)} for c in cols
        ]
        return cells, rels

    # what the margins one at a time leave: r2c3 follows
    dumbbell = (
        df.with_columns(
            pl.when(pl.int_range(4) < 2).then(None).otherwise(pl.col(c)).alias(c) for c in ("c1", "c2")
        )
        .with_columns(pl.when(pl.int_range(4) >= 2).then(None).otherwise(pl.col(c)).alias(c) for c in ("c4",))
        .with_columns(pl.when(pl.int_range(4) >= 1).then(None).otherwise(pl.col("c3")).alias("c3"))
    )
    assert recoverable(*relations(dumbbell)) == [("c3", 1)]
    result = gate(spec, MIN_CELL)
    safe = require_approved(result)
    assert safe.rows() == [("r1", None, None, None, 50), ("r2", None, None, None, 50),
                           ("r3", 50, 50, None, None), ("r4", 50, 50, None, None)]  # fmt: skip
    assert [(e["row"], e["column"]) for e in result.log if e["reason"].endswith("(audit)")] == [
        ("k=r1", "c3")
    ]
    assert recoverable(*relations(safe)) == []


def test_a_group_too_large_for_the_audit_is_logged(monkeypatch):
    # the audit's limit lowered to 3 cells: the 4 x 4 table's 9 linked suppressed cells are not solved, the
    # one-per-margin rule's pattern stands (r2c3 follows) and the log says so
    import models.disclosure as D

    monkeypatch.setattr(D, "AUDIT_MAX_CELLS", 3)
    df = pl.DataFrame({"k": ["r1", "r2", "r3", "r4"], "c1": [2, 7, 50, 50], "c2": [6, 8, 50, 50],
                       "c3": [50, 3, 2, 7], "c4": [50, 50, 6, 8]})  # fmt: skip
    cols = ["c1", "c2", "c3", "c4"]
    spec = TableSpec(name="t", df=df, count_columns=cols, value_columns_by_count={}, description="d",
                     key_columns=["k"], margins=[()], row_relations=[dict.fromkeys(cols, 1)])  # fmt: skip
    result = gate(spec, MIN_CELL)
    assert result.n_suppressed == 9
    (entry,) = [e for e in result.log if e["action"] == "not audited"]
    assert entry["reason"].startswith("9 suppressed cells linked through the totals")


# ---- the sample flow ----------------------------------------------------------------------------------------


def _flow(before: int, removals: list[int], forms: tuple[int, ...] | None = None) -> pl.DataFrame:
    rows, n = [], before
    for i, r in enumerate(removals):
        rows.append({"rule": f"r{i + 1}", "description": f"rule {i + 1}", "units_before": n,
                     "units_removed": r, "units_after": n - r})  # fmt: skip
        n -= r
    df = pl.DataFrame(rows, schema={"rule": pl.String, "description": pl.String, "units_before": pl.Int64,
                                    "units_removed": pl.Int64, "units_after": pl.Int64})  # fmt: skip
    if forms is not None:
        assert sum(forms) == n
        df = df.with_columns(
            pl.when(pl.int_range(pl.len()) == pl.len() - 1).then(pl.lit(v)).otherwise(None).cast(pl.Int64).alias(c)
            for c, v in zip(FLOW_FORM_COLUMNS, forms, strict=True)
        )  # fmt: skip
    return df


def _flow_relations(
    rows: list[dict[str, object]],
) -> tuple[dict[Cell, float | None], list[dict[Cell, float]]]:
    """Cells of a published flow (one dict per step) and the relations its counts obey."""
    cells: dict[Cell, float | None] = {}
    rels: list[dict[Cell, float]] = []
    for i, r in enumerate(rows):
        for c in ("units_before", "units_removed", "units_after", *FLOW_FORM_COLUMNS):
            if c in r:
                cells[(c, i)] = _value(r[c])
        rels.append({("units_before", i): 1, ("units_removed", i): -1, ("units_after", i): -1})
        if i + 1 < len(rows):
            rels.append({("units_after", i): 1, ("units_before", i + 1): -1})
        forms = [c for c in FLOW_FORM_COLUMNS if c in r]
        if forms:
            rels.append({("units_after", i): 1, **{(c, i): -1 for c in forms}})
    return cells, rels


def _table_rows(df: pl.DataFrame, cells_of: pl.DataFrame) -> list[dict[str, object]]:
    """A gated table's rows as published (null = suppressed), with a form count only on the rows where the
    table offered to the gate (``cells_of``) has one."""
    return [
        {k: v for k, v in r.items() if k not in FLOW_FORM_COLUMNS or o[k] is not None}
        for r, o in zip(df.iter_rows(named=True), cells_of.iter_rows(named=True), strict=True)
    ]


def _export_flow(flow: pl.DataFrame) -> list[dict[str, object]] | None:
    """The sample flow as the report's gate exports it (None when the report refuses it: it also rejects a
    table with as many rows as the meetings it ends with, a rule the metadata cannot apply alone)."""
    results, _ = gate_all(ReportInputs(sample_flow=flow), None, MIN_CELL)
    if not results["sample_flow"].approved:
        return None
    return _table_rows(require_approved(results["sample_flow"]), sample_flow_spec(flow, MIN_CELL)[0].df)


def test_a_small_removal_is_not_the_difference_of_published_counts():
    # one rule removing 3 of 100: merging has no other rule to take; the 3 is suppressed and so is a second
    # cell of before - removed = after (the smaller, after), so 100 - 97 cannot be read
    meta = safe_sample_flow(_flow(100, [3]), MIN_CELL)
    assert [(r["units_before"], r["units_removed"], r["units_after"]) for r in meta] == [
        (100, SUPPRESSED, SUPPRESSED)
    ]
    # a small removal among others is merged with the next rule: no published row holds it
    meta = safe_sample_flow(_flow(100, [20, 3, 10]), MIN_CELL)
    assert [(r["rule"], r["units_before"], r["units_removed"], r["units_after"]) for r in meta] == [
        ("r1", 100, 20, 80), ("r2 + r3", 80, 13, 67),
    ]  # fmt: skip


def test_the_final_breakdown_does_not_give_a_suppressed_units_after_away():
    # 3 of 100 removed by the only rule, and the 97 left broken down by form (50, 30, 17, 0): suppressing
    # units_removed and units_after alone would leave 97 = 50 + 30 + 17 + 0 on the row, and 100 - 97 = 3.
    # The breakdown adds up to units_after, so one form (the smallest non-zero, 17) is suppressed with it.
    flow = _flow(100, [3], (50, 30, 17, 0))
    meta = safe_sample_flow(flow, MIN_CELL)
    (row,) = meta
    assert (row["units_before"], row["units_removed"], row["units_after"]) == (100, SUPPRESSED, SUPPRESSED)
    assert [row[c] for c in FLOW_FORM_COLUMNS] == [50, 30, SUPPRESSED, 0]
    for published in (meta, _export_flow(flow)):
        assert recoverable(*_flow_relations(published)) == []


def test_a_step_chained_to_a_suppressed_count_is_suppressed_with_it():
    # the gate's chaining on a hand-made spec: row 1's units_after (7) is the complement of its small removal;
    # row 2's units_before is the same number and goes with it
    flow = _flow(10, [3, 7])
    spec, _ = sample_flow_spec(flow, MIN_CELL)
    spec = dataclasses.replace(spec, df=flow)  # the rules unmerged, to exercise the chain
    safe = require_approved(gate(spec, MIN_CELL))
    assert safe.select("units_before", "units_removed", "units_after").rows() == [
        (10, None, None), (None, None, 0),
    ]  # fmt: skip
    assert recoverable(*_flow_relations(_table_rows(safe, flow))) == []


def test_the_summary_prints_the_flow_the_metadata_publishes(tmp_path, capsys):
    from assets.resources import RunPaths
    from pipelines.summary import print_run_summary

    work = tmp_path / "work"
    (work / "treatment").mkdir(parents=True)
    _flow(100, [3], (50, 30, 17, 0)).write_parquet(work / "treatment" / "sample_flow.parquet")
    print_run_summary(RunPaths(delivery_dir=tmp_path, work_dir=work), min_cell=MIN_CELL)
    out = capsys.readouterr().out.split("== Sample flow", 1)[1]
    numbers = {int(t) for t in out.replace("│", " ").replace("|", " ").split() if t.isdigit()}
    assert {100, 50, 30, 0} <= numbers and not {3, 97, 17} & numbers


@st.composite
def flows(draw):
    before = draw(st.integers(min_value=0, max_value=120))
    removals, left = [], before
    for _ in range(draw(st.integers(min_value=1, max_value=6))):
        r = draw(st.integers(min_value=0, max_value=min(left, 40)))
        removals.append(r)
        left -= r
    forms = None
    if draw(st.booleans()):
        cuts = sorted(draw(st.lists(st.integers(min_value=0, max_value=left), min_size=3, max_size=3)))
        forms = (cuts[0], cuts[1] - cuts[0], cuts[2] - cuts[1], left - cuts[2])
    return _flow(before, removals, forms)


@settings(max_examples=150, deadline=None, derandomize=True)
@given(flows())
def test_no_suppressed_flow_cell_follows_from_the_published_ones(flow):
    meta = or_withheld(safe_sample_flow, flow, MIN_CELL)
    export = _export_flow(flow)
    # the metadata refuses what the report refuses (the per-person-row rule too)
    assert (export is None) == (meta[0].keys() == {WITHHELD})
    if export is None:
        return
    # the metadata, the run summary (the same spec and gate) and the export publish the same cells
    assert [{k: v for k, v in r.items() if k != "step"} for r in meta] == [
        {k: SUPPRESSED if v is None else v for k, v in r.items()} for r in export
    ]
    cells, rels = _flow_relations(meta)
    merged = sample_flow_spec(flow, MIN_CELL)[0].df
    truth = {k: v for k, v in _flow_relations(_table_rows(merged, merged))[0].items() if v is not None}
    assert recoverable(cells, rels, truth) == []
    # and nothing small is published
    assert not [k for k, v in cells.items() if v is not None and 0 < v < MIN_CELL]


# ---- the digital share by month -----------------------------------------------------------------------------


@st.composite
def share_tables(draw):
    months = draw(st.integers(min_value=2, max_value=5))
    return _share_table(
        [tuple(draw(st.integers(min_value=0, max_value=30)) for _ in range(3)) for _ in range(months)]
    )


def _share_relations(
    rows: list[dict[str, object]], true: list[dict[str, object]]
) -> tuple[dict[Cell, float | None], list[dict[Cell, float]]]:
    counts = ("n_meetings", "n_digital", "n_in_person", "n_telephone", "n_video")
    cells = {(c, i): _value(r[c]) for i, r in enumerate(rows) for c in counts}
    rels: list[dict[Cell, float]] = []
    for i, r in enumerate(rows):
        rels.append({("n_meetings", i): 1, ("n_digital", i): -1, ("n_in_person", i): -1})
        rels.append({("n_digital", i): 1, ("n_telephone", i): -1, ("n_video", i): -1})
        # a published share times its meetings is its count
        for share, num in (
            ("digital_share", "n_digital"),
            ("share_telephone", "n_telephone"),
            ("share_video", "n_video"),
        ):
            s = _value(r.get(share))
            if s is not None:
                rels.append({(num, i): 1, ("n_meetings", i): -s})
    # every column's total over the months (the report's margin: the eligible meetings, ...) is known
    # wherever it is published, i.e. unless it is itself small
    for c in counts:
        total = sum(int(r[c]) for r in true)
        if not 0 < total < MIN_CELL:
            rels.append({(c, i): 1 for i in range(len(rows))})
    return cells, rels


def _share_table(months: list[tuple[int, int, int]]) -> pl.DataFrame:
    """A digital-share table by month from each month's (in person, telephone, video) meetings."""
    rows = []
    for m, (ip, tel, vid) in enumerate(months):
        n = ip + tel + vid
        rows.append({"calendar_month": f"2020-{m + 1:02d}", "n_meetings": n, "n_digital": tel + vid,
                     "digital_share": (tel + vid) / n if n else None, "n_in_person": ip, "n_telephone": tel,
                     "n_video": vid, "n_no_form": 0, "share_telephone": tel / n if n else None,
                     "share_video": vid / n if n else None})  # fmt: skip
    return pl.DataFrame(
        rows, schema_overrides={c: pl.Float64 for c in ("digital_share", "share_telephone", "share_video")}
    )


# Hand-made tables that leaked once (issue 19). The first is the one a random run found on 2026-12-07:
# months with 0, 1 and 5 meetings, one all video and one all in person. Month 2's one meeting was
# suppressed, and month 3's n (5) with it as the complement in the column of n; but month 3's n_digital (0)
# and n_in_person (5) were published, and n = n_digital + n_in_person was no relation of the spec, so
# month 3's n was 5, and month 2's the column total (6) less 0 less 5.
SHARE_LEAKS = [
    [(0, 0, 0), (0, 0, 1), (5, 0, 0)],
    [(0, 0, 0), (0, 1, 0), (5, 0, 0)],
    [(0, 0, 0), (1, 0, 0), (0, 2, 3)],
    [(1, 0, 0), (0, 0, 0), (0, 0, 5)],
]


# derandomize: the same examples on every run (CI must not depend on a draw); the tables a random draw
# found leaking are hand-made cases (SHARE_LEAKS)
@settings(max_examples=300, deadline=None, derandomize=True)
@given(share_tables())
def test_no_suppressed_share_cell_follows_from_the_published_ones(table):
    _check_share_table(table)


@pytest.mark.parametrize("months", SHARE_LEAKS)
def test_the_share_tables_that_leaked_give_no_suppressed_cell_away(months):
    _check_share_table(_share_table(months))


def _check_share_table(table: pl.DataFrame) -> None:
    # the metadata publishes the report's gated table (renamed to the file's columns); both have the sample
    # flow, which ends with the table's meetings (its unit count for the per-person-row rule; its final count
    # the table's total of n)
    flow = _flow(int(table["n_meetings"].sum()), [0])
    meta = or_withheld(safe_share, table, ["calendar_month"], MIN_CELL, flow)
    results, _ = gate_all(ReportInputs(share_month=table, sample_flow=flow), None, MIN_CELL)
    assert results["digital_share_by_month"].approved == (meta[0].keys() != {WITHHELD})
    if not results["digital_share_by_month"].approved:
        return
    export = require_approved(results["digital_share_by_month"])
    assert [r["n_meetings"] for r in meta] == [SUPPRESSED if v is None else v for v in export["n"]]
    assert [r["n_telephone"] for r in meta] == [SUPPRESSED if v is None else v for v in export["n_telephone"]]
    cells, rels = _share_relations(meta, table.to_dicts())
    truth = {(c, i): float(r[c]) for i, r in enumerate(table.to_dicts()) for c, _ in cells if (c, i) in cells}
    assert recoverable(cells, rels, truth) == []
    assert not [k for k, v in cells.items() if v is not None and 0 < v < MIN_CELL]


def test_the_metadata_applies_the_reports_per_person_row_rule():
    # three months and three meetings: the report refuses the table (as many rows as the meetings the
    # sample flow ends with, its unit count); the metadata, with the same spec and the same count, too
    table = _share_table([(0, 0, 1), (0, 0, 1), (1, 0, 0)])
    results, _ = gate_all(ReportInputs(share_month=table, sample_flow=_flow(3, [0])), None, MIN_CELL)
    assert not results["digital_share_by_month"].approved
    with pytest.raises(DisclosureError, match="3 rows, as many as the smallest unit count"):
        safe_share(table, ["calendar_month"], MIN_CELL)
    (row,) = or_withheld(safe_share, table, ["calendar_month"], MIN_CELL)
    assert markdown_table([row], ["n_meetings"]).startswith("withheld by disclosure control: table")
    # a flow of three steps that ends with 2 meetings: refused by both
    flow = _flow(40, [20, 18, 0])
    assert _export_flow(flow) is None
    with pytest.raises(DisclosureError, match="as many as the smallest unit count"):
        safe_sample_flow(flow, MIN_CELL)
    # one meeting more than rows: both publish
    table = _share_table([(0, 0, 2), (0, 0, 1), (1, 0, 0)])
    assert [r["n_meetings"] for r in safe_share(table, ["calendar_month"], MIN_CELL)] == [SUPPRESSED] * 3
    assert _export_flow(_flow(40, [20, 16, 0])) is not None
    assert safe_sample_flow(_flow(40, [20, 16, 0]), MIN_CELL)[-1]["units_after"] == SUPPRESSED


# One month: its row is the sample flow's final breakdown (in person, telephone, video; the flow's
# units_after is its n), which the flow publishes with its own complements. Each case leaked before the
# one-month rule: (5, 1, 5) hid the telephone meeting with video in the table (n_digital 6 shown) and with
# in person in the flow (video 5 shown); (5, 1, 1) showed n (7) and hid n_in_person, which the flow shows.
ONE_MONTH = [(5, 1, 5), (5, 1, 1), (40, 3, 57), (20, 3, 30), (0, 1, 5), (3, 0, 40), (60, 2, 2), (8, 8, 8)]


@pytest.mark.parametrize("removed", [0, 20])
@pytest.mark.parametrize("month", ONE_MONTH)
def test_a_one_month_table_and_the_flow_together_give_no_suppressed_cell_away(month, removed):
    table = _share_table([month])
    ip, tel, vid = month
    flow = _flow(ip + tel + vid + removed, [removed], (ip, tel, vid, 0))
    share = safe_share(table, ["calendar_month"], MIN_CELL)
    (final,) = safe_sample_flow(flow, MIN_CELL)

    def published(
        share_rows: list[dict[str, object]],
    ) -> tuple[dict[Cell, float | None], list[dict[Cell, float]]]:
        # both tables' cells, the share table's row relations (no totals: the flow is its total), the
        # flow's, and the flow's final row as the month's (no code lacks a form)
        cells, rels = _share_relations(share_rows, table.to_dicts())
        rels = [r for r in rels if len({c for c, _ in r}) > 1]
        flow_cells, flow_rels = _flow_relations([final])
        for a, b in (("units_after", "n_meetings"), ("units_in_person", "n_in_person"),
                     ("units_telephone", "n_telephone"), ("units_video", "n_video")):  # fmt: skip
            rels.append({(a, 0): 1, (b, 0): -1})
        return {**cells, **flow_cells}, rels + flow_rels

    truth = {
        (c, 0): float(table[c][0])
        for c in ("n_meetings", "n_digital", "n_in_person", "n_telephone", "n_video")
    }
    truth.update({("units_before", 0): ip + tel + vid + removed, ("units_removed", 0): removed,
                  ("units_after", 0): ip + tel + vid, ("units_in_person", 0): ip, ("units_telephone", 0): tel,
                  ("units_video", 0): vid, ("units_no_form", 0): 0})  # fmt: skip
    # what the flow alone gives away of the month's cells is published there; what the share table adds
    # must give no further suppressed cell away
    alone = recoverable(*published([{k: SUPPRESSED for k in share[0]}]), truth)
    assert not [c for c in alone if c[0].startswith("units_")]
    cells, rels = published(share)
    assert set(recoverable(cells, rels, truth)) <= set(alone)
    assert not [k for k, v in cells.items() if v is not None and 0 < v < MIN_CELL]


# The share table's column totals over the months are the sample flow's final step: its n adds up to the
# flow's units_after, its forms to the flow's forms (its two-arm in-person count to units_in_person when no
# code lacks a form). A one-rule flow removing 3 hides units_after (the complement of its removal); a share
# table publishing every month's n gave it back (97 = 40 + 30 + 27), and 100 - 97 the 3. Each case: the
# months' (in person, telephone, video) meetings, the flow's units_before and whether it breaks its final
# step down by form.
FLOW_AND_SHARE = [
    ([(20, 10, 10), (15, 5, 10), (17, 5, 5)], 100, False),
    ([(20, 10, 10), (15, 5, 10), (17, 5, 5)], 100, True),
    ([(30, 0, 20), (40, 0, 7)], 100, True),
    ([(30, 20, 0), (40, 7, 0)], 99, False),
    ([(6, 6, 6), (6, 6, 6)], 38, True),
]


def _joint_relations(
    share_rows: list[dict[str, object]], flow_rows: list[dict[str, object]], no_form: bool
) -> tuple[dict[Cell, float | None], list[dict[Cell, float]]]:
    """Both tables' published cells, each table's own relations (the share table's without its column
    totals: the flow holds them) and the cross relations: each linked column's sum over the months is the
    flow's final cell."""
    n_months = len(share_rows)
    cells, rels = _share_relations(share_rows, [{c: 0 for c in r} for r in share_rows])
    rels = [r for r in rels if len({c for c, _ in r}) > 1]
    flow_cells, flow_rels = _flow_relations(flow_rows)
    last = len(flow_rows) - 1
    links = [("n_meetings", "units_after")]
    if ("units_telephone", last) in flow_cells:
        links += [("n_telephone", "units_telephone"), ("n_video", "units_video")]
        if no_form:
            links.append(("n_in_person", "units_in_person"))
    for share_col, flow_col in links:
        rels.append({**{(share_col, i): 1.0 for i in range(n_months)}, (flow_col, last): -1.0})
    return {**cells, **flow_cells}, rels + flow_rels


@pytest.mark.parametrize(("months", "before", "forms"), FLOW_AND_SHARE)
def test_the_share_table_and_the_flow_together_give_no_suppressed_cell_away(months, before, forms):
    table = _share_table(months)
    ip, tel, vid = (sum(m[j] for m in months) for j in range(3))
    after = ip + tel + vid
    flow = _flow(before, [before - after], (ip, tel, vid, 0) if forms else None)
    share = safe_share(table, ["calendar_month"], MIN_CELL, flow)
    meta_flow = safe_sample_flow(flow, MIN_CELL)
    # the flow hides its units_after (the complement of its small removal)
    assert meta_flow[-1]["units_after"] == SUPPRESSED
    # the report publishes the same cells as the metadata
    results, _ = gate_all(ReportInputs(share_month=table, sample_flow=flow), None, MIN_CELL)
    export = require_approved(results["digital_share_by_month"])
    assert [r["n_meetings"] for r in share] == [SUPPRESSED if v is None else v for v in export["n"]]
    assert [r["n_video"] for r in share] == [SUPPRESSED if v is None else v for v in export["n_video"]]
    assert _export_flow(flow) == [
        {k: None if v == SUPPRESSED else v for k, v in r.items() if k != "step"} for r in meta_flow
    ]
    cells, rels = _joint_relations(share, meta_flow, no_form=True)
    truth = {(c, i): float(r[c]) for i, r in enumerate(table.to_dicts()) for c in
             ("n_meetings", "n_digital", "n_in_person", "n_telephone", "n_video")}  # fmt: skip
    truth.update(
        {("units_before", 0): before, ("units_removed", 0): before - after, ("units_after", 0): after}
    )
    if forms:
        truth.update({("units_in_person", 0): ip, ("units_telephone", 0): tel, ("units_video", 0): vid,
                      ("units_no_form", 0): 0})  # fmt: skip
    assert recoverable(cells, rels, truth) == []
    assert not [k for k, v in cells.items() if v is not None and 0 < v < MIN_CELL]


@settings(max_examples=150, deadline=None, derandomize=True)
@given(share_tables(), st.integers(min_value=0, max_value=12), st.booleans())
def test_no_suppressed_cell_of_the_flow_or_the_share_table_follows_from_both(table, removed, forms):
    # the share table's months and a one-rule flow ending with them (removing 0 to 12; with or without its
    # final breakdown by form), both as the metadata publishes them and the report exports them
    months = table.to_dicts()
    ip, tel, vid = (sum(int(r[c]) for r in months) for c in ("n_in_person", "n_telephone", "n_video"))
    after = ip + tel + vid
    flow = _flow(after + removed, [removed], (ip, tel, vid, 0) if forms else None)
    share = or_withheld(safe_share, table, ["calendar_month"], MIN_CELL, flow)
    meta_flow = or_withheld(safe_sample_flow, flow, MIN_CELL)
    results, _ = gate_all(ReportInputs(share_month=table, sample_flow=flow), None, MIN_CELL)
    assert results["digital_share_by_month"].approved == (share[0].keys() != {WITHHELD})
    assert results["sample_flow"].approved == (meta_flow[0].keys() != {WITHHELD})
    if WITHHELD in share[0] or WITHHELD in meta_flow[0]:
        return
    export = require_approved(results["digital_share_by_month"])
    assert [r["n_meetings"] for r in share] == [SUPPRESSED if v is None else v for v in export["n"]]
    assert [r["n_in_person"] for r in share] == [
        SUPPRESSED if v is None else v for v in export["n_in_person"]
    ]
    cells, rels = _joint_relations(share, meta_flow, no_form=True)
    truth = {(c, i): float(r[c]) for i, r in enumerate(months) for c in
             ("n_meetings", "n_digital", "n_in_person", "n_telephone", "n_video")}  # fmt: skip
    truth.update({("units_before", 0): after + removed, ("units_removed", 0): removed, ("units_after", 0): after,
                  ("units_in_person", 0): ip, ("units_telephone", 0): tel, ("units_video", 0): vid,
                  ("units_no_form", 0): 0})  # fmt: skip
    assert recoverable(cells, rels, truth) == []
    assert not [k for k, v in cells.items() if v is not None and 0 < v < MIN_CELL]


# ---- the outcome means and the reasons outcomes are missing ------------------------------------------------


@st.composite
def outcome_tables(draw):
    means, reasons = [], []
    for j in range(draw(st.integers(min_value=1, max_value=4))):
        binary = draw(st.booleans())
        n1, n0 = draw(st.integers(min_value=0, max_value=40)), draw(st.integers(min_value=0, max_value=40))
        ones1 = draw(st.integers(min_value=0, max_value=n1)) if binary else None
        ones0 = draw(st.integers(min_value=0, max_value=n0)) if binary else None
        parts = [draw(st.integers(min_value=0, max_value=12)) for _ in MISSING_REASONS]
        name = f"y_exit_{j}w" if binary else f"weeks_{j}w"
        m1 = (ones1 / n1 if binary else 3.5) if n1 else None
        m0 = (ones0 / n0 if binary else 2.5) if n0 else None
        n = n1 + n0
        m = ((ones1 + ones0) / n if binary else (3.5 * n1 + 2.5 * n0) / n) if n else None
        means.append({"outcome": name, "n_nonmissing": n, "n_missing": sum(parts), "mean": m, "n_digital_1": n1,
                      "mean_digital_1": m1, "n_digital_0": n0, "mean_digital_0": m0})  # fmt: skip
        reasons.append({"outcome": name, **dict(zip(MISSING_REASONS, parts, strict=True))})
    df = pl.DataFrame(
        means, schema_overrides={c: pl.Float64 for c in ("mean", "mean_digital_1", "mean_digital_0")}
    )
    return df, reasons


@settings(max_examples=150, deadline=None, derandomize=True)
@given(outcome_tables())
def test_no_suppressed_outcome_count_follows_from_the_published_ones(tables):
    means, reasons = tables
    binary = {o for o in means["outcome"].to_list() if o.startswith("y_exit_")}
    safe = safe_outcome_means(means, binary, MIN_CELL)
    # as the outcome stage publishes both (assets/outcomes/defs.py)
    why = safe_missing_reasons(
        reasons, MIN_CELL, [r["outcome"] for r in safe if r["n_missing"] == SUPPRESSED]
    )
    cells: dict[Cell, float | None] = {}
    rels: list[dict[Cell, float]] = []
    small: list[Cell] = []
    for i, (r, true, w) in enumerate(zip(safe, means.iter_rows(named=True), why, strict=True)):
        for c in ("n_nonmissing", "n_missing", "n_digital_1", "n_digital_0"):
            cells[(c, i)] = _value(r[c])
        cells.update({(c, i): _value(w[c]) for c in MISSING_REASONS})
        if not 0 < true["n_nonmissing"] + true["n_missing"] < MIN_CELL:
            rels.append({("n_nonmissing", i): 1, ("n_missing", i): 1})  # the eligible meetings are published
        rels.append({("n_nonmissing", i): 1, ("n_digital_1", i): -1, ("n_digital_0", i): -1})
        rels.append({("n_missing", i): 1, **{(c, i): -1 for c in MISSING_REASONS}})
        if r["outcome"] in binary:
            # the 1s behind each mean are never published: unknowns whose small values must stay hidden
            for s, n in (("", "n_nonmissing"), ("_digital_1", "n_digital_1"), ("_digital_0", "n_digital_0")):
                cells[(f"ones{s}", i)] = None
                ones = round((true[f"mean{s}"] or 0) * true[n])
                if 0 < ones < MIN_CELL or 0 < true[n] - ones < MIN_CELL:
                    small.append((f"ones{s}", i))
                m = _value(r[f"mean{s}"])
                if m is not None:
                    rels.append({(f"ones{s}", i): 1, (n, i): -m})
            rels.append({("ones", i): 1, ("ones_digital_1", i): -1, ("ones_digital_0", i): -1})
    truth = {(c, i): float(r[c]) for i, r in enumerate(means.to_dicts()) for c in
             ("n_nonmissing", "n_missing", "n_digital_1", "n_digital_0")}  # fmt: skip
    truth.update({(c, i): float(r[c]) for i, r in enumerate(reasons) for c in MISSING_REASONS})
    found = recoverable(cells, rels, truth)
    # a published 0/1 mean and its count give its 1s: fine unless they are few (or the 0s are)
    assert [k for k in found if not k[0].startswith("ones")] == []
    assert [k for k in small if k in found] == []
    assert not [k for k, v in cells.items() if v is not None and 0 < v < MIN_CELL]


def test_the_flow_spec_is_the_contracts_structure():
    import pytest

    from data_contracts import tables as T
    from models.disclosure import contract_spec

    spec, _ = sample_flow_spec(_flow(100, [20, 10], (50, 20, 0, 0)), MIN_CELL)
    # the difference and the chaining come from the contract's Disclosure, the breakdown from the flow
    assert spec.row_margins == [
        ("units_before", "units_removed", "units_after"),
        ("units_after", *FLOW_FORM_COLUMNS),
    ]
    assert list(spec.chained) == [("units_after", "units_before")]
    assert T.SAMPLE_FLOW.disclosure is not None and T.SAMPLE_FLOW.disclosure.chained == (
        ("units_after", "units_before"),
    )
    with pytest.raises(ValueError, match="meetings.*declares no disclosure"):
        contract_spec(T.MEETINGS, pl.DataFrame({"a": [1]}), description="d")
