"""Dagster wrappers of the raw stage: the delivered files as observable source assets, and the manifest.

Each register's delivered files are one observable source asset (``raw_<register>_files``) whose
``DataVersion`` is the register's hash (sha256 over its files' names and sha256s). Observing them (the
UI's "Observe sources", or materializing the selection :data:`OBSERVE_SELECTION`) records a new version
only for the registers whose files changed, so exactly their staging assets (and what depends on them)
become stale. ``delivery_manifest`` writes every file's register, period, size, sha256 and mtime.
"""

import warnings

import dagster as dg

from assets.raw.manifest import build_manifest, file_rows, hash_cache_dir, register_version, write_manifest
from assets.staging.discover import discover
from data_contracts.config import REGISTERS
from data_contracts.registers import CONTRACTS
from pipelines.resources import RegdmlResource

OWNERS = ["team:regdml-ingestion"]
RAW_CODE_VERSION = "1"
DELIVERY_COMPLETE_CHECK = "delivery_complete"
MISSING_VERSION = "missing"


def raw_key(register: str) -> dg.AssetKey:
    """Key of the observable source asset of a register's delivered files, e.g. ``raw_bef_files``."""
    return dg.AssetKey(f"raw_{register}_files")


RAW_KEYS: list[dg.AssetKey] = [raw_key(r) for r in REGISTERS]
OBSERVE_SELECTION = dg.AssetSelection.assets(*RAW_KEYS)

RAW_SPECS = [
    dg.AssetSpec(
        raw_key(r),
        group_name="raw",
        description=f"Delivered {r.upper()} files ({CONTRACTS[r].description}); version = hash of their sha256s",
        owners=OWNERS,
        kinds={"sas", "csv", "parquet"},
        metadata={"register": r},
    )
    for r in REGISTERS
]

with warnings.catch_warnings():
    warnings.simplefilter("ignore", dg.BetaWarning)

    @dg.multi_observable_source_asset(specs=RAW_SPECS, required_resource_keys={"regdml"}, can_subset=True)
    def raw_delivery_files(context):
        """Observe the delivery folder: one data version per register (hash of its files' sha256s)."""
        regdml: RegdmlResource = context.resources.regdml
        paths = regdml.paths(context)
        disc = discover(paths.delivery_dir, regdml.run_config().file_patterns)
        cache = hash_cache_dir(paths.work_dir)
        selected = {k for k in context.selected_asset_keys}
        for reg in REGISTERS:
            key = raw_key(reg)
            if key not in selected:
                continue
            rows = file_rows(disc.of(reg), cache)
            version = (
                register_version((str(r["file"]), str(r["sha256"])) for r in rows)
                if rows
                else MISSING_VERSION
            )
            yield dg.ObserveResult(
                asset_key=key,
                data_version=dg.DataVersion(version),
                metadata={
                    "files": dg.MetadataValue.text(", ".join(str(r["file"]) for r in rows) or "(none)"),
                    "n_files": len(rows),
                    "bytes": int(sum(int(r["size"]) for r in rows)),  # type: ignore[call-overload]
                    "register_version": version,
                    "delivery_dir": dg.MetadataValue.path(str(paths.delivery_dir)),
                },
            )


@dg.asset(
    name="delivery_manifest",
    group_name="raw",
    deps=RAW_KEYS,
    owners=OWNERS,
    kinds={"parquet", "polars"},
    code_version=RAW_CODE_VERSION,
    check_specs=[
        dg.AssetCheckSpec(
            DELIVERY_COMPLETE_CHECK,
            asset="delivery_manifest",
            description="Every register has at least one file; no file matches two registers",
        )
    ],
)
def delivery_manifest(context: dg.AssetExecutionContext, regdml: RegdmlResource):
    """Every delivered file with its register, period, size, sha256 and modification time."""
    paths = regdml.paths(context)
    disc = discover(paths.delivery_dir, regdml.run_config().file_patterns)
    manifest = build_manifest(disc, hash_cache_dir(paths.work_dir))
    target = write_manifest(manifest, paths.stage("raw") / "delivery_manifest.parquet")
    for w in disc.warnings:
        context.log.warning(w)
    versions = dict(manifest.select("register", "register_version").unique().sort("register").iter_rows())
    problems = [str(p) for p in disc.problems] + [
        f"register '{r}' is missing: no file matches its pattern" for r in disc.missing
    ]
    yield dg.MaterializeResult(
        metadata={
            "dagster/row_count": manifest.height,
            "path": dg.MetadataValue.path(str(target)),
            "files": dg.MetadataValue.text(", ".join(manifest.get_column("file").to_list())),
            "register_versions": dg.MetadataValue.json(versions),
            "unmatched_files": dg.MetadataValue.text(", ".join(disc.unmatched) or "(none)"),
            "missing_registers": dg.MetadataValue.text(", ".join(disc.missing) or "(none)"),
            "dagster/column_schema": dg.TableSchema(
                columns=[dg.TableColumn(n, str(t)) for n, t in manifest.schema.items()]
            ),
        },
        check_results=[
            dg.AssetCheckResult(
                check_name=DELIVERY_COMPLETE_CHECK,
                passed=not problems,
                severity=dg.AssetCheckSeverity.ERROR,
                description="; ".join(problems) if problems else "all registers delivered",
                metadata={"unmatched_files": len(disc.unmatched)},
            )
        ],
    )


# Observe the delivery in its own run before materializing: an observation made in the same run as a
# materialization is not part of that materialization's provenance.
OBSERVE_JOB_NAME = "regdml_observe_delivery"
OBSERVE_JOB = dg.define_asset_job(
    OBSERVE_JOB_NAME,
    selection=OBSERVE_SELECTION,
    description="Hash the delivered files; registers whose files changed make their staging assets stale",
)

ASSETS = [raw_delivery_files, delivery_manifest]
CHECKS: list = []
JOBS = [OBSERVE_JOB]
