"""The Dagster web server on the instance `regdml run` wrote: the asset graph, the latest estimates and the
asset check results are all visible through its GraphQL API (what a reviewer sees in the UI)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import dagster as dg
import pytest

pytestmark = pytest.mark.skipif(
    sys.platform == "win32", reason="the web server is stopped by process group (os.killpg): POSIX only"
)

GROUPS = {
    "raw",
    "staging",
    "cohort",
    "treatment",
    "outcomes",
    "covariates",
    "analysis",
    "estimation",
    "report",
}
STAGED_REGISTERS = {
    "dream",
    "samtaler",
    "bef",
    "udda",
    "ind",
    "akm",
    "akasse",
    "kontaktform_validering",
    "befolkning_kommune",  # optional: staged empty when not delivered
}


def _services():
    """tests/pipelines/services.py under one module name, so every test module shares its server cache."""
    name = "regdml_pipeline_test_services"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, Path(__file__).with_name("services.py"))
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


@pytest.fixture(scope="session")
def ui_server(small_run, small_delivery, tmp_path_factory):
    """`dagster-webserver -m pipelines.definitions` on a free loopback port, on small_run's instance."""
    services = _services()
    server = services.start_webserver(
        small_run["dagster_home"], small_run["workdir"], small_delivery, tmp_path_factory.mktemp("webserver")
    )
    yield server
    services.stop_webserver(server)


def _gql(server, query: str, variables: dict | None = None) -> dict:
    return _services().graphql(server["url"], query, variables)


def _asset_nodes(server) -> dict[str, dict]:
    data = _gql(
        server, "{ assetNodes { assetKey { path } groupName isMaterializable dependencyKeys { path } } }"
    )
    return {"/".join(n["assetKey"]["path"]): n for n in data["assetNodes"]}


def test_asset_graph_has_every_stage(ui_server):
    nodes = _asset_nodes(ui_server)
    assert {n["groupName"] for n in nodes.values()} == GROUPS
    by_group: dict[str, set[str]] = {}
    for key, n in nodes.items():
        by_group.setdefault(n["groupName"], set()).add(key)
    assert STAGED_REGISTERS <= by_group["staging"]
    assert {"benefit_spells", "benefit_weeks"} <= by_group["cohort"]
    assert "eligible_meetings" in by_group["treatment"]
    assert "analysis_table" in by_group["analysis"]
    assert "estimates" in by_group["estimation"]
    assert "report" in by_group["report"]
    # The edges are there too: the analysis table is built from the meetings, covariates and outcomes.
    deps = {"/".join(k["path"]) for k in nodes["analysis_table"]["dependencyKeys"]}
    assert {"eligible_meetings", "meeting_covariates", "meeting_outcomes"} <= deps
    assert "dream" in {"/".join(k["path"]) for k in nodes["benefit_spells"]["dependencyKeys"]}


def test_estimates_latest_materialization_carries_the_markdown_table(ui_server, small_run):
    data = _gql(
        ui_server,
        """
        query ($key: AssetKeyInput!) {
          assetNodes(assetKeys: [$key]) {
            assetMaterializations(limit: 1) {
              runId
              metadataEntries { label __typename ... on MarkdownMetadataEntry { mdStr } }
            }
          }
        }""",
        {"key": {"path": ["estimates"]}},
    )
    (node,) = data["assetNodes"]
    (mat,) = node["assetMaterializations"]
    entries = {e["label"]: e for e in mat["metadataEntries"]}
    assert entries["estimates"]["__typename"] == "MarkdownMetadataEntry"
    md = entries["estimates"]["mdStr"]
    assert md.lstrip().startswith("| outcome | design |")
    assert "weeks_selfsupport_pre52w" in md  # an outcome of the fast configuration
    # The UI shows the same materialization the instance on disk holds.
    instance = dg.DagsterInstance.from_config(str(small_run["dagster_home"]))
    try:
        latest = instance.get_latest_materialization_event(dg.AssetKey("estimates"))
    finally:
        instance.dispose()
    assert latest is not None and latest.run_id == mat["runId"]


def test_staging_contract_checks_passed(ui_server):
    data = _gql(
        ui_server,
        """
        {
          assetNodes {
            assetKey { path }
            groupName
            assetChecksOrError {
              __typename
              ... on AssetChecks {
                checks { name blocking executionForLatestMaterialization { status evaluation { success severity } } }
              }
            }
          }
        }""",
    )
    contract = {}
    for node in data["assetNodes"]:
        if node["groupName"] != "staging" or node["assetChecksOrError"]["__typename"] != "AssetChecks":
            continue
        for check in node["assetChecksOrError"]["checks"]:
            if check["name"] == "contract":
                contract["/".join(node["assetKey"]["path"])] = check
    assert set(contract) == STAGED_REGISTERS
    for key, check in contract.items():
        assert check["blocking"], key
        execution = check["executionForLatestMaterialization"]
        assert execution is not None, f"{key}: no contract check execution"
        assert execution["status"] == "SUCCEEDED", (key, execution)
        assert execution["evaluation"]["success"] is True, (key, execution)


def test_analysis_table_checks_and_prepare_run_are_listed(ui_server):
    data = _gql(
        ui_server,
        """
        {
          assetNodes(assetKeys: [{path: ["analysis_table"]}]) {
            assetChecksOrError { ... on AssetChecks { checks { name executionForLatestMaterialization { status } } } }
          }
          runsOrError { __typename ... on Runs { results { runId jobName status } } }
        }""",
    )
    checks = data["assetNodes"][0]["assetChecksOrError"]["checks"]
    assert checks, "analysis_table has no asset checks in the UI"
    assert all(c["executionForLatestMaterialization"]["status"] == "SUCCEEDED" for c in checks), checks
    runs = data["runsOrError"]["results"]
    assert any(r["jobName"] == "regdml_prepare" and r["status"] == "SUCCESS" for r in runs), runs
