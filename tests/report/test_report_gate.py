"""The disclosure gate on hand-made tables: small cells, revealing totals, order statistics, keys, microdata."""

import ast
import dataclasses
from pathlib import Path

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from models.disclosure import (
    DisclosureError,
    TableSpec,
    collapse_flow,
    gate,
    linked_suppression,
    looks_like_cpr,
    mask,
    require_approved,
)

REPO = Path(__file__).resolve().parents[2]


def _spec(df, counts=("n",), values=None, keys=("group",), **kw):
    return TableSpec(
        name="t",
        df=df,
        count_columns=list(counts),
        value_columns_by_count=values if values is not None else {"n": ["share"]},
        description="test table",
        key_columns=list(keys),
        **kw,
    )


def _supp(r, col):
    return r.suppressed[col]


def test_cell_of_four_is_suppressed_with_its_share_and_a_complement():
    df = pl.DataFrame({"group": ["a", "b", "c", "d"], "n": [120, 4, 50, 60], "share": [0.5, 0.25, 0.4, 0.3]})
    r = gate(_spec(df), min_cell=5)
    assert r.approved
    t = r.table
    assert t["n"][1] is None and t["share"][1] is None
    # the column total is known elsewhere, so one more cell (the next smallest, 50) goes too
    assert t["n"][2] is None and t["share"][2] is None
    assert t["n"][0] == 120 and t["n"][3] == 60
    reasons = {(e["row"], e["column"]): e["reason"] for e in r.log}
    assert "primary" in reasons[("group=b", "n")]
    assert "secondary" in reasons[("group=c", "n")]
    # the log never contains the suppressed value
    assert all("4" not in e["reason"] for e in r.log if e["row"] == "group=b")


def test_total_that_reveals_a_suppressed_cell_in_a_two_way_table():
    # municipality x month; one small cell; row and column totals are published elsewhere
    df = pl.DataFrame(
        {
            "kom": ["101", "101", "101", "147", "147", "147", "461", "461", "461"],
            "month": ["05", "06", "07"] * 3,
            "n": [100, 3, 80, 90, 70, 60, 50, 40, 30],
        }
    )
    spec = TableSpec(
        "km", df, ["n"], {}, "two-way", key_columns=["kom", "month"], margins=[("kom",), ("month",)]
    )
    r = gate(spec, min_cell=5)
    sup = _supp(r, "n")
    assert sup[1]
    # no margin (municipality or month) is left with exactly one suppressed cell
    d = df.with_columns(pl.Series("s", sup))
    for key in ("kom", "month"):
        counts = d.group_by(key).agg(pl.col("s").sum())["s"].to_list()
        assert 1 not in counts, (key, counts)
    # nothing published is below the minimum
    assert all(v is None or v >= 5 for v in r.table["n"].to_list())


def test_row_margin_treated_and_control():
    df = pl.DataFrame({"outcome": ["y"], "n": [100], "n_treated": [97], "n_control": [3], "estimate": [0.1]})
    spec = TableSpec(
        "e",
        df,
        ["n", "n_treated", "n_control"],
        {"n": ["estimate"], "n_treated": ["estimate"], "n_control": ["estimate"]},
        "est",
        key_columns=["outcome"],
        margins=[],
        row_margins=[("n_treated", "n_control")],
    )
    r = gate(spec, min_cell=5)
    assert r.table["n_control"][0] is None and r.table["n_treated"][0] is None
    assert r.table["estimate"][0] is None
    assert r.table["n"][0] == 100


def test_median_of_three_persons_is_suppressed():
    df = pl.DataFrame(
        {"group": ["a", "b"], "n": [3, 40], "median_weeks": [12.0, 20.0], "max_weeks": [30.0, 52.0]}
    )
    r = gate(_spec(df, values={"n": ["median_weeks", "max_weeks"]}), min_cell=5)
    assert r.approved
    assert r.table["median_weeks"][0] is None and r.table["max_weeks"][0] is None
    # the other group is the complement of the total: suppressed too
    assert r.table["median_weeks"][1] is None


def test_median_without_a_count_is_rejected():
    df = pl.DataFrame({"group": ["a", "b"], "median": [12.0, 20.0]})
    r = gate(TableSpec("m", df, [], {}, "medians", key_columns=["group", "median"]), min_cell=5)
    assert not r.approved
    assert "statistic" in r.reason
    with pytest.raises(DisclosureError):
        require_approved(r)


@pytest.mark.parametrize("col", ["pnr", "PNR", "cpr", "person_id", "id", "kontaktnummer", "cprnr"])
def test_key_columns_are_rejected(col):
    df = pl.DataFrame({col: ["x1", "x2"], "group": ["a", "b"], "n": [10, 20], "share": [0.1, 0.2]})
    r = gate(_spec(df, keys=("group", col)), min_cell=5)
    assert not r.approved and "key" in r.reason
    assert r.log[-1]["action"] == "rejected"


def test_cpr_like_values_are_rejected():
    df = pl.DataFrame({"group": ["0101901234", "b"], "n": [10, 20], "share": [0.1, 0.2]})
    r = gate(_spec(df), min_cell=5)
    assert not r.approved and "CPR" in r.reason
    assert looks_like_cpr("010190-1234") and not looks_like_cpr("2020-05-01")
    assert "1234" not in mask("0101901234")


