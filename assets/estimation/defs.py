"""Dagster wrappers of the estimation stage (thin; the work is in ``assets/estimation/logic.py`` and ``models``).

- ``estimate_cell``: partitioned by (outcome, design), so a single failed or changed fit reruns alone.
- ``estimates``: collects every cell into estimates/overlap/balance/sensitivity/group_effects/nuisance_losses,
  and writes feasibility.parquet (minimum detectable effects, effective sample sizes; models/feasibility.py).
- ``permutation_placebo``: the permuted-treatment placebo plus the pre-period outcome rows -> placebos.parquet.
- ``reversed_trial_power``: minimum detectable effects for the reversed trial -> power.parquet.
"""

import warnings

import dagster as dg
import polars as pl

from assets.code_version import stage_version
from assets.contract_defs import contract_checks, stage_asset
from assets.contracts import ContractError, write_frame
from assets.estimation import logic
from assets.partitions import CELL_DIM, CELL_PARTITIONS, DELIVERY_DIM
from assets.resources import RegdmlResource, RunPaths
from data_contracts.cells import Cell, cell_of_key, estimation_cells
from data_contracts.tables import FEASIBILITY, PLACEBOS, POWER

ANALYSIS_TABLE = dg.AssetKey("analysis_table")
# The run configuration's estimation section (assets/raw/defs.py): its hash is the data version, so a changed
# estimation key makes every asset here stale and leaves the table build as it is.
CONFIG_ESTIMATION = "config_estimation"
OWNERS = ["team:regdml-estimation"]

with warnings.catch_warnings():
    # Beta in Dagster 1.13 (pinned); a delivery's estimates depend on all of that delivery's cells.
    warnings.simplefilter("ignore", dg.BetaWarning)
    _DELIVERY_OF_CELL = dg.MultiToSingleDimensionPartitionMapping(partition_dimension_name=DELIVERY_DIM)
# follows the code this stage runs (assets/code_version.py): the estimation logic and models/
ESTIMATION_CODE_VERSION = stage_version("estimation")
# Partitioned by delivery and by cell (outcome x design): a single failed or changed fit reruns alone. The
# cells are the run configuration's (data_contracts/cells.py), added as partitions by whoever requests them.
CELL_ASSET_KEY = dg.AssetKey("estimate_cell")
ESTIMATES_ASSET_KEY = dg.AssetKey("estimates")


def _estimation_asset(deps: list, version_of: str = "estimation"):
    """A delivery-partitioned asset of the estimation stage (``stage_asset`` with the estimation's owners and
    kinds; its code version follows the estimation's code, or ``version_of``'s)."""
    return stage_asset("estimation", deps, kinds=("python", "parquet"), owners=OWNERS, version_of=version_of)


def cell_of(partition_key) -> Cell:
    """The cell (outcome, design) of a cell partition key: a ``cell`` dimension ``"<outcome>__<design>"`` (the
    (delivery, cell) scheme in use), or ``{"outcome": o, "design": d}``."""
    keys = partition_key.keys_by_dimension
    if CELL_DIM in keys:
        return cell_of_key(keys[CELL_DIM])
    return Cell(keys["outcome"], keys["design"])


def _paths(regdml: RegdmlResource, context):
    """The run's folders. A partition key without a delivery dimension (the plain (outcome, design) scheme)
    resolves the delivery from the resource's folder (``regdml.paths(None)``); otherwise the context's."""
    key = context.partition_key if getattr(context, "has_partition_key", False) else None
    if isinstance(key, dg.MultiPartitionKey) and "delivery" not in key.keys_by_dimension:
        return regdml.paths(None)
    return regdml.paths(context)


def _analysis(regdml: RegdmlResource, context) -> tuple[pl.DataFrame, pl.DataFrame]:
    paths = _paths(regdml, context)
    ana = paths.stage("analysis")
    return pl.read_parquet(ana / "analysis_table.parquet"), pl.read_parquet(ana / "column_dictionary.parquet")


