"""The modality design: average potential outcomes of a multi-valued treatment and their contrasts.

:func:`estimate_apos` estimates, for a categorical treatment column (the meeting form: in person,
telephone, video), the average potential outcome of every level with :class:`doubleml.DoubleMLAPOS`, and
every pairwise contrast (``telephone_vs_in_person`` = APO(telephone) - APO(in person)). It reuses the
primary design's machinery (:mod:`models.estimate`): person folds, the learners (``learner='auto'`` chooses
one per nuisance), the fold engine and trimming before the final fit.

Nuisances, cross-fitted on the person folds for each level k: the generalized propensity
m_k(X) = P(D = k | X) (a classifier of the indicator D = k) and the outcome regression
g_k(X) = E[Y | D = k, X] (fitted on the rows of arm k). They go to DoubleMLAPOS as external predictions
(``ml_m``, ``ml_g_d_lvl1``; ``ml_g_d_lvl0`` = E[Y | D != k, X] is the propensity-weighted mix of the other
arms' regressions, which the APO score does not use). DoubleML computes the APO scores
psi_b,k = g_k + 1{D = k} (Y - g_k) / m_k, psi_a = -1.

Inference: DoubleMLAPOS clusters only through ``DoubleMLClusterData``, whose folds are its own
(cluster-wise) draw, not the design's person folds handed over with external predictions. So the person-
clustered variances are computed here from DoubleMLAPOS's scores with :func:`models.inference.estimate_from_scores`:
a contrast's score is the difference of its two levels' scores (psi_a = -1 for both), which is what
``DoubleMLAPOS.causal_contrast`` does with the frameworks. Without a person column (every row its own
person) the standard errors equal ``causal_contrast``'s.

Overlap: a unit whose cross-fitted propensity of any level (first repetition) is below the trim's low bound
is dropped before the final fit and counted by its arm (``n_trimmed`` of the potential-outcome table, and
``n_trimmed_treated``/``n_trimmed_control`` of a contrast). The generalized propensities before trimming are
summarised by :func:`overlap_by_arm`: for every level k and arm a, quantiles of P(D = k | X) among the units
of arm a (the result's ``overlap``).
"""

from __future__ import annotations

import functools
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np
import polars as pl

from models._checks import _check_column, _check_table
from models.engine import IN_PROCESS, Engine, FitJob, FoldData
from models.estimate import (
    DesignSpec,
    EstimateResult,
    _check_single_class_folds,
    _fit_rows,
    _learner,
    _logloss,
    _prepare,
    _rmse,
    _spread_notes,
)
from models.folds import group_codes, person_folds, restrict_folds
from models.inference import estimate_from_scores
from models.learners import describe
from models.nuisance_cache import array_digest
from models.tuning import CHOICE_SCHEMA, choose_learner

ARM = "__arm"


def contrast_name(level: str, reference: str) -> str:
    """``'<level>_vs_<reference>'``, e.g. ``telephone_vs_in_person``."""
    return f"{level}_vs_{reference}"


def contrasts_of(levels: Sequence[str]) -> list[tuple[str, str]]:
    """Every pair (level, reference) with the reference earlier in ``levels``: for (in_person, telephone,
    video) the pairs telephone vs in_person, video vs in_person, video vs telephone."""
    return [(levels[j], levels[i]) for i in range(len(levels)) for j in range(i + 1, len(levels))]


def apo_scores(y: np.ndarray, arm: np.ndarray, M: np.ndarray, G: np.ndarray, clip: float) -> np.ndarray:
    """The APO scores psi_b of every level by the formula (a reference for DoubleML's).

    Parameters
    ----------
    y : (n,) outcome; arm : (n,) level codes 0..K-1; M, G : (n, K) propensities and outcome regressions.
    clip : propensities are clipped to [clip, 1 - clip], as DoubleML does.

    Returns
    -------
    numpy.ndarray
        (n, K): g_k + 1{arm = k} (y - g_k) / m_k.
    """
    m = np.clip(M, clip, 1 - clip)
    ind = arm[:, None] == np.arange(M.shape[1])[None, :]
    return G + ind * (y[:, None] - G) / m


