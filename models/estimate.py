"""One entry point for every design: :func:`estimate` (Polars in, a frozen :class:`EstimateResult` out).

Designs
-------
``irm``        DoubleML interactive regression model, ``score='ATTE'`` or ``'ATE'`` (primary). The nuisances are
               cross-fitted here on person-grouped folds and handed to :class:`doubleml.DoubleMLIRM` through
               ``external_predictions`` (so propensity trimming can happen upstream and an ATT does not fit
               the treated-outcome model it does not use); DoubleML computes the scores and sensitivity.
``plr``        :class:`doubleml.DoubleMLPLR` (partialling out), same folds.
``pliv``       :class:`doubleml.DoubleMLPLIV` with the instrument column ``spec.instrument`` (for the
               jobcentre-practice instrument see :func:`models.instrument.split_sample_share`); the first
               stage and the Anderson-Rubin set are reported (:func:`models.instrument.iv_diagnostics`).
``iivm``       :class:`doubleml.DoubleMLIIVM` (LATE with a binary instrument).
``naive``      difference in means.
``randomized`` difference of inverse-probability weighted means with a known assignment probability
               (the reversed trial).
``apos``       :class:`doubleml.DoubleMLAPOS`, average potential outcomes of a categorical treatment and
               their contrasts: :func:`models.apos.estimate_apos` (one result per contrast).

All designs end in linear score elements; the reported estimate, the person-clustered (or two-way)
standard error, subgroup estimates and the median over repetitions are computed from them in
:mod:`models.inference`.
"""

from __future__ import annotations

import json
import math
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import polars as pl

from models import diagnostics as diag
from models._checks import (
    _check_binary,
    _check_column,
    _check_columns,
    _check_in,
    _check_int,
    _check_no_missing,
    _check_not_constant,
    _check_numeric,
    _check_table,
    _check_trim,
)
from models.engine import IN_PROCESS, Engine, FitJob, FoldData, LearnerSpec
from models.folds import group_codes, person_folds, restrict_folds
from models.inference import estimate_from_scores
from models.instrument import WEAK_F, iv_diagnostics
from models.learners import LEARNERS, describe
from models.nuisance_cache import NuisanceCache, array_digest, make_key
from models.tuning import CHOICE_SCHEMA, TUNE_MAX_ROWS, Choice, choose_learner

MODELS = ("irm", "plr", "pliv", "iivm", "naive", "randomized", "apos")
SCORES = ("ATTE", "ATE")


@dataclass(frozen=True)
class DesignSpec:
    """How to estimate: design, learner, folds, clustering, trimming and which diagnostics.

    Parameters
    ----------
    model : {'irm', 'plr', 'pliv', 'iivm', 'naive', 'randomized'}
    score : {'ATTE', 'ATE'}
        IRM only (other designs report their own estimand; the field is kept for the tables).
    learner : {'lgbm', 'lasso', 'rf', 'auto'}
        'lgbm', 'lasso', 'rf': that learner with fixed settings for every nuisance. 'auto' (the default of
        the command line and the pipeline): LightGBM tuned on person-grouped inner folds and, for each
        nuisance separately, LightGBM with its fixed settings unless tuned LightGBM, lasso/logistic or a
        random forest has a smaller inner out-of-fold loss beyond 2 paired standard errors
        (:mod:`models.tuning`; once per nuisance, on at most ``tune_max_rows`` rows).
    propensity_rows : {'outcome', 'unit'}
        IRM, PLR and the modality design (APOS): the rows the propensity (the treatment given the
        covariates, which does not involve the outcome) is fitted on; PLIV: the rows of the learner
        choices of its instrument and treatment models (``learner='auto'``; the fits stay on the
        outcome's rows, see :func:`_iv_unit_choices`). 'outcome' (the default): the rows with an
        observed outcome, like every other nuisance. 'unit': every row of the table with a treatment and covariates, including those
        whose outcome is missing; the person folds are drawn on all rows and each outcome's folds are
        their restriction, so every outcome of one table gets the same propensity fit (shared across the
        grid) and each prediction still comes from a model fitted without the held-out persons. Valid when
        whether the outcome is observed depends on the covariates only (in the pipeline: the horizon
        running past the data's end, set by the meeting's date, whose month is a covariate); see
        docs/estimation.md, "The propensity on the whole unit".
    n_folds, n_reps, seed : int
        Cross-fitting folds, repetitions (median over them) and seed.
    trim : (float, float) or None
        IRM: units whose cross-fitted propensity is outside [low, high] are dropped before the final fit
        and counted (``n_trimmed``). DoubleML's own clipping (``PSProcessorConfig``) is set to ``low``.
    person : str or None
        Person column: folds are drawn by person and standard errors clustered by person. ``None``: every
        row is its own person (the validation data sets).
    cluster2 : str or None
        Optional second cluster (e.g. 'kommune') for two-way clustered standard errors; folds stay by person.
    instrument : str or None
        PLIV/IIVM instrument column.
    fixed_effects : tuple of str
        PLR/PLIV only: additive fixed effects (PLIV: kommune, calendar_month) partialled out of Y, D, Z and X
        by a within transformation (alternating group demeaning) before DML, so the learners cannot absorb the
        municipality x month variation that identifies the PLIV effect. Exact (Frisch-Waugh-Lovell) for
        linear nuisances only; with nonlinear learners an approximation (docs/estimation.md).
    assignment_prob : float, str or None
        Randomized design: the known probability of ``treatment = 1`` (a number or a column).
    n_estimators, n_threads : int
        Trees and threads (LightGBM ``num_threads``; 1 is the steady choice on 2 cores).
    poly2 : bool
        Lasso only: second-order terms of the covariates.
    diagnostics : bool
        Overlap and balance (cheap; needs a propensity).
    sensitivity : bool
        DoubleML ``sensitivity_analysis`` (IRM, PLR) at ``cf_y``, ``cf_d``, ``rho``.
    benchmark_sets : tuple of (name, tuple of covariates)
        Covariate groups for the benchmarked sensitivity (long vs short model, :func:`doubleml.utils.gain_statistics`),
        on a person subsample of at most ``benchmark_max_n`` rows.
    group_cols : tuple of str
        Columns for subgroup estimates (from the same scores; no refit).
    n_bins : int
        Bins of the overlap histogram.
    min_cell : int
        Group effects: a group with fewer treated or fewer control units than this gets no estimate (the
        disclosure minimum, ``disclosure.min_cell`` in the pipeline).
    tune_max_rows : int
        ``learner='auto'``: rows (whole persons) of each nuisance's training rows the choice is made on.
    """

    model: str = "irm"
    score: str = "ATTE"
    learner: str = "lgbm"
    n_folds: int = 5
    n_reps: int = 1
    seed: int = 20200501
    trim: tuple[float, float] | None = (0.01, 0.99)
    person: str | None = "pnr"
    cluster2: str | None = None
    instrument: str | None = None
    fixed_effects: tuple[str, ...] = ()
    assignment_prob: float | str | None = None
    n_estimators: int = 200
    n_threads: int = 1
    poly2: bool = False
    diagnostics: bool = True
    sensitivity: bool = True
    cf_y: float = 0.03
    cf_d: float = 0.03
    rho: float = 1.0
    benchmark_sets: tuple[tuple[str, tuple[str, ...]], ...] = ()
    benchmark_max_n: int = 20000
    group_cols: tuple[str, ...] = ()
    n_bins: int = 20
    min_cell: int = 5
    tune_max_rows: int = TUNE_MAX_ROWS
    propensity_rows: str = "outcome"

    def __post_init__(self) -> None:
        _check_in("model", self.model, MODELS)
        _check_in("score", self.score, SCORES)
        _check_in("learner", self.learner, LEARNERS + ("auto",))
        _check_int("n_folds", self.n_folds, 2, 50)
        _check_int("n_reps", self.n_reps, 1, 1000)
        _check_int("seed", self.seed, 0)
        object.__setattr__(self, "trim", _check_trim("trim", self.trim))
        _check_int("n_estimators", self.n_estimators, 1)
        _check_int("n_threads", self.n_threads, 1)
        _check_int("n_bins", self.n_bins, 2, 1000)
        _check_int("benchmark_max_n", self.benchmark_max_n, 100)
        _check_int("min_cell", self.min_cell, 1)
        _check_int("tune_max_rows", self.tune_max_rows, 100)
        _check_in("propensity_rows", self.propensity_rows, PROPENSITY_ROWS)
        if self.model in ("pliv", "iivm") and not self.instrument:
            raise ValueError(
                f"instrument must name a column for model={self.model!r}; got {self.instrument!r}"
            )
        if self.model == "randomized" and self.assignment_prob is None:
            raise ValueError("assignment_prob must be given for model='randomized'; got None")
        if isinstance(self.assignment_prob, float | int) and not isinstance(self.assignment_prob, bool):
            if not 0.0 < float(self.assignment_prob) < 1.0:
                raise ValueError(f"assignment_prob must be in (0, 1); got {self.assignment_prob!r}")
        for name in ("cf_y", "cf_d"):
            v = getattr(self, name)
            if not 0.0 <= v < 1.0:
                raise ValueError(f"{name} must be in [0, 1); got {v!r}")
        if not -1.0 <= self.rho <= 1.0:
            raise ValueError(f"rho must be in [-1, 1]; got {self.rho!r}")
        for attr in ("fixed_effects", "group_cols"):
            v = getattr(self, attr)
            if isinstance(v, str):
                raise TypeError(f"{attr} must be a tuple of column names, not a string; got {v!r}")
            object.__setattr__(self, attr, tuple(v))
        sets = []
        for item in self.benchmark_sets:
            if not (isinstance(item, tuple | list) and len(item) == 2 and not isinstance(item[1], str)):
                raise TypeError(f"benchmark_sets must hold (name, columns) pairs; got {item!r}")
            sets.append((str(item[0]), tuple(item[1])))
        object.__setattr__(self, "benchmark_sets", tuple(sets))
        if self.fixed_effects and self.model not in ("plr", "pliv"):
            raise ValueError(
                f"fixed_effects is for model 'plr' or 'pliv'; got model={self.model!r} with {list(self.fixed_effects)} "
                "(add indicator columns to the covariates instead)"
            )

    @property
    def label(self) -> str:
        """irm_att, irm_ate, plr, pliv, iivm, naive or randomized."""
        if self.model == "irm":
            return "irm_att" if self.score == "ATTE" else "irm_ate"
        return self.model

    @property
    def estimand(self) -> str:
        return {
            "irm": self.score,
            "plr": "PLR",
            "pliv": "IV",
            "iivm": "LATE",
            "naive": "DIFF",
            "randomized": "ATE",
            "apos": "ATE",
        }[self.model]


