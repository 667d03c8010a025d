"""The ingestion assets through Dagster: materialization, blocking contract checks, staleness."""

import sys
from pathlib import Path

import dagster as dg
import polars as pl
import pytest

sys.path.insert(0, str(Path(__file__).parent))
import ingest_builder as b  # noqa: E402

from assets.partitions import DELIVERIES_NAME  # noqa: E402
from assets.raw.defs import ASSETS as RAW_ASSETS  # noqa: E402
from assets.raw.defs import DELIVERY_COMPLETE_CHECK, RAW_KEYS, raw_key  # noqa: E402
from assets.resources import RegdmlResource  # noqa: E402
from assets.staging.defs import ASSETS as STAGING_ASSETS  # noqa: E402
from assets.staging.defs import CHECKS, CONTRACT_CHECK, DUCKDB_ASSET, STAGED_SCHEMA_CHECK  # noqa: E402
from data_contracts.config import REGISTERS  # noqa: E402

# Every asset is partitioned by delivery; the delivery folder of these tests is ".../del".
PARTITION = "del"
RAW_SELECTION = dg.AssetSelection.assets(*RAW_KEYS)

ALL = [*RAW_ASSETS, *STAGING_ASSETS, *CHECKS]
EXPECTED_ROWS = {
    "bef": 12,
    "udda": 6,
    "ind": 6,
    "akm": 6,
    "akasse": 4,
    "dream": 6,
    "samtaler": 6,
    "kontaktform_validering": 4,
    "befolkning_kommune": 0,  # optional, not delivered: staged as an empty table
    "delivery_manifest": 9,
}


def _resources(delivery: Path, work: Path) -> dict:
    return {"regdml": RegdmlResource(delivery_dir=str(delivery), workdir=str(work))}


def _add_partition(instance) -> None:
    if PARTITION not in instance.get_dynamic_partitions(DELIVERIES_NAME):
        instance.add_dynamic_partitions(DELIVERIES_NAME, [PARTITION])


def _observe(instance, resources):
    """Hash the delivered files: materialize the raw file assets (their data versions)."""
    _add_partition(instance)
    r = dg.materialize(
        ALL, selection=RAW_SELECTION, instance=instance, resources=resources, partition_key=PARTITION
    )
    assert r.success
    return r


def _materialize(instance, resources, **kw):
    _add_partition(instance)
    selection = kw.pop("selection", dg.AssetSelection.all() - RAW_SELECTION)
    return dg.materialize(
        ALL, selection=selection, instance=instance, resources=resources, partition_key=PARTITION, **kw
    )


def _stale(instance) -> set[str]:
    from dagster._core.definitions.data_version import CachingStaleStatusResolver, StaleStatus
    from dagster._core.loader import LoadingContextForTest

    graph = dg.Definitions(
        assets=ALL[: len(RAW_ASSETS) + len(STAGING_ASSETS)],
        asset_checks=CHECKS,
        resources={"regdml": RegdmlResource()},
    ).resolve_asset_graph()
    resolver = CachingStaleStatusResolver(instance, graph, LoadingContextForTest(instance))
    keys = [*REGISTERS, "delivery_manifest", DUCKDB_ASSET]
    return {k for k in keys if resolver.get_status(dg.AssetKey(k), PARTITION) == StaleStatus.STALE}


@pytest.fixture()
def delivery(tmp_path):
    return b.build_delivery(tmp_path / "del", formats={"bef202012": ".sas7bdat", "samtaler2020": ".csv"})