@dg.asset(
    key="estimate_cell",
    group_name="estimation",
    deps=[ANALYSIS_TABLE, dg.AssetDep(CONFIG_ESTIMATION, partition_mapping=_DELIVERY_OF_CELL)],
    partitions_def=CELL_PARTITIONS,
    description="One DoubleML estimate with its diagnostics for an (outcome, design) cell",
    kinds={"python", "parquet"},
    owners=OWNERS,
    code_version=ESTIMATION_CODE_VERSION,
)
def estimate_cell(context: dg.AssetExecutionContext, regdml: RegdmlResource) -> dg.MaterializeResult:
    outcome, design = cell_of(context.partition_key)
    cfg = regdml.run_config()
    paths = _paths(regdml, context)
    table, dictionary = _analysis(regdml, context)
    engine = regdml.engine(paths, share_fits=cfg.estimation.share_fits)
    res, tables, notes = logic.run_cell(table, dictionary, cfg, outcome, design, engine=engine)
    cells = paths.stage("estimation") / "cells"
    written = logic.write_cell(tables, cells, outcome, design)
    shared = {}
    if engine.cache is not None:
        # what this cell needs, so that pruning at the collection keeps it (keys and counts only)
        engine.cache.write_usage(Cell(outcome, design).key)
        shared = {"shared_fits": dg.TextMetadataValue(logic.shared_fits_text(engine.cache.counts()))}
    for n in notes:
        context.log.info(n)
    return dg.MaterializeResult(
        metadata={
            "estimate": dg.FloatMetadataValue(res.estimate),
            "se": dg.FloatMetadataValue(res.se),
            "ci": dg.TextMetadataValue(f"[{res.ci_low:.5g}, {res.ci_high:.5g}]"),
            "n": dg.IntMetadataValue(res.n),
            "n_trimmed": dg.IntMetadataValue(res.n_trimmed),
            "n_missing_outcome": dg.IntMetadataValue(res.n_missing_outcome),
            "learner": res.learner,
            "seconds": dg.FloatMetadataValue(res.seconds),
            "files": dg.TextMetadataValue("\n".join(p.name for p in written)),
            "notes": dg.TextMetadataValue("\n".join(notes) or "none"),
            "engine": dg.TextMetadataValue(engine.describe()),
            **shared,
            # the modality design: every contrast (the scalars above are the first one's)
            **(
                {
                    "contrasts": dg.MarkdownMetadataValue(
                        logic.estimates_markdown(
                            tables["estimate"].with_columns(
                                pl.format("{} {}", pl.col("design"), pl.col("contrast")).alias("design")
                            )
                        )
                    )
                }
                if tables["estimate"].get_column("contrast").null_count() == 0
                else {}
            ),
        }
    )


@_estimation_asset([dg.AssetDep("estimate_cell", partition_mapping=_DELIVERY_OF_CELL), CONFIG_ESTIMATION])
def estimates(
    context: dg.AssetExecutionContext, paths: RunPaths, regdml: RegdmlResource
) -> dg.MaterializeResult:
    """Every estimation cell collected into the tables the report reads"""
    cfg = regdml.run_config()
    est_dir = paths.stage("estimation")
    # the configuration's cells only: a cell an earlier configuration estimated is not this run's result
    cells = estimation_cells(cfg)
    tables, missing = logic.collect_cells(est_dir / "cells", cells)
    if "estimates" not in tables:
        raise dg.Failure(description=f"no estimation cell has been written (missing: {missing})")
    for name, frame in tables.items():
        # each collected table through its contract (data_contracts/tables.py: the name is the contract's)
        write_frame(name, frame, est_dir)
    est = tables["estimates"]
    cache_text = logic.prune_shared_fits(
        regdml.paths(context).nuisance_cache_dir, cfg.estimation.share_fits, cells
    )
    # Can this delivery answer the question at all? (feasibility.parquet beside the estimates)
    try:
        table, _ = _analysis(regdml, context)
        feas = logic.feasibility(est, table, cfg)
        write_frame(FEASIBILITY, feas, est_dir)
        verdict = logic.feasibility_verdict(feas, cfg)
    except ContractError:
        raise  # a producer that breaks its contract is a bug, not a delivery that cannot answer
    except (ValueError, TypeError, OSError, pl.exceptions.PolarsError) as e:
        # the estimates stand without it; the report and summary then say that no verdict was written
        (est_dir / "feasibility.parquet").unlink(missing_ok=True)
        verdict = [f"feasibility not computed ({type(e).__name__}: {e})"]
        context.log.warning(verdict[0])
    return dg.MaterializeResult(
        metadata={
            "feasibility": dg.TextMetadataValue("\n".join(verdict)),
            "estimates": dg.MarkdownMetadataValue(logic.estimates_markdown(est)),
            "cells": dg.IntMetadataValue(est.height),
            "missing_cells": dg.TextMetadataValue(", ".join(missing) or "none"),
            "shared_fits": dg.TextMetadataValue(cache_text),
            "tables": dg.TextMetadataValue(", ".join(f"{k}.parquet" for k in tables)),
        }
    )


