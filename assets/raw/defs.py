"""Dagster wrappers of the raw stage: the delivered files as versioned assets, and the manifest.

Every asset is partitioned by delivery (one dynamic partition per delivery folder). Each register's
delivered files are one asset (``raw_<register>_files``) whose ``DataVersion`` is the register's hash
(sha256 over its files' names and sha256s). They are materialized at the start of every run; a register
whose files did not change keeps its version, so only the registers whose files changed make their
staging assets (and what depends on them) stale. ``delivery_manifest`` writes every file's register,
period, size, sha256 and mtime.

The run configuration is an input as well, versioned by section (``data_contracts/config.py``): the
registers' data versions hold the hash of the sections the table build reads (``TABLE_SECTIONS``), so a
change there restages every register. The sections only the estimation and the value table read have assets
of their own, ``config_estimation`` and ``config_value``, materialized beside the registers at the start of
every run with the section's hash as data version and upstream of exactly the assets that read them: a
changed ``estimation.n_reps`` re-estimates the cells and restages nothing.
"""

import hashlib

import dagster as dg

from assets.code_version import stage_version
from assets.partitions import deliveries as DELIVERIES
from assets.raw.manifest import build_manifest, file_rows, hash_cache_dir, register_version, write_manifest
from assets.resources import RegdmlResource
from assets.staging.discover import discover
from data_contracts.config import ESTIMATION_SECTIONS, REGISTERS, VALUE_SECTIONS
from data_contracts.registers import CONTRACTS

OWNERS = ["team:regdml-ingestion"]
# follows the code this stage runs (assets/code_version.py)
RAW_CODE_VERSION = stage_version("raw")
DELIVERY_COMPLETE_CHECK = "delivery_complete"
MISSING_VERSION = "missing"


def raw_key(register: str) -> dg.AssetKey:
    """Key of the asset of a register's delivered files, e.g. ``raw_bef_files``."""
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
        code_version=RAW_CODE_VERSION,
        skippable=True,
    )
    for r in REGISTERS
]


@dg.multi_asset(
    specs=RAW_SPECS,
    partitions_def=DELIVERIES,
    can_subset=True,
    name="raw_delivery_files",
)
def raw_delivery_files(context: dg.AssetExecutionContext, regdml: RegdmlResource):
    """Hash the delivered files: one data version per register (hash of its files' sha256s).

    Materialized at the start of every run (cheap: file hashes are cached by path, size and mtime). A
    register whose files did not change keeps its data version, so nothing downstream of it is stale.
    """
    paths = regdml.paths(context)
    cfg = regdml.run_config()
    codebook_sha = cfg.codebook_obj().sha256
    disc = discover(paths.delivery_dir, cfg.file_patterns)
    cache = hash_cache_dir(paths.work_dir)
    selected = set(context.selected_asset_keys)
    for reg in REGISTERS:
        key = raw_key(reg)
        if key not in selected:
            continue
        rows = file_rows(disc.of(reg), cache)
        version = (
            register_version((str(r["file"]), str(r["sha256"])) for r in rows) if rows else MISSING_VERSION
        )
        # The files, the table build's sections of the run configuration and the codebook together: a
        # change in any of them makes the register's staging asset (and everything downstream) stale. The
        # estimation's and the value table's sections are versioned by config_estimation / config_value.
        combined = hashlib.sha256(f"{version}|{cfg.table_sha256}|{codebook_sha}".encode()).hexdigest()
        yield dg.MaterializeResult(
            asset_key=key,
            data_version=dg.DataVersion(combined),
            metadata={
                "files": dg.MetadataValue.text(", ".join(str(r["file"]) for r in rows) or "(none)"),
                "n_files": len(rows),
                "bytes": int(sum(int(r["size"]) for r in rows)),  # type: ignore[call-overload]
                "register_version": version,
                # the hash that is part of the version: the table build's sections
                "config_sha256": cfg.table_sha256,
                "codebook_sha256": codebook_sha,
                "delivery_dir": dg.MetadataValue.path(str(paths.delivery_dir)),
            },
        )


@dg.asset(
    partitions_def=DELIVERIES,
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


# The run configuration's sections that the table build does not read, each an asset upstream of the
# assets that read it (assets/estimation/defs.py, value_defs.py, assets/report/defs.py).
CONFIG_SECTIONS: dict[str, tuple[str, ...]] = {
    "config_estimation": ESTIMATION_SECTIONS,
    "config_value": VALUE_SECTIONS,
}
CONFIG_KEYS: list[dg.AssetKey] = [dg.AssetKey(k) for k in CONFIG_SECTIONS]
# What the start of every run materializes: the delivered files and the configuration's sections.
INPUT_KEYS: list[dg.AssetKey] = [*RAW_KEYS, *CONFIG_KEYS]


@dg.multi_asset(
    specs=[
        dg.AssetSpec(
            dg.AssetKey(name),
            group_name="raw",
            description=f"Run configuration's {', '.join(sections)} section; version = its hash (the table "
            "build does not read it)",
            owners=OWNERS,
            kinds={"yaml"},
            metadata={"sections": ", ".join(sections)},
            code_version=RAW_CODE_VERSION,
            skippable=True,
        )
        for name, sections in CONFIG_SECTIONS.items()
    ],
    partitions_def=DELIVERIES,
    can_subset=True,
    name="run_config_sections",
)
def run_config_sections(context: dg.AssetExecutionContext, regdml: RegdmlResource):
    """Hash the run configuration's estimation and value sections: one data version per section.

    Materialized at the start of every run, beside the delivered files. A section that did not change keeps
    its data version, so the assets that read it stay up to date.
    """
    cfg = regdml.run_config()
    for key in context.selected_asset_keys:
        sections = CONFIG_SECTIONS[key.to_user_string()]
        yield dg.MaterializeResult(
            asset_key=key,
            data_version=dg.DataVersion(cfg.sha256_of(sections)),
            metadata={
                "config_sha256": cfg.sha256_of(sections),
                "config": dg.MetadataValue.md(f"```yaml\n{cfg.to_yaml(sections)}```"),
            },
        )


ASSETS = [raw_delivery_files, delivery_manifest, run_config_sections]
CHECKS: list = []