def apos_dml_scores(
    y: np.ndarray, arm: np.ndarray, M: np.ndarray, G: np.ndarray, folds, clip: float
) -> tuple[object, np.ndarray]:
    """DoubleMLAPOS fitted on cross-fitted nuisances: its APO score elements psi_b of every level.

    Parameters
    ----------
    y : (n,) outcome; arm : (n,) level codes 0..K-1.
    M, G : (n, K, R) cross-fitted propensities P(D = k | X) and regressions E[Y | D = k, X].
    folds : the R repetitions' (train, test) folds the nuisances were cross-fitted on.
    clip : DoubleML's propensity clipping threshold.

    Returns
    -------
    (DoubleMLAPOS, numpy.ndarray of shape (n, K, R)); psi_a is -1 for every level.
    """
    import doubleml as dml
    from doubleml.utils import DMLDummyClassifier, DMLDummyRegressor, PSProcessorConfig

    K, R = M.shape[1], M.shape[2]
    ext = {}
    for k in range(K):
        # E[Y | D != k, X]: the other arms' regressions weighted by their propensities (the APO score
        # does not use it; DoubleML asks for it)
        others = [j for j in range(K) if j != k]
        w = M[:, others, :]
        g0 = (w * G[:, others, :]).sum(axis=1) / np.maximum(w.sum(axis=1), 1e-12)
        ext[float(k)] = {"ml_m": M[:, k, :], "ml_g_d_lvl1": G[:, k, :], "ml_g_d_lvl0": g0}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        model = dml.DoubleMLAPOS(
            dml.DoubleMLData(_dml_frame(y, arm), y_col="__y", d_cols="__d", x_cols=["__x"]),
            ml_g=DMLDummyRegressor(),
            ml_m=DMLDummyClassifier(),
            treatment_levels=[float(k) for k in range(K)],
            n_folds=len(folds[0]),
            n_rep=R,
            ps_processor_config=PSProcessorConfig(clipping_threshold=clip),
            draw_sample_splitting=False,
        )
        model.set_sample_splitting([list(f) for f in folds])
        model.fit(external_predictions=ext)
    psi_b = np.stack([model.modellist[k].psi_elements["psi_b"][:, :, 0] for k in range(K)], axis=1)
    return model, psi_b


OVERLAP_QUANTILES: tuple[tuple[str, float], ...] = (
    ("min", 0.0), ("p05", 0.05), ("p25", 0.25), ("p50", 0.5), ("p75", 0.75), ("p95", 0.95), ("max", 1.0),
)  # fmt: skip


def overlap_by_arm(propensity: np.ndarray, arm: np.ndarray, levels: Sequence[str]) -> pl.DataFrame:
    """The generalized propensity by arm: for every level k (``form``) and arm a (``arm``), the number of
    units of arm a and the quantiles of P(D = k | X) among them.

    Parameters
    ----------
    propensity : numpy.ndarray
        (n, K) cross-fitted propensities of the K levels, before trimming.
    arm : numpy.ndarray
        (n,) level codes 0..K-1.
    levels : sequence of str
        The K level names, in code order.

    Returns
    -------
    polars.DataFrame
        form, arm, n, min, p05, p25, p50, p75, p95, max (K x K rows; quantiles by linear interpolation,
        null for an arm without units). Unsuppressed: the report applies disclosure control (an order
        statistic needs ``n`` >= min_cell).
    """
    K = len(levels)
    if propensity.ndim != 2 or propensity.shape[1] != K or propensity.shape[0] != arm.shape[0]:
        raise ValueError(
            f"propensity: shape {propensity.shape} does not match {arm.shape[0]} units and {K} levels"
        )
    rows = []
    for k, form in enumerate(levels):
        for a, name in enumerate(levels):
            v = propensity[arm == a, k]
            q = (
                np.quantile(v, [p for _, p in OVERLAP_QUANTILES])
                if v.size
                else [None] * len(OVERLAP_QUANTILES)
            )
            rows.append({"form": form, "arm": name, "n": int(v.size),
                         **{c: (None if x is None else float(x)) for (c, _), x in zip(OVERLAP_QUANTILES, q, strict=True)}})  # fmt: skip
    schema = {
        "form": pl.String,
        "arm": pl.String,
        "n": pl.Int64,
        **{c: pl.Float64 for c, _ in OVERLAP_QUANTILES},
    }
    return pl.DataFrame(rows, schema=schema)