@dataclass(frozen=True)
class EstimateResult:
    """One estimate with its diagnostics. Only aggregates: no per-person predictions, scores or residuals."""

    outcome: str
    treatment: str
    model: str
    score: str
    estimate: float
    se: float
    ci_low: float
    ci_high: float
    p_value: float
    n: int
    n_treated: int | None
    n_trimmed: int
    n_missing_outcome: int
    n_missing_instrument: int
    learner: str
    folds: int
    reps: int
    seed: int
    cluster: str
    n_persons: int
    estimates_by_rep: tuple[float, ...]
    seconds: float
    nuisance_losses: pl.DataFrame = field(repr=False)
    rep_spread: float = float("nan")
    n_trimmed_treated: int | None = None
    n_trimmed_control: int | None = None
    learner_choice: pl.DataFrame | None = field(default=None, repr=False)
    overlap: pl.DataFrame | None = field(default=None, repr=False)
    balance: pl.DataFrame | None = field(default=None, repr=False)
    sensitivity: pl.DataFrame | None = field(default=None, repr=False)
    group_effects: pl.DataFrame | None = field(default=None, repr=False)
    notes: tuple[str, ...] = ()
    # PLIV only (None otherwise): the first stage on the residualised d and z, and the Anderson-Rubin set
    first_stage_coef: float | None = None
    first_stage_f: float | None = None
    first_stage_partial_r2: float | None = None
    ar_ci_low: float | None = None
    ar_ci_high: float | None = None
    ar_set: str | None = None
    # APOS only (None otherwise): the contrast ('video_vs_in_person') and every level's potential outcome
    contrast: str | None = None
    potential_outcomes: pl.DataFrame | None = field(default=None, repr=False)
    # Kish effective sample sizes of the design's weights by arm (models.feasibility.ess_by_arm): IRM's
    # ATT/ATE weights, PLR's regression weights (d - m)^2; None for designs without a propensity
    ess_treated: float | None = None
    ess_control: float | None = None

    SCALARS = (
        "outcome", "treatment", "model", "score", "estimate", "se", "ci_low", "ci_high", "p_value", "n",
        "n_treated", "n_trimmed", "n_missing_outcome", "n_missing_instrument", "learner", "folds", "reps",
        "seed", "cluster", "n_persons", "seconds", "rep_spread", "n_trimmed_treated", "n_trimmed_control",
        "first_stage_coef", "first_stage_f", "first_stage_partial_r2", "ar_ci_low", "ar_ci_high", "ar_set",
        "contrast", "ess_treated", "ess_control",
    )  # fmt: skip

    def row(self) -> dict[str, Any]:
        """The scalar fields (one row of ``estimates.parquet``)."""
        return {k: getattr(self, k) for k in self.SCALARS}

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dict: scalars (NaN -> None), per-repetition estimates, notes and the diagnostics tables
        as lists of records."""

        def clean(v: Any) -> Any:
            if isinstance(v, float | np.floating):
                return None if not math.isfinite(float(v)) else float(v)
            if isinstance(v, np.integer):
                return int(v)
            if isinstance(v, dict):
                return {k: clean(x) for k, x in v.items()}
            if isinstance(v, list | tuple):
                return [clean(x) for x in v]
            return v

        out: dict[str, Any] = {k: clean(v) for k, v in self.row().items()}
        out["estimates_by_rep"] = clean(list(self.estimates_by_rep))
        out["notes"] = list(self.notes)
        for name in (
            "nuisance_losses",
            "overlap",
            "balance",
            "sensitivity",
            "group_effects",
            "learner_choice",
            "potential_outcomes",
        ):
            frame = getattr(self, name)
            out[name] = None if frame is None else clean(frame.to_dicts())
        json.dumps(out)  # guarantee
        return out


# --------------------------------------------------------------------------------------------------------
# preparation


# DesignSpec.propensity_rows
PROPENSITY_ROWS = ("outcome", "unit")


@dataclass
class _Unit:
    """The whole table's rows for the propensity (``propensity_rows='unit'``): covariates, treatment and
    person codes of every row with a treatment and covariates, which of them have the outcome (``obs``,
    in the same order as the prepared rows) and the person folds drawn on them."""

    X: np.ndarray
    d: np.ndarray
    persons: np.ndarray
    obs: np.ndarray
    folds: list | None = None


@dataclass
class _IvUnit:
    """PLIV's rows for the learner choices of the nuisances that do not involve the outcome (the
    instrument's and the treatment's, ``propensity_rows='unit'``): the table's selected columns, every
    row (a zero-copy selection; the rows are picked and transformed only when a choice is made)."""

    frame: pl.DataFrame
    treatment: str
    covariates: list[str]


@dataclass
class _Prepared:
    frame: pl.DataFrame  # kept rows: outcome, treatment and design columns (not the covariates)
    x_cols: list[str]
    X: np.ndarray | None  # float32; None with ``unit`` (the learners read the unit's matrix)
    y: np.ndarray
    d: np.ndarray
    z: np.ndarray | None
    d_raw: np.ndarray  # the treatment before any within transformation (for counts)
    persons: np.ndarray  # int codes
    clusters: list[np.ndarray]
    binary_y: bool
    binary_d: bool
    n_missing_outcome: int
    n_missing_instrument: int
    prob: np.ndarray | None
    unit: _Unit | None = None  # propensity_rows='unit' with rows whose outcome is missing
    iv_unit: _IvUnit | None = None  # PLIV, propensity_rows='unit', learner 'auto': see _iv_unit_choices


def _outcome_rows(p: _Prepared, mask: np.ndarray | None = None) -> np.ndarray:
    """The covariates of the outcome's rows (those of ``mask`` among them): ``p.X`` or, with the
    propensity on the whole unit, a copy of those rows out of the unit's matrix."""
    if p.unit is None:
        return p.X if mask is None else p.X[mask]  # type: ignore[index]
    idx = np.flatnonzero(p.unit.obs)
    return p.unit.X[idx if mask is None else idx[mask]]


