"""The delivery sensor adds a complete delivery as a partition and runs it; never a half-copied one."""

import shutil

import dagster as dg
import pytest
import yaml

from assets.partitions import CELL_DIM, CELLS_NAME, DELIVERIES_NAME, cell_partition_key
from assets.resources import RegdmlResource
from data_contracts.cells import cell_keys, estimation_cells
from data_contracts.config import load_config
from pipelines.automation import delivery_run_requests, delivery_sensor, weekly_estimation
from pipelines.delivery_watch import DEFAULT_MARKER
from pipelines.jobs import CELLS_JOB, PREPARE_JOB


@pytest.fixture()
def root(tmp_path, monkeypatch):
    r = tmp_path / "rawdata"
    r.mkdir()
    monkeypatch.setenv("REGDML_DELIVERY_ROOT", str(r))
    monkeypatch.setenv("REGDML_WORKDIR", str(tmp_path / "work"))
    monkeypatch.setenv("REGDML_DELIVERY_COMPLETE", "marker")
    return r


def _defs():
    from pipelines.definitions import build_definitions

    return build_definitions()


def _tick(defs, instance, cursor=None):
    sensor = defs.resolve_sensor_def("delivery_sensor")
    # the code location's resource (build_definitions() without one: from the environment), as the daemon
    # provides it to the sensor
    ctx = dg.build_sensor_context(
        instance=instance, cursor=cursor, definitions=defs, resources={"regdml": RegdmlResource.from_env()}
    )
    return sensor(ctx), ctx


def test_second_delivery_is_added_and_run(root, small_delivery):
    defs = _defs()
    with dg.instance_for_test() as instance:
        # A half-copied delivery (no marker yet) is ignored.
        shutil.copytree(small_delivery, root / "delivery_2021")
        result, ctx = _tick(defs, instance)
        assert isinstance(result, dg.SkipReason)
        assert instance.get_dynamic_partitions(DELIVERIES_NAME) == []

        # The copy finishes: the marker appears, the sensor adds the partition and requests its runs.
        (root / "delivery_2021" / DEFAULT_MARKER).write_text("", encoding="utf-8")
        result, ctx = _tick(defs, instance, ctx.cursor)
        assert isinstance(result, dg.SensorResult)
        adds = {r.partitions_def_name: list(r.partition_keys) for r in result.dynamic_partitions_requests}
        assert adds == {DELIVERIES_NAME: ["delivery_2021"], CELLS_NAME: cell_keys(load_config())}
        jobs = [r.job_name for r in result.run_requests]
        assert jobs[0] == PREPARE_JOB and set(jobs[1:]) == {CELLS_JOB}
        assert result.run_requests[0].partition_key == "delivery_2021"

        # Carry out the request as the daemon would: add the partition, run the prepare job.
        instance.add_dynamic_partitions(DELIVERIES_NAME, ["delivery_2021"])
        run = defs.resolve_job_def(PREPARE_JOB).execute_in_process(
            instance=instance, partition_key="delivery_2021", raise_on_error=False
        )
        assert run.success
        mat = instance.get_latest_materialization_event(dg.AssetKey("analysis_table"))
        assert mat is not None and mat.asset_materialization.partition == "delivery_2021"

        # Nothing new: the next tick requests nothing.
        result, ctx = _tick(defs, instance, ctx.cursor)
        assert isinstance(result, dg.SkipReason)

        # A second delivery arrives half-copied (a .part file), then complete.
        second = root / "delivery_2022"
        shutil.copytree(small_delivery, second)
        (second / "dream.parquet.part").write_bytes(b"partial")
        (second / DEFAULT_MARKER).write_text("", encoding="utf-8")
        result, ctx = _tick(defs, instance, ctx.cursor)
        assert isinstance(result, dg.SkipReason)
        (second / "dream.parquet.part").unlink()
        result, ctx = _tick(defs, instance, ctx.cursor)
        assert isinstance(result, dg.SensorResult)
        assert {r.partition_key for r in result.run_requests if r.job_name == PREPARE_JOB} == {
            "delivery_2022"
        }


def test_run_requests_cover_every_cell_in_order():
    cells = estimation_cells(load_config())
    reqs = delivery_run_requests("d1", "abc", cells)
    assert reqs[0].job_name == PREPARE_JOB
    assert [r.partition_key.keys_by_dimension[CELL_DIM] for r in reqs[1:]] == [c.key for c in cells]
    assert all(r.run_key.startswith("d1:abc:") for r in reqs)


# A configuration whose cells the defaults do not have: an outcome at a horizon outside them (8 weeks), and
# a placebo outcome and a design subset of its own.
EXTRA = {
    "outcomes": {"exit_horizons": [8, 13]},
    "estimation": {
        "primary_outcomes": ["y_exit_8w", "y_exit_13w"],
        "placebo_outcomes": ["weeks_selfsupport_pre52w"],
        "designs": ["naive", "irm_att"],
    },
}


