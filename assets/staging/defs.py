"""Dagster wrappers of the staging stage: one asset per register, contract checks, the DuckDB views.

Every staging asset depends only on its own register's delivered files (``raw_<register>_files``), so a
changed file makes exactly that register (and what depends on it) stale. Staging validates every file
against the contract while streaming it to a temporary Parquet file; it reports the result as the
blocking asset check ``contract``. If the contract is broken, the check fails, the asset raises a
``dg.Failure`` naming file, column and count, nothing is renamed, and the last good staged file stays
byte-for-byte as it was; downstream assets do not run.

A second blocking check, ``staged_schema``, re-checks the staged Parquet file on its own (schema, missing
values in required columns, key uniqueness per source file), so it can be re-run from the UI at any time.
"""

import hashlib

import dagster as dg

from assets.code_version import stage_version
from assets.partitions import deliveries as DELIVERIES
from assets.raw.defs import OWNERS, raw_key
from assets.raw.manifest import file_rows, hash_cache_dir, register_version
from assets.resources import RegdmlResource
from assets.staging.discover import discover
from assets.staging.read import DEFAULT_CHUNK_SIZE
from assets.staging.stage import DUCKDB_FILE, stage_register, validate_staged, write_duckdb_views
from data_contracts.config import OPTIONAL_REGISTERS, REGISTERS
from data_contracts.registers import CONTRACTS, RegisterContract
from data_contracts.settings import Settings
from data_contracts.validation import DeliveryError, Problem, errors, format_problems

# follows the code this stage runs (assets/code_version.py): validation, reading, the contracts
STAGING_CODE_VERSION = stage_version("staging")
CONTRACT_CHECK = "contract"
STAGED_SCHEMA_CHECK = "staged_schema"
DUCKDB_ASSET = "registers_duckdb"
MAX_PROBLEMS_SHOWN = 50


def chunk_size(regdml: RegdmlResource) -> int:
    """Rows per chunk when reading delivered files: ``REGDML_CHUNK_SIZE`` (default 250,000)."""
    value = getattr(regdml, "ingest_chunk_size", None) or Settings.from_env().chunk_size or DEFAULT_CHUNK_SIZE
    return int(value)


def staged_path(regdml: RegdmlResource, context, register: str):
    return regdml.paths(context).stage("staging") / f"{register}.parquet"


# ---------------------------------------------------------------------------------------------------
# Contracts -> table schemas and checks (one factory)


def table_schema(contract: RegisterContract) -> dg.TableSchema:
    """The staged columns of a register as a Dagster table schema (DREAM: the y_/grad_ templates)."""
    types = {"str": "string", "int": "int32", "float": "float64", "date": "date"}
    cols = []
    for c in contract.columns:
        dtype = "int16" if contract.wide and c.name == "grad_YYYY_MM" else types[c.dtype]
        allowed = f" Codes: codebook '{c.codebook_field}'." if c.codebook_field else ""
        rng = f" Range {c.value_range[0]}..{c.value_range[1]}." if c.value_range else ""
        unit = f" Unit: {c.unit}." if c.unit else ""
        cols.append(
            dg.TableColumn(
                c.name,
                dtype,
                description=f"{c.description}.{unit}{allowed}{rng}",
                constraints=dg.TableColumnConstraints(
                    nullable=c.nullable, unique=contract.key == (c.name,) and contract.period == "none"
                ),
            )
        )
    for name, dtype, desc in contract.derived:
        cols.append(dg.TableColumn(name, types[dtype], description=desc))
    return dg.TableSchema(columns=cols)


def _problems_md(problems: list[Problem]) -> dg.MetadataValue:
    rows = ["| file | column | rows | problem |", "|---|---|---|---|"]
    for p in problems[:MAX_PROBLEMS_SHOWN]:
        rows.append(f"| {p.file} | {p.column or ''} | {'' if p.count is None else p.count} | {p.problem} |")
    if len(problems) > MAX_PROBLEMS_SHOWN:
        rows.append(f"| ... | | | {len(problems) - MAX_PROBLEMS_SHOWN} more |")
    return dg.MetadataValue.md("\n".join(rows))