def _prepare(
    table: pl.DataFrame, outcome: str, treatment: str, covariates: list[str], spec: DesignSpec
) -> _Prepared:
    _check_table("table", table)
    _check_column("outcome", table, outcome)
    _check_column("treatment", table, treatment)
    covariates = _check_columns("covariates", table, covariates)
    if spec.model not in ("naive", "randomized") and not covariates:
        raise ValueError(f"covariates must not be empty for model={spec.model!r}")
    clash = [c for c in covariates if c in (outcome, treatment, spec.instrument)]
    if clash:
        raise ValueError(f"covariates must not contain the outcome, treatment or instrument; got {clash}")
    extra: list[str] = []
    for arg, col in (("person", spec.person), ("cluster2", spec.cluster2), ("instrument", spec.instrument)):
        if col is not None:
            _check_column(arg, table, col)
            extra.append(col)
    _check_columns("fixed_effects", table, list(spec.fixed_effects))
    _check_columns("group_cols", table, list(spec.group_cols))
    if isinstance(spec.assignment_prob, str):
        _check_column("assignment_prob", table, spec.assignment_prob)
        extra.append(spec.assignment_prob)
    for _, cols in spec.benchmark_sets:
        missing = [c for c in cols if c not in covariates]
        if missing:
            raise ValueError(f"benchmark_sets: column(s) {missing} are not among the covariates")
    needed = list(
        dict.fromkeys([outcome, treatment, *covariates, *extra, *spec.fixed_effects, *spec.group_cols])
    )
    df = table.select(needed)
    _check_numeric("outcome", df, [outcome])
    _check_numeric("treatment", df, [treatment])
    _check_numeric("covariates", df, covariates)

    y_missing = pl.col(outcome).is_null()
    if df.schema[outcome].is_float():
        y_missing = y_missing | pl.col(outcome).is_nan()
    n_missing_outcome = int(df.select(y_missing.sum()).item())
    unit = None
    if (
        spec.propensity_rows == "unit"
        and n_missing_outcome
        and spec.model in ("irm", "plr", "apos")
        and not spec.fixed_effects
        and not spec.instrument
    ):
        unit = _unit_rows(df, y_missing, treatment, covariates, spec)
    iv_unit = None
    if (
        spec.propensity_rows == "unit"
        and n_missing_outcome
        and spec.model == "pliv"
        and spec.learner == "auto"
        and spec.fixed_effects
    ):
        iv_unit = _IvUnit(frame=df, treatment=treatment, covariates=list(covariates))
    df = df.filter(~y_missing)
    if df.height == 0:
        raise ValueError(f"outcome: column {outcome!r} is missing in every row")
    _check_no_missing("treatment", df, [treatment])
    _check_no_missing("covariates", df, covariates)
    others = [c for c in [spec.person, spec.cluster2, *spec.fixed_effects, *spec.group_cols] if c]
    _check_no_missing("design columns", df, list(dict.fromkeys(others)))
    if isinstance(spec.assignment_prob, str):
        _check_no_missing("assignment_prob", df, [spec.assignment_prob])

    n_missing_instrument = 0
    if spec.instrument:
        _check_numeric("instrument", df, [spec.instrument])
        z_missing = pl.col(spec.instrument).is_null()
        if df.schema[spec.instrument].is_float():
            z_missing = z_missing | pl.col(spec.instrument).is_nan()
        n_missing_instrument = int(df.select(z_missing.sum()).item())
        df = df.filter(~z_missing)
        _check_not_constant("instrument", df, [spec.instrument])

    _check_not_constant("outcome", df, [outcome])
    if spec.model in ("irm", "iivm", "naive", "randomized"):
        _check_binary("treatment", df, treatment)
    else:
        _check_not_constant("treatment", df, [treatment])
    if spec.model == "iivm":
        _check_binary("instrument", df, spec.instrument)  # type: ignore[arg-type]
    _check_not_constant("covariates", df, covariates)

    x_cols = list(covariates)
    # With the propensity on the whole unit the learners read the unit's matrix with row masks: no second
    # matrix for the outcome's rows (``_outcome_rows`` copies a part of it where one is needed).
    X = None if unit is not None else covariate_matrix(df, covariates)
    y = df.get_column(outcome).cast(pl.Float64).to_numpy()
    d = df.get_column(treatment).cast(pl.Float64).to_numpy()
    d_raw = d
    z = df.get_column(spec.instrument).cast(pl.Float64).to_numpy() if spec.instrument else None
    if spec.fixed_effects:
        codes = [group_codes(df.get_column(c).cast(pl.String).to_numpy()) for c in spec.fixed_effects]
        w = within(np.column_stack([y, d] + ([z] if z is not None else [])), codes)
        y, d = w[:, 0], w[:, 1]
        if z is not None:
            z = w[:, 2]
        # The transformation is linear column by column, so the covariates are demeaned in blocks of
        # columns in place: a float64 copy of the whole matrix (and the iteration's temporaries) would be
        # several times its size at register scale.
        for start in range(0, X.shape[1], WITHIN_BLOCK):
            X[:, start : start + WITHIN_BLOCK] = within(
                X[:, start : start + WITHIN_BLOCK].astype(np.float64), codes
            )
    if X is not None:
        X = np.ascontiguousarray(X, dtype=np.float32)
    persons = group_codes(df.get_column(spec.person).to_numpy()) if spec.person else np.arange(df.height)
    clusters = [persons]
    if spec.cluster2:
        clusters.append(group_codes(df.get_column(spec.cluster2).to_numpy()))
    prob = None
    if spec.model == "randomized":
        if isinstance(spec.assignment_prob, str):
            prob = df.get_column(spec.assignment_prob).cast(pl.Float64).to_numpy()
            if np.any((prob <= 0) | (prob >= 1)):
                raise ValueError(f"assignment_prob: column {spec.assignment_prob!r} must lie in (0, 1)")
        else:
            prob = np.full(df.height, float(spec.assignment_prob))  # type: ignore[arg-type]
    uy = np.unique(y)
    return _Prepared(
        # the covariates are in X now; the frame keeps the design columns (group effects) only
        frame=df.drop([c for c in covariates if c not in others]),
        x_cols=x_cols,
        X=X,
        y=y,
        d=d,
        z=z,
        d_raw=d_raw,
        persons=persons,
        clusters=clusters,
        binary_y=bool(uy.size == 2 and set(uy.tolist()) <= {0.0, 1.0}) and not spec.fixed_effects,
        binary_d=bool(set(np.unique(d).tolist()) <= {0.0, 1.0}) and not spec.fixed_effects,
        n_missing_outcome=n_missing_outcome,
        n_missing_instrument=n_missing_instrument,
        prob=prob,
        unit=unit,
        iv_unit=iv_unit,
    )


def _unit_rows(
    df: pl.DataFrame, y_missing: pl.Expr, treatment: str, covariates: list[str], spec: DesignSpec
) -> _Unit | None:
    """The rows the propensity is fitted on under ``propensity_rows='unit'``: every row with a treatment,
    covariates and a person (a row lacking one of them is in no estimate's sample either), in the table's
    order, whatever the outcome (so that every outcome's propensity reads the same matrix and folds).
    ``None`` when they are the outcome's rows anyway."""
    needed = [treatment, *covariates, *([spec.person] if spec.person else [])]
    complete = pl.all_horizontal([pl.col(c).is_not_null() for c in needed])
    rows = df.select(complete.alias("c"), (~y_missing).alias("o"))
    if rows.filter(pl.col("c") & ~pl.col("o")).height == 0:
        return None
    df_u = df.filter(rows.get_column("c"))
    obs = rows.filter(pl.col("c")).get_column("o").to_numpy()
    d = df_u.get_column(treatment).cast(pl.Float64).to_numpy()
    if spec.model == "irm":
        _check_binary("treatment", df_u, treatment)
    persons = group_codes(df_u.get_column(spec.person).to_numpy()) if spec.person else np.arange(df_u.height)
    return _Unit(X=covariate_matrix(df_u, covariates), d=d, persons=persons, obs=obs)


# covariate columns demeaned at a time by the within transformation (PLIV's fixed effects)
WITHIN_BLOCK = 8


def covariate_matrix(df: pl.DataFrame, columns: Sequence[str], chunk_rows: int = 200_000) -> np.ndarray:
    """The covariates as one C-ordered float32 matrix ``(df.height, len(columns))``, filled in row chunks.

    Converting the whole frame at once holds a float32 copy of it in Polars, a column-ordered NumPy copy
    and the row-ordered result side by side (three times the matrix; 8 GB above the matrix's 3 GB at
    5 million meetings and 151 covariates). Filling a preallocated matrix a chunk at a time holds only
    the matrix and one chunk.
    """
    X = np.empty((df.height, len(columns)), dtype=np.float32)
    if not columns:
        return X
    sel = df.select(columns)
    for start in range(0, df.height, chunk_rows):
        X[start : start + chunk_rows] = sel.slice(start, chunk_rows).to_numpy()
    return X


def within(M: np.ndarray, codes: list[np.ndarray], tol: float = 1e-10, max_iter: int = 500) -> np.ndarray:
    """Residuals of the columns of ``M`` on additive fixed effects (one integer code array per effect):
    alternating demeaning (the method of alternating projections), vectorized with ``numpy.bincount``.
    Columns are centred; with one effect one pass is exact."""
    R = M - M.mean(axis=0)
    counts = [np.bincount(c).astype(np.float64) for c in codes]
    for _ in range(max_iter):
        shift = 0.0
        for c, n in zip(codes, counts, strict=True):
            means = np.column_stack(
                [np.bincount(c, weights=R[:, j], minlength=n.size) for j in range(R.shape[1])]
            )
            means /= np.maximum(n, 1.0)[:, None]
            R = R - means[c]
            shift = max(shift, float(np.abs(means).max()))
        if shift < tol * max(1.0, float(np.abs(M).max())) or len(codes) == 1:
            break
    return R


# --------------------------------------------------------------------------------------------------------
# cross-fitting


# A nuisance's learner: a kind ('lgbm', 'lasso', 'rf') for every nuisance, or per nuisance the
# choice of learner='auto' (keyed by DoubleML's nuisance names: ml_m, ml_g0, ml_g1, ml_l, ml_r, ml_g).
Kinds = str | dict[str, Choice]


def _pick(kind: Kinds, name: str) -> tuple[str, tuple]:
    """(kind, tuned settings) of nuisance ``name``."""
    if isinstance(kind, str):
        return kind, ()
    c = kind[name]
    return c.kind, c.params


