"""One disclosure path: small-cell rules are written once, in ``models/disclosure.py``.

The code that publishes (``assets``, ``models``, ``pipelines``) is read with ``ast``: an ordering comparison
with ``min_cell`` (or a count compared with the literal 5) outside ``models/disclosure.py`` is a
hand-written disclosure rule beside the gate, and fails this test naming the file, the function and the
expression. The functions in :data:`KNOWN_HAND_WRITTEN` still hold such rules; the list can only shrink
(a listed function that no longer needs its entry fails too, so the entry is removed with the fix).
"""

from __future__ import annotations

import ast
import textwrap
from pathlib import Path

import polars as pl
import pytest

from models import disclosure as D

REPO = Path(__file__).resolve().parents[1]
PUBLISHING = ("assets", "models", "pipelines")
GATE_MODULE = "models/disclosure.py"

# Functions (file::qualified name) that still compare counts with min_cell by hand, and why they are left.
# Empty since the metadata's sample flow, shares and outcome means and the modality design's estimability
# rule went onto the gate (issue 19, point 4); a new entry needs a reason the gate cannot serve.
KNOWN_HAND_WRITTEN: dict[str, str] = {}


def _mentions_min_cell(node: ast.AST, aliases: frozenset[str] = frozenset()) -> bool:
    for n in ast.walk(node):
        name = n.id if isinstance(n, ast.Name) else n.attr if isinstance(n, ast.Attribute) else None
        if name is not None and ("min_cell" in name.lower() or name in aliases):
            return True
    return False


def _aliases(tree: ast.AST) -> frozenset[str]:
    """Names a module binds to the minimum (``mc = cfg.disclosure.min_cell``): a comparison with one of them
    (or a parameter of the same name) is a comparison with ``min_cell``."""
    return frozenset(
        t.id
        for n in ast.walk(tree)
        if isinstance(n, ast.Assign) and _mentions_min_cell(n.value)
        for t in n.targets
        if isinstance(t, ast.Name)
    )


def _count_like(node: ast.AST) -> bool:
    name = None
    if isinstance(node, ast.Name):
        name = node.id
    elif isinstance(node, ast.Attribute):
        name = node.attr
    elif isinstance(node, ast.Subscript) and isinstance(node.slice, ast.Constant):
        name = str(node.slice.value)
    return name is not None and bool(D.COUNT_NAME_RE.match(name))


def hand_written_rules(root: Path) -> dict[str, list[str]]:
    """``file::function`` -> the small-cell comparisons written there (``file:line: expression``)."""
    found: dict[str, list[str]] = {}
    for top in PUBLISHING:
        for path in sorted((root / top).rglob("*.py")):
            rel = path.relative_to(root).as_posix()
            if rel == GATE_MODULE:
                continue
            tree = ast.parse(path.read_text(encoding="utf-8"), filename=rel)
            aliases = _aliases(tree)

            def visit(node: ast.AST, scope: str, rel: str = rel, aliases: frozenset[str] = aliases) -> None:
                for child in ast.iter_child_nodes(node):
                    inner = scope
                    if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                        inner = f"{scope}.{child.name}" if scope else child.name
                    if isinstance(child, ast.Compare) and any(
                        isinstance(op, (ast.Lt, ast.LtE, ast.Gt, ast.GtE)) for op in child.ops
                    ):
                        operands = [child.left, *child.comparators]
                        five = any(isinstance(o, ast.Constant) and o.value == 5 for o in operands)
                        if any(_mentions_min_cell(o, aliases) for o in operands) or (
                            five and any(map(_count_like, operands))
                        ):
                            key = f"{rel}::{inner or '<module>'}"
                            found.setdefault(key, []).append(f"{rel}:{child.lineno}: {ast.unparse(child)}")
                    visit(child, inner)

            visit(tree, "")
    return found


def test_no_new_hand_written_small_cell_rule():
    found = hand_written_rules(REPO)
    new = {k: v for k, v in found.items() if k not in KNOWN_HAND_WRITTEN}
    assert not new, (
        "small-cell rules written beside models/disclosure.py (use its gate, gate_breakdown or is_small):\n"
        + "\n".join(line for v in new.values() for line in v)
    )


def test_the_list_of_remaining_hand_written_rules_only_shrinks():
    gone = sorted(set(KNOWN_HAND_WRITTEN) - set(hand_written_rules(REPO)))
    assert not gone, f"no longer hand-written, remove from KNOWN_HAND_WRITTEN: {gone}"