@dataclass
class _AposFit:
    psi_b: np.ndarray  # (n_kept, K, R)
    keep: np.ndarray
    propensity_all: np.ndarray  # (n, K), first repetition
    losses: list[dict]
    dml: object


def _fit_apos(p, spec: DesignSpec, kind, folds_all, arm: np.ndarray, K: int, engine: Engine) -> _AposFit:
    y = p.y
    task_g = "classification" if p.binary_y else "regression"
    # The rows the learners see: the outcome's or, with the generalized propensity on the whole unit
    # (propensity_rows='unit', as IRM's), the unit's, of which the outcome's are ``obs`` (in order); the
    # outcome models are fitted on those only (row masks, no copy of the covariates).
    u = p.unit
    if u is None:
        X, arm_f, obs, folds_f, yf = p.X, arm, np.ones(y.shape[0], dtype=bool), folds_all, y
    else:
        X, arm_f, obs, folds_f = u.X, u.d.astype(np.int64), u.obs, u.folds
        yf = np.full(obs.shape[0], np.nan)
        yf[obs] = y
    cols: dict[str, np.ndarray] = {"y": yf}
    for k in range(K):
        cols[f"d{k}"] = (arm_f == k).astype(np.float64)
        cols[f"arm{k}"] = arm_f == k
        _check_single_class_folds(cols[f"d{k}"], folds_f, f"the indicator of level {k}")
    data = FoldData(X, cols, folds_f)

    def m_job(k: int, r: int, rows: str | None) -> FitJob:
        lrn = _learner(spec, kind, "classification", r, f"ml_m_{k}")
        return FitJob(lrn, f"d{k}", r, rows, what=f"the propensity of level {k}")

    first = engine.run(data, [m_job(k, 0, None) for k in range(K)])
    m_first_f = np.column_stack(first)
    low = spec.trim[0] if spec.trim is not None else 0.0
    keep_f = (m_first_f >= low).all(axis=1) if spec.trim is not None else np.ones(obs.shape[0], bool)
    keep = keep_f[obs]
    n_trimmed, n_trimmed_f = int((~keep).sum()), int((~keep_f).sum())
    if keep.sum() < 2 * spec.n_folds or np.unique(arm[keep]).size < K:
        raise ValueError(
            f"trim={spec.trim}: trimming leaves too few units ({int(keep.sum())}) or loses a level"
        )
    # the propensities are refitted on the kept rows; the outcome models on the outcome's kept rows
    rows_m, rows_g = _fit_rows(data, keep_f, obs)
    R = len(folds_all)
    nk = int(keep.sum())
    M = np.empty((nk, K, R))
    G = np.empty((nk, K, R))
    jobs: list[tuple[str, int, int, FitJob]] = []
    for r in range(R):
        for k in range(K):
            if r > 0 or n_trimmed_f:
                jobs.append(("m", k, r, m_job(k, r, rows_m)))
            lrn = _learner(spec, kind, task_g, r, f"ml_g_{k}")
            jobs.append(("g", k, r, FitJob(lrn, "y", r, rows_g, f"arm{k}", what=f"the outcome in level {k}")))
    preds = engine.run(data, [j for *_, j in jobs])
    m_first = m_first_f[obs]
    if not n_trimmed_f:
        M[:, :, 0] = m_first
    pick_m = obs[keep_f]  # the propensity's kept rows that are the outcome's kept rows, in order
    for (name, k, r, _), pred in zip(jobs, preds, strict=True):
        if name == "m":
            M[:, k, r] = pred[pick_m]
        else:
            G[:, k, r] = pred
    yk, ak = y[keep], arm[keep]
    folds_k = restrict_folds(folds_all, keep) if n_trimmed else folds_all
    clip = min(max(low, 1e-6), 0.49) if spec.trim is not None else 1e-2
    model, psi_b = apos_dml_scores(yk, ak, M, G, folds_k, clip)
    loss_y = _logloss if p.binary_y else _rmse
    losses = []
    for k in range(K):
        dk = (ak == k).astype(float)
        losses.append({"nuisance": f"ml_m_{k}", "metric": "logloss",
                       "value": float(np.mean([_logloss(dk, M[:, k, r]) for r in range(R)]))})  # fmt: skip
        losses.append({"nuisance": f"ml_g_{k}", "metric": "logloss" if p.binary_y else "rmse",
                       "value": float(np.mean([loss_y(yk[ak == k], G[ak == k, k, r]) for r in range(R)]))})  # fmt: skip
    return _AposFit(psi_b=psi_b, keep=keep, propensity_all=m_first, losses=losses, dml=model)