def _learner(spec: DesignSpec, kind: Kinds, task: str, rep: int = 0, name: str = "") -> LearnerSpec:
    """The learner of nuisance ``name`` in repetition ``rep`` as plain data: seeded by the design's seed and
    the repetition only, so a fold fitted in this process or on any Dask worker is the same fit."""
    k, params = _pick(kind, name)
    return LearnerSpec(k, task, seed=spec.seed + rep, n_estimators=spec.n_estimators,
                       n_threads=spec.n_threads, poly2=spec.poly2, params=params)  # fmt: skip


def crossfit(
    make,
    X: np.ndarray,
    target: np.ndarray,
    folds,
    *,
    fit_mask: np.ndarray | None = None,
    proba: bool = False,
    what: str = "nuisance",
    rep: int = 0,
) -> np.ndarray:
    """Cross-fitted predictions: for each (train, test) fold fit ``make()`` on train rows (restricted to
    ``fit_mask``) and predict the test rows (``predict_proba[:, 1]`` if ``proba``).

    Raises
    ------
    ValueError
        When a training set is empty or, for a classifier, holds a single class.
    """
    preds = np.empty(target.shape[0], dtype=np.float64)
    for k, (train, test) in enumerate(folds):
        tr = train if fit_mask is None else train[fit_mask[train]]
        if tr.size == 0:
            raise ValueError(f"fold {k + 1} of repetition {rep + 1}: no training rows for {what}")
        if proba:
            classes = np.unique(target[tr])
            if classes.size < 2:
                raise ValueError(
                    f"fold {k + 1} of repetition {rep + 1}: the training rows for {what} hold a single class "
                    f"({classes.tolist()}); use fewer folds or more data"
                )
        est = make()
        est.fit(X[tr], target[tr])
        if test.size:
            preds[test] = est.predict_proba(X[test])[:, 1] if proba else est.predict(X[test])
    return preds


def _logloss(y: np.ndarray, p: np.ndarray) -> float:
    p = np.clip(p, 1e-12, 1 - 1e-12)
    return float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))


def _rmse(y: np.ndarray, p: np.ndarray) -> float:
    return float(np.sqrt(np.mean((y - p) ** 2)))


def _check_single_class_folds(d: np.ndarray, folds_all, what: str) -> None:
    for r, folds in enumerate(folds_all):
        for k, (train, _) in enumerate(folds):
            if np.unique(d[train]).size < 2:
                raise ValueError(
                    f"fold {k + 1} of repetition {r + 1}: the training rows of {what} hold a single class; "
                    "use fewer folds or more data"
                )


def _nuisances(
    p: _Prepared, spec: DesignSpec, need_g1: bool
) -> list[tuple[str, np.ndarray, str, np.ndarray | None]]:
    """The design's nuisances as (name, target, task, training rows) for the learner choice."""
    clf_or_reg = lambda binary: "classification" if binary else "regression"  # noqa: E731
    if spec.model == "irm":
        out = [("ml_m", p.d, "classification", None), ("ml_g0", p.y, clf_or_reg(p.binary_y), p.d == 0)]
        if need_g1:
            out.append(("ml_g1", p.y, clf_or_reg(p.binary_y), p.d == 1))
        return out
    if spec.model == "plr":
        return [("ml_l", p.y, "regression", None), ("ml_m", p.d, clf_or_reg(p.binary_d), None)]
    if spec.model == "pliv":
        return [("ml_l", p.y, "regression", None), ("ml_m", p.z, "regression", None),
                ("ml_r", p.d, "regression", None)]  # fmt: skip
    # iivm: DoubleML fits ml_r within instrument arms; the choice is made on all rows
    return [("ml_g", p.y, clf_or_reg(p.binary_y), None), ("ml_m", p.z, "classification", None),
            ("ml_r", p.d, "classification", None)]  # fmt: skip


def _choose_learners(
    p: _Prepared, spec: DesignSpec, need_g1: bool, cache: NuisanceCache | None = None
) -> tuple[dict[str, Choice], pl.DataFrame]:
    """``learner='auto'``: one :class:`models.tuning.Choice` per nuisance, and every candidate's inner
    out-of-fold loss (nuisance, candidate, metric, loss, chosen, n_rows, then weight: its weight in the
    nuisance's learner, z_vs_lgbm: its paired advantage over tuned LightGBM in standard errors, rule). A
    stack is one more row, the chosen one (weight null). In this process, once per cell; with a ``cache``
    (shared fits) a choice made before on the same data and settings is read from it."""
    choices: dict[str, Choice] = {}
    rows = []
    digests: dict[int, str] = {}
    # PLIV's instrument and treatment models on the whole unit: one choice for every outcome
    iv_choices = _iv_unit_choices(p, spec, cache) if p.iv_unit is not None else {}

    def choose(X: np.ndarray, *args, **kwargs) -> Choice:
        if cache is None:
            return choose_learner(X, *args, **kwargs)
        if id(X) not in digests:
            digests[id(X)] = array_digest(X)
        return cache.choose_learner(X, *args, x_digest=digests[id(X)], **kwargs)

    for name, target, task, fit_rows in _nuisances(p, spec, need_g1):
        if name in iv_choices:
            choices[name] = iv_choices[name]
            rows += iv_choices[name].table_rows(name, spec.n_estimators, spec.poly2)
            continue
        X, persons = p.X, p.persons
        if p.unit is not None:
            # the learners read the unit's rows (propensity_rows='unit'): the propensity all of them, the
            # outcome models the outcome's (its target is missing elsewhere)
            u = p.unit
            X, persons = u.X, u.persons
            if name == "ml_m":
                target, fit_rows = u.d, None
            else:
                full = np.full(u.obs.shape[0], np.nan)
                full[u.obs] = target
                rows_u = u.obs.copy()
                if fit_rows is not None:
                    rows_u[u.obs] = fit_rows
                target, fit_rows = full, rows_u
        # IRM's and IIVM's ml_m weight the score: chosen for overlap, not by loss (models.tuning.propensity_pick)
        weights_score = name == "ml_m" and spec.model in ("irm", "iivm")
        c = choose(X, target, persons, task, rows=fit_rows, seed=spec.seed, n_threads=spec.n_threads,
                   n_estimators=spec.n_estimators, poly2=spec.poly2, max_rows=spec.tune_max_rows,
                   propensity=weights_score)  # fmt: skip
        choices[name] = c
        rows += c.table_rows(name, spec.n_estimators, spec.poly2)
    frame = pl.DataFrame(rows, schema=CHOICE_SCHEMA)
    return choices, frame


def _iv_unit_choices(p: _Prepared, spec: DesignSpec, cache: NuisanceCache | None) -> dict[str, Choice]:
    """PLIV under ``propensity_rows='unit'`` with ``learner='auto'``: the choices of ``ml_m`` (the
    instrument) and ``ml_r`` (the treatment), which do not involve the outcome, made on every row of the
    unit (a treatment, instrument, covariates, fixed effects and person; the outcome's missing rows
    included), within-transformed on those rows: one choice for every outcome of the unit instead of one per
    outcome sample. The fits stay on each outcome's own within-transformed rows (docs/estimation.md, "PLIV's
    learner choices on the unit").

    With a cache the key is made of the unit's raw columns (the transformation is a deterministic function
    of them and the settings), so a cell that finds the choices does not transform the unit at all."""
    iv = p.iv_unit
    df = iv.frame  # type: ignore[union-attr]
    covs = iv.covariates  # type: ignore[union-attr]
    person = [spec.person] if spec.person else []
    needed = [iv.treatment, spec.instrument, *covs, *spec.fixed_effects, *person]  # type: ignore[union-attr]
    ok = pl.all_horizontal([pl.col(c).is_not_null() for c in needed])
    if df.schema[spec.instrument].is_float():
        ok = ok & ~pl.col(spec.instrument).is_nan()
    idx = np.flatnonzero(df.select(ok.alias("ok")).get_column("ok").to_numpy())
    codes = [group_codes(df.get_column(c).cast(pl.String).to_numpy()[idx]) for c in spec.fixed_effects]
    persons = group_codes(df.get_column(spec.person).to_numpy()[idx]) if spec.person else np.arange(idx.size)
    dz = np.column_stack(
        [df.get_column(c).cast(pl.Float64).to_numpy()[idx] for c in (iv.treatment, spec.instrument)]  # type: ignore[union-attr]
    )

    def column(c: str) -> np.ndarray:  # as covariate_matrix gives it (float32), for the transformation
        return df.get_column(c).cast(pl.Float32).to_numpy()[idx]

    kwargs = dict(seed=spec.seed, n_threads=spec.n_threads, n_estimators=spec.n_estimators, poly2=spec.poly2,
                  max_rows=spec.tune_max_rows, propensity=False)  # fmt: skip
    made: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}

    def data() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        if not made:
            w = within(dz, codes)
            X = np.empty((idx.size, len(covs)), dtype=np.float32)
            for start in range(0, len(covs), WITHIN_BLOCK):
                block = np.column_stack([column(c) for c in covs[start : start + WITHIN_BLOCK]])
                X[:, start : start + block.shape[1]] = within(block.astype(np.float64), codes)
            made["data"] = (X, w[:, 0], w[:, 1])
        return made["data"]

    def choose(name: str) -> Choice:
        X, d_w, z_w = data()
        return choose_learner(X, z_w if name == "ml_m" else d_w, persons, "regression", **kwargs)

    if cache is None:
        return {name: choose(name) for name in ("ml_m", "ml_r")}
    parts = [array_digest(dz), array_digest(persons), *(array_digest(c) for c in codes)]
    parts += [array_digest(column(c)) for c in covs]
    return {
        name: cache.choice_by_key(
            make_key("pliv-unit-choice", name, covs, *parts, repr(sorted(kwargs.items()))),
            lambda name=name: choose(name),
        )
        for name in ("ml_m", "ml_r")
    }


