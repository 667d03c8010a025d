"""A changed configuration key re-runs the assets that read its section, and no others
(data_contracts/config.py TABLE_SECTIONS; docs/design.md, "Data versions").

Each test works on a copy of the small run's work folder (its Dagster instance included) and re-runs
``regdml run`` up to the analysis table with another configuration, or only its first step (hashing the
delivered files and the configuration's sections); what is then stale is what the run would recompute.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import dagster as dg
import pytest
import yaml

from assets.raw.defs import CONFIG_KEYS, INPUT_KEYS
from assets.resources import RegdmlResource
from data_contracts.cells import estimation_cells
from pipelines.definitions import build_definitions
from pipelines.jobs import CELLS_JOB, FINISH_JOB, PREPARE_JOB
from pipelines.run import _config_side, _execute, _job_keys, _outdated, run_delivery

UP_TO_DATE = "registers and analysis table are up to date: nothing recomputed"
BUILT = "registers staged and analysis table built"
FINISH_ASSETS = {"estimates", "permutation_placebo", "meeting_value", "report", "export_bundle"}


@pytest.fixture
def work(small_run, tmp_path, monkeypatch):
    """A copy of the small run's work folder, and the environment regdml run sets pointed at it."""
    assert small_run["code"] == 0
    assert small_run["dagster_home"] == small_run["workdir"] / "dagster_home"
    copy = tmp_path / "work"
    shutil.copytree(small_run["workdir"], copy)
    # regdml run writes both into os.environ: set here, monkeypatch restores them after the test
    monkeypatch.setenv("DAGSTER_HOME", str(copy / "dagster_home"))
    monkeypatch.setenv("REGDML_WORKDIR", str(copy))
    return copy


def _config(fast_config: Path, folder: Path, name: str, **sections) -> Path:
    """The small run's configuration with ``sections`` merged into it, written to ``<folder>/<name>.yaml``."""
    data = yaml.safe_load(fast_config.read_text(encoding="utf-8"))
    for section, keys in sections.items():
        data.setdefault(section, {}).update(keys)
    p = folder / f"{name}.yaml"
    p.write_text(yaml.safe_dump(data), encoding="utf-8")
    return p


def _defs(work, delivery, config, final: bool = False) -> dg.Definitions:
    return build_definitions(
        RegdmlResource(delivery_dir=str(delivery), workdir=str(work), config_path=str(config), final=final)
    )


def _table_build(defs: dg.Definitions) -> set[dg.AssetKey]:
    """The prepare job's assets that a configuration change in estimation or value must not recompute:
    everything but the inputs hashed at every run's start and what reads the estimation's settings."""
    return set(_job_keys(defs, PREPARE_JOB)) - set(INPUT_KEYS) - _config_side(defs)


def _latest_runs(instance: dg.DagsterInstance, keys) -> dict[dg.AssetKey, str]:
    return {k: instance.get_latest_materialization_event(k).run_id for k in keys}


def _stale_cells(defs, instance, partition: str, config) -> list[str]:
    from assets.partitions import cell_partition_key
    from assets.resources import load_run_config

    cells = estimation_cells(load_run_config(config))
    assert len(cells) == 15  # the small run's grid: a changed grid would make this test about new cells
    return [
        c.key for c in cells if _outdated(defs, instance, CELLS_JOB, str(cell_partition_key(partition, c)))
    ]


def _names(keys) -> set[str]:
    return {k.to_user_string() for k in keys}


def test_the_table_build_reads_no_estimation_or_value_section(tmp_path):
    """The section assets feed the estimation side only: no table-build asset is downstream of them, and
    the estimation cells and every finishing asset that reads a section depend on it directly."""
    defs = build_definitions(RegdmlResource(delivery_dir=str(tmp_path / "none"), workdir=str(tmp_path)))
    graph = defs.resolve_asset_graph()
    for key in CONFIG_KEYS:
        assert graph.get(key).is_materializable, key  # a dep on a missing key would be an external asset
    assert _names(_config_side(defs)) == {
        "config_estimation", "config_value", "estimate_cell", "estimates", "permutation_placebo",
        "reversed_trial_power", "meeting_value", "report", "export_bundle",
    }  # fmt: skip
    parents = {k: _names(graph.get(dg.AssetKey(k)).parent_keys) for k in _names(_config_side(defs))}
    for reader in ("estimate_cell", "estimates", "permutation_placebo", "reversed_trial_power", "report"):
        assert "config_estimation" in parents[reader], reader
    assert {"meeting_value", "report"} == {k for k, p in parents.items() if "config_value" in p}


