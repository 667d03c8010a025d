"""Resources: where a delivery is read from, where work data go, and the memory and thread limits.

Every value comes from an environment variable with a default (declared once, in
:class:`data_contracts.settings.Settings`), so the same code runs on a laptop, on the DST research server
(raw data read-only on E:, work data writable) and in CI.

It lives in ``assets`` (not in the code location ``pipelines``) so that the stages' wrappers can take it as
a parameter without importing the code location: ``pipelines`` imports ``assets``, never the reverse
(``tests/test_layers.py``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import dagster as dg

from data_contracts.codebook import Codebook
from data_contracts.config import RunConfig, load_config
from data_contracts.settings import DEFAULT_MEMORY, Settings, parse_memory

__all__ = ["DEFAULT_MEMORY", "RegdmlResource", "RunPaths", "default_workdir", "parse_memory"]
# DuckDB's share of the memory budget: its limit covers its own buffers, not the Python process
# (imports, Polars chunks, Arrow batches), which needs about 1 GB beside it at register scale.
DUCKDB_SHARE = 0.6
# Cells (rows x columns) per chunk when staging, per byte of budget: 4GB -> 10 million cells (a
# 19,000-row chunk of a 515-column DREAM, about 1 GB resident while it is cast, checked and written).
CELLS_PER_BYTE = 10_000_000 / 4e9


def default_workdir(settings: Settings | None = None) -> Path:
    """``REGDML_WORKDIR`` (of ``settings``, else of the environment), else ``./work``."""
    settings = settings or Settings.from_env()
    return Path(settings.workdir or "work").resolve()


@dataclass(frozen=True)
class RunPaths:
    """The folders of one delivery's run. Every stage writes under ``work_dir/<stage>/``."""

    delivery_dir: Path
    work_dir: Path

    def stage(self, name: str) -> Path:
        p = self.work_dir / name
        p.mkdir(parents=True, exist_ok=True)
        return p

    @property
    def tmp_dir(self) -> Path:
        """Spill folder for DuckDB and temporary files (on the same disk as the outputs)."""
        return self.stage("tmp")

    @property
    def nuisance_cache_dir(self) -> Path:
        """Shared nuisance fits (``estimation.share_fits``, :mod:`models.nuisance_cache`): cross-fitted
        predictions, person-level data, so in the work folder. Created when the first fit is stored."""
        return self.work_dir / "cache" / "nuisance"


def load_run_config(path: str | Path | None = None, overrides: dict | None = None) -> RunConfig:
    """:func:`load_config`, then the estimation's own rules
    (:func:`assets.estimation.logic.check_estimation_config`): a configuration every estimation cell would
    refuse is refused at load, before a register is staged.

    Raises
    ------
    ConfigError
        Naming the key and the value.
    """
    from assets.estimation.logic import check_estimation_config

    return check_estimation_config(load_config(path, overrides=overrides))


def final_overrides(final: bool) -> dict | None:
    """The configuration overrides of ``regdml run --final``."""
    return {"estimation": {"final": True}} if final else None