# --------------------------------------------------------------------------------------------------------
# DoubleML boundary


def _dml_data(
    p: _Prepared, X: np.ndarray, y: np.ndarray, d: np.ndarray, x_cols: list[str], z: np.ndarray | None = None
):
    import doubleml as dml
    import pandas as pd

    frame = pd.DataFrame(X, columns=x_cols)
    frame["__y"] = y
    frame["__d"] = d
    z_cols = None
    if z is not None:
        frame["__z"] = z
        z_cols = "__z"
    return dml.DoubleMLData(frame, y_col="__y", d_cols="__d", x_cols=x_cols, z_cols=z_cols)


@dataclass
class _Fit:
    model: Any  # the fitted DoubleML object (or None for naive/randomized)
    psi_a: np.ndarray  # (n_kept, R)
    psi_b: np.ndarray
    keep: np.ndarray  # bool over prepared rows
    propensity_all: np.ndarray | None  # cross-fitted, before trimming (overlap)
    propensity: np.ndarray | None  # on kept rows, mean over reps (balance)
    losses: list[dict[str, Any]]
    n_trimmed: int
    has_g1: bool
    iv: dict[str, Any] | None = None  # PLIV: first stage and Anderson-Rubin set (models.instrument)
    keep_unit: np.ndarray | None = None  # IRM: the kept rows of the rows the propensity was fitted on


def _fit_rows(data: FoldData, keep_f: np.ndarray, obs: np.ndarray) -> tuple[str | None, str | None]:
    """The row masks of a cell's refits, added to ``data``: the propensity's (the rows trimming keeps,
    ``None`` when it keeps every row) and the outcome models' (kept rows whose outcome is observed)."""
    rows_m = None
    if not keep_f.all():
        data.columns["keep"] = keep_f
        rows_m = "keep"
    keep_y = obs & keep_f
    rows_g = None
    if not keep_y.all():
        data.columns["keep_y"] = keep_y
        rows_g = "keep_y"
    return rows_m, rows_g


def _fit_irm(
    p: _Prepared,
    spec: DesignSpec,
    kind: Kinds,
    folds_all,
    X: np.ndarray,
    x_cols: list[str],
    need_g1: bool,
    engine: Engine,
    in_play: np.ndarray | None = None,
) -> _Fit:
    """IRM with external predictions. ``in_play`` (the benchmarked sensitivity's refits, no trimming): a
    mask over the propensity's rows (the unit's, or the outcome's) that the fit is restricted to, as if
    the others were trimmed, so that the refit reads the main fit's matrix, folds and keys."""
    import doubleml as dml
    from doubleml.utils import DMLDummyClassifier, DMLDummyRegressor, PSProcessorConfig

    y, d = p.y, p.d
    task_g = "classification" if p.binary_y else "regression"
    _check_single_class_folds(d, folds_all, "the treatment")
    # The rows the learners see: the outcome's, or with the propensity on the whole unit
    # (propensity_rows='unit') the unit's, of which the outcome's are ``obs`` (in order) and the outcome
    # models are fitted on those only (row masks, no copy of the covariates).
    u = p.unit
    if u is None:
        Xf, yf, d_f, obs, folds_f = X, y, d, np.ones(d.shape[0], dtype=bool), folds_all
    else:
        Xf, d_f, obs, folds_f = u.X, u.d, u.obs, u.folds
        yf = np.full(obs.shape[0], np.nan)
        yf[obs] = y
        _check_single_class_folds(d_f, folds_f, "the treatment")
    data = FoldData(Xf, {"y": yf, "d": d_f, "control": d_f == 0, "treated": d_f == 1}, folds_f)
    what_m = "the propensity (treatment)"
    if in_play is None:
        # The first repetition's propensity decides the trimming, so it is fitted first; every other fit
        # of the cell (all repetitions, all nuisances) then goes to the engine at once.
        (m_first_f,) = engine.run(
            data, [FitJob(_learner(spec, kind, "classification", 0, "ml_m"), "d", 0, what=what_m)]
        )
        keep_f = np.ones(d_f.shape[0], dtype=bool)
        if spec.trim is not None:
            keep_f = (m_first_f >= spec.trim[0]) & (m_first_f <= spec.trim[1])
        m_first = m_first_f[obs]
    else:
        # the rows in play stand for the kept ones: the propensity is fitted on them below, like the
        # main fit's refit after trimming (the same job, so the same key)
        m_first_f = m_first = None
        keep_f = np.asarray(in_play, dtype=bool)
    keep = keep_f[obs]  # on the outcome's rows
    n_trimmed, n_trimmed_f = int((~keep).sum()), int((~keep_f).sum())
    if keep.sum() < 2 * spec.n_folds or np.unique(d[keep]).size < 2:
        raise ValueError(
            f"trim={spec.trim}: trimming leaves too few units ({int(keep.sum())}) or one treatment arm"
        )
    # the propensity is refitted on the kept rows; the outcome models on the outcome's kept rows
    rows_m, rows_g = _fit_rows(data, keep_f, obs)
    keep_y = obs & keep_f
    yk, dk = (y[keep], d[keep]) if n_trimmed else (y, d)
    R = len(folds_all)
    jobs: list[tuple[str, int, FitJob]] = []
    for r in range(R):
        if r > 0 or n_trimmed_f or m_first_f is None:
            jobs.append(
                (
                    "m",
                    r,
                    FitJob(_learner(spec, kind, "classification", r, "ml_m"), "d", r, rows_m, what=what_m),
                )
            )
        jobs.append(("g0", r, FitJob(_learner(spec, kind, task_g, r, "ml_g0"), "y", r, rows_g, "control",
                                     what="the outcome among controls")))  # fmt: skip
        if need_g1:
            jobs.append(("g1", r, FitJob(_learner(spec, kind, task_g, r, "ml_g1"), "y", r, rows_g, "treated",
                                         what="the outcome among treated")))  # fmt: skip
    preds = engine.run(data, [j for _, _, j in jobs])
    M = np.empty((int(keep.sum()), R))
    G0 = np.empty_like(M)
    G1 = np.empty_like(M)
    if m_first_f is not None and not n_trimmed_f:
        M[:, 0] = m_first
    # the propensity's kept rows that are the outcome's kept rows, in order
    pick_m = obs[keep_f]
    for (name, r, _), pred in zip(jobs, preds, strict=True):
        {"m": M, "g0": G0, "g1": G1}[name][:, r] = pred[pick_m] if name == "m" else pred
    if not need_g1:
        G1[:] = G0  # cancels in the ATTE score; sensitivity is not reported without g1
    X_keep = Xf[np.flatnonzero(keep_y), :1]
    folds_k = restrict_folds(folds_all, keep) if n_trimmed else folds_all
    # DoubleML only computes scores, inference and sensitivity from the external predictions: it never
    # touches X, so it gets one covariate column instead of a second copy of the whole matrix (memory).
    data_dml = _dml_data(p, X_keep, yk, dk, x_cols[:1])
    clip = spec.trim[0] if spec.trim is not None else 1e-2
    clip = min(max(clip, 1e-6), 0.49)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        model = dml.DoubleMLIRM(
            data_dml,
            ml_g=DMLDummyRegressor(),
            ml_m=DMLDummyClassifier(),
            n_folds=spec.n_folds,
            n_rep=R,
            score=spec.score,
            ps_processor_config=PSProcessorConfig(clipping_threshold=clip),
            draw_sample_splitting=False,
        )
        model.set_sample_splitting([list(f) for f in folds_k])
        model.fit(external_predictions={"__d": {"ml_g0": G0, "ml_g1": G1, "ml_m": M}})
    out_metric = "logloss" if p.binary_y else "rmse"
    loss_fn = _logloss if p.binary_y else _rmse
    losses = [
        {"nuisance": "ml_m", "metric": "logloss", "value": float(np.mean([_logloss(dk, M[:, r]) for r in range(R)]))},
        {"nuisance": "ml_g0", "metric": out_metric,
         "value": float(np.mean([loss_fn(yk[dk == 0], G0[dk == 0, r]) for r in range(R)]))},
    ]  # fmt: skip
    if need_g1:
        losses.append({"nuisance": "ml_g1", "metric": out_metric,
                       "value": float(np.mean([loss_fn(yk[dk == 1], G1[dk == 1, r]) for r in range(R)]))})  # fmt: skip
    return _Fit(
        model=model,
        psi_a=model.psi_elements["psi_a"][:, :, 0],
        psi_b=model.psi_elements["psi_b"][:, :, 0],
        keep=keep,
        propensity_all=m_first,
        propensity=M.mean(axis=1),
        losses=losses,
        n_trimmed=n_trimmed,
        has_g1=need_g1,
        keep_unit=keep_f,
    )


