"""Estimation stage, pure functions (no Dagster): one cell (outcome x design), collection, placebos, power.

A cell writes ``estimation/cells/<outcome>__<design>.<part>.parquet`` for the parts ``estimate``,
``overlap``, ``balance``, ``sensitivity``, ``groups`` and ``losses``; :func:`collect_cells` stacks them into
the tables the report reads (documented in docs/estimation.md). Nothing per person is written.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from pathlib import Path

import polars as pl

from assets.io import write_parquet_atomic
from assets.outcomes.placebos import PLACEBO_KINDS
from data_contracts.cells import Cell
from data_contracts.codebook import MEETING_FORMS
from data_contracts.config import ConfigError, RunConfig
from data_contracts.designs import DESIGNS, PRIMARY_DESIGN, UNIT_FIRST_MEETING, on_all_meetings
from data_contracts.designs import design as design_record
from models.diagnostics import permute_within
from models.engine import Engine
from models.estimate import DesignSpec, EstimateResult, estimate
from models.feasibility import feasibility_table, verdict
from models.instrument import split_sample_share
from models.power import mde_table

PERSON = "pnr"
KOMMUNE = "kommune"
MONTH = "calendar_month"
TREATMENT = "digital"
INSTRUMENT = "z_split_share"
HALF = "z_half"  # the person's half of the split-sample instrument
# PLIV's fixed effects: municipality and month, each absorbed within a half of the split (see run_cell)
FE_KOMMUNE_HALF = "fe_kommune_half"
FE_MONTH_HALF = "fe_month_half"
BENCHMARK_PREFIX = "benefit_weeks_pre"
FE_DUMMY_PREFIXES = ("kommune_", "month_")
PARTS = ("estimate", "overlap", "balance", "sensitivity", "groups", "losses", "apos")
# the estimates' model column of each design (data_contracts/designs.py)
MODEL_NAMES = {d.name: d.model_name for d in DESIGNS}
# The modality design (analysis plan, Designs 5): average potential outcomes of the three-arm form.
MODALITY = next(d.name for d in DESIGNS if d.model == "apos")
FORM = "meeting_form"
# The secondary unit (analysis plan, "Units"): a design whose unit is UNIT_FIRST_MEETING is its all-meetings
# design estimated on the first eligible meeting of each spell only (analysis table flag FIRST_IN_SPELL).
FIRST_IN_SPELL = "first_in_spell"

ESTIMATE_COLUMNS = [
    "outcome", "design", "model", "score", "estimate", "se", "ci_low", "ci_high", "p_value", "n", "n_treated",
    "n_control", "n_trimmed", "n_missing_outcome", "n_missing_instrument", "n_persons", "learner", "folds",
    "reps", "seed", "cluster", "seconds", "rep_spread", "n_trimmed_treated", "n_trimmed_control",
    "first_stage_coef", "first_stage_f", "first_stage_partial_r2", "ar_ci_low", "ar_ci_high", "ar_set",
    "contrast", "ess_treated", "ess_control",
]  # fmt: skip


IV_SCHEMA = {"first_stage_coef": pl.Float64, "first_stage_f": pl.Float64, "first_stage_partial_r2": pl.Float64,
             "ar_ci_low": pl.Float64, "ar_ci_high": pl.Float64, "ar_set": pl.String, "ess_treated": pl.Float64,
             "ess_control": pl.Float64}  # fmt: skip


def derive_group_columns(table: pl.DataFrame) -> pl.DataFrame:
    """Add ``age_band`` (from ``age``) and ``sex`` (from ``sex_woman``) when the table lacks them."""
    add = []
    if "age_band" not in table.columns and "age" in table.columns:
        add.append(
            pl.when(pl.col("age") < 30).then(pl.lit("16-29"))
            .when(pl.col("age") < 40).then(pl.lit("30-39"))
            .when(pl.col("age") < 50).then(pl.lit("40-49"))
            .otherwise(pl.lit("50+")).alias("age_band")
        )  # fmt: skip
    if "sex" not in table.columns and "sex_woman" in table.columns:
        add.append(
            pl.when(pl.col("sex_woman") == 1).then(pl.lit("woman")).otherwise(pl.lit("man")).alias("sex")
        )
    return table.with_columns(add) if add else table


def usable_covariates(
    table: pl.DataFrame, dictionary: pl.DataFrame, rows: pl.Expr | None = None
) -> tuple[list[str], list[str]]:
    """Covariates (role ``covariate`` in the column dictionary) and, separately, those that are constant
    in this table, or among its ``rows`` (a boolean expression), and so left out of the fit and reported.
    ``rows`` filters column by column, never copying the table."""
    names = dictionary.filter(pl.col("role") == "covariate").get_column("name").to_list()
    missing = [c for c in names if c not in table.columns]
    if missing:
        raise ValueError(
            f"column dictionary lists covariates missing from the analysis table: {missing[:10]}"
        )
    if not names:
        raise ValueError("column dictionary has no rows with role 'covariate'")
    col = (lambda c: pl.col(c)) if rows is None else (lambda c: pl.col(c).filter(rows))
    nu = table.select([col(c).n_unique().alias(c) for c in names]).row(0, named=True)
    constant = [c for c in names if nu[c] < 2]
    return [c for c in names if nu[c] >= 2], constant


def design_spec(cfg: RunConfig, design: str, covariates: Sequence[str], columns: Sequence[str]) -> DesignSpec:
    """The :class:`DesignSpec` of a design name of the run configuration."""
    e = cfg.estimation
    base = dict(
        learner=e.learner, n_folds=e.n_folds, n_reps=e.n_reps, seed=e.seed, person=PERSON,
        cluster2=KOMMUNE if e.cluster == "person_and_kommune" else None, n_estimators=e.lgbm_n_estimators,
        n_threads=e.lgbm_num_threads, group_cols=tuple(g for g in e.group_effects if g in columns),
        min_cell=cfg.disclosure.min_cell,
    )  # fmt: skip
    bench = tuple(c for c in covariates if c.startswith(BENCHMARK_PREFIX))
    # the registry refuses an unknown name; a secondary unit's design is its all-meetings design's spec
    design = on_all_meetings(design).name
    if design in ("irm_att", "irm_ate"):
        return DesignSpec(
            model="irm", score="ATTE" if design == "irm_att" else "ATE", trim=tuple(e.trim),
            benchmark_sets=(("benefit_history", bench),) if bench else (),
            propensity_rows=e.propensity_rows, **base,
        )  # fmt: skip
    if design == "plr":
        return DesignSpec(model="plr", trim=None, propensity_rows=e.propensity_rows, **base)
    if design == "pliv":
        # clustered two-way by person and municipality (the instrument's level), whatever estimation.cluster says
        return DesignSpec(model="pliv", trim=None, instrument=INSTRUMENT, sensitivity=False,
                          fixed_effects=(FE_KOMMUNE_HALF, FE_MONTH_HALF), propensity_rows=e.propensity_rows,
                          **{**base, "cluster2": KOMMUNE})  # fmt: skip
    if design == "naive":
        return DesignSpec(model="naive", trim=None, **{**base, "group_cols": base["group_cols"]})
    if design == MODALITY:
        # the generalized propensity of every form is trimmed at the primary design's low bound
        return DesignSpec(model="apos", score="ATE", trim=tuple(e.trim), sensitivity=False,
                          propensity_rows=e.propensity_rows, **base)  # fmt: skip
    raise ValueError(f"design must be one of {sorted(MODEL_NAMES)}; got {design!r}")


# The run configuration's key of each DesignSpec argument design_spec sets from it (for the messages of
# check_estimation_config).
SPEC_CONFIG_KEYS = {
    "learner": "estimation.learner", "n_folds": "estimation.n_folds", "n_reps": "estimation.n_reps",
    "seed": "estimation.seed", "trim": "estimation.trim", "n_estimators": "estimation.lgbm_n_estimators",
    "n_threads": "estimation.lgbm_num_threads", "min_cell": "disclosure.min_cell",
}  # fmt: skip


def check_estimation_config(cfg: RunConfig) -> RunConfig:
    """Refuse a configuration that the estimation would refuse in every cell, before anything runs.

    Builds each configured design's :class:`DesignSpec` with :func:`design_spec`, so the estimation's own
    validators (``DesignSpec.__post_init__``) judge the configuration's values; nothing is checked twice.

    Raises
    ------
    ConfigError
        Naming the configuration's key and value, and the estimation's rule.
    """
    for design in cfg.estimation.designs:
        try:
            design_spec(cfg, design, covariates=(), columns=())
        except (TypeError, ValueError) as e:
            msg = str(e)
            arg = msg.split(" ", 1)[0].rstrip(":")
            key = SPEC_CONFIG_KEYS.get(arg)
            if key is None:
                raise ConfigError(
                    f"estimation.designs: {design!r} is refused by the estimation: {msg}"
                ) from None
            section, name = key.split(".")
            value = getattr(getattr(cfg, section), name)
            value = list(value) if isinstance(value, tuple) else value
            raise ConfigError(f"key '{key}' = {value!r}: {msg}") from None
    return cfg


def first_meetings(table: pl.DataFrame) -> pl.DataFrame:
    """The secondary unit: the rows with ``first_in_spell == 1`` (the first eligible meeting of each spell).

    Later meetings of a spell condition on the person still being unemployed at them; the first meeting
    does not. Raises ``ValueError`` when the table has no ``first_in_spell`` column or no such row.
    """
    if FIRST_IN_SPELL not in table.columns:
        raise ValueError(f"table: column {FIRST_IN_SPELL!r} (the secondary unit's flag) is missing")
    out = table.filter(pl.col(FIRST_IN_SPELL) == 1)
    if out.height == 0:
        raise ValueError(f"table: no row with {FIRST_IN_SPELL} = 1")
    return out


def run_cell(
    table: pl.DataFrame,
    dictionary: pl.DataFrame,
    cfg: RunConfig,
    outcome: str,
    design: str,
    engine: Engine | None = None,
) -> tuple[EstimateResult, dict[str, pl.DataFrame], list[str]]:
    """Estimate one (outcome, design) cell; returns the result, its tables (keyed by part) and notes.
    ``engine`` says where the learners are fitted (in process by default); the result does not depend on it."""
    table = derive_group_columns(table)
    if design_record(design).unit == UNIT_FIRST_MEETING:
        table = first_meetings(table)
    n_no_form = 0
    if design == MODALITY and FORM in table.columns:
        # meetings whose code has no form are not in this design; left out before the covariates are
        # judged (a covariate constant among the others would stop the fit) and counted
        n_no_form = table.get_column(FORM).null_count()
        table = table.filter(pl.col(FORM).is_not_null())
    # Constant columns are judged on the rows the estimate uses (a missing outcome drops the row): in a
    # small sample a municipality's indicator can be constant there though not in the whole table.
    covariates, constant = usable_covariates(table, dictionary, pl.col(outcome).is_not_null())
    notes = [f"constant covariates left out: {constant}"] if constant else []
    if n_no_form:
        notes.append(f"modality: {n_no_form} meetings whose KONTAKTFORM code has no form left out")
    if design == "pliv":
        # municipality and month enter additively through the within transformation; their indicator
        # columns would let tree learners absorb the municipality x month variation of the instrument
        fe_dummies = [c for c in covariates if c.startswith(FE_DUMMY_PREFIXES)]
        covariates = [c for c in covariates if c not in fe_dummies]
        if fe_dummies:
            notes.append(
                f"pliv: {len(fe_dummies)} kommune_/month_ indicator covariates replaced by additive fixed effects"
            )
        # Split-sample instrument: a meeting's instrument is the digital share of the other half of persons in
        # its kommune x month, and the kommune and month effects are absorbed within each half, so no
        # meeting's own form enters its residualised instrument (docs/estimation.md, "The instrument").
        table = split_sample_share(table, TREATMENT, PERSON, (KOMMUNE, MONTH), seed=cfg.estimation.seed,
                                   min_other=cfg.estimation.instrument_min_other, name=INSTRUMENT, half=HALF)  # fmt: skip
        table = table.with_columns(
            pl.format("{}|{}", pl.col(KOMMUNE), pl.col(HALF)).alias(FE_KOMMUNE_HALF),
            pl.format("{}|{}", pl.col(MONTH), pl.col(HALF)).alias(FE_MONTH_HALF),
        )
        used = pl.col(outcome).is_not_null() & pl.col(INSTRUMENT).is_not_null()
        _, constant_here = usable_covariates(table, dictionary, used)
        dropped = [c for c in covariates if c in constant_here]
        if dropped:
            covariates = [c for c in covariates if c not in dropped]
            notes.append(f"pliv: constant covariates left out among rows with an instrument: {dropped}")
    spec = design_spec(cfg, design, covariates, table.columns)
    if design == MODALITY:
        return _run_modality(table, cfg, outcome, covariates, spec, notes, engine)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = estimate(table, outcome, TREATMENT, covariates, spec, engine=engine)
    notes += list(res.notes)
    return res, cell_tables(res, outcome, design), notes


def _run_modality(
    table: pl.DataFrame,
    cfg: RunConfig,
    outcome: str,
    covariates: list[str],
    spec: DesignSpec,
    notes: list[str],
    engine: Engine | None,
) -> tuple[EstimateResult, dict[str, pl.DataFrame], list[str]]:
    """The modality cell: one estimate row per contrast of the three forms (``contrast`` set), the forms'
    potential outcomes with their units trimmed (part ``apos``), the generalized propensity by arm (part
    ``overlap``: form, arm, n and quantiles; collected into ``overlap_by_arm.parquet``, apart from the
    binary designs' histograms) and group effects per contrast. Meetings whose code has no form
    (``meeting_form`` null) are left out and counted in the notes. Returns the first contrast's result."""
    from models.apos import estimate_apos

    if FORM not in table.columns:
        raise ValueError(f"table: column {FORM!r} (the three-arm form of the modality design) is missing")
    levels = [f for f in MEETING_FORMS if f in set(table.get_column(FORM).drop_nulls().unique().to_list())]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        results = estimate_apos(table, outcome, FORM, covariates, spec, levels=levels, engine=engine)
    notes += list(results[0].notes)
    parts: dict[str, list[pl.DataFrame]] = {}
    for r in results:
        for part, frame in cell_tables(r, outcome, MODALITY).items():
            if part != "estimate" and "contrast" not in frame.columns:
                frame = frame.with_columns(pl.lit(r.contrast).alias("contrast"))
            parts.setdefault(part, []).append(frame)
    tables = {k: pl.concat(v, how="diagonal_relaxed") for k, v in parts.items()}
    # the nuisances, the propensities by arm and the potential outcomes are the same for every contrast:
    # one copy
    tables["losses"] = parts["losses"][0].drop("contrast")
    if "overlap" in parts:
        tables["overlap"] = parts["overlap"][0].drop("contrast")
    po = results[0].potential_outcomes
    tables["apos"] = po.select(pl.lit(outcome).alias("outcome"), pl.lit(MODALITY).alias("design"), pl.all())
    return results[0], tables, notes


def cell_tables(res: EstimateResult, outcome: str, design: str) -> dict[str, pl.DataFrame]:
    """The result as small tables keyed by part, each with ``outcome`` and ``design`` columns first."""
    keys = [pl.lit(outcome).alias("outcome"), pl.lit(design).alias("design")]
    row = res.row()
    row.update(outcome=outcome, design=design, model=MODEL_NAMES.get(design, res.model.upper()),
               n_control=(res.n - res.n_treated) if res.n_treated is not None else None)  # fmt: skip
    est = pl.DataFrame(
        [row],
        schema_overrides={"n_treated": pl.Int64, "n_control": pl.Int64, "rep_spread": pl.Float64,
                          "n_trimmed_treated": pl.Int64, "n_trimmed_control": pl.Int64, "contrast": pl.String,
                          **IV_SCHEMA},
    ).select(ESTIMATE_COLUMNS)  # fmt: skip
    out = {"estimate": est}

    def keyed(frame: pl.DataFrame | None) -> pl.DataFrame | None:
        return None if frame is None else frame.select([*keys, pl.all()])

    out["overlap"] = keyed(res.overlap)
    out["balance"] = keyed(res.balance)
    sens = res.sensitivity
    if sens is not None:
        sens = sens.with_columns(
            pl.when(pl.col("benchmark") == "default")
            .then(None)
            .otherwise(pl.col("benchmark"))
            .alias("benchmark")
        )
    out["sensitivity"] = keyed(sens)
    out["groups"] = keyed(res.group_effects)
    # the learner per nuisance; under learner 'auto' also the inner out-of-fold loss it was chosen by
    loss_cols = ["learner", "nuisance", "metric", "loss"] + (
        ["selection_loss"] if "selection_loss" in res.nuisance_losses.columns else []
    )
    out["losses"] = keyed(res.nuisance_losses.rename({"value": "loss"}).select(loss_cols))
    return {k: v for k, v in out.items() if v is not None}


def cell_path(cells_dir: Path, outcome: str, design: str, part: str) -> Path:
    return Path(cells_dir) / f"{Cell(outcome, design).key}.{part}.parquet"


def write_cell(tables: dict[str, pl.DataFrame], cells_dir: Path, outcome: str, design: str) -> list[Path]:
    """Write a cell's tables atomically; a part the design does not produce is removed (no stale file).
    The ``estimate`` part is written last, so its presence marks a complete cell."""
    written = []
    for part in PARTS:
        target = cell_path(cells_dir, outcome, design, part)
        if part == "estimate":
            continue
        if part in tables:
            written.append(write_parquet_atomic(tables[part], target))
        elif target.exists():
            target.unlink()
    written.append(
        write_parquet_atomic(tables["estimate"], cell_path(cells_dir, outcome, design, "estimate"))
    )
    return written


def _grid(cells: Sequence, designs: Sequence[str] | None) -> list[Cell]:
    """``cells`` as :class:`Cell` records; with ``designs``, ``cells`` are outcomes and the grid their product."""
    if designs is not None:
        return [Cell(o, d) for o in cells for d in designs]
    return [Cell(*c) for c in cells]


def collect_cells(
    cells_dir: Path, cells: Sequence, designs: Sequence[str] | None = None
) -> tuple[dict[str, pl.DataFrame], list[str]]:
    """Stack the ``cells`` (:func:`data_contracts.cells.estimation_cells`, or (outcome, design) pairs; with
    ``designs``, ``cells`` are outcomes crossed with them) into the output tables; also the missing cells'
    keys. No other cell's files are read, whatever the folder holds."""
    parts: dict[str, list[pl.DataFrame]] = {p: [] for p in PARTS}
    missing = []
    for o, d in _grid(cells, designs):
        if not cell_path(cells_dir, o, d, "estimate").exists():
            missing.append(Cell(o, d).key)
            continue
        for p in PARTS:
            f = cell_path(cells_dir, o, d, p)
            if f.exists():
                parts[p].append(pl.read_parquet(f))
    names = {"estimate": "estimates", "overlap": "overlap", "balance": "balance", "sensitivity": "sensitivity",
             "groups": "group_effects", "losses": "nuisance_losses", "apos": "potential_outcomes"}  # fmt: skip
    # the modality cells' overlap is the generalized propensity by arm (form, arm, quantiles), not the
    # binary designs' histogram (bin_low, bin_high, n_treated, n_control): a table of its own
    by_arm = [f for f in parts["overlap"] if "arm" in f.columns]
    parts["overlap"] = [f for f in parts["overlap"] if "arm" not in f.columns]
    out = {names[p]: pl.concat(v, how="diagonal_relaxed") for p, v in parts.items() if v}
    if by_arm:
        out["overlap_by_arm"] = pl.concat(by_arm, how="diagonal_relaxed")
    return out, missing


# The usage record of the permuted-treatment placebo among the shared fits (models.nuisance_cache)
PLACEBO_USAGE = "permutation_placebo"


def shared_fits_text(counts: dict[str, int]) -> str:
    """The counters of shared fits in words (cell and collection metadata; counts only)."""
    text = (
        f"{counts['fits_made']} of {counts['fits_requested']} cross-fitted nuisances fitted, "
        f"{counts['fits_requested'] - counts['fits_made']} read from the shared fits"
    )
    if counts.get("choices_requested"):
        text += f"; {counts['choices_made']} of {counts['choices_requested']} learner choices made"
    return text


def prune_shared_fits(
    folder: Path, share_fits: bool, cells: Sequence, designs: Sequence[str] | None = None
) -> str:
    """After the grid's collection: keep the shared fits that the configured ``cells`` (as in
    :func:`collect_cells`) and the placebo used, remove the rest
    (:meth:`models.nuisance_cache.NuisanceCache.prune`); with ``share_fits`` off, remove the folder. Returns
    the grid's counts and the folder's size in words (no value of a person)."""
    import shutil

    from models.nuisance_cache import NuisanceCache

    if not share_fits:
        shutil.rmtree(folder, ignore_errors=True)
        return "off (estimation.share_fits: false): every cell fitted its own nuisances"
    keys = [c.key for c in _grid(cells, designs)]
    cache = NuisanceCache(folder)
    records = cache.usage(keys)
    stats = cache.prune([*keys, PLACEBO_USAGE])
    total = {k: sum(int(r.get(k, 0)) for r in records.values()) for k in
             ("fits_requested", "fits_made", "choices_requested", "choices_made")}  # fmt: skip
    return (
        f"{shared_fits_text(total)} over {len(records)} cells; {stats['kept']} entries "
        f"({stats['kept_bytes'] / 1e6:.1f} MB) kept, {stats['removed']} unused removed "
        f"({stats['removed_bytes'] / 1e6:.1f} MB)"
    )


def permutation_placebos(
    table: pl.DataFrame,
    dictionary: pl.DataFrame,
    cfg: RunConfig,
    outcomes: Sequence[str],
    design: str = PRIMARY_DESIGN,
    engine: Engine | None = None,
) -> pl.DataFrame:
    """The permuted-treatment placebo: ``digital`` shuffled within kommune x calendar month (seeded), then
    the design re-estimated for each outcome. A valid design finds no effect."""
    seed = cfg.estimation.seed
    permuted = permute_within(table, TREATMENT, (KOMMUNE, MONTH), seed)
    rows = []
    for o in outcomes:
        covariates, _ = usable_covariates(permuted, dictionary, pl.col(o).is_not_null())
        spec = design_spec(cfg, design, covariates, permuted.columns)
        from dataclasses import replace

        spec = replace(spec, n_reps=1, sensitivity=False, benchmark_sets=(), group_cols=(), diagnostics=False)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            r = estimate(permuted, o, TREATMENT, covariates, spec, engine=engine)
        rows.append({"kind": "permuted_treatment", "outcome": o, "design": design, "contrast": None,
                     "estimate": r.estimate, "se": r.se, "ci_low": r.ci_low, "ci_high": r.ci_high,
                     "p_value": r.p_value, "n": r.n})  # fmt: skip
    # contrast: a binary design's (null), typed as the key column it is (data_contracts/tables.py PLACEBOS)
    return pl.DataFrame(rows, schema_overrides={"contrast": pl.String})


def placebo_outcome_rows(estimates: pl.DataFrame | None, placebo_outcomes: Sequence[str]) -> pl.DataFrame:
    """Rows of ``placebos.parquet`` for the placebo outcomes, taken from the collected estimates; ``kind`` is
    ``pre_period_outcome`` (the pre-spell self-support), ``pre_period_income`` (wage income two years
    before) or ``negative_control_outcome`` (the pseudo-meeting's exit) (``PLACEBO_KINDS``). The modality
    design's rows keep their ``contrast`` (part of the table's key; null for a binary design)."""
    cols = ["kind", "outcome", "design", "contrast", "estimate", "se", "ci_low", "ci_high", "p_value", "n"]
    text = ("kind", "outcome", "design", "contrast")
    if estimates is None:
        return pl.DataFrame(
            # the types of the collected rows (data_contracts/tables.py PLACEBOS): n is a count
            schema={c: (pl.String if c in text else pl.Int64 if c == "n" else pl.Float64) for c in cols}
        )
    if "contrast" not in estimates.columns:  # a table of binary designs only, written without the column
        estimates = estimates.with_columns(pl.lit(None, dtype=pl.String).alias("contrast"))
    # the kind says what the placebo can detect (docs/estimation.md, "Placebos")
    kind = pl.col("outcome").replace_strict(
        PLACEBO_KINDS, default="pre_period_outcome", return_dtype=pl.String
    )
    return (
        estimates.filter(pl.col("outcome").is_in(list(placebo_outcomes)))
        .with_columns(kind.alias("kind"))
        .select(cols)
    )


def power_table(table: pl.DataFrame, cfg: RunConfig) -> pl.DataFrame:
    """``power.parquet``: MDE at 80% power, 5% two-sided, 1:1 allocation, per primary outcome and trial size."""
    outcomes = [o for o in cfg.estimation.primary_outcomes if o in table.columns]
    return mde_table(table, outcomes, cfg.estimation.trial_sizes).drop("n_observed")


def feasibility(estimates: pl.DataFrame, table: pl.DataFrame, cfg: RunConfig) -> pl.DataFrame:
    """``feasibility.parquet``: per outcome and design the MDE, effective sample sizes, small in-person cells
    and the equivalent reversed trial (:func:`models.feasibility.feasibility_table`), the effect size that
    matters being the low end of ``estimation.feasibility_effect``."""
    return feasibility_table(
        estimates, table, TREATMENT, (KOMMUNE, MONTH), cfg.estimation.feasibility_effect[0]
    )


def feasibility_verdict(feas: pl.DataFrame, cfg: RunConfig) -> list[str]:
    """The verdict sentences for the configured outcome and effect range (:func:`models.feasibility.verdict`)."""
    return verdict(feas, cfg.estimation.feasibility_outcome, cfg.estimation.feasibility_effect)


def estimates_markdown(est: pl.DataFrame, digits: int = 4) -> str:
    """The main estimates as a markdown table (asset metadata)."""
    cols = ["outcome", "design", "estimate", "se", "ci_low", "ci_high", "n", "n_trimmed"]
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for r in est.select(cols).iter_rows(named=True):
        vals = [f"{r[c]:.{digits}g}" if isinstance(r[c], float) else str(r[c]) for c in cols]
        lines.append("| " + " | ".join(vals) + " |")
    return "\n".join(lines)


def run_grid(
    table: pl.DataFrame,
    dictionary: pl.DataFrame,
    cfg: RunConfig,
    cells: Sequence[tuple[str, str]],
    cells_dir: Path,
    engine: Engine | None = None,
    concurrent: int = 1,
) -> dict[str, str | None]:
    """Estimate the (outcome, design) ``cells`` and write each cell's files as soon as it is done.

    Outside Dagster (``regdml run`` runs each cell as its own Dagster run instead): for scripts, the
    benchmark and the tests. With a Dask engine, ``concurrent`` cells are estimated side by side, each
    sending its fold tasks to the cluster; the threads here only prepare data and combine predictions.

    Parameters
    ----------
    cells : sequence of (outcome, design)
    cells_dir : path
        Where the cells' files go (:func:`write_cell`).
    engine : models.engine.Engine, optional
        In process by default.
    concurrent : int
        Cells in flight at once (1: one after the other).

    Returns
    -------
    dict
        ``"<outcome>__<design>"`` -> ``None`` for a written cell, else the error (type and message). A
        failed cell leaves the other cells' files in place.
    """
    from concurrent.futures import ThreadPoolExecutor

    if not isinstance(concurrent, int) or isinstance(concurrent, bool) or concurrent < 1:
        raise ValueError(f"concurrent must be a positive integer; got {concurrent!r}")

    def one(cell: tuple[str, str]) -> str | None:
        outcome, design = cell
        try:
            _, tables, _ = run_cell(table, dictionary, cfg, outcome, design, engine=engine)
        except Exception as e:  # reported per cell; the messages name columns and folds, never persons
            return f"{type(e).__name__}: {e}"
        write_cell(tables, Path(cells_dir), outcome, design)
        return None

    with ThreadPoolExecutor(max_workers=concurrent) as pool:
        results = list(pool.map(one, cells))
    return {Cell(o, d).key: r for (o, d), r in zip(cells, results, strict=True)}
