"""Register contracts, the codebook and the run configuration, as plain data (no Dagster import)."""

from data_contracts.codebook import Codebook, load_codebook
from data_contracts.config import RunConfig, load_config

__all__ = ["Codebook", "RunConfig", "load_codebook", "load_config"]
