"""Partitions: each delivery folder is one dynamic partition of every asset.

The delivery sensor adds a partition when a folder under the delivery root is complete;
``regdml run --delivery DIR`` adds ``DIR``'s name. The estimation cells are partitioned by delivery and
by cell (outcome x design), so a single failed or changed fit reruns alone.

It lives in ``assets`` (beside :mod:`assets.resources`) so that the stages can declare their partitions
without importing the code location ``pipelines``.
"""

from __future__ import annotations

import dagster as dg

DELIVERIES_NAME = "deliveries"
DELIVERY_DIM = "delivery"
CELL_DIM = "cell"

deliveries = dg.DynamicPartitionsDefinition(name=DELIVERIES_NAME)


def delivery_key_of(context: dg.AssetExecutionContext | dg.OpExecutionContext | None) -> str | None:
    """The delivery partition key of a run, or None for an unpartitioned run."""
    if context is None or not getattr(context, "has_partition_key", False):
        return None
    key = context.partition_key
    if isinstance(key, dg.MultiPartitionKey):
        return key.keys_by_dimension[DELIVERY_DIM]
    return str(key)
