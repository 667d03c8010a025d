"""The Dagster side of the table contracts (``data_contracts/tables.py``): one factory for every stage output.

From a contract it makes the output's column schema (type, description, role and unit as tags), the
metadata every output reports (rows, schema, path), and a blocking asset check (schema and primary-key
uniqueness, computed by :func:`assets.contracts.contract_report` on the Parquet file, out of core). A stage's
wrapper adds ``contract_checks(ASSETS)`` to its checks; a table that breaks its contract stops everything
downstream of its asset.
"""

import inspect
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path

import dagster as dg
import polars as pl

from assets.code_version import stage_version
from assets.contracts import contract_report
from assets.partitions import deliveries as DELIVERIES
from assets.resources import RegdmlResource, RunPaths
from data_contracts.codebook import Codebook
from data_contracts.config import RunConfig
from data_contracts.tables import TABLES, TableContract, tables_of

# Owners of the register-logic stages' assets (cohort to analysis).
OWNERS = ["team:register-logic"]


def staged_path(paths: RunPaths, register: str) -> Path:
    """``<work_dir>/staging/<register>.parquet``: a register as staged (``data_contracts/registers.py``)."""
    return paths.work_dir / "staging" / f"{register}.parquet"


def _description(fn: Callable, description: str | None) -> str:
    # the function's docstring is the description shown in the UI unless one is given
    return description if description is not None else inspect.cleandoc(fn.__doc__ or "")


def stage_settings(
    regdml: RegdmlResource, paths: RunPaths
) -> tuple[RunConfig, Codebook, dict[str, str | int]]:
    """What every stage function takes after its paths: the run configuration, its codebook and the DuckDB
    settings of the run (memory limit, spill folder, threads)."""
    cfg = regdml.run_config()
    return cfg, cfg.codebook_obj(), regdml.duckdb_settings(paths)


def stage_asset(
    stage: str,
    deps: Sequence[str | dg.AssetDep],
    description: str | None = None,
    kinds: Iterable[str] = ("duckdb", "parquet"),
    owners: Sequence[str] = tuple(OWNERS),
    version_of: str | None = None,
) -> Callable:
    """``@dg.asset`` of a stage from ``fn(context, paths, regdml) -> dg.MaterializeResult`` (the run's
    folders resolved): partitioned by delivery, in the stage's group, with the code version of
    ``version_of`` (default: the stage; ``assets/code_version.py``: it follows the code the stage runs) and
    ``owners`` (default: register logic), upstream assets named by key (or given as ``dg.AssetDep`` with
    a partition mapping). The asset takes the function's name, and its docstring as description unless
    ``description`` is given."""

    def wrap(fn: Callable[..., dg.MaterializeResult]) -> dg.AssetsDefinition:
        @dg.asset(
            name=fn.__name__,
            partitions_def=DELIVERIES,
            deps=[d if isinstance(d, dg.AssetDep) else dg.AssetKey(d) for d in deps],
            group_name=stage,
            code_version=stage_version(version_of or stage),
            owners=list(owners),
            kinds=set(kinds),
            description=_description(fn, description),
        )
        def _asset(context: dg.AssetExecutionContext, regdml: RegdmlResource) -> dg.MaterializeResult:
            return fn(context, regdml.paths(context), regdml)

        return _asset

    return wrap


def stage_check(asset: str, name: str, description: str | None = None) -> Callable:
    """A blocking check of ``asset`` from ``fn(paths, regdml) -> dg.AssetCheckResult`` (the run's folders
    and the resource); described by its docstring unless ``description`` is given."""

    def wrap(fn: Callable[[RunPaths, RegdmlResource], dg.AssetCheckResult]) -> dg.AssetChecksDefinition:
        @dg.asset_check(
            asset=dg.AssetKey(asset), name=name, blocking=True, description=_description(fn, description)
        )
        def _check(context: dg.AssetCheckExecutionContext, regdml: RegdmlResource) -> dg.AssetCheckResult:
            return fn(regdml.paths(context), regdml)

        return _check

    return wrap


def check_name(contract: TableContract) -> str:
    """Name of the contract check of a table: ``<table>_matches_contract``."""
    return f"{contract.name}_matches_contract"


def column_schema(
    contract: TableContract, path: str | Path, descriptions: Mapping[str, str] | None = None
) -> dg.TableSchema:
    """The written file's columns with their types, and from the contract each one's description, role and
    unit (``descriptions`` overrides a description, e.g. the covariates' definitions)."""
    d = descriptions or {}
    cols = []
    for name, dtype in pl.read_parquet_schema(path).items():
        spec = contract.spec(name)
        tags = {} if spec is None else {"role": spec.role or "", **({"unit": spec.unit} if spec.unit else {})}
        cols.append(
            dg.TableColumn(
                name=name,
                type=str(dtype),
                description=d.get(name, spec.description if spec is not None else None),
                tags=tags,
            )
        )
    return dg.TableSchema(columns=cols)


def n_rows(path: str | Path) -> int:
    """Rows of a Parquet file (from its footer)."""
    return int(pl.scan_parquet(path).select(pl.len()).collect().item())


def output_metadata(
    contract: TableContract,
    work_dir: str | Path,
    n: int | None = None,
    descriptions: Mapping[str, str] | None = None,
) -> dict[str, object]:
    """What every output reports: ``dagster/row_count`` (``n`` or counted), ``dagster/column_schema`` and
    ``path``."""
    path = contract.path(work_dir)
    return {
        "dagster/row_count": n_rows(path) if n is None else int(n),
        "dagster/column_schema": column_schema(contract, path, descriptions),
        "path": dg.MetadataValue.path(str(path)),
    }


def contract_check(contract: TableContract) -> dg.AssetChecksDefinition:
    """A blocking check of ``contract`` on its asset: the file's columns and types, no duplicate or null
    primary key."""
    key = ", ".join(contract.key) or "(none)"
    what = f"key ({key}) checked by {contract.key_checked_by}" if contract.key_checked_by else f"key ({key})"

    @stage_check(
        contract.asset_name,
        check_name(contract),
        f"{contract.file} matches its contract (data_contracts/tables.py): declared columns and types; "
        f"unique, non-null {what}.",
    )
    def _check(paths: RunPaths, regdml: RegdmlResource) -> dg.AssetCheckResult:
        r = contract_report(contract, paths.work_dir, regdml.duckdb_settings(paths))
        return dg.AssetCheckResult(
            passed=bool(r["passed"]),
            metadata={
                "table": contract.name,
                "problems": dg.MetadataValue.md("\n".join(f"- {p}" for p in r["problems"]) or "(none)"),
                "n_duplicate_keys": r["n_duplicate_keys"],
                "n_null_keys": r["n_null_keys"],
                "key": dg.MetadataValue.json(r["key"]),
            },
            description=None if r["passed"] else "; ".join(r["problems"])[:2000] or None,
        )

    return _check


def contract_checks(assets: Iterable[dg.AssetsDefinition]) -> list[dg.AssetChecksDefinition]:
    """The contract checks of every table the given assets write (each asset's own table first)."""
    out = []
    for a in assets:
        for k in a.keys:
            out += [contract_check(t) for t in tables_of(k.path[-1])]
    return out


def table(name: str) -> TableContract:
    """The contract of the stage output ``name`` (``data_contracts.tables.TABLES``)."""
    return TABLES[name]