class RegdmlResource(dg.ConfigurableResource):
    """Paths, run configuration and resource limits for one regdml run."""

    delivery_dir: str = ""
    # Folder whose sub-folders are deliveries; a delivery partition's folder is <delivery_root>/<key>.
    delivery_root: str = ""
    workdir: str = ""
    config_path: str = ""
    # The one memory setting: the budget of the pipeline's process (REGDML_MEMORY). DuckDB gets
    # DUCKDB_SHARE of it (or duckdb_memory_limit when set), staging sizes its chunks from it.
    memory_limit: str = DEFAULT_MEMORY
    duckdb_memory_limit: str = ""
    duckdb_threads: int = 2
    polars_threads: int = 2
    # Ground truth of a synthetic delivery (outside the delivery folder). Only the report reads it, to
    # show the true values beside the estimates; estimation never sees it.
    truth_path: str = ""
    # Where the estimation's learners are fitted (models.engine.engine_from_setting): '' = in process,
    # 'local[:N]', 'tcp://host:port' or 'slurm[:jobs]'. Not part of the run configuration: it changes
    # neither the results nor any data version, only where the work is done.
    dask: str = ""
    # Folder for the Parquet files the Dask workers read; must be on storage every worker sees at the same
    # path. Default: <work folder of the run>/tmp/dask.
    dask_scratch: str = ""
    # ``regdml run --final``: the run configuration's estimation.final set to true (refused at load unless
    # estimation.n_reps >= 5).
    final: bool = False

    @classmethod
    def from_env(cls) -> RegdmlResource:
        """The resource of the environment's settings (:meth:`Settings.from_env`)."""
        return cls.from_settings(Settings.from_env())

    @classmethod
    def from_settings(cls, settings: Settings, **overrides) -> RegdmlResource:
        """The resource of ``settings``; ``overrides`` (fields of the resource) win, as the command line's
        options win over the environment."""
        values = dict(
            delivery_dir=settings.delivery,
            delivery_root=settings.delivery_root,
            workdir=settings.workdir,
            config_path=settings.config,
            memory_limit=settings.memory,
            duckdb_memory_limit=settings.duckdb_memory,
            duckdb_threads=settings.duckdb_threads,
            polars_threads=settings.polars_threads,
            truth_path=settings.truth,
            dask=settings.dask,
            dask_scratch=settings.dask_scratch,
            final=settings.final,
        )
        return cls(**{**values, **overrides})

    def run_config(self) -> RunConfig:
        return load_run_config(self.config_path or None, overrides=final_overrides(self.final))

    def codebook(self) -> Codebook:
        return self.run_config().codebook_obj()

    def paths(self, context: dg.AssetExecutionContext | None = None) -> RunPaths:
        """Folders for this run. Work data go to ``<workdir>/runs/<delivery folder name>/``.

        In a run of a delivery partition the folder is ``<delivery_root>/<partition key>``; otherwise it
        is ``delivery_dir``.
        """
        from assets.partitions import delivery_key_of

        key = delivery_key_of(context)
        if key is not None:
            root = (
                Path(self.delivery_root)
                if self.delivery_root
                else (Path(self.delivery_dir).parent if self.delivery_dir else None)
            )
            if root is None:
                raise ValueError("regdml: partitioned run but no delivery root (set REGDML_DELIVERY_ROOT)")
            delivery = (root / key).resolve()
        elif self.delivery_dir:
            delivery = Path(self.delivery_dir).resolve()
        else:
            raise ValueError("regdml: no delivery folder given (set REGDML_DELIVERY or pass --delivery)")
        work_root = Path(self.workdir).resolve() if self.workdir else default_workdir()
        return RunPaths(delivery_dir=delivery, work_dir=work_root / "runs" / delivery.name)

    def memory_bytes(self) -> int:
        """The memory budget in bytes (``memory_limit``, validated)."""
        return parse_memory(self.memory_limit, "REGDML_MEMORY")

    def duckdb_limit(self) -> str:
        """DuckDB's memory limit: ``duckdb_memory_limit`` if set, else its share of the budget, in MB."""
        if self.duckdb_memory_limit:
            return f"{parse_memory(self.duckdb_memory_limit, 'REGDML_DUCKDB_MEMORY') // 10**6}MB"
        return f"{int(self.memory_bytes() * DUCKDB_SHARE) // 10**6}MB"

    def staging_cells_per_chunk(self) -> int:
        """Rows x columns per staging chunk, from the memory budget (at least 1 million)."""
        return max(1_000_000, int(self.memory_bytes() * CELLS_PER_BYTE))

    def engine(self, paths: RunPaths, share_fits: bool = False):
        """The estimation engine of ``dask`` (:func:`models.engine.engine_from_setting`); its Dask
        workers read the fits' Parquet files under ``dask_scratch``, else ``<run>/tmp/dask``. With
        ``share_fits`` (``estimation.share_fits``) it reads and stores the fits in
        :attr:`RunPaths.nuisance_cache_dir` (a new cache object each call: its usage is one cell's)."""
        from models.engine import engine_from_setting
        from models.nuisance_cache import NuisanceCache

        scratch = self.dask_scratch or str(paths.tmp_dir / "dask")
        cache = NuisanceCache(paths.nuisance_cache_dir) if share_fits else None
        return engine_from_setting(self.dask, scratch=scratch, name="REGDML_DASK", cache=cache)

    def duckdb_settings(self, paths: RunPaths) -> dict[str, str | int]:
        """Settings for every DuckDB connection: memory cap, spill folder, threads, no downloads."""
        return {
            "memory_limit": self.duckdb_limit(),
            "threads": self.duckdb_threads,
            "temp_directory": str(paths.tmp_dir),
            "preserve_insertion_order": "false",
            "autoinstall_known_extensions": "false",
            "autoload_known_extensions": "false",
        }