def test_an_estimation_key_reestimates_without_restaging(work, small_delivery, fast_config, tmp_path, capsys):
    """estimation.n_reps changed: no register is restaged and no table rebuilt (the log says so), every
    estimation cell and every finishing asset is stale."""
    config = _config(fast_config, tmp_path, "reps", estimation={"n_reps": 2, "learner": "lasso"})
    defs = _defs(work, small_delivery, config)
    instance = dg.DagsterInstance.from_config(str(work / "dagster_home"))
    table = _table_build(defs)
    assert {"bef", "dream", "benefit_spells", "sample_flow", "analysis_table"} <= _names(table)
    before = _latest_runs(instance, table)

    code, _ = run_delivery(small_delivery, workdir=work, config=config, until="analysis")
    out = capsys.readouterr().out
    assert code == 0
    assert UP_TO_DATE in out and BUILT not in out, out
    assert _latest_runs(instance, table) == before  # nothing of the table build materialized again
    partition = small_delivery.name
    assert len(_stale_cells(defs, instance, partition, config)) == 15
    assert FINISH_ASSETS <= _names(_outdated(defs, instance, FINISH_JOB, partition))


def test_a_value_key_revalues_only(work, small_delivery, fast_config, tmp_path, capsys):
    """value.staff_minutes_saved changed: nothing is restaged or re-estimated; the value table, the report
    and the bundle are stale."""
    config = _config(fast_config, tmp_path, "value", value={"staff_minutes_saved": 20})
    defs = _defs(work, small_delivery, config)
    instance = dg.DagsterInstance.from_config(str(work / "dagster_home"))
    before = _latest_runs(instance, _table_build(defs) | {dg.AssetKey("reversed_trial_power")})

    code, _ = run_delivery(small_delivery, workdir=work, config=config, until="analysis")
    out = capsys.readouterr().out
    assert code == 0 and UP_TO_DATE in out and "recomputed for the changed" not in out, out
    assert _latest_runs(instance, before) == before
    partition = small_delivery.name
    assert _stale_cells(defs, instance, partition, config) == []
    assert _names(_outdated(defs, instance, FINISH_JOB, partition)) == {
        "meeting_value",
        "report",
        "export_bundle",
    }


@pytest.mark.parametrize(
    "sections",
    [
        {"cohort": {"window_end": "2021-01-31"}},
        {"outcomes": {"employment_min_grad": 10}},
        {"disclosure": {"min_cell": 6}},
    ],  # fmt: skip
    ids=["cohort", "outcomes", "disclosure"],
)
def test_a_table_build_key_restages(work, small_delivery, fast_config, tmp_path, sections):
    """A key of a section the table build reads makes every register's staging and the analysis table
    stale once the run has hashed its inputs (the first step of regdml run)."""
    config = _config(fast_config, tmp_path, f"table_{next(iter(sections))}", **sections)
    defs = _defs(work, small_delivery, config)
    instance = dg.DagsterInstance.from_config(str(work / "dagster_home"))
    partition = small_delivery.name
    assert _outdated(defs, instance, PREPARE_JOB, partition) == []  # the copy is up to date
    result = _execute(defs, PREPARE_JOB, instance, partition_key=partition, asset_selection=INPUT_KEYS)
    assert result.success
    stale = _names(_outdated(defs, instance, PREPARE_JOB, partition))
    assert {"bef", "dream", "samtaler", "benefit_spells", "sample_flow", "analysis_table"} <= stale


def test_final_after_an_exploratory_run_does_not_restage(work, small_delivery, fast_config, tmp_path, capsys):
    """``regdml run --final`` after an exploratory run with the same configuration (five repetitions):
    nothing of the table build is recomputed, and the report (which says final or exploratory) is stale."""
    config = _config(fast_config, tmp_path, "five", estimation={"n_reps": 5})
    code, _ = run_delivery(small_delivery, workdir=work, config=config, until="analysis")
    assert code == 0
    capsys.readouterr()
    defs = _defs(work, small_delivery, config, final=True)
    instance = dg.DagsterInstance.from_config(str(work / "dagster_home"))
    table = _table_build(defs)
    before = _latest_runs(instance, table)

    code, _ = run_delivery(small_delivery, workdir=work, config=config, until="analysis", final=True)
    out = capsys.readouterr().out
    assert code == 0
    assert UP_TO_DATE in out and BUILT not in out, out
    assert _latest_runs(instance, table) == before
    assert {"report", "export_bundle"} <= _names(_outdated(defs, instance, FINISH_JOB, small_delivery.name))
