"""The ingestion definitions: keys, groups, owners, kinds, descriptions and checks as promised."""

import dagster as dg

from assets.raw.defs import ASSETS as RAW_ASSETS
from assets.raw.defs import CONFIG_KEYS, RAW_KEYS
from assets.resources import RegdmlResource
from assets.staging.defs import ASSETS as STAGING_ASSETS
from assets.staging.defs import CHECKS, CONTRACT_CHECK, STAGED_SCHEMA_CHECK
from data_contracts.config import REGISTERS


def _defs() -> dg.Definitions:
    return dg.Definitions(
        assets=[*RAW_ASSETS, *STAGING_ASSETS],
        asset_checks=CHECKS,
        resources={"regdml": RegdmlResource()},
    )


def test_definitions_load_with_expected_keys_and_groups():
    defs = _defs()
    dg.Definitions.validate_loadable(defs)
    graph = defs.resolve_asset_graph()
    groups = {k.to_user_string(): graph.get(k).group_name for k in graph.get_all_asset_keys()}
    # the run's inputs: the delivered files and the configuration's sections the table build does not read
    assert {k.to_user_string() for k in [*RAW_KEYS, *CONFIG_KEYS]} | {"delivery_manifest"} == {
        k for k, g in groups.items() if g == "raw"
    }
    assert set(REGISTERS) | {"registers_duckdb"} == {k for k, g in groups.items() if g == "staging"}
    for reg in REGISTERS:
        node = graph.get(dg.AssetKey(reg))
        assert {p.to_user_string() for p in node.parent_keys} == {f"raw_{reg}_files"}  # own files only
        assert node.owners and node.code_version and node.description and "\n" not in node.description
        assert "parquet" in node.kinds
        assert "dagster/column_schema" in node.metadata
        checks = {k.name for k in graph.get_check_keys_for_assets({dg.AssetKey(reg)})}
        assert checks == {CONTRACT_CHECK, STAGED_SCHEMA_CHECK}
    blocking = {
        (spec.asset_key.to_user_string(), spec.name)
        for c in CHECKS
        for spec in c.check_specs
        if spec.blocking
    }
    assert blocking == {(r, STAGED_SCHEMA_CHECK) for r in REGISTERS}
    for a in STAGING_ASSETS:
        for spec in a.check_specs:
            assert spec.blocking and spec.name == CONTRACT_CHECK
