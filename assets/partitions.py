"""Partitions: each delivery folder is one dynamic partition of every asset.

The delivery sensor adds a partition when a folder under the delivery root is complete;
``regdml run --delivery DIR`` adds ``DIR``'s name. The estimation cells are partitioned by delivery and
by cell (outcome x design), so a single failed or changed fit reruns alone. The cells are dynamic partitions
too (``estimation_cell``): the run configuration says which cells there are
(:func:`data_contracts.cells.estimation_cells`), and ``regdml run``, the delivery sensor and the weekly
schedule add the configured cells (:func:`add_cells`) before they request them. The partitions hold every
cell ever added; a run estimates, and the collection reports, only the configuration's.

It lives in ``assets`` (beside :mod:`assets.resources`) so that the stages can declare their partitions
without importing the code location ``pipelines``.
"""

from __future__ import annotations

from collections.abc import Sequence

import dagster as dg

from data_contracts.cells import Cell

DELIVERIES_NAME = "deliveries"
CELLS_NAME = "estimation_cell"
DELIVERY_DIM = "delivery"
CELL_DIM = "cell"

deliveries = dg.DynamicPartitionsDefinition(name=DELIVERIES_NAME)
cells = dg.DynamicPartitionsDefinition(name=CELLS_NAME)
# The estimation cells' partitions: (delivery, cell), the cell's key "<outcome>__<design>"
CELL_PARTITIONS = dg.MultiPartitionsDefinition({DELIVERY_DIM: deliveries, CELL_DIM: cells})


def cell_partition_key(delivery: str, cell: Cell) -> dg.MultiPartitionKey:
    """The partition key of ``cell`` of ``delivery``."""
    return dg.MultiPartitionKey({DELIVERY_DIM: delivery, CELL_DIM: cell.key})


def cells_to_add(instance: dg.DagsterInstance, wanted: Sequence[Cell]) -> list[str]:
    """The keys of ``wanted`` that are not yet partitions of ``estimation_cell``, in ``wanted``'s order."""
    known = set(instance.get_dynamic_partitions(CELLS_NAME))
    return [c.key for c in wanted if c.key not in known]


def add_cells(instance: dg.DagsterInstance, wanted: Sequence[Cell]) -> list[str]:
    """Add the cells of ``wanted`` that are not yet partitions of ``estimation_cell``; returns their keys."""
    new = cells_to_add(instance, wanted)
    if new:
        instance.add_dynamic_partitions(CELLS_NAME, new)
    return new


def delivery_key_of(context: dg.AssetExecutionContext | dg.OpExecutionContext | None) -> str | None:
    """The delivery partition key of a run, or None for an unpartitioned run."""
    if context is None or not getattr(context, "has_partition_key", False):
        return None
    key = context.partition_key
    if isinstance(key, dg.MultiPartitionKey):
        return key.keys_by_dimension[DELIVERY_DIM]
    return str(key)
