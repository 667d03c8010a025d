"""The estimation assets on a small register-shaped table: partitions, cell files, collected tables."""

from __future__ import annotations

import dagster as dg
import polars as pl
import pytest

from assets.estimation import defs, logic
from assets.partitions import CELL_DIM, CELLS_NAME, DELIVERY_DIM, add_cells
from assets.partitions import deliveries as DELIVERIES
from assets.resources import RegdmlResource
from data_contracts.cells import Cell
from data_contracts.config import EstimationConfig

OUTCOMES = ["weeks_selfsupport_26w", "weeks_selfsupport_pre52w"]
DESIGNS = EstimationConfig().designs  # every design (the default configuration's)


@pytest.fixture(scope="module")
def run(tmp_path_factory, table_factory, dictionary_factory):
    tmp = tmp_path_factory.mktemp("est_assets")
    (tmp / "deliv").mkdir()
    cfg = tmp / "cfg.yaml"
    cfg.write_text(
        "estimation:\n  primary_outcomes: [weeks_selfsupport_26w]\n  placebo_outcomes: [weeks_selfsupport_pre52w]\n"
        "  n_folds: 3\n  lgbm_n_estimators: 30\n"
        "  trial_sizes: [1000, 4000]\n"
    )
    res = RegdmlResource(delivery_dir=str(tmp / "deliv"), workdir=str(tmp / "work"), config_path=str(cfg))
    paths = res.paths()
    ana = paths.stage("analysis")
    t = table_factory(n_persons=600, seed=12).with_columns(pl.lit(0).cast(pl.Int8).alias("constant_cov"))
    t.write_parquet(ana / "analysis_table.parquet")
    dictionary_factory(t).write_parquet(ana / "column_dictionary.parquet")
    instance = dg.DagsterInstance.ephemeral()
    instance.add_dynamic_partitions(DELIVERIES.name, ["deliv"])
    add_cells(instance, [Cell(o, d) for o in OUTCOMES for d in DESIGNS])
    src = dg.SourceAsset(key="analysis_table")
    metas = {}
    for o in OUTCOMES:
        for d in DESIGNS:
            key = dg.MultiPartitionKey({DELIVERY_DIM: "deliv", CELL_DIM: f"{o}__{d}"})
            r = dg.materialize(
                [defs.estimate_cell, src], resources={"regdml": res}, partition_key=key, instance=instance
            )
            assert r.success
            metas[(o, d)] = r.asset_materializations_for_node("estimate_cell")[0].metadata
    r = dg.materialize(
        [defs.estimates, defs.permutation_placebo, defs.reversed_trial_power, src, *defs.CHECKS],
        resources={"regdml": res},
        selection=["estimates", "permutation_placebo", "reversed_trial_power"],
        partition_key="deliv",
        instance=instance,
    )
    assert r.success
    checks = r.get_asset_check_evaluations()
    return paths.work_dir / "estimation", metas, checks, t


def test_cell_partitions_are_dynamic():
    # the cells are the run configuration's, added by whoever requests them (data_contracts/cells.py)
    assert defs.estimate_cell.partitions_def == defs.CELL_PARTITIONS
    dims = {d.name: d.partitions_def for d in defs.CELL_PARTITIONS.partitions_defs}
    assert set(dims) == {DELIVERY_DIM, CELL_DIM}
    assert isinstance(dims[CELL_DIM], dg.DynamicPartitionsDefinition) and dims[CELL_DIM].name == CELLS_NAME
    assert dims[DELIVERY_DIM].name == DELIVERIES.name
    assert {a.key.to_user_string() for a in defs.ASSETS} == {
        "estimate_cell",
        "estimates",
        "permutation_placebo",
        "reversed_trial_power",
    }
    assert all(a.group_names_by_key[a.key] == "estimation" for a in defs.ASSETS)


def test_cell_of_both_key_schemes():
    assert defs.cell_of(dg.MultiPartitionKey({"outcome": "y_exit_4w", "design": "irm_att"})) == (
        "y_exit_4w",
        "irm_att",
    )
    key = dg.MultiPartitionKey({"delivery": "d1", "cell": "weeks_selfsupport_26w__pliv"})
    assert defs.cell_of(key) == ("weeks_selfsupport_26w", "pliv")


def test_cells_written(run):
    est_dir, metas, _, _ = run
    for o in OUTCOMES:
        for d in DESIGNS:
            assert (est_dir / "cells" / f"{o}__{d}.estimate.parquet").exists()
    assert not list((est_dir / "cells").glob(".*tmp"))
    assert "constant covariates left out: ['constant_cov']" in metas[(OUTCOMES[0], "irm_att")]["notes"].value
    # the modality cell's metadata lists every contrast; the other cells have no such entry
    assert "modality video_vs_telephone" in metas[(OUTCOMES[0], "modality")]["contrasts"].value
    assert "contrasts" not in metas[(OUTCOMES[0], "irm_att")]