def contract_check_spec(register: str) -> dg.AssetCheckSpec:
    return dg.AssetCheckSpec(
        CONTRACT_CHECK,
        asset=register,
        blocking=True,
        description=f"Every delivered {register.upper()} file meets its contract (columns, types, codes, ranges, key)",
    )


def build_contract_checks(
    contracts: dict[str, RegisterContract],
) -> tuple[dict[str, dg.AssetCheckSpec], list]:
    """One factory for every contract check: the in-step ``contract`` check specs (by register) and the
    stand-alone blocking ``staged_schema`` checks on the staged files."""
    specs = {name: contract_check_spec(name) for name in contracts}
    checks = []
    for name, contract in contracts.items():

        def _make(name: str = name, contract: RegisterContract = contract):
            @dg.asset_check(
                asset=name,
                name=STAGED_SCHEMA_CHECK,
                blocking=True,
                description=f"staging/{name}.parquet has the contract's columns and types, and a unique key",
            )
            def _check(context: dg.AssetCheckExecutionContext, regdml: RegdmlResource) -> dg.AssetCheckResult:
                paths = regdml.paths(context)
                path = paths.stage("staging") / f"{name}.parquet"
                problems = validate_staged(
                    path, contract, regdml.codebook(), duckdb_settings=regdml.duckdb_settings(paths)
                )
                errs = errors(problems)
                return dg.AssetCheckResult(
                    passed=not errs,
                    severity=dg.AssetCheckSeverity.ERROR,
                    description=format_problems(errs[:5]) if errs else "staged file matches the contract",
                    metadata={"problems": _problems_md(errs)} if errs else {},
                )

            return _check

        checks.append(_make())
    return specs, checks


CHECK_SPECS, CHECKS = build_contract_checks(CONTRACTS)


# ---------------------------------------------------------------------------------------------------
# Staging assets


def _staged_version(reg_version: str, codebook_sha: str) -> str:
    h = hashlib.sha256(f"{STAGING_CODE_VERSION}|{reg_version}|{codebook_sha}".encode())
    return h.hexdigest()


