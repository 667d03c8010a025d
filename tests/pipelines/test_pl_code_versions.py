"""Code versions follow the code: changing a function a stage runs makes exactly that stage (and what is
downstream of it) stale; comments and docstrings change nothing."""

from __future__ import annotations

import shutil

import dagster as dg
import pytest

from assets.code_version import PROJECT_PACKAGES, ROOT, STAGES, module_closure, stage_version


@pytest.fixture
def tree(tmp_path):
    """A copy of the project's packages, to change code without touching the checkout."""
    for pkg in PROJECT_PACKAGES:
        shutil.copytree(ROOT / pkg, tmp_path / pkg, ignore=shutil.ignore_patterns("__pycache__"))
    return tmp_path


def _versions(root):
    return {s: stage_version(s, root) for s in STAGES}


def test_versions_are_the_code_not_the_place(tree):
    assert _versions(tree) == _versions(ROOT)
    assert len(set(_versions(ROOT).values())) == len(STAGES)  # every stage its own


def test_a_changed_outcome_rule_changes_outcomes_and_what_runs_its_code(tree):
    p = tree / "assets" / "outcomes" / "logic.py"
    src = p.read_text(encoding="utf-8")
    # the exit rule's pattern: one character of the regular expression
    changed = src.replace("STATUS_SELF_SUPPORT + (", "STATUS_SELF_SUPPORT + STATUS_SELF_SUPPORT + (", 1)
    assert changed != src
    p.write_text(changed, encoding="utf-8")
    before, after = _versions(ROOT), _versions(tree)
    moved = {s for s in STAGES if before[s] != after[s]}
    # the outcomes stage, and stages downstream of it whose code imports the outcome definitions (the
    # analysis table's dictionary, the estimation's outcome list); no stage upstream of it
    assert "outcomes" in moved and moved <= {"outcomes", "analysis", "estimation", "value", "report"}
    assert not moved & {"raw", "staging", "cohort", "treatment", "covariates"}


def test_a_changed_report_template_changes_the_report_only(tree):
    p = tree / "assets" / "report" / "render" / "templates" / "report.css"
    p.write_text(p.read_text(encoding="utf-8") + "\nbody { margin: 0 }\n", encoding="utf-8")
    before, after = _versions(ROOT), _versions(tree)
    assert {s for s in STAGES if before[s] != after[s]} == {"report"}


def test_comments_docstrings_and_formatting_change_nothing(tree):
    p = tree / "assets" / "cohort" / "logic.py"
    src = p.read_text(encoding="utf-8")
    edited = src.replace('"""DREAM from wide to long', '"""(edited) DREAM from wide to long', 1)
    edited = edited.replace("\ndef dream_calendar(", "\n# a comment\n\n\ndef dream_calendar(", 1)
    assert edited != src
    p.write_text(edited, encoding="utf-8")
    assert _versions(tree) == _versions(ROOT)


def test_closure_follows_imports():
    mods = module_closure(["assets.outcomes.logic"])
    assert {
        "assets.outcomes.logic",
        "assets.cohort.logic",
        "assets.weeks",
        "data_contracts.dream_columns",
    } <= set(mods)
    assert not any(m.startswith(("pipelines", "dagster")) for m in mods)


def test_changed_code_version_makes_exactly_the_stage_and_downstream_stale(small_run):
    """On a run that is up to date, the outcomes stage with another code version is stale, with everything
    downstream of it in the job; the stages upstream of it are not."""
    from assets.resources import RegdmlResource
    from pipelines import definitions as D
    from pipelines.jobs import PREPARE_JOB, build_jobs
    from pipelines.run import _outdated

    instance = dg.DagsterInstance.from_config(str(small_run["dagster_home"]))
    partition = small_run["paths"].delivery_dir.name
    resource = RegdmlResource(delivery_dir=str(small_run["paths"].delivery_dir))

    def defs_with(assets):
        return dg.Definitions(
            assets=assets,
            jobs=build_jobs(assets),
            asset_checks=D.all_checks(),
            resources={"regdml": resource},
        )

    assets = D.all_assets()
    assert _outdated(defs_with(assets), instance, PREPARE_JOB, partition) == []
    target = dg.AssetKey("meeting_outcomes")
    changed = dg.map_asset_specs(
        lambda spec: spec.replace_attributes(code_version="changed") if spec.key == target else spec, assets
    )
    defs = defs_with(changed)
    stale = set(_outdated(defs, instance, PREPARE_JOB, partition))
    graph = defs.resolve_asset_graph()
    downstream = dg.AssetSelection.assets(target).downstream().resolve(graph)
    assert target in stale and stale <= downstream
    assert dg.AssetKey("analysis_table") in stale
    for upstream in ("dream", "benefit_weeks", "benefit_spells", "meetings", "meeting_covariates"):
        assert dg.AssetKey(upstream) not in stale, upstream