def _dml_frame(y: np.ndarray, arm: np.ndarray):
    import pandas as pd

    # DoubleML never touches X with external predictions: one dummy column (memory)
    return pd.DataFrame({"__x": np.zeros(y.shape[0]), "__y": y, "__d": arm.astype(float)})


def estimate_apos(
    table: pl.DataFrame,
    outcome: str,
    treatment: str,
    covariates: list[str],
    spec: DesignSpec | None = None,
    levels: Sequence[str] | None = None,
    engine: Engine | None = None,
) -> list[EstimateResult]:
    """Average potential outcomes of the levels of ``treatment`` and their pairwise contrasts.

    Parameters
    ----------
    table : polars.DataFrame
        One row per unit; ``treatment`` a categorical column (string or integer).
    outcome, covariates : as :func:`models.estimate.estimate`.
    treatment : str
        The categorical treatment. Rows whose value is null or not among ``levels`` are left out and
        counted (a note of each result).
    spec : DesignSpec, optional
        Learner, folds, repetitions, person, trimming (``trim[0]`` is the generalized propensity's lower
        bound), ``group_cols`` and ``min_cell``. Its ``model`` is set to ``'apos'``.
    levels : sequence of str, optional
        The levels in order, the reference first (default: the sorted values present). Each needs rows.
    engine : models.engine.Engine, optional

    Returns
    -------
    list of EstimateResult
        One per contrast (``contrast`` = ``'<level>_vs_<reference>'``, ``estimate`` = APO(level) -
        APO(reference)), in the order of :func:`contrasts_of`. ``n_treated`` counts the level's units,
        ``n_trimmed_treated``/``n_trimmed_control`` the level's and the reference's trimmed units;
        ``potential_outcomes`` holds every level's APO with its clustered interval and its units trimmed,
        ``overlap`` the generalized propensities by arm (:func:`overlap_by_arm`), ``group_effects`` the
        contrast by group (no estimate for a group with fewer than ``min_cell`` units in either arm).

    Raises
    ------
    ValueError
        Fewer than two levels, a level without rows, a wrong column; the message names the argument.
    """
    t0 = time.perf_counter()
    spec = replace(spec or DesignSpec(), model="apos", score="ATE")
    engine = IN_PROCESS if engine is None else engine
    _check_table("table", table)
    _check_column("treatment", table, treatment)
    values = table.get_column(treatment).cast(pl.String)
    present = sorted(v for v in values.drop_nulls().unique().to_list())
    levels = [str(v) for v in (levels if levels is not None else present)]
    if len(levels) < 2 or len(set(levels)) != len(levels):
        raise ValueError(f"levels must hold two or more distinct values; got {levels!r}")
    missing = [v for v in levels if v not in present]
    if missing:
        raise ValueError(f"levels: {missing} have no rows in treatment column {treatment!r}")
    in_levels = values.is_in(levels).fill_null(False)
    n_left_out = int((~in_levels).sum())
    sub = table.filter(in_levels).with_columns(
        values.filter(in_levels)
        .replace_strict(levels, list(range(len(levels))), return_dtype=pl.Int32)
        .alias(ARM)
    )
    K = len(levels)
    with engine.scope() as scoped:
        p = _prepare(sub, outcome, ARM, covariates, spec)
        arm = p.d.astype(np.int64)
        u = p.unit
        if u is None:
            folds_all = person_folds(p.persons, spec.n_folds, spec.n_reps, spec.seed)
            X, persons, arm_c, y_c, obs = p.X, p.persons, arm, p.y, None
        else:
            # the generalized propensity on the whole unit, as IRM's (propensity_rows='unit'): one person
            # split of the unit, the outcome's folds its restriction
            u.folds = person_folds(u.persons, spec.n_folds, spec.n_reps, spec.seed)
            folds_all = restrict_folds(u.folds, u.obs)
            X, persons, arm_c, obs = u.X, u.persons, u.d.astype(np.int64), u.obs
            y_c = np.full(obs.shape[0], np.nan)
            y_c[obs] = p.y
        kind, choice_frame, nuisance_label = spec.learner, None, {}
        if spec.learner == "auto":
            kind, rows = {}, []
            task_g = "classification" if p.binary_y else "regression"
            cache = getattr(scoped, "cache", None)
            choose = choose_learner
            if cache is not None:  # shared fits: a choice made before on the same data is read
                choose = functools.partial(cache.choose_learner, x_digest=array_digest(X))
            for k in range(K):
                g_rows = arm_c == k if obs is None else obs & (arm_c == k)
                for name, target, task, fit_rows in (
                    (f"ml_m_{k}", (arm_c == k).astype(float), "classification", None),
                    (f"ml_g_{k}", y_c, task_g, g_rows),
                ):
                    c = choose(X, target, persons, task, rows=fit_rows, seed=spec.seed,
                               n_threads=spec.n_threads, n_estimators=spec.n_estimators,
                               poly2=spec.poly2, max_rows=spec.tune_max_rows,
                               propensity=name.startswith("ml_m"))  # fmt: skip
                    kind[name] = c
                    lab = c.label(spec.n_estimators, spec.poly2)
                    nuisance_label[name] = lab
                    rows += c.table_rows(name, spec.n_estimators, spec.poly2)
            choice_frame = pl.DataFrame(rows, schema=CHOICE_SCHEMA)
            learner_label = "auto(" + ",".join(f"{n}={c.kind}" for n, c in kind.items()) + ")"
        else:
            learner_label = describe(spec.learner, spec.n_estimators, spec.poly2)
        fit = _fit_apos(p, spec, kind, folds_all, arm, K, scoped)
    keep = fit.keep
    ak = arm[keep]
    clusters = [group_codes(c[keep]) for c in p.clusters]
    R = fit.psi_b.shape[2]
    ones = -np.ones((int(keep.sum()), R))
    po_rows = []
    for k, lvl in enumerate(levels):
        r = estimate_from_scores(ones, fit.psi_b[:, k, :], clusters)
        po_rows.append({"level": lvl, "estimate": r["estimate"], "se": r["se"], "ci_low": r["ci_low"],
                        "ci_high": r["ci_high"], "n": int((ak == k).sum()),
                        "n_trimmed": int(((arm == k) & ~keep).sum()),
                        "propensity_min": float(fit.propensity_all[arm == k, k].min()),
                        "propensity_max": float(fit.propensity_all[arm == k, k].max())})  # fmt: skip
    potential = pl.DataFrame(po_rows)
    overlap = overlap_by_arm(fit.propensity_all, arm, levels)
    losses = pl.DataFrame(fit.losses).with_columns(
        pl.col("nuisance")
        .replace_strict(nuisance_label, default=learner_label, return_dtype=pl.String)
        .alias("learner")
    )
    if choice_frame is not None:
        chosen = choice_frame.filter(pl.col("chosen")).select(
            "nuisance", pl.col("loss").alias("selection_loss")
        )
        losses = losses.join(chosen, on="nuisance", how="left")
    base_notes = []
    if p.n_missing_outcome:
        base_notes.append(f"{p.n_missing_outcome} rows with a missing outcome dropped")
    if p.unit is not None:
        base_notes.append(
            f"generalized propensity fitted on all {p.unit.obs.shape[0]} rows of the unit, including the "
            f"{int((~p.unit.obs).sum())} whose outcome is missing (propensity_rows='unit')"
        )
    if n_left_out:
        base_notes.append(f"{n_left_out} rows whose {treatment} is not among the levels {levels} left out")
    out = []
    for lvl, ref in contrasts_of(levels):
        i, j = levels.index(ref), levels.index(lvl)
        psi_b = fit.psi_b[:, j, :] - fit.psi_b[:, i, :]
        res = estimate_from_scores(ones, psi_b, clusters)
        thetas = np.asarray(res["thetas"], dtype=float)
        spread = float(thetas.max() - thetas.min()) if thetas.size > 1 else float("nan")
        notes = list(base_notes) + _spread_notes(spread, float(res["se"]), thetas.size)
        groups = None
        if spec.group_cols:
            groups = _contrast_groups(p.frame.filter(pl.Series(keep)), spec, ones, psi_b, clusters, ak, j, i)
        out.append(
            EstimateResult(
                outcome=outcome, treatment=treatment, model="apos", score="ATE",
                estimate=res["estimate"], se=res["se"], ci_low=res["ci_low"], ci_high=res["ci_high"],
                p_value=res["p_value"], n=int(((ak == j) | (ak == i)).sum()), n_treated=int((ak == j).sum()),
                n_trimmed=int((~keep & ((arm == j) | (arm == i))).sum()),
                n_missing_outcome=p.n_missing_outcome, n_missing_instrument=0, learner=learner_label,
                folds=spec.n_folds, reps=spec.n_reps, seed=spec.seed,
                cluster="+".join(c for c in (spec.person or "row", spec.cluster2) if c), n_persons=int(np.unique(clusters[0]).size),
                estimates_by_rep=tuple(float(t) for t in thetas), seconds=round(time.perf_counter() - t0, 3),
                nuisance_losses=losses, rep_spread=spread,
                n_trimmed_treated=int((~keep & (arm == j)).sum()), n_trimmed_control=int((~keep & (arm == i)).sum()),
                learner_choice=choice_frame, group_effects=groups, notes=tuple(notes),
                contrast=contrast_name(lvl, ref), potential_outcomes=potential, overlap=overlap,
            )
        )  # fmt: skip
    return out


