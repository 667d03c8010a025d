"""Session-wide test settings: offline, no telemetry, seeded."""

import os

os.environ.setdefault("DAGSTER_DISABLE_TELEMETRY", "1")
os.environ.setdefault("POLARS_MAX_THREADS", "2")


import pytest  # noqa: E402


def _materialize_delivery(assets, delivery, instance, **kwargs):
    """``dg.materialize`` for one delivery partition: adds the delivery folder's name as a partition of
    ``deliveries`` (as ``regdml run`` and the delivery sensor do) and materializes that partition."""
    import dagster as dg

    from pipelines.partitions import DELIVERIES_NAME

    key = kwargs.pop("partition_key", None) or delivery.name
    if key not in instance.get_dynamic_partitions(DELIVERIES_NAME):
        instance.add_dynamic_partitions(DELIVERIES_NAME, [key])
    return dg.materialize(assets, instance=instance, partition_key=key, **kwargs)


@pytest.fixture()
def materialize_delivery():
    """A function ``(assets, delivery_dir, instance, **materialize_kwargs)`` for partitioned runs."""
    return _materialize_delivery