def build_staging_asset(register: str) -> dg.AssetsDefinition:
    contract = CONTRACTS[register]

    @dg.asset(
        partitions_def=DELIVERIES,
        name=register,
        group_name="staging",
        deps=[raw_key(register)],
        description=f"Staged {register.upper()}: {contract.description} (typed Parquet, all periods)",
        owners=OWNERS,
        kinds={"parquet", "polars"},
        code_version=STAGING_CODE_VERSION,
        metadata={"dagster/column_schema": table_schema(contract)},
        check_specs=[CHECK_SPECS[register]],
    )
    def _asset(context: dg.AssetExecutionContext, regdml: RegdmlResource):
        paths = regdml.paths(context)
        cfg = regdml.run_config()
        codebook = cfg.codebook_obj()
        disc = discover(paths.delivery_dir, cfg.file_patterns)
        files = disc.of(register)
        target = paths.stage("staging") / f"{register}.parquet"
        problems: list[Problem] = [p for p in disc.problems]
        if not files and register not in OPTIONAL_REGISTERS:
            problems.append(
                Problem(
                    str(paths.delivery_dir),
                    None,
                    0,
                    f"register '{register}' is missing: no file matches {cfg.file_patterns[register]!r}",
                )
            )
        result = None
        if not errors(problems):
            try:
                result = stage_register(
                    contract,
                    files,
                    target,
                    codebook,
                    chunk_size=chunk_size(regdml),
                    duckdb_settings=regdml.duckdb_settings(paths),
                    max_cells=regdml.staging_cells_per_chunk(),
                )
            except DeliveryError as e:
                problems.extend(e.problems)
        errs = errors(problems)
        if errs or result is None:
            message = format_problems(errs)
            yield dg.AssetCheckResult(
                check_name=CONTRACT_CHECK,
                passed=False,
                severity=dg.AssetCheckSeverity.ERROR,
                description=message[:2000],
                metadata={"problems": _problems_md(errs), "n_problems": len(errs)},
            )
            raise dg.Failure(
                description=f"{register}: the delivery breaks its contract; staging/{register}.parquet was not "
                f"changed.\n{message}",
                metadata={"problems": _problems_md(errs)},
                allow_retries=False,
            )
        for w in result.warnings:
            context.log.warning(str(w))
        rows = file_rows(files, hash_cache_dir(paths.work_dir))
        reg_version = register_version((str(r["file"]), str(r["sha256"])) for r in rows)
        meta: dict = {
            "dagster/row_count": result.rows,
            "dagster/column_schema": table_schema(contract),
            "path": dg.MetadataValue.path(str(result.path)),
            "source_files": dg.MetadataValue.text(", ".join(result.files)),
            "rows_per_file": dg.MetadataValue.json(result.rows_per_file),
            "register_version": reg_version,
            "codebook_version": codebook.version,
            "config_sha256": cfg.table_sha256,
            "codebook_sha256": codebook.sha256,
            "chunk_size": chunk_size(regdml),
            "delivered": bool(files),
            "warnings": dg.MetadataValue.text("\n".join(str(w) for w in result.warnings) or "(none)"),
        }
        if contract.wide:
            weeks = [c for c in result.schema if c.startswith("y_")]
            months = [c for c in result.schema if c.startswith("grad_")]
            meta["weeks"] = f"{len(weeks)} ({weeks[0]}..{weeks[-1]})" if weeks else "0"
            meta["months"] = f"{len(months)} ({months[0]}..{months[-1]})" if months else "0"
        yield dg.MaterializeResult(
            metadata=meta,
            # The table build's sections of the run configuration are part of the version: a change in
            # one of them makes everything downstream stale, as a changed file does. The estimation's and
            # the value table's sections reach only what reads them (assets/raw/defs.py CONFIG_SECTIONS).
            data_version=dg.DataVersion(
                _staged_version(f"{reg_version}|{cfg.table_sha256}", codebook.sha256)
            ),
            check_results=[
                dg.AssetCheckResult(
                    check_name=CONTRACT_CHECK,
                    passed=True,
                    severity=dg.AssetCheckSeverity.ERROR,
                    description=f"{result.rows} rows in {len(result.files)} file(s) meet the contract",
                    metadata={"warnings": len(result.warnings)},
                )
            ],
        )

    return _asset


STAGING_ASSETS = [build_staging_asset(r) for r in REGISTERS]


@dg.asset(
    partitions_def=DELIVERIES,
    name=DUCKDB_ASSET,
    group_name="staging",
    # DuckDB allows one writer per database file: the "duckdb" pool (limit 1 in dagster.yaml).
    pool="duckdb",
    deps=[dg.AssetKey(r) for r in REGISTERS],
    owners=OWNERS,
    kinds={"duckdb"},
    code_version=STAGING_CODE_VERSION,
)
def registers_duckdb(context: dg.AssetExecutionContext, regdml: RegdmlResource) -> dg.MaterializeResult:
    """DuckDB database staging/registers.duckdb with one view per staged register, for researchers."""
    paths = regdml.paths(context)
    staging = paths.stage("staging")
    target = write_duckdb_views(staging, REGISTERS, regdml.duckdb_settings(paths))
    views = [r for r in REGISTERS if (staging / f"{r}.parquet").is_file()]
    return dg.MaterializeResult(
        metadata={
            "path": dg.MetadataValue.path(str(target)),
            "views": dg.MetadataValue.text(", ".join(views)),
            "usage": dg.MetadataValue.md(
                f"```sql\n-- duckdb {staging / DUCKDB_FILE}\nSELECT year, count(*) FROM bef GROUP BY year;\n```"
            ),
        }
    )


ASSETS = [*STAGING_ASSETS, registers_duckdb]