def test_materialize_ingestion_assets(delivery, tmp_path):
    resources = _resources(delivery, tmp_path / "work")
    with dg.instance_for_test() as instance:
        obs = _observe(instance, resources)
        versions = {
            e.asset_key.to_user_string(): e.materialization.tags["dagster/data_version"]
            for e in obs.get_asset_materialization_events()
        }
        assert set(versions) == {raw_key(r).to_user_string() for r in REGISTERS}
        result = _materialize(instance, resources)
        assert result.success
        rows = {
            m.asset_key.to_user_string(): m.materialization.metadata["dagster/row_count"].value
            for m in result.get_asset_materialization_events()
            if "dagster/row_count" in m.materialization.metadata
        }
        assert rows == EXPECTED_ROWS
        checks = {
            (e.asset_key.to_user_string(), e.check_name): e.passed
            for e in result.get_asset_check_evaluations()
        }
        for reg in REGISTERS:
            assert checks[(reg, CONTRACT_CHECK)] and checks[(reg, STAGED_SCHEMA_CHECK)]
        assert checks[("delivery_manifest", DELIVERY_COMPLETE_CHECK)]
        bef = result.asset_materializations_for_node("bef")[0].metadata
        assert bef["source_files"].value == "bef202012.sas7bdat, bef202103.parquet"
        assert "pnr" in [c.name for c in bef["dagster/column_schema"].schema.columns]
        for pnr in b.PNRS:  # no per-person value in any metadata
            assert all(
                pnr not in str(m.materialization.metadata) for m in result.get_asset_materialization_events()
            )
        run_dir = tmp_path / "work" / "runs" / "del"
        assert pl.read_parquet(run_dir / "raw" / "delivery_manifest.parquet").height == 9
        assert (run_dir / "staging" / "registers.duckdb").is_file()


def test_broken_register_fails_check_and_keeps_last_good_output(delivery, tmp_path):
    resources = _resources(delivery, tmp_path / "work")
    staging = tmp_path / "work" / "runs" / "del" / "staging"
    with dg.instance_for_test() as instance:
        _observe(instance, resources)
        assert _materialize(instance, resources).success
        before = b.folder_digest(staging)
        df = b.frames()["samtaler2020"][1].with_columns(
            pl.Series("KONTAKTFORM", ["X", "P", "Z", "X", "T", "P"])
        )
        (delivery / "samtaler2020.csv").unlink()
        b.write_frame(df, delivery / "samtaler2020.csv")
        _observe(instance, resources)
        result = _materialize(instance, resources, raise_on_error=False)
        assert not result.success
        failed = [e for e in result.get_asset_check_evaluations() if not e.passed]
        assert [(e.asset_key.to_user_string(), e.check_name) for e in failed] == [
            ("samtaler", CONTRACT_CHECK)
        ]
        msg = "\n".join(e.step_failure_data.error.message for e in result.get_step_failure_events())
        assert "samtaler2020.csv: column 'kontaktform': 3 rows have codes not in the codebook (X, Z)" in msg
        assert not any(p in msg for p in b.PNRS)
        # the DuckDB views (downstream of every register) were not rebuilt, nothing staged changed
        assert DUCKDB_ASSET not in {
            m.asset_key.to_user_string() for m in result.get_asset_materialization_events()
        }
        assert b.folder_digest(staging) == before


def test_changed_file_makes_exactly_its_register_stale(delivery, tmp_path):
    resources = _resources(delivery, tmp_path / "work")
    with dg.instance_for_test() as instance:
        _observe(instance, resources)
        assert _materialize(instance, resources).success
        assert _stale(instance) == set()
        _observe(instance, resources)  # nothing changed: same versions, nothing stale
        assert _stale(instance) == set()
        df = b.frames()["ind2020"][1].with_columns(pl.col("LOENMV_13") * 2)
        b.write_frame(df, delivery / "ind2020.parquet")
        _observe(instance, resources)
        assert _stale(instance) == {"ind", "delivery_manifest"}
        # re-staging ind gives it a new data version; then the DuckDB views downstream are stale too
        r = _materialize(instance, resources, selection=["ind", "delivery_manifest"])
        assert r.success
        assert _stale(instance) == {DUCKDB_ASSET}


def test_staging_assets_take_their_chunk_cells_from_the_memory_setting(delivery, tmp_path, monkeypatch):
    """The staging asset hands stage_register the cell limit derived from REGDML_MEMORY (the resource)."""
    import assets.staging.defs as staging_defs

    seen: dict[str, int] = {}
    real = staging_defs.stage_register

    def spy(contract, *args, **kwargs):
        seen[contract.name] = kwargs["max_cells"]
        return real(contract, *args, **kwargs)

    monkeypatch.setattr(staging_defs, "stage_register", spy)
    resources = {
        "regdml": RegdmlResource(delivery_dir=str(delivery), workdir=str(tmp_path / "w"), memory_limit="1GB")
    }
    with dg.instance_for_test() as instance:
        _observe(instance, resources)
        assert _materialize(instance, resources, selection=dg.AssetSelection.assets("dream", "bef")).success
    assert seen == {"dream": 2_500_000, "bef": 2_500_000}