def test_per_person_residuals_are_rejected_by_name():
    df = pl.DataFrame({"group": ["a", "b"], "n": [10, 20], "residual": [0.1, -0.2]})
    r = gate(_spec(df, values={"n": ["residual"]}), min_cell=5)
    assert not r.approved and "per-person" in r.reason
    for col in ("psi", "psi_a", "prediction", "ml_m", "score", "fitted"):
        df2 = pl.DataFrame({"group": ["a", "b"], "n": [10, 20], col: [0.1, -0.2]})
        assert not gate(_spec(df2, values={"n": [col]}), min_cell=5).approved, col


def test_per_person_table_by_row_count_is_rejected():
    n_persons = 50
    df = pl.DataFrame(
        {"group": [f"g{i}" for i in range(n_persons)], "n": [10] * n_persons, "share": [0.5] * n_persons}
    )
    r = gate(_spec(df), min_cell=5, n_units=[n_persons])
    assert not r.approved and "per-person" in r.reason
    assert gate(_spec(df.head(10)), min_cell=5, n_units=[n_persons]).approved
    # stacked blocks (one per outcome): the rule applies within a block
    blocks = pl.concat([df.head(30).with_columns(pl.lit(o).alias("outcome")) for o in ("y1", "y2")])
    stacked = TableSpec(
        "b",
        blocks,
        ["n"],
        {"n": ["share"]},
        "stacked",
        key_columns=["group", "outcome"],
        margins=[("outcome",)],
        rows_per=["outcome"],
    )
    assert gate(stacked, min_cell=5, n_units=[n_persons]).approved
    assert not gate(dataclasses.replace(stacked, rows_per=[]), min_cell=5, n_units=[n_persons]).approved


def test_score_as_a_label_is_fine():
    df = pl.DataFrame({"score": ["ATTE", "ATE"], "n": [100, 100], "estimate": [0.1, 0.2]})
    r = gate(
        TableSpec("e", df, ["n"], {"n": ["estimate"]}, "e", key_columns=["score"], margins=[]), min_cell=5
    )
    assert r.approved


def test_share_without_identifiable_count_is_not_exported():
    df = pl.DataFrame({"month": ["2020-05"], "share_digital": [0.9]})
    r = gate(TableSpec("s", df, [], {"n": ["share_digital"]}, "share", key_columns=["month"]), min_cell=5)
    assert not r.approved
    r2 = gate(TableSpec("s", df, [], {}, "share", key_columns=["month"]), min_cell=5)
    assert not r2.approved and "neither" in r2.reason


def test_undeclared_count_column_is_rejected():
    df = pl.DataFrame({"group": ["a"], "n": [10], "n_extra": [2], "share": [0.2]})
    r = gate(_spec(df), min_cell=5)
    assert not r.approved and "n_extra" in r.reason


def test_min_cell_is_configurable():
    df = pl.DataFrame({"group": ["a", "b", "c"], "n": [4, 40, 50], "share": [0.5, 0.5, 0.5]})
    assert gate(_spec(df), min_cell=3).table["n"].null_count() == 0
    assert gate(_spec(df), min_cell=5).table["n"].null_count() == 2


def test_collapse_flow_merges_small_removals():
    flow = pl.DataFrame(
        {
            "rule": ["a", "b", "c", "d"],
            "description": ["A", "B", "C", "D"],
            "units_before": [1000, 900, 897, 800],
            "units_removed": [100, 3, 97, 2],
            "units_after": [900, 897, 800, 798],
        }
    )
    out, log = collapse_flow(flow, 5)
    assert out["units_removed"].to_list() == [100, 102]
    assert out["rule"].to_list() == ["a", "b + c + d"]
    assert out["units_before"][0] == 1000 and out["units_after"][-1] == 798
    assert {e["action"] for e in log} == {"merged"}


def test_linked_suppression_hides_details_of_a_suppressed_total():
    month = pl.DataFrame({"month": ["05", "06", "07"], "n": [100, 3, 80]})
    r = gate(TableSpec("m", month, ["n"], {}, "m", key_columns=["month"]), min_cell=5)
    detail = pl.DataFrame(
        {"kom": ["1", "2", "1", "2"], "month": ["05", "05", "06", "06"], "n": [50, 50, 1, 2]}
    )
    forced = linked_suppression(r, detail, ["month"], ["n"])
    assert forced["n"] == [False, False, True, True]


def test_models_never_import_dagster():
    for p in (REPO / "models").glob("*.py"):
        tree = ast.parse(p.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            assert not any(n.split(".")[0] == "dagster" for n in names), p.name


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.lists(st.integers(min_value=0, max_value=40), min_size=3, max_size=3), min_size=2, max_size=6)
)
def test_no_margin_has_exactly_one_suppressed_cell(grid):
    rows = [(str(i), str(j), v) for i, r in enumerate(grid) for j, v in enumerate(r)]
    df = pl.DataFrame(rows, schema=["r", "c", "n"], orient="row")
    spec = TableSpec("g", df, ["n"], {}, "grid", key_columns=["r", "c"], margins=[("r",), ("c",)])
    res = gate(spec, min_cell=5)
    assert res.approved
    sup = res.suppressed["n"]
    d = df.with_columns(pl.Series("s", sup))
    for key in ("r", "c"):
        assert 1 not in d.group_by(key).agg(pl.col("s").sum())["s"].to_list()
    for v, s in zip(df["n"].to_list(), sup, strict=True):
        if 0 < v < 5:
            assert s