def _contrast_groups(frame, spec, psi_a, psi_b, clusters, arm, j, i) -> pl.DataFrame:
    """Group effects of one contrast; a group with fewer than ``min_cell`` units in either of the two
    arms gets no estimate (``n_treated`` = the level's units, ``n_control`` = the reference's, ``n`` their
    sum)."""
    from models import diagnostics as diag
    from models.disclosure import is_small

    g = diag.group_effects_table(frame, spec.group_cols, psi_a, psi_b, clusters, min_cell=spec.min_cell)
    counts = []
    for col in spec.group_cols:
        s = frame.get_column(col).cast(pl.String)
        t = (
            pl.DataFrame({"group": s, "a": arm == j, "b": arm == i})
            .group_by("group")
            .agg(pl.col("a").sum().cast(pl.Int64).alias("n_t"), pl.col("b").sum().cast(pl.Int64).alias("n_c"))
        )
        counts.append(t.with_columns(pl.lit(col).alias("group_var")))
    c = pl.concat(counts)
    g = g.drop("n_treated", "n_control").join(c, on=["group_var", "group"], how="left")
    # the estimability rule is the gate's primary rule with zeros counted as small: an arm without units
    # has nothing to compare (one small-cell rule, models/disclosure.py is_small)
    fewest = g.select(pl.min_horizontal("n_t", "n_c")).to_series().to_list()
    small = pl.Series([is_small(v, spec.min_cell, allow_zero=False) for v in fewest], dtype=pl.Boolean)
    small = pl.lit(small) & pl.col("reason").is_null()
    g = g.with_columns(
        pl.when(small)
        .then(pl.lit(f"fewer than {spec.min_cell} units in an arm"))
        .otherwise(pl.col("reason"))
        .alias("reason")
    )
    hide = pl.col("reason").is_not_null()
    g = g.with_columns(
        [
            pl.when(hide).then(None).otherwise(pl.col(x)).alias(x)
            for x in ("estimate", "se", "ci_low", "ci_high")
        ]
    )
    # n counts the contrast's two forms in the group (as the estimate row's n), not the third form
    return g.rename({"n_t": "n_treated", "n_c": "n_control"}).with_columns(
        (pl.col("n_treated") + pl.col("n_control")).alias("n")
    )


__all__ = [
    "apo_scores",
    "apos_dml_scores",
    "contrast_name",
    "contrasts_of",
    "estimate_apos",
    "overlap_by_arm",
]
