"""Sensors and schedules: scheduled reruns when DST adds a delivery, and a weekly re-estimation.

``delivery_sensor`` watches the delivery root (``REGDML_DELIVERY_ROOT``). When a sub-folder is complete
(see :mod:`pipelines.delivery_watch`), it adds the folder as a partition of ``deliveries`` (and the
configuration's cells that are not yet partitions of ``estimation_cell``) and requests, in this order, the
prepare run and one run per estimation cell; the instance's queue runs one at a time, so they run in
order. A folder whose listing changes later (DST replaced a file) is requested again under a new run key.

``weekly_estimation`` reruns the estimation cells of the newest delivery every Monday at 03:00, and
``finish_after_cells`` requests the finish run (collected estimates, report, export) of a delivery once
the last of its cells has succeeded after the delivery's latest finish.

The cells are always the run configuration's (the resource's, :func:`data_contracts.cells.estimation_cells`),
read when the sensor or schedule is evaluated.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import dagster as dg

from assets.partitions import (
    CELLS_NAME,
    DELIVERY_DIM,
    add_cells,
    cell_partition_key,
    cells_to_add,
    deliveries,
)
from assets.resources import RegdmlResource
from data_contracts.cells import Cell, estimation_cells
from data_contracts.settings import Settings
from pipelines.delivery_watch import complete_deliveries
from pipelines.jobs import CELLS_JOB, FINISH_JOB, PREPARE_JOB


def delivery_run_requests(delivery: str, version: str, cells: Sequence[Cell]) -> list[dg.RunRequest]:
    """The runs that process one delivery end to end, in order: prepare, then each of ``cells``
    (:func:`data_contracts.cells.estimation_cells`, which must be partitions by the time they run)."""
    tag = {"regdml/delivery": delivery, "regdml/listing": version[:12]}
    requests = [
        dg.RunRequest(
            run_key=f"{delivery}:{version}:prepare", job_name=PREPARE_JOB, partition_key=delivery, tags=tag
        )
    ]
    for cell in cells:
        requests.append(
            dg.RunRequest(
                run_key=f"{delivery}:{version}:{cell.key}",
                job_name=CELLS_JOB,
                partition_key=cell_partition_key(delivery, cell),
                tags=tag,
            )
        )
    # The finish run is requested by finish_after_cells once every cell has succeeded.
    return requests


@dg.sensor(
    name="delivery_sensor",
    minimum_interval_seconds=60,
    description="Adds each complete delivery folder as a partition and runs the whole pipeline on it",
    default_status=dg.DefaultSensorStatus.RUNNING,
)
def delivery_sensor(
    context: dg.SensorEvaluationContext, regdml: RegdmlResource
) -> dg.SensorResult | dg.SkipReason:
    settings = Settings.from_env()
    if not settings.delivery_root:
        return dg.SkipReason("REGDML_DELIVERY_ROOT is not set: no delivery root to watch")
    root = Path(settings.delivery_root)
    mode = settings.delivery_complete
    marker = settings.delivery_marker
    cursor = json.loads(context.cursor) if context.cursor else {}
    ready, listing = complete_deliveries(root, mode=mode, previous=cursor.get("listing", {}), marker=marker)
    done: dict[str, str] = cursor.get("done", {})
    new = [s for s in ready if done.get(s.name) != s.listing_hash]
    known = set(context.instance.get_dynamic_partitions(deliveries.name))
    add = sorted({s.name for s in new} - known)
    requests: list[dg.RunRequest] = []
    cells = estimation_cells(regdml.run_config()) if new else []
    for state in new:
        requests.extend(delivery_run_requests(state.name, state.listing_hash, cells))
        done[state.name] = state.listing_hash
    context.update_cursor(json.dumps({"listing": listing, "done": done}, sort_keys=True))
    if not requests:
        return dg.SkipReason(f"no new complete delivery under {root} ({len(listing)} folders seen)")
    # Dagster adds these partitions before it launches the runs
    new_cells = cells_to_add(context.instance, cells)
    partitions = [deliveries.build_add_request(add)] if add else []
    if new_cells:
        partitions.append(dg.AddDynamicPartitionsRequest(CELLS_NAME, new_cells))
    return dg.SensorResult(run_requests=requests, dynamic_partitions_requests=partitions)


@dg.schedule(
    name="weekly_estimation",
    cron_schedule="0 3 * * 1",
    job_name=CELLS_JOB,
    description="Reruns the estimation cells of the newest delivery every Monday at 03:00",
    default_status=dg.DefaultScheduleStatus.STOPPED,
)
def weekly_estimation(context: dg.ScheduleEvaluationContext, regdml: RegdmlResource):
    keys = context.instance.get_dynamic_partitions(deliveries.name)
    if not keys:
        return dg.SkipReason("no delivery partition yet")
    newest = keys[-1]
    stamp = context.scheduled_execution_time.strftime("%Y%m%d")
    cells = estimation_cells(regdml.run_config())
    # a schedule cannot return partition requests (a sensor can): the configuration's new cells are added here
    add_cells(context.instance, cells)
    return [
        dg.RunRequest(
            run_key=f"weekly:{stamp}:{newest}:{cell.key}", partition_key=cell_partition_key(newest, cell)
        )
        for cell in cells
    ]


def _latest_timestamp(instance: dg.DagsterInstance, key: dg.AssetKey, partition: str | None) -> float | None:
    records = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=key, asset_partitions=[partition] if partition else None), limit=1
    ).records
    return records[0].timestamp if records else None


def build_finish_after_cells(cells_job, finish_job) -> dg.RunStatusSensorDefinition:
    """A run-status sensor that requests a delivery's finish run once all its cells have succeeded."""

    @dg.run_status_sensor(
        name="finish_after_cells",
        run_status=dg.DagsterRunStatus.SUCCESS,
        monitored_jobs=[cells_job],
        request_job=finish_job,
        description="Requests a delivery's finish run once all its estimation cells have succeeded",
        default_status=dg.DefaultSensorStatus.RUNNING,
        minimum_interval_seconds=30,
    )
    def finish_after_cells(context: dg.RunStatusSensorContext, regdml: RegdmlResource):
        from assets.estimation.defs import CELL_ASSET_KEY, ESTIMATES_ASSET_KEY

        partition = context.dagster_run.tags.get("dagster/partition/" + DELIVERY_DIM)
        if not partition:
            return dg.SkipReason("cell run without a delivery partition")
        instance = context.instance
        last_finish = _latest_timestamp(instance, ESTIMATES_ASSET_KEY, partition) or 0.0
        # the configuration's cells: a cell partition of an earlier configuration is not waited for
        for cell in estimation_cells(regdml.run_config()):
            ts = _latest_timestamp(instance, CELL_ASSET_KEY, str(cell_partition_key(partition, cell)))
            if ts is None or ts <= last_finish:
                return dg.SkipReason(
                    f"delivery {partition}: cell {cell.key} not yet estimated since the last finish"
                )
        return dg.RunRequest(
            run_key=f"finish:{partition}:{context.dagster_run.run_id}", partition_key=partition
        )

    return finish_after_cells


def build_automation(jobs: list) -> tuple[list, list]:
    """Sensors and schedules for the jobs of :func:`pipelines.jobs.build_jobs` (by name)."""
    by_name = {j.name: j for j in jobs}
    sensors: list = [delivery_sensor]
    if CELLS_JOB in by_name and FINISH_JOB in by_name:
        sensors.append(build_finish_after_cells(by_name[CELLS_JOB], by_name[FINISH_JOB]))
    return sensors, [weekly_estimation]
