"""The data-flow picture in the README and docs/design.md is the code location's asset graph."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import pytest

from pipelines.dataflow import END, START, mermaid, with_dataflow

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("doc", ["README.md", "docs/design.md"])
def test_the_picture_in_the_docs_is_the_asset_graph(doc):
    text = (ROOT / doc).read_text(encoding="utf-8")
    assert with_dataflow(text, mermaid()) == text, (
        f"{doc}: the data-flow picture is not the code's; run `python -m pipelines.dataflow README.md docs/design.md`"
    )


def test_the_picture_follows_a_meeting_from_samtaler_to_the_estimate():
    picture = mermaid()
    for edge in ("samtaler --> meetings", "meetings --> eligible_meetings", "eligible_meetings --> analysis_table",
                 "analysis_table --> estimate_cell", "estimate_cell --> estimates", "estimates --> report"):  # fmt: skip
        assert f"  {edge}\n" in picture


def test_the_picture_changes_with_the_graph():
    @dg.asset(group_name="analysis")
    def left() -> None: ...

    @dg.asset(group_name="estimation", deps=[left])
    def right() -> None: ...

    picture = mermaid(dg.Definitions(assets=[left, right]))
    assert "  left --> right\n" in picture and 'subgraph analysis["analysis table"]' in picture
    with pytest.raises(ValueError, match="data flow"):
        with_dataflow("no markers here", picture)
    assert START in with_dataflow(f"a\n{START}\nold\n{END}\nb", picture)
