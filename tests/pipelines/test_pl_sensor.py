"""The delivery sensor adds a complete delivery as a partition and runs it; never a half-copied one."""

import shutil

import dagster as dg
import pytest

from assets.partitions import DELIVERIES_NAME
from pipelines.automation import delivery_run_requests, weekly_estimation
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
    ctx = dg.build_sensor_context(instance=instance, cursor=cursor, definitions=defs)
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
        adds = [r for r in result.dynamic_partitions_requests]
        assert [list(a.partition_keys) for a in adds] == [["delivery_2021"]]
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
    reqs = delivery_run_requests("d1", "abc")
    assert reqs[0].job_name == PREPARE_JOB
    cells = [r.partition_key.keys_by_dimension["cell"] for r in reqs[1:]]
    assert len(cells) == len(set(cells)) and len(cells) >= 30
    assert all(r.run_key.startswith("d1:abc:") for r in reqs)


def test_weekly_schedule_reruns_the_newest_delivery():
    import datetime as dt

    monday = dt.datetime(2026, 11, 23, 3, 0, tzinfo=dt.UTC)
    with dg.instance_for_test() as instance:
        ctx = dg.build_schedule_context(instance=instance, scheduled_execution_time=monday)
        assert isinstance(weekly_estimation(ctx), dg.SkipReason)
        instance.add_dynamic_partitions(DELIVERIES_NAME, ["d2021", "d2022"])
        reqs = list(
            weekly_estimation(dg.build_schedule_context(instance=instance, scheduled_execution_time=monday))
        )
        assert reqs and {r.partition_key.keys_by_dimension["delivery"] for r in reqs} == {"d2022"}
        assert all(r.run_key.startswith("weekly:20261123:d2022:") for r in reqs)