@_estimation_asset(["analysis_table", "estimates", CONFIG_ESTIMATION])
def permutation_placebo(
    context: dg.AssetExecutionContext, paths: RunPaths, regdml: RegdmlResource
) -> dg.MaterializeResult:
    """Placebos: treatment permuted within kommune x month, and the pre-period outcome

    The permuted treatment is estimated with IRM-ATT per primary outcome; the pre-period outcome's estimates
    are taken from the cells.
    """
    cfg = regdml.run_config()
    est_dir = paths.stage("estimation")
    table, dictionary = _analysis(regdml, context)
    engine = regdml.engine(paths, share_fits=cfg.estimation.share_fits)
    perm = logic.permutation_placebos(
        table,
        dictionary,
        cfg,
        [o for o in cfg.estimation.primary_outcomes if o in table.columns],
        engine=engine,
    )
    if engine.cache is not None:
        engine.cache.write_usage(logic.PLACEBO_USAGE)
    est_file = est_dir / "estimates.parquet"
    pre = logic.placebo_outcome_rows(pl.read_parquet(est_file) if est_file.exists() else None,
                                     cfg.estimation.placebo_outcomes)  # fmt: skip
    placebos = pl.concat([pre, perm], how="diagonal_relaxed")
    write_frame(PLACEBOS, placebos, est_dir)
    return dg.MaterializeResult(
        metadata={
            "placebos": dg.MarkdownMetadataValue(_md(placebos)),
            "rows": dg.IntMetadataValue(placebos.height),
        }
    )


@_estimation_asset(["analysis_table", CONFIG_ESTIMATION])
def reversed_trial_power(
    context: dg.AssetExecutionContext, paths: RunPaths, regdml: RegdmlResource
) -> dg.MaterializeResult:
    """Minimum detectable effect of the reversed trial (80% power, 5% two-sided, 1:1) per outcome and size"""
    cfg = regdml.run_config()
    est_dir = paths.stage("estimation")
    table, _ = _analysis(regdml, context)
    power = logic.power_table(table, cfg)
    write_frame(POWER, power, est_dir)
    return dg.MaterializeResult(metadata={"power": dg.MarkdownMetadataValue(_md(power))})


def _md(frame: pl.DataFrame, digits: int = 4) -> str:
    cols = frame.columns
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for r in frame.iter_rows():
        lines.append(
            "| " + " | ".join(f"{v:.{digits}g}" if isinstance(v, float) else str(v) for v in r) + " |"
        )
    return "\n".join(lines)


@dg.asset_check(asset="estimates", description="Every configured cell is present with a finite, positive SE",
                blocking=False)  # fmt: skip
def estimates_complete(context: dg.AssetCheckExecutionContext, regdml: RegdmlResource) -> dg.AssetCheckResult:
    cfg = regdml.run_config()
    op_ctx = context.op_execution_context
    partitioned = getattr(op_ctx, "has_partition_key", False)
    f = regdml.paths(op_ctx if partitioned else None).stage("estimation") / "estimates.parquet"
    if not f.exists():
        return dg.AssetCheckResult(passed=False, description="estimates.parquet not written")
    est = pl.read_parquet(f)
    want = estimation_cells(cfg)
    have = set(est.select("outcome", "design").iter_rows())
    bad = est.filter(~(pl.col("se").is_finite() & (pl.col("se") > 0))).height
    missing = sorted(c.key for c in want if c not in have)
    return dg.AssetCheckResult(
        passed=not missing and bad == 0,
        metadata={"missing_cells": ", ".join(missing) or "none", "non_finite_se": bad},
    )


ASSETS = [estimate_cell, estimates, permutation_placebo, reversed_trial_power]
# the contract check of every table the assets write (data_contracts/tables.py; estimate_cell writes none)
CHECKS = [estimates_complete, *contract_checks(ASSETS[1:])]