@pytest.fixture()
def extra_config(tmp_path, monkeypatch):
    p = tmp_path / "extra.yaml"
    p.write_text(yaml.safe_dump(EXTRA), encoding="utf-8")
    monkeypatch.setenv("REGDML_CONFIG", str(p))
    return load_config(p)


def test_sensor_requests_and_adds_exactly_the_configured_cells(root, extra_config):
    want = cell_keys(extra_config)
    assert "y_exit_8w__naive" in want and "y_exit_8w__naive" not in cell_keys(load_config())
    with dg.instance_for_test() as instance:
        # a cell of an earlier configuration is a partition already: not added again, not requested
        instance.add_dynamic_partitions(CELLS_NAME, ["y_exit_13w__naive", "y_exit_26w__plr"])
        (root / "d1").mkdir()
        (root / "d1" / "dream.parquet").write_bytes(b"x")
        (root / "d1" / DEFAULT_MARKER).write_text("", encoding="utf-8")
        ctx = dg.build_sensor_context(instance=instance, resources={"regdml": RegdmlResource.from_env()})
        result = delivery_sensor(ctx)
        assert isinstance(result, dg.SensorResult)
        cells = [r.partition_key.keys_by_dimension[CELL_DIM] for r in result.run_requests[1:]]
        assert cells == want
        adds = {r.partitions_def_name: list(r.partition_keys) for r in result.dynamic_partitions_requests}
        assert adds == {DELIVERIES_NAME: ["d1"], CELLS_NAME: [k for k in want if k != "y_exit_13w__naive"]}


def _schedule(instance, monday, resource=None):
    ctx = dg.build_schedule_context(
        instance=instance, scheduled_execution_time=monday, resources={"regdml": resource or RegdmlResource()}
    )
    return weekly_estimation(ctx)


def test_weekly_schedule_reruns_the_newest_delivery():
    import datetime as dt

    monday = dt.datetime(2026, 11, 23, 3, 0, tzinfo=dt.UTC)
    with dg.instance_for_test() as instance:
        assert isinstance(_schedule(instance, monday), dg.SkipReason)
        instance.add_dynamic_partitions(DELIVERIES_NAME, ["d2021", "d2022"])
        reqs = list(_schedule(instance, monday))
        assert reqs and {r.partition_key.keys_by_dimension["delivery"] for r in reqs} == {"d2022"}
        assert all(r.run_key.startswith("weekly:20261123:d2022:") for r in reqs)
        assert [r.partition_key.keys_by_dimension[CELL_DIM] for r in reqs] == cell_keys(load_config())


def test_weekly_schedule_requests_and_adds_exactly_the_configured_cells(extra_config):
    import datetime as dt

    monday = dt.datetime(2026, 11, 23, 3, 0, tzinfo=dt.UTC)
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions(DELIVERIES_NAME, ["d2021"])
        instance.add_dynamic_partitions(CELLS_NAME, ["y_exit_26w__plr"])  # an earlier configuration's
        reqs = list(_schedule(instance, monday, RegdmlResource.from_env()))
        assert [r.partition_key.keys_by_dimension[CELL_DIM] for r in reqs] == cell_keys(extra_config)
        # a schedule cannot return partition requests: the configured cells are partitions when it returns
        assert set(instance.get_dynamic_partitions(CELLS_NAME)) == {
            "y_exit_26w__plr",
            *cell_keys(extra_config),
        }


# the run's delivery tag as Dagster sets it on a partitioned run (a key Dagster itself calls non-compliant)
@pytest.mark.filterwarnings("ignore:Non-compliant tag keys:DeprecationWarning")
def test_finish_waits_for_exactly_the_configured_cells(extra_config):
    from pipelines.automation import build_finish_after_cells

    @dg.op
    def noop():
        pass

    @dg.job(tags={"dagster/partition/delivery": "d1"})
    def cell_run():
        noop()

    sensor = build_finish_after_cells(cell_run, cell_run)
    want = cell_keys(extra_config)
    cells = estimation_cells(extra_config)
    with dg.instance_for_test() as instance:
        # an earlier configuration's cell, never estimated for d1: not waited for
        instance.add_dynamic_partitions(CELLS_NAME, ["y_exit_26w__plr", *want])
        run = cell_run.execute_in_process(instance=instance)

        def tick():
            ctx = dg.build_run_status_sensor_context(
                sensor_name=sensor.name,
                dagster_event=run.get_run_success_event(),
                dagster_instance=instance,
                dagster_run=run.dagster_run,
                resources={"regdml": RegdmlResource.from_env()},
            )
            return sensor(ctx)

        def estimated(cell):
            partition = str(cell_partition_key("d1", cell))
            instance.report_runless_asset_event(dg.AssetMaterialization("estimate_cell", partition=partition))

        for cell in cells[:-1]:
            estimated(cell)
        skip = tick()
        assert isinstance(skip, dg.SkipReason) and want[-1] in skip.skip_message
        instance.report_runless_asset_event(
            dg.AssetMaterialization("estimate_cell", partition=f"{want[-1]}|d1")
        )
        req = tick()
        assert isinstance(req, dg.RunRequest) and req.partition_key == "d1"
