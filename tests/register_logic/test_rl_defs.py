"""The Dagster wrappers: materialize every register-logic asset on the hand-built world, run the checks."""

from __future__ import annotations

import dagster as dg
import polars as pl

from assets.analysis import defs as analysis_defs
from assets.cohort import defs as cohort_defs
from assets.contracts import contract_frame
from assets.covariates import defs as covariates_defs
from assets.outcomes import defs as outcomes_defs
from assets.resources import RegdmlResource
from assets.treatment import defs as treatment_defs
from data_contracts import tables as T

MODULES = [cohort_defs, treatment_defs, outcomes_defs, covariates_defs, analysis_defs]


def test_materialize_register_logic_assets(rl, tmp_path, materialize_delivery):
    delivery = tmp_path / "delivery_rl"
    delivery.mkdir()
    workroot = tmp_path / "work"
    run_dir = workroot / "runs" / "delivery_rl"
    rl.main_world().write(run_dir)
    assets = [a for m in MODULES for a in m.ASSETS]
    checks = [c for m in MODULES for c in m.CHECKS]
    instance = dg.DagsterInstance.ephemeral()  # held: the result refers to it weakly
    res = materialize_delivery(
        [*assets, *checks],
        delivery,
        instance,
        resources={
            "regdml": RegdmlResource(
                delivery_dir=str(delivery),
                workdir=str(workroot),
                duckdb_memory_limit="512MB",
                duckdb_threads=1,
            )
        },
    )
    assert res.success
    keys = {e.asset_key.to_user_string() for e in res.get_asset_materialization_events()}
    assert keys == {
        "benefit_weeks",
        "benefit_spells",
        "meetings",
        "eligible_meetings",
        "sample_flow",
        "meeting_outcomes",
        "meeting_placebos",
        "meeting_covariates",
        "analysis_table",
    }
    evals = res.get_asset_check_evaluations()
    assert len(evals) == len(checks) and all(e.passed for e in evals), [
        (e.check_name, e.passed) for e in evals
    ]
    assert {e.check_name for e in evals} >= {
        treatment_defs.CHECK_SAMPLE_FLOW_COMPLETE,
        outcomes_defs.CHECK_OUTCOME_RANGE,
        covariates_defs.CHECK_NO_LOOK_AHEAD,
        covariates_defs.CHECK_NO_NULLS,
        analysis_defs.CHECK_ONE_ROW_PER_MEETING,
    }
    mats = {e.asset_key.to_user_string(): e.materialization for e in res.get_asset_materialization_events()}
    md = mats["analysis_table"].metadata
    assert md["dagster/row_count"].value == 9
    d = pl.read_parquet(run_dir / "analysis" / "column_dictionary.parquet")
    assert [c.name for c in md["dagster/column_schema"].value.columns] == d["name"].to_list()
    assert set(md["dagster/column_lineage"].value.deps_by_column) == set(d["name"].to_list())
    # aggregates only: with 9 meetings every count under 5 is suppressed, and no PNR appears anywhere
    text = str({k: str(v.value) for m in mats.values() for k, v in m.metadata.items()})
    assert "0000001" not in text and "0012345" not in text
    flow_json = mats["sample_flow"].metadata["sample_flow_json"].value
    # 19 meetings, small removals merged as the export gate does, and what merging cannot hide (9 left,
    # 1 removed last) suppressed: no cell of the metadata, nor a difference of two cells, is under 5
    by_rule = {r["rule"]: r for r in flow_json}
    assert by_rule["duplicate_registration"]["units_removed"] == 0
    assert by_rule["duplicate_registration"]["units_before"] == 19
    counts = [v for r in flow_json for k, v in r.items() if k.startswith("units_") and isinstance(v, int)]
    assert all(v == 0 or v >= 5 for v in counts)
    assert not any(isinstance(r["units_removed"], int) and 0 < r["units_removed"] < 5 for r in flow_json)
    assert (run_dir / "analysis" / "run_config.yaml").is_file()


def test_failing_check_reports(rl, tmp_path):
    """The no-look-ahead check fails on a provenance row dated after its meeting."""
    import datetime as dt

    from assets.covariates.logic import provenance_violations

    p = tmp_path / "prov.parquet"
    # built from the provenance table's contract: the columns not given are null, typed as the stage writes
    contract_frame(
        T.COVARIATE_PROVENANCE,
        {
            "meeting_id": [1],
            "meeting_week_index": [1600],
            "week_start": [dt.date(2020, 9, 7)],
            "bef_reference_date": [dt.date(2020, 9, 30)],
            "history_last_week": [1599],
            "local_last_week": [1599],
            "earlier_meetings_last_week": [1599],
        },
    ).write_parquet(p)
    v = dict(provenance_violations(p).iter_rows())
    assert v["bef_reference_date"] == 1 and sum(v.values()) == 1
