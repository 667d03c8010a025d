"""Session-wide test settings: offline, no telemetry, seeded."""

import os

os.environ.setdefault("DAGSTER_DISABLE_TELEMETRY", "1")
os.environ.setdefault("POLARS_MAX_THREADS", "2")


import pytest  # noqa: E402


def _materialize_delivery(assets, delivery, instance, **kwargs):
    """``dg.materialize`` for one delivery partition: adds the delivery folder's name as a partition of
    ``deliveries`` (as ``regdml run`` and the delivery sensor do) and materializes that partition."""
    import dagster as dg

    from assets.partitions import DELIVERIES_NAME

    key = kwargs.pop("partition_key", None) or delivery.name
    if key not in instance.get_dynamic_partitions(DELIVERIES_NAME):
        instance.add_dynamic_partitions(DELIVERIES_NAME, [key])
    return dg.materialize(assets, instance=instance, partition_key=key, **kwargs)


@pytest.fixture()
def materialize_delivery():
    """A function ``(assets, delivery_dir, instance, **materialize_kwargs)`` for partitioned runs."""
    return _materialize_delivery


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item):
    """Each test, and each fixture it sets up, starts without a leftover Dagster state storage.

    A ``DagsterInstance`` used as a context manager sets a context variable pointing at its state
    storage; when that instance is gone while the variable still points at it, the next
    ``Definitions`` resolution in the same thread fails ("undefined DagsterInstance weakref"). This
    runs before any fixture of the test (module- and session-scoped ones included) is set up.
    """
    from dagster._core.storage.defs_state.base import _current_storage

    _current_storage.set(None)