def test_the_scan_finds_each_form_of_a_hand_written_rule(tmp_path):
    files = {
        "assets/x.py": """
            def publish(n, min_cell):
                return n if n >= min_cell else "suppressed"

            class Table:
                def rows(self, r):
                    return r["n_meetings"] < 5
            """,
        "assets/w.py": """
            def wrapper(cfg, n_first):
                mc = cfg.disclosure.min_cell
                return _meta(n_first, mc)

            def _meta(n_first, mc):
                return n_first if n_first >= mc else "suppressed"
            """,
        "models/y.py": """
            import polars as pl

            def flag(spec):
                return pl.col("n") < spec.min_cell
            """,
        "pipelines/z.py": """
            LIMIT = 5

            def fine(n_reps, min_cell):
                # not a size rule: equality, a non-count compared with 5, a config check
                return min_cell is None or n_reps == 5 or len("abc") < 5
            """,
        "models/disclosure.py": "def is_small(n, min_cell):\n    return 0 < n < min_cell\n",
    }
    for rel, text in files.items():
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(textwrap.dedent(text))
    assert hand_written_rules(tmp_path) == {
        "assets/w.py::_meta": ["assets/w.py:7: n_first >= mc"],
        "assets/x.py::publish": ["assets/x.py:3: n >= min_cell"],
        "assets/x.py::Table.rows": ["assets/x.py:7: r['n_meetings'] < 5"],
        "models/y.py::flag": ["models/y.py:5: pl.col('n') < spec.min_cell"],
    }


# ---- the gate's own rules (hand-worked) ---------------------------------------------------------------


def test_is_small_is_the_primary_rule():
    assert [D.is_small(n, 5) for n in (0, 1, 4, 5, 6)] == [False, True, True, False, False]
    assert D.is_small(0, 5, allow_zero=False) and not D.is_small(None, 5)
    assert D.is_small(9, 10) and not D.is_small(10, 10)


def _breakdown(rows: list[tuple[int, int, int]]) -> list[tuple]:
    df = pl.DataFrame(
        {
            "outcome": [f"y{i}" for i in range(len(rows))],
            **{c: [r[j] for r in rows] for j, c in enumerate("abc")},
        }
    )
    res = D.gate_breakdown(df, ["a", "b", "c"], 5, name="t", description="d", key_columns=["outcome"])
    return [tuple(r[1:]) for r in D.require_approved(res).iter_rows()]


def test_gate_breakdown_suppresses_a_lone_small_part_with_its_smallest_nonzero_complement():
    assert _breakdown(
        [
            (40, 3, 12),  # 3 < 5 and the smallest other part, 12 (else 3 = total - 40 - 12)
            (40, 3, 0),  # the zero hides nothing: the complement is 40
            (3, 4, 40),  # two small parts hide each other
            (3, 0, 0),  # only zeros left: one is taken, so the 3 is not total minus published parts
            (0, 0, 0),
            (5, 6, 7),  # every part publishable
        ]
    ) == [
        (40, None, None),
        (None, None, 0),
        (None, None, 40),
        (None, None, 0),
        (0, 0, 0),
        (5, 6, 7),
    ]


def test_gate_breakdown_does_not_add_up_rows():
    # one small cell per column, in different rows: rows are separate breakdowns, columns are not totals
    assert _breakdown([(3, 11, 10), (10, 10, 10)]) == [(None, 11, None), (10, 10, 10)]


def test_the_gate_takes_a_nonzero_complement_over_a_zero():
    spec = D.TableSpec(
        name="t",
        df=pl.DataFrame({"g": ["x"], "n_a": [3], "n_b": [0], "n_c": [12]}),
        count_columns=["n_a", "n_b", "n_c"],
        value_columns_by_count={},
        description="d",
        key_columns=["g"],
        margins=[],
        row_margins=[("n_a", "n_b", "n_c")],
    )
    assert D.require_approved(D.gate(spec, 5)).row(0) == ("x", None, 0, None)


def test_safe_missing_reasons_publishes_through_the_gate(monkeypatch):
    from assets.analysis.summaries import SUPPRESSED, safe_missing_reasons

    rows = [{"outcome": "y", "dream_weeks": 40, "employment_unknown": 3, "censoring": 12}]
    assert safe_missing_reasons(rows, 5) == [
        {"outcome": "y", "dream_weeks": 40, "employment_unknown": SUPPRESSED, "censoring": SUPPRESSED}
    ]
    # the gate is the path: when it refuses the table, nothing is published
    monkeypatch.setattr(D, "gate", lambda spec, min_cell: D.rejected(spec.name, spec.description, "refused"))
    with pytest.raises(D.DisclosureError, match="missing_by_reason"):
        safe_missing_reasons(rows, 5)


def test_metadata_counts_by_category_pass_the_gate():
    from assets.analysis.summaries import SUPPRESSED, safe_breakdown, safe_count

    # the categories add up to the meetings, published as the row count: 3 is suppressed, and with it the
    # smallest other non-zero category (12), else 3 = total - 40 - 12
    parts = {"digital": 40, "in_person": 3, "other": 12, "null": 0}
    assert safe_breakdown(parts, 5, name="t", unit="meetings") == {
        "digital": 40, "in_person": SUPPRESSED, "other": SUPPRESSED, "null": 0,
    }  # fmt: skip
    assert safe_breakdown({"a": 5, "b": 6}, 5, name="t", unit="meetings") == {"a": 5, "b": 6}
    assert [safe_count(n, 5) for n in (0, 3, 5)] == [0, SUPPRESSED, 5]
