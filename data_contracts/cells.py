"""The estimation cells of a run configuration: one function, read by everything that names a cell.

A cell is one (outcome, design) of the estimation grid: every outcome of ``estimation.primary_outcomes``
and then ``estimation.placebo_outcomes`` (an outcome named in both once, at its first place), each with
every design of ``estimation.designs``, in the configuration's order. Its key ``"<outcome>__<design>"`` is
the cell's partition key (``assets/partitions.py``), the stem of its files under ``estimation/cells`` and
its record among the shared fits. The partitions, ``regdml run``, the delivery sensor, the weekly schedule
and the collection of the estimates all take the cells from :func:`estimation_cells`, so a cell a user's
configuration adds is estimated and a cell it drops is not reported.

Plain data: no Dagster (``tests/test_layers.py``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:
    from data_contracts.config import EstimationConfig, RunConfig

# Between the outcome and the design in a cell's key; no design name contains it (data_contracts/designs.py)
SEPARATOR = "__"


class Cell(NamedTuple):
    """One estimation cell: an outcome estimated with a design (unpacks as ``(outcome, design)``)."""

    outcome: str
    design: str

    @property
    def key(self) -> str:
        """``"<outcome>__<design>"``: the partition key and the file stem of the cell."""
        return f"{self.outcome}{SEPARATOR}{self.design}"


def estimation_cells(cfg: RunConfig | EstimationConfig) -> list[Cell]:
    """The estimation cells of a run configuration, in a stable order.

    Parameters
    ----------
    cfg : RunConfig or EstimationConfig
        The run configuration (or its ``estimation`` section).

    Returns
    -------
    list of Cell
        Outcome by outcome (the primary outcomes, then the placebo outcomes; each once), every design in the
        configuration's order within an outcome.
    """
    est = getattr(cfg, "estimation", cfg)
    outcomes = dict.fromkeys((*est.primary_outcomes, *est.placebo_outcomes))
    designs = dict.fromkeys(est.designs)
    return [Cell(o, d) for o in outcomes for d in designs]


def cell_keys(cfg: RunConfig | EstimationConfig) -> list[str]:
    """The keys (``"<outcome>__<design>"``) of :func:`estimation_cells`, in its order."""
    return [c.key for c in estimation_cells(cfg)]


def cell_of_key(key: str) -> Cell:
    """The cell of a key ``"<outcome>__<design>"`` (the design is what follows the last ``__``).

    Raises
    ------
    ValueError
        Naming the key, when it has no ``__`` or an empty outcome or design.
    """
    outcome, sep, design = str(key).rpartition(SEPARATOR)
    if not sep or not outcome or not design:
        raise ValueError(f"cell key must be '<outcome>{SEPARATOR}<design>'; got {key!r}")
    return Cell(outcome, design)
