"""The Dagster code location loads, and its asset graph reads like the analysis plan."""

import subprocess
import sys

import pytest

from assets.resources import RegdmlResource
from pipelines.definitions import STAGE_MODULES, build_definitions
from pipelines.jobs import CELLS_JOB, FINISH_JOB, PREPARE_JOB

EXPECTED_GROUPS = {
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


@pytest.fixture(scope="module")
def defs():
    return build_definitions(RegdmlResource(delivery_dir="/nonexistent", workdir="/tmp/regdml-defs-test"))


def test_definitions_load(defs):
    graph = defs.resolve_asset_graph()
    keys = {k.to_user_string() for k in graph.get_all_asset_keys()}
    for expected in (
        "delivery_manifest",
        "bef",
        "dream",
        "samtaler",
        "kontaktform_validering",
        "benefit_spells",
        "eligible_meetings",
        "sample_flow",
        "meeting_outcomes",
        "meeting_covariates",
        "analysis_table",
        "estimates",
        "report",
        "export_bundle",
    ):
        assert expected in keys, expected


def test_module_loads_in_a_fresh_interpreter():
    # The code location as `dagster dev -m pipelines.definitions` loads it (and as a spawned
    # worker process on Windows would): importing does no work beyond building definitions.
    out = subprocess.run(
        [
            sys.executable,
            "-c",
            "import pipelines.definitions as d; print(len(list(d.defs.resolve_all_asset_keys())))",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    assert int(out.stdout.strip()) > 20


def test_every_asset_is_described_grouped_and_versioned(defs):
    graph = defs.resolve_asset_graph()
    groups = set()
    for key in graph.get_all_asset_keys():
        node = graph.get(key)
        if not node.is_materializable:
            continue
        groups.add(node.group_name)
        assert node.group_name in EXPECTED_GROUPS, f"{key.to_user_string()}: group {node.group_name}"
        assert node.description, f"{key.to_user_string()} has no description"
        first_line = node.description.strip().splitlines()[0]
        assert 10 <= len(first_line) <= 160, (
            f"{key.to_user_string()}: description's first line {first_line!r}"
        )
        assert node.code_version, f"{key.to_user_string()} has no code_version"
        assert node.owners, f"{key.to_user_string()} has no owners"
    assert groups == EXPECTED_GROUPS


def test_jobs_split_around_the_partitioned_estimation(defs):
    names = {j.name for j in defs.resolve_all_job_defs()}
    assert {PREPARE_JOB, CELLS_JOB, FINISH_JOB} <= names
    cells = defs.resolve_job_def(CELLS_JOB)
    assert cells.partitions_def is not None


def test_stage_modules_expose_assets_and_checks():
    import importlib

    for name in STAGE_MODULES:
        module = importlib.import_module(name)
        assert isinstance(module.ASSETS, list) and module.ASSETS, name
        assert isinstance(module.CHECKS, list), name


def test_blocking_contract_checks_exist(defs):
    checks = list(defs.resolve_asset_graph().asset_check_keys)
    staged = {c.asset_key.to_user_string() for c in checks}
    for register in ("bef", "udda", "ind", "akm", "akasse", "dream", "samtaler", "kontaktform_validering"):
        assert register in staged, f"no check on {register}"
