"""regdml estimation: DoubleML designs, diagnostics and power. No Dagster import here.

Public API: :func:`estimate`, :class:`DesignSpec`, :class:`EstimateResult`, :func:`leave_one_out_share`,
:func:`split_sample_share`, :func:`person_folds`, :func:`permute_within`, :func:`mde_table`.
"""

from models.diagnostics import permute_within
from models.estimate import DesignSpec, EstimateResult, estimate
from models.folds import person_folds
from models.instrument import leave_one_out_share, split_sample_share
from models.power import mde, mde_table

__all__ = [
    "DesignSpec",
    "EstimateResult",
    "estimate",
    "leave_one_out_share",
    "mde",
    "mde_table",
    "permute_within",
    "person_folds",
    "split_sample_share",
]