def test_output_tables_and_columns(run):
    est_dir, _, checks, t = run
    cols = {
        "estimates": ["outcome", "design", "model", "score", "estimate", "se", "ci_low", "ci_high", "p_value", "n",
                      "n_treated", "n_trimmed", "n_missing_outcome", "learner", "folds", "reps", "seed", "rep_spread",
                      "n_trimmed_treated", "n_trimmed_control"],
        "overlap": ["outcome", "design", "bin_low", "bin_high", "n_treated", "n_control"],
        "balance": ["outcome", "design", "covariate", "smd_before", "smd_after"],
        "sensitivity": ["outcome", "design", "cf_y", "cf_d", "rho", "theta", "theta_lower", "theta_upper", "rv", "rva",
                        "benchmark"],
        "group_effects": ["outcome", "design", "group_var", "group", "estimate", "se", "ci_low", "ci_high", "n",
                          "n_treated", "n_control", "reason"],
        "placebos": ["kind", "outcome", "estimate", "se", "ci_low", "ci_high", "p_value", "n"],
        "power": ["outcome", "trial_size", "baseline_mean", "sd", "mde"],
        "nuisance_losses": ["outcome", "design", "learner", "nuisance", "loss", "selection_loss"],
    }  # fmt: skip
    frames = {name: pl.read_parquet(est_dir / f"{name}.parquet") for name in cols}
    for name, need in cols.items():
        assert set(need) <= set(frames[name].columns), (name, frames[name].columns)
    est = frames["estimates"]
    # one row per cell, but three for the modality design (one per contrast of the meeting forms)
    assert est.height == (len(DESIGNS) - 1) * 2 + 3 * 2
    assert set(est["design"]) == set(DESIGNS)
    mod = est.filter(pl.col("design") == "modality")
    assert set(mod["contrast"]) == {"telephone_vs_in_person", "video_vs_in_person", "video_vs_telephone"}
    assert est.filter(pl.col("design") != "modality")["contrast"].null_count() == est.height - mod.height
    po = pl.read_parquet(est_dir / "potential_outcomes.parquet")
    assert po.height == 2 * 3 and set(po["level"]) == {"in_person", "telephone", "video"}
    assert (po["n"] >= 0).all() and "pnr" not in po.columns
    # the modality cells' generalized propensity by arm: its own table, not mixed into the histograms
    ob = pl.read_parquet(est_dir / "overlap_by_arm.parquet")
    assert ob.height == 2 * 9 and set(ob["design"]) == {"modality"}
    assert "modality" not in set(frames["overlap"]["design"]) and "arm" not in frames["overlap"].columns
    own = ob.filter(pl.col("form") == pl.col("arm"))
    assert (own.join(po, left_on=["outcome", "form"], right_on=["outcome", "level"])
            .filter(pl.col("n") != pl.col("n_right") + pl.col("n_trimmed")).height == 0)  # fmt: skip
    assert est["n_treated"].null_count() == 0 and (est["n_treated"] + est["n_control"] == est["n"]).all()
    assert (est.filter(pl.col("design") == "pliv")["n_missing_instrument"] >= 0).all()
    # the pipeline's default learner: chosen per nuisance, reported per nuisance with its selection loss
    fitted = est.filter(pl.col("design") != "naive")
    assert fitted["learner"].str.starts_with("auto(ml_").all(), fitted["learner"].to_list()
    losses = frames["nuisance_losses"].filter(pl.col("design") != "naive")
    assert losses["selection_loss"].null_count() == 0 and not losses["learner"].str.starts_with("auto").any()
    pl_ = frames["placebos"]
    assert set(pl_["kind"]) == {"pre_period_outcome", "permuted_treatment"}
    assert frames["power"].height == 2
    assert set(frames["sensitivity"].filter(pl.col("benchmark").is_not_null())["benchmark"]) == {
        "benefit_history"
    }
    # no per-person output: no person ids, no table as long as the data
    for name, f in frames.items():
        assert "pnr" not in f.columns
        # group effects: one row per group, design and (modality) contrast, never per person
        limit = t.height / 4 if name == "group_effects" else t.height / 5
        assert f.height < limit, name
    ge = frames["group_effects"]
    assert ge.select("outcome", "design", "contrast", "group_var", "group").is_duplicated().sum() == 0
    assert all(c.passed for c in checks)


def test_every_written_table_keeps_its_contract(run):
    """Each table the three assets write has passed its blocking contract check (data_contracts/tables.py),
    and no estimation file is written without a contract."""
    from data_contracts.tables import ESTIMATION_TABLES, tables_of

    est_dir, _, checks, _ = run
    want = {f"{t.name}_matches_contract" for a in ("estimates", "permutation_placebo", "reversed_trial_power")
            for t in tables_of(a)}  # fmt: skip
    by_name = {c.check_name: c for c in checks}
    assert want <= set(by_name) and all(by_name[n].passed for n in want)
    declared = {t.file for t in ESTIMATION_TABLES}
    assert {p.name for p in est_dir.glob("*.parquet")} <= declared


def test_missing_cells_reported(run, tmp_path):
    est_dir, _, _, _ = run
    tables, missing = logic.collect_cells(
        est_dir / "cells", ["weeks_selfsupport_26w", "y_exit_4w"], ["irm_att"]
    )
    assert missing == ["y_exit_4w__irm_att"] and tables["estimates"].height == 1