def _dml_loss(target: np.ndarray, pred: np.ndarray, classifier: bool) -> float:
    """DoubleML's own nuisance loss (``DoubleML.nuisance_loss``) of one repetition, computed here because
    DoubleML reports none for external predictions: log loss (clipped at 1e-15) or RMSE."""
    if classifier:
        q = np.clip(pred, 1e-15, 1 - 1e-15)
        return float(-np.nanmean(target * np.log(q) + (1 - target) * np.log(1 - q)))
    return float(np.sqrt(np.nanmean((target - pred) ** 2)))


def _dml_losses(model) -> list[dict[str, Any]]:
    from sklearn.base import is_classifier

    out = []
    for name, arr in model.nuisance_loss.items():
        learner = model.learner.get(name) if name in model.learner else model.learner.get(name.rstrip("01"))
        metric = "logloss" if learner is not None and is_classifier(learner) else "rmse"
        vals = np.asarray(arr, dtype=float)
        out.append(
            {
                "nuisance": name,
                "metric": metric,
                "value": float(np.nanmean(vals)) if np.isfinite(vals).any() else float("nan"),
            }
        )
    return out


def _fit_plm(
    p: _Prepared, spec: DesignSpec, kind: Kinds, folds_all, X: np.ndarray, x_cols: list[str], engine: Engine
) -> _Fit:
    """PLR and PLIV: the nuisances are cross-fitted by the engine (fold tasks) and handed to DoubleML as
    external predictions; DoubleML computes the scores, inference and sensitivity from them. Every
    repetition uses the design's seed, as DoubleML does with one learner for all repetitions."""
    import doubleml as dml
    from doubleml.utils import DMLDummyClassifier, DMLDummyRegressor

    y, d, z = p.y, p.d, p.z
    R = len(folds_all)

    def reg(name: str) -> LearnerSpec:
        # every repetition uses the design's seed (rep 0), as DoubleML does with one learner
        return _learner(spec, kind, "regression", 0, name)

    if spec.model == "plr":
        if p.binary_d:
            _check_single_class_folds(d, folds_all, "the treatment")
        m = replace(reg("ml_m"), task="classification") if p.binary_d else reg("ml_m")
        learners = {"ml_l": (reg("ml_l"), "y"), "ml_m": (m, "d")}
    else:
        learners = {"ml_l": (reg("ml_l"), "y"), "ml_m": (reg("ml_m"), "z"), "ml_r": (reg("ml_r"), "d")}
    columns = {"y": y, "d": d} if z is None else {"y": y, "d": d, "z": z}
    # PLR's propensity on the whole unit (propensity_rows='unit'): every learner sees the unit's rows, the
    # outcome regression only those with the outcome (a row mask, no copy of the covariates)
    u = p.unit if spec.model == "plr" else None
    if u is None:
        data, rows_l, X1 = FoldData(X, columns, folds_all), None, X[:, :1]
    else:
        if p.binary_d:
            _check_single_class_folds(u.d, u.folds, "the treatment")
        y_u = np.full(u.obs.shape[0], np.nan)
        y_u[u.obs] = y
        data, rows_l = FoldData(u.X, {"y": y_u, "d": u.d, "obs": u.obs}, u.folds), "obs"
        X1 = u.X[np.flatnonzero(u.obs), :1]
    jobs = [(name, r, FitJob(lrn, target, r, rows_l if name == "ml_l" else None, what=f"{name} ({target})"))
            for r in range(R) for name, (lrn, target) in learners.items()]  # fmt: skip
    preds = engine.run(data, [j for _, _, j in jobs])
    ext = {name: np.empty((y.shape[0], R)) for name in learners}
    for (name, r, _), pred in zip(jobs, preds, strict=True):
        ext[name][:, r] = pred if (u is None or name == "ml_l") else pred[u.obs]
    dummy = {
        name: DMLDummyClassifier() if lrn.proba else DMLDummyRegressor()
        for name, (lrn, _) in learners.items()
    }
    # DoubleML never touches X with external predictions: one covariate column instead of a copy (memory).
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        if spec.model == "plr":
            data_dml = _dml_data(p, X1, y, d, x_cols[:1])
            model = dml.DoubleMLPLR(data_dml, ml_l=dummy["ml_l"], ml_m=dummy["ml_m"], n_folds=spec.n_folds, n_rep=R,
                                    score="partialling out", draw_sample_splitting=False)  # fmt: skip
        else:
            data_dml = _dml_data(p, X1, y, d, x_cols[:1], z=z)
            model = dml.DoubleMLPLIV(data_dml, ml_l=dummy["ml_l"], ml_m=dummy["ml_m"], ml_r=dummy["ml_r"],
                                     n_folds=spec.n_folds, n_rep=R, score="partialling out",
                                     draw_sample_splitting=False)  # fmt: skip
        model.set_sample_splitting([list(f) for f in folds_all])
        model.fit(external_predictions={"__d": ext}, store_predictions=True)
    propensity = None
    if p.binary_d:
        propensity = ext["ml_m" if spec.model == "plr" else "ml_r"].mean(axis=1)
    losses = []
    for name, (lrn, target) in learners.items():
        t = columns[target]
        losses.append({"nuisance": name, "metric": "logloss" if lrn.proba else "rmse",
                       "value": float(np.nanmean([_dml_loss(t, ext[name][:, r], lrn.proba) for r in range(R)]))})  # fmt: skip
    iv = None
    if spec.model == "pliv":
        # the first stage and the Anderson-Rubin set from the same residuals as DoubleML's score
        # psi = (y_res - theta d_res) z_res, clustered as the estimate
        iv = iv_diagnostics(
            y[:, None] - ext["ml_l"], d[:, None] - ext["ml_r"], z[:, None] - ext["ml_m"], p.clusters
        )
    return _Fit(
        model=model,
        psi_a=model.psi_elements["psi_a"][:, :, 0],
        psi_b=model.psi_elements["psi_b"][:, :, 0],
        keep=np.ones(y.shape[0], dtype=bool),
        propensity_all=propensity,
        propensity=propensity,
        losses=losses,
        n_trimmed=0,
        has_g1=True,
        iv=iv,
    )


def _fit_iivm(
    p: _Prepared, spec: DesignSpec, kind: Kinds, folds_all, X: np.ndarray, x_cols: list[str]
) -> _Fit:
    """IIVM (the command line's LATE; not in the pipeline's grid): DoubleML fits the learners itself, in
    the calling process, on the same seeded folds."""
    import doubleml as dml
    from doubleml.utils import PSProcessorConfig

    y, d, z = p.y, p.d, p.z

    def reg(name: str) -> Any:
        return _learner(spec, kind, "regression", 0, name).make()

    def clf(name: str) -> Any:
        return _learner(spec, kind, "classification", 0, name).make()

    R = len(folds_all)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        _check_single_class_folds(z, folds_all, "the instrument")  # type: ignore[arg-type]
        always = bool(np.any((d == 1) & (z == 0)))
        never = bool(np.any((d == 0) & (z == 1)))
        data = _dml_data(p, X, y, d, x_cols, z=z)
        model = dml.DoubleMLIIVM(
            data, ml_g=clf("ml_g") if p.binary_y else reg("ml_g"), ml_m=clf("ml_m"), ml_r=clf("ml_r"),
            n_folds=spec.n_folds, n_rep=R,
            subgroups={"always_takers": always, "never_takers": never},
            ps_processor_config=PSProcessorConfig(clipping_threshold=spec.trim[0] if spec.trim else 1e-2),
            draw_sample_splitting=False,
        )  # fmt: skip
        model.set_sample_splitting([list(f) for f in folds_all])
        model.fit(store_predictions=True)
    return _Fit(
        model=model,
        psi_a=model.psi_elements["psi_a"][:, :, 0],
        psi_b=model.psi_elements["psi_b"][:, :, 0],
        keep=np.ones(y.shape[0], dtype=bool),
        propensity_all=None,
        propensity=None,
        losses=_dml_losses(model),
        n_trimmed=0,
        has_g1=True,
    )


