"""The Dagster side of the table contracts (``data_contracts/tables.py``): one factory for every stage output.

From a contract it makes the output's column schema (type, description, role and unit as tags), the
metadata every output reports (rows, schema, path), and a blocking asset check (schema and primary-key
uniqueness, computed by :func:`assets.contracts.contract_report` on the Parquet file, out of core). A stage's
wrapper adds ``contract_checks(ASSETS)`` to its checks; a table that breaks its contract stops everything
downstream of its asset.
"""

from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path

import dagster as dg
import polars as pl

from assets.code_version import stage_version
from assets.contracts import contract_report
from assets.partitions import deliveries as DELIVERIES
from assets.resources import RegdmlResource, RunPaths
from data_contracts.tables import TABLES, TableContract, tables_of

# Owners of the register-logic stages' assets (cohort to analysis).
OWNERS = ["team:register-logic"]


def staged_path(paths: RunPaths, register: str) -> Path:
    """``<work_dir>/staging/<register>.parquet``: a register as staged (``data_contracts/registers.py``)."""
    return paths.work_dir / "staging" / f"{register}.parquet"


def stage_asset(
    stage: str, deps: Sequence[str], description: str, kinds: Iterable[str] = ("duckdb", "parquet")
) -> Callable:
    """``@dg.asset`` of a register-logic stage from ``fn(context, paths, regdml) -> dg.MaterializeResult``
    (the run's folders resolved): partitioned by delivery, in the stage's group, with the stage's code
    version (``assets/code_version.py``: it follows the code the stage runs) and owners, upstream assets
    named by key. The asset takes the function's name."""

    def wrap(fn: Callable[..., dg.MaterializeResult]) -> dg.AssetsDefinition:
        @dg.asset(
            name=fn.__name__,
            partitions_def=DELIVERIES,
            deps=[dg.AssetKey(d) for d in deps],
            group_name=stage,
            code_version=stage_version(stage),
            owners=OWNERS,
            kinds=set(kinds),
            description=description,
        )
        def _asset(context: dg.AssetExecutionContext, regdml: RegdmlResource) -> dg.MaterializeResult:
            return fn(context, regdml.paths(context), regdml)

        return _asset

    return wrap


def stage_check(asset: str, name: str, description: str) -> Callable:
    """A blocking check of ``asset`` from ``fn(paths, regdml) -> dg.AssetCheckResult`` (the run's folders
    and the resource)."""

    def wrap(fn: Callable[[RunPaths, RegdmlResource], dg.AssetCheckResult]) -> dg.AssetChecksDefinition:
        @dg.asset_check(asset=dg.AssetKey(asset), name=name, blocking=True, description=description)
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
