"""``regdml lineage ASSET``: the upstream chain of an asset, without the UI.

For each step: its group, code version, the data version and run of its latest materialization, when
it ran, and the hashes of the configuration and codebook it was built with (metadata
``config_sha256`` / ``codebook_sha256`` where the asset records them).
"""

from __future__ import annotations

import argparse
import datetime as dt
from pathlib import Path

import dagster as dg

from pipelines.instance import get_instance


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("asset", help="Asset key, e.g. analysis_table or estimates")
    parser.add_argument(
        "--workdir", type=Path, default=None, help="Work folder (default: $REGDML_WORKDIR, else ./work)"
    )


def upstream_chain(asset_graph, key: dg.AssetKey) -> list[dg.AssetKey]:
    """Every ancestor of ``key`` and ``key`` itself, in topological order (sources first)."""
    seen: dict[dg.AssetKey, None] = {}

    def visit(k: dg.AssetKey) -> None:
        if k in seen:
            return
        if asset_graph.has(k):
            for parent in sorted(asset_graph.get(k).parent_keys, key=lambda p: p.to_user_string()):
                visit(parent)
        seen[k] = None

    visit(key)
    return list(seen)


def lineage_rows(
    defs: dg.Definitions, instance: dg.DagsterInstance, key: dg.AssetKey
) -> list[dict[str, str]]:
    graph = defs.resolve_asset_graph()
    if not graph.has(key):
        known = ", ".join(sorted(k.to_user_string() for k in graph.get_all_asset_keys()))
        raise KeyError(f"no asset {key.to_user_string()!r}; known assets: {known}")
    rows = []
    for k in upstream_chain(graph, key):
        node = graph.get(k)
        event = instance.get_latest_materialization_event(k)
        row = {
            "asset": k.to_user_string(),
            "group": node.group_name or "",
            "code_version": node.code_version or "",
            "data_version": "",
            "run_id": "",
            "materialized": "never",
            "config_sha256": "",
            "codebook_sha256": "",
        }
        if event is not None and event.asset_materialization is not None:
            mat = event.asset_materialization
            row["data_version"] = (mat.tags or {}).get("dagster/data_version", "")[:16]
            row["run_id"] = event.run_id[:8]
            row["materialized"] = dt.datetime.fromtimestamp(event.timestamp, dt.UTC).strftime(
                "%Y-%m-%d %H:%M:%S UTC"
            )
            for meta_key in ("config_sha256", "codebook_sha256"):
                value = mat.metadata.get(meta_key, mat.metadata.get(f"run_{meta_key}"))
                if value is not None:
                    row[meta_key] = str(getattr(value, "value", value))[:16]
        rows.append(row)
    return rows


def run(args: argparse.Namespace) -> int:
    from pipelines.definitions import build_definitions

    instance = get_instance(args.workdir.resolve() if args.workdir else None)
    defs = build_definitions()
    try:
        rows = lineage_rows(defs, instance, dg.AssetKey.from_user_string(args.asset))
    except KeyError as e:
        print(f"regdml lineage: {e.args[0]}")
        return 2
    cols = list(rows[0])
    widths = {c: max(len(c), *(len(r[c]) for r in rows)) for c in cols}
    print("  ".join(c.ljust(widths[c]) for c in cols))
    for r in rows:
        print("  ".join(r[c].ljust(widths[c]) for c in cols))
    return 0