def naive_scores(y: np.ndarray, d: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Score elements of the difference in means: psi_a = -1,
    psi_b = (mu1 - mu0) + d (y - mu1) / p - (1 - d) (y - mu0) / (1 - p)."""
    p = d.mean()
    mu1 = y[d == 1].mean()
    mu0 = y[d == 0].mean()
    psi_b = (mu1 - mu0) + d * (y - mu1) / p - (1 - d) * (y - mu0) / (1 - p)
    return -np.ones_like(y), psi_b


def randomized_scores(y: np.ndarray, d: np.ndarray, prob: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Score elements of the difference of inverse-probability weighted (Hajek) means with known
    assignment probabilities ``prob``: psi_a = -1, psi_b = (mu1 - mu0) + w1 (y - mu1) - w0 (y - mu0),
    w1 = (d / prob) / mean(d / prob), w0 = ((1 - d) / (1 - prob)) / mean((1 - d) / (1 - prob))."""
    w1 = d / prob
    w0 = (1 - d) / (1 - prob)
    w1 = w1 / w1.mean()
    w0 = w0 / w0.mean()
    mu1 = float(np.sum(w1 * y) / np.sum(w1))
    mu0 = float(np.sum(w0 * y) / np.sum(w0))
    psi_b = (mu1 - mu0) + w1 * (y - mu1) - w0 * (y - mu0)
    return -np.ones_like(y), psi_b


def _fit(
    p: _Prepared,
    spec: DesignSpec,
    kind: Kinds,
    folds_all,
    X: np.ndarray,
    x_cols: list[str],
    need_g1: bool,
    engine: Engine = IN_PROCESS,
) -> _Fit:
    if spec.model == "irm":
        return _fit_irm(p, spec, kind, folds_all, X, x_cols, need_g1, engine)
    if spec.model in ("plr", "pliv"):
        return _fit_plm(p, spec, kind, folds_all, X, x_cols, engine)
    if spec.model == "iivm":
        return _fit_iivm(p, spec, kind, folds_all, X, x_cols)
    if spec.model == "naive":
        a, b = naive_scores(p.y, p.d)
    else:
        a, b = randomized_scores(p.y, p.d, p.prob)  # type: ignore[arg-type]
    return _Fit(None, a[:, None], b[:, None], np.ones(p.y.shape[0], bool), None, None, [], 0, False)


# --------------------------------------------------------------------------------------------------------
# entry point


def _effective_sizes(
    spec: DesignSpec, fit: _Fit, d_kept: np.ndarray, binary_d: bool
) -> tuple[float | None, float | None]:
    """Kish effective sample sizes (treated, control) of the weights the design puts on the kept units.

    IRM: the ATT weights (1; p/(1-p)) or ATE weights (1/p; 1/(1-p)) with the propensity clipped as in the
    score. PLR: the regression weights (d - m)^2 (the implicit weights of a partially linear estimate,
    Aronow and Samii 2016). Other designs: (None, None). Aggregates only.
    """
    from models.feasibility import ess_by_arm, kish_ess

    if not binary_d or fit.propensity is None or fit.propensity.shape[0] != d_kept.shape[0]:
        return None, None
    d = np.asarray(d_kept, dtype=np.float64)
    if spec.model == "irm":
        clip = min(max(spec.trim[0] if spec.trim is not None else 1e-2, 1e-6), 0.49)
        return ess_by_arm(fit.propensity, d, "ATT" if spec.score == "ATTE" else "ATE", clip)
    if spec.model == "plr":
        w = (d - np.asarray(fit.propensity, dtype=np.float64)) ** 2
        return kish_ess(w[d == 1]), kish_ess(w[d == 0])
    return None, None


def estimate(
    table: pl.DataFrame,
    outcome: str,
    treatment: str,
    covariates: list[str],
    spec: DesignSpec | None = None,
    engine: Engine | None = None,
) -> EstimateResult:
    """Estimate the effect of ``treatment`` on ``outcome`` with the design in ``spec``.

    Parameters
    ----------
    table : polars.DataFrame
        One row per unit (meeting). Numeric covariates without missing values (categories encoded
        upstream). Converted to pandas only at DoubleML's boundary; X is float32.
    outcome : str
        Outcome column. Rows where it is missing are dropped and counted (``n_missing_outcome``).
    treatment : str
        Treatment column (0/1 for IRM, IIVM, naive, randomized).
    covariates : list of str
        Control columns.
    spec : DesignSpec, optional
        Design, learner, folds, clustering, trimming, diagnostics. Default: IRM-ATTE with LightGBM.
    engine : models.engine.Engine, optional
        Where the learners are fitted: in this process (default) or as fold tasks on a Dask cluster
        (:func:`models.engine.engine_from_setting`). The result does not depend on it.

    Returns
    -------
    EstimateResult

    Raises
    ------
    ValueError, TypeError
        A wrong column name, a non-binary treatment where one is needed, a constant column, missing values
        in treatment or covariates, a single-class training fold; the message names the argument and value.
    """
    spec = spec or DesignSpec()
    if not isinstance(spec, DesignSpec):
        raise TypeError(f"spec must be a DesignSpec; got {type(spec).__name__}")
    if spec.model == "apos":
        raise ValueError("model='apos' gives one result per contrast: call models.apos.estimate_apos")
    engine = IN_PROCESS if engine is None else engine
    if not isinstance(engine, Engine):
        raise TypeError(f"engine must be a models.engine.Engine; got {type(engine).__name__}")
    with engine.scope() as scoped:
        return _estimate(table, outcome, treatment, covariates, spec, scoped)


def _estimate(
    table: pl.DataFrame, outcome: str, treatment: str, covariates: list[str], spec: DesignSpec, engine: Engine
) -> EstimateResult:
    t0 = time.perf_counter()
    p = _prepare(table, outcome, treatment, covariates, spec)
    notes: list[str] = []
    if p.n_missing_outcome:
        notes.append(f"{p.n_missing_outcome} rows with a missing outcome dropped")
    if p.n_missing_instrument:
        notes.append(f"{p.n_missing_instrument} rows with a missing instrument dropped")
    folds_all = None
    if p.unit is not None:
        # one person split of the whole unit; the outcome's folds are its restriction (a person is in the
        # same fold for every outcome, so the propensity's held-out persons are the outcome models')
        p.unit.folds = person_folds(p.unit.persons, spec.n_folds, spec.n_reps, spec.seed)
        folds_all = restrict_folds(p.unit.folds, p.unit.obs)
        notes.append(
            f"propensity fitted on all {p.unit.obs.shape[0]} rows of the unit, including the "
            f"{int((~p.unit.obs).sum())} whose outcome is missing (propensity_rows='unit')"
        )
    elif spec.model not in ("naive", "randomized"):
        folds_all = person_folds(p.persons, spec.n_folds, spec.n_reps, spec.seed)
    want_sens = spec.sensitivity and spec.model in ("irm", "plr")
    need_g1 = spec.score == "ATE" or want_sens
    kind: Kinds = spec.learner
    learner_label = "none"
    choice_frame = None
    nuisance_label: dict[str, str] = {}
    if spec.model not in ("naive", "randomized"):
        if spec.learner == "auto":
            kind, choice_frame = _choose_learners(p, spec, need_g1, getattr(engine, "cache", None))
            nuisance_label = {n: c.label(spec.n_estimators, spec.poly2) for n, c in kind.items()}
            learner_label = "auto(" + ",".join(f"{n}={c.kind}" for n, c in kind.items()) + ")"
            notes.append(
                "learner auto (propensity: fixed LightGBM unless it breaks overlap; outcome models: inner out-of-fold loss, guarded): "
                + "; ".join(
                    f"{n} {lab} {kind[n].metric} {kind[n].loss:.4g}" for n, lab in nuisance_label.items()
                )
            )
        else:
            learner_label = describe(spec.learner, spec.n_estimators, spec.poly2)
    fit = _fit(p, spec, kind, folds_all, p.X, p.x_cols, need_g1, engine)
    keep = fit.keep
    clusters = [group_codes(c[keep]) for c in p.clusters]
    res = estimate_from_scores(fit.psi_a, fit.psi_b, clusters)
    dk = p.d_raw[keep]
    raw_binary = bool(set(np.unique(p.d_raw).tolist()) <= {0.0, 1.0})
    thetas = np.asarray(res["thetas"], dtype=float)
    rep_spread = float(thetas.max() - thetas.min()) if thetas.size > 1 else float("nan")
    notes += _spread_notes(rep_spread, float(res["se"]), thetas.size)
    n_trim_t = n_trim_c = None
    if raw_binary:
        n_trim_t = int(np.sum(~keep & (p.d_raw == 1)))
        n_trim_c = int(np.sum(~keep & (p.d_raw == 0)))
        notes += trimming_notes(n_trim_t, int(np.sum(p.d_raw == 1)), n_trim_c, int(np.sum(p.d_raw == 0)))

    overlap = balance = sensitivity = groups = None
    if spec.diagnostics:
        if fit.propensity_all is not None:
            overlap = diag.overlap_table(fit.propensity_all, p.d, spec.n_bins)
        n_cov = len(covariates)
        if p.binary_d and n_cov:
            target = "ATT" if (spec.model == "irm" and spec.score == "ATTE") else "ATE"
            if p.unit is None:
                balance = diag.balance_table(
                    p.X[:, :n_cov], p.d, list(covariates), keep, fit.propensity, target
                )
            else:
                # on the unit's matrix: the rows without the outcome get no arm and are not kept
                u = p.unit
                keep_u = np.zeros(u.obs.shape[0], dtype=bool)
                keep_u[np.flatnonzero(u.obs)[keep]] = True
                d_u = np.where(u.obs, u.d, np.nan)
                balance = diag.balance_table(
                    u.X[:, :n_cov], d_u, list(covariates), keep_u, fit.propensity, target
                )
    if want_sens and fit.model is not None and fit.has_g1:
        sensitivity = diag.sensitivity_table(fit.model, spec.cf_y, spec.cf_d, spec.rho, clusters=clusters)
        for name, cols in spec.benchmark_sets:
            try:
                bench = _benchmark(p, spec, kind, fit, name, cols, engine, clusters, folds_all)
                sensitivity = pl.concat([sensitivity, bench], how="vertical_relaxed")
            except ValueError as e:  # a benchmark that cannot be computed is reported, not fatal
                notes.append(f"sensitivity benchmark {name!r} failed: {e}")
    if spec.group_cols:
        own = None
        if spec.model in ("naive", "randomized"):
            # each group's own treated share and arm means (not the full sample's)
            yk, prob_k = p.y[keep], (p.prob[keep] if p.prob is not None else None)

            def own(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
                if prob_k is None:
                    return naive_scores(yk[mask], dk[mask])
                return randomized_scores(yk[mask], dk[mask], prob_k[mask])

        groups = diag.group_effects_table(
            p.frame.filter(pl.Series(keep)), spec.group_cols, fit.psi_a, fit.psi_b, clusters,
            d=dk if raw_binary else None, min_cell=spec.min_cell, own_scores=own,
        )  # fmt: skip
    iv = fit.iv or {}
    if iv:
        if not iv["first_stage_f"] >= WEAK_F:
            notes.append(
                f"weak instrument: first-stage F = {iv['first_stage_f']:.2f} < {WEAK_F:g}; the Wald interval is "
                f"unreliable, use the Anderson-Rubin set ({iv['ar_set']}: [{iv['ar_ci_low']:.4g}, {iv['ar_ci_high']:.4g}])"
            )
        if iv["ar_set"] != "interval":
            notes.append(f"Anderson-Rubin set is {iv['ar_set'].replace('_', ' ')}")
    losses = pl.DataFrame(
        fit.losses or [], schema={"nuisance": pl.String, "metric": pl.String, "value": pl.Float64}
    )
    # per nuisance under 'auto' (IIVM's ml_g0/ml_g1 and ml_r0/ml_r1 share the choice of ml_g and ml_r)
    labels = {
        n: nuisance_label.get(n, nuisance_label.get(n.rstrip("01"), learner_label))
        for n in losses["nuisance"]
    }
    losses = losses.with_columns(
        pl.col("nuisance")
        .replace_strict(labels, default=learner_label, return_dtype=pl.String)
        .alias("learner")
    )
    if choice_frame is not None:
        chosen = choice_frame.filter(pl.col("chosen")).select(
            "nuisance", pl.col("loss").alias("selection_loss")
        )
        losses = losses.join(chosen, on="nuisance", how="left")
    ess = _effective_sizes(spec, fit, dk, p.binary_d)
    return EstimateResult(
        outcome=outcome,
        treatment=treatment,
        model=spec.model,
        score=spec.estimand,
        estimate=res["estimate"],
        se=res["se"],
        ci_low=res["ci_low"],
        ci_high=res["ci_high"],
        p_value=res["p_value"],
        n=int(keep.sum()),
        n_treated=int(dk.sum()) if raw_binary else None,
        n_trimmed=fit.n_trimmed,
        n_missing_outcome=p.n_missing_outcome,
        n_missing_instrument=p.n_missing_instrument,
        learner=learner_label,
        folds=spec.n_folds if folds_all else 0,
        reps=spec.n_reps if folds_all else 1,
        seed=spec.seed,
        cluster="+".join(c for c in (spec.person or "row", spec.cluster2) if c),
        n_persons=int(np.unique(clusters[0]).size),
        estimates_by_rep=tuple(float(t) for t in res["thetas"]),
        seconds=round(time.perf_counter() - t0, 3),
        nuisance_losses=losses,
        rep_spread=rep_spread,
        n_trimmed_treated=n_trim_t,
        n_trimmed_control=n_trim_c,
        learner_choice=choice_frame,
        overlap=overlap,
        balance=balance,
        sensitivity=sensitivity,
        group_effects=groups,
        ess_treated=ess[0],
        ess_control=ess[1],
        notes=tuple(notes),
        first_stage_coef=iv.get("first_stage_coef"),
        first_stage_f=iv.get("first_stage_f"),
        first_stage_partial_r2=iv.get("first_stage_partial_r2"),
        ar_ci_low=iv.get("ar_ci_low"),
        ar_ci_high=iv.get("ar_ci_high"),
        ar_set=iv.get("ar_set"),
    )


# Warnings of a result: repetitions that disagree by more than this share of the standard error, and
# trimming that removes more than this share of an arm (the estimand is then another population's).
SPREAD_WARN_SE = 0.5
TRIM_WARN_SHARE = 0.10


def _spread_notes(spread: float, se: float, n_reps: int) -> list[str]:
    if n_reps < 2:
        return ["one repetition: the spread of the estimate over sample splits is not measured"]
    if np.isfinite(spread) and np.isfinite(se) and spread > SPREAD_WARN_SE * se:
        return [
            f"warning: the estimates of the {n_reps} repetitions spread over {spread:.4g} (max - min), more "
            f"than half the standard error ({se:.4g}); the result depends on the sample split: use more "
            "repetitions or a steadier learner"
        ]
    return []


def trimming_notes(n_trim_treated: int, n_treated: int, n_trim_control: int, n_control: int) -> list[str]:
    """A warning for each arm of which trimming removed more than :data:`TRIM_WARN_SHARE` (shares only)."""
    out = []
    for arm, k, n in (("treated", n_trim_treated, n_treated), ("control", n_trim_control, n_control)):
        if n and k / n > TRIM_WARN_SHARE:
            out.append(
                f"warning: trimming removed {100 * k / n:.0f}% of the {arm} units (more than "
                f"{100 * TRIM_WARN_SHARE:.0f}%): the estimand changed to the effect among units with overlap"
            )
    return out


def _benchmark(
    p: _Prepared,
    spec: DesignSpec,
    kind: Kinds,
    fit: _Fit,
    name: str,
    cols: tuple[str, ...],
    engine: Engine,
    clusters: list[np.ndarray] | None = None,
    folds_all=None,
) -> pl.DataFrame:
    """Benchmarked sensitivity: long and short model on the kept rows (a person subsample of them beyond
    ``benchmark_max_n``), gain statistics, bounds.

    The refits read the rows the main fit's propensity was fitted on (the unit's, or the outcome's) with
    its first repetition's folds, the rows not in play masked as if trimmed: the long model is then the
    main fit's first repetition itself (the same keys: read, not refitted, with shared fits), and the
    short model's propensity is the same for every outcome of the unit. Beyond ``benchmark_max_n`` kept
    rows the persons are drawn among the unit's kept rows (the same for every outcome) and the refits read
    a matrix of those rows only (docs/estimation.md, "Benchmarked sensitivity").
    """
    from doubleml.utils import gain_statistics

    u = p.unit
    if u is None:  # the outcome's rows are the propensity's
        u = _Unit(X=p.X, d=p.d, persons=p.persons, obs=np.ones(p.d.shape[0], dtype=bool), folds=folds_all)
    keep_f = fit.keep_unit if fit.keep_unit is not None else fit.keep
    first = [u.folds[0]]
    n = int(keep_f.sum())
    if n > spec.benchmark_max_n:
        rng = np.random.default_rng([spec.seed, 7])
        persons = np.unique(u.persons[keep_f])
        share = spec.benchmark_max_n / n
        chosen = np.zeros(int(u.persons.max()) + 1, dtype=bool)
        chosen[rng.choice(persons, size=max(spec.n_folds, int(len(persons) * share)), replace=False)] = True
        rows = keep_f & chosen[u.persons]
        # a matrix of the drawn rows only (at most benchmark_max_n rows, not a copy of the whole unit)
        sub_u = _Unit(X=u.X[rows], d=u.d[rows], persons=u.persons[rows], obs=u.obs[rows],
                      folds=restrict_folds(first, rows))  # fmt: skip
        on_y = rows[u.obs]  # the drawn rows among the outcome's
        in_play = None
    else:
        sub_u = _Unit(X=u.X, d=u.d, persons=u.persons, obs=u.obs, folds=first)
        on_y = np.ones(p.y.shape[0], dtype=bool)
        in_play = keep_f
    sub = _Prepared(**{**p.__dict__, "unit": sub_u, "X": None})
    sub.y, sub.d, sub.persons = p.y[on_y], p.d[on_y], p.persons[on_y]
    sub_spec = replace(spec, trim=None, n_reps=1, benchmark_sets=(), group_cols=())
    folds = restrict_folds(sub_u.folds, sub_u.obs)
    long_fit = _fit_irm(sub, sub_spec, kind, folds, None, p.x_cols, True, engine, in_play)
    idx = [i for i, c in enumerate(p.x_cols) if c not in cols]
    sub.unit = replace(sub_u, X=sub_u.X[:, idx])
    short_fit = _fit_irm(sub, sub_spec, kind, folds, None, [p.x_cols[i] for i in idx], True, engine, in_play)
    g = gain_statistics(dml_long=long_fit.model, dml_short=short_fit.model)
    cf_y = float(np.clip(np.asarray(g["cf_y"]).ravel()[0], 0.0, 0.99))
    cf_d = float(np.clip(np.asarray(g["cf_d"]).ravel()[0], 0.0, 0.99))
    rho = float(np.clip(np.nan_to_num(np.asarray(g["rho"]).ravel()[0]), -1.0, 1.0))
    return diag.sensitivity_table(fit.model, cf_y, cf_d, rho, benchmark=name, clusters=clusters)
