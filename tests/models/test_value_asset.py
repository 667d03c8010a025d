"""The value asset: estimation/value.parquet from the estimation tables, in the finishing job."""

from __future__ import annotations

import dagster as dg
import polars as pl
import pytest

from assets.estimation import value_defs
from assets.partitions import deliveries as DELIVERIES
from assets.resources import RegdmlResource
from models import value as V


def _write_estimation(est_dir, with_arms: bool = True) -> None:
    pl.DataFrame(
        {
            "outcome": ["weeks_selfsupport_52w", "weeks_selfsupport_52w"],
            "design": ["irm_att", "plr"],
            "estimate": [-0.05, 3.0],
            "se": [0.07, 1.0],
            "ci_low": [-0.2, 1.0],
            "ci_high": [0.1, 5.0],
            "n": [4000, 4000],
            "n_treated": [3000, 3000],
        }
    ).write_parquet(est_dir / "estimates.parquet")
    ge = pl.DataFrame(
        {
            "outcome": ["weeks_selfsupport_52w"] * 3,
            "design": ["irm_att"] * 3,
            "group_var": ["benefit_group", "benefit_group", "benefit_group"],
            "group": ["dagpenge", "kontanthjaelp_jobparat", "sygedagpenge"],
            "estimate": [-0.1, 0.2, 1.0],
            "se": [0.1, 0.08, 0.5],
            "ci_low": [-0.3, 0.05, 0.0],
            "ci_high": [0.1, 0.35, 2.0],
            "n": [3000, 1000, 40],
            "n_treated": [2200, 800, 20],
            "n_control": [800, 200, 20],
        }
    )
    (ge if with_arms else ge.drop("n_treated", "n_control")).write_parquet(est_dir / "group_effects.parquet")


@pytest.fixture
def resource(tmp_path):
    (tmp_path / "deliv").mkdir()
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text(
        "value:\n  staff_minutes_saved: 20\n  staff_cost_per_hour_dkk: 450\n"
        "  weekly_benefit_dkk: {dagpenge: 4000, kontanthjaelp_jobparat: 2500}\n"
        "  annual_jobsamtaler: {dagpenge: 600000, kontanthjaelp_jobparat: 200000}\n"
    )
    return RegdmlResource(
        delivery_dir=str(tmp_path / "deliv"), workdir=str(tmp_path / "work"), config_path=str(cfg)
    )


def test_asset_writes_the_value_table(resource):
    est_dir = resource.paths().stage("estimation")
    _write_estimation(est_dir)
    instance = dg.DagsterInstance.ephemeral()
    instance.add_dynamic_partitions(DELIVERIES.name, ["deliv"])
    r = dg.materialize(
        [value_defs.meeting_value, dg.SourceAsset(key="estimates")],
        resources={"regdml": resource},
        partition_key="deliv",
        instance=instance,
    )
    assert r.success
    t = pl.read_parquet(est_dir / "value.parquet")
    assert t.columns == list(V.VALUE_COLUMNS)
    # the hand-worked example of tests/models/test_value.py, read from the files
    assert t["benefit_group"].to_list() == ["dagpenge", "kontanthjaelp_jobparat", "all"]
    assert t["net_dkk"].to_list() == pytest.approx([-250.0, 650.0, -31.25])
    assert t["national_net_dkk_ci_high"].to_list() == pytest.approx([330e6, 205e6, 410e6])
    meta = r.asset_materializations_for_node("meeting_value")[0].metadata
    assert "sygedagpenge" in meta["notes"].value  # an estimated group without a weekly benefit is named
    assert meta["headline"].value.startswith(
        "Digital pays off unless it lowers self-support by more than 0.041"
    )


def test_value_from_estimation_without_estimates_or_arm_counts(resource):
    cfg = resource.run_config()
    est_dir = resource.paths().stage("estimation")
    t, notes = value_defs.value_from_estimation(est_dir, cfg)
    assert t.height == 3 and t["net_dkk"].null_count() == 3 and t["staff_saving_dkk"].to_list() == [150.0] * 3
    assert any("no overall estimate" in n for n in notes)
    _write_estimation(est_dir, with_arms=False)
    t, _ = value_defs.value_from_estimation(est_dir, cfg)
    assert t["effect_weeks"].to_list() == pytest.approx([-0.1, 0.2, -0.05])


def test_the_finishing_job_runs_it_before_the_report():
    from pipelines.definitions import build_definitions
    from pipelines.jobs import FINISH_JOB

    defs = build_definitions(RegdmlResource(delivery_dir="/nonexistent", workdir="/tmp/regdml-value-test"))
    job = defs.resolve_job_def(FINISH_JOB)
    keys = {k.to_user_string() for k in job.asset_layer.executable_asset_keys}
    assert "meeting_value" in keys
    graph = defs.resolve_asset_graph()
    assert dg.AssetKey("meeting_value") in graph.get(dg.AssetKey("report")).parent_keys
