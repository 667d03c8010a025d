"""The learner of ``learner='auto'``: LightGBM tuned, then one learner chosen for each nuisance separately,
guarded against the smooth candidates' bias.

For each nuisance of a design (IRM: propensity, outcome among controls, outcome among treated; PLR, PLIV
and IIVM: theirs) :func:`choose_learner`

1. takes the nuisance's training rows (e.g. the controls for the outcome among controls) and a seeded random
   subsample of whole persons of them (:func:`tuning_rows`: a tenth of the rows, at least
   :data:`TUNE_MIN_ROWS` and, for a probability, enough rows for about :data:`MIN_MINORITY` of the rarer
   class, at most ``max_rows``), so that the choice costs a fraction of the cell at any size;
2. draws ``inner_folds`` person-grouped folds on it (a person is never on both sides);
3. tunes LightGBM over the small grid :data:`LGBM_GRID` (leaves, minimum child size, learning rate), each
   setting with early stopping on a fifth of the training persons of each inner fold (at most
   :data:`MAX_ROUNDS` rounds); the setting with the smallest out-of-fold loss wins and its number of rounds
   is the median of the inner folds' best iterations;
4. computes the out-of-fold predictions, on the same inner folds, of LightGBM with its fixed settings
   (the reference: the least regularised candidate), of the lasso/logistic baseline and of a random forest
   (the forest only when the nuisance has at most :data:`RF_MAX_ROWS` training rows: its fit time grows
   fastest with the rows);
5. applies the rule (``rule``; the default :data:`RULE` is ``'guard'``):

   - ``'guard'`` (:func:`guard_pick`): the reference, unless the candidate with the smallest loss beats it
     by more than :data:`GUARD_Z` standard errors of the paired per-unit loss difference, clustered by
     person (:func:`paired_z`). The smallest prediction loss alone favours the smoothest candidate by a
     hair. For a propensity that weights the score (``propensity=True``) the loss does not decide at
     all (:func:`propensity_pick`, recorded as rule ``'overlap'``): the reference stays unless its inner
     out-of-fold propensities put more than :data:`OVERLAP_MAX` of an arm outside
     :data:`OVERLAP_BOUNDS`. A smoother propensity that wins the log loss under-adjusts, biasing the ATT
     and shrinking its SE (issue 17: the guarded choice covered 0.80-0.90 on the easy world; with the
     flexible propensity the same outcome choices were unbiased, docs/estimation.md);
   - ``'stack'``: short-stacking (Ahrens, Hansen, Schaffer & Wiemann 2024), the convex combination of all
     candidates with the weights of :func:`stack_weights`, fitted per fold as a ``'stack'`` learner;
   - ``'min'``: the smallest loss (log loss for a probability, RMSE otherwise), the first ``auto``.

This happens once per nuisance and cell, never per fold or repetition; the chosen learner is then
cross-fitted on the full data as any fixed learner is. The out-of-fold loss of the test part of an inner
fold is honest: early stopping never sees it.
"""

from __future__ import annotations

import itertools
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl

from models._checks import _check_in, _check_int
from models.folds import group_codes, person_folds
from models.learners import describe, make_learner

# Small on purpose: with early stopping deciding the rounds (and so standing in for the learning rate),
# three settings from very regularised (few leaves, large leaves: what a rare treatment needs) to flexible
# cover what matters at a few seconds a nuisance on small tables.
LGBM_GRID: tuple[dict[str, Any], ...] = (
    {"num_leaves": 4, "min_child_samples": 50, "learning_rate": 0.1},
    {"num_leaves": 15, "min_child_samples": 20, "learning_rate": 0.1},
    {"num_leaves": 31, "min_child_samples": 10, "learning_rate": 0.1},
)
MAX_ROUNDS = 300
PATIENCE = 20
TUNE_MAX_ROWS = 20_000
TUNE_MIN_ROWS = 2_000
TUNE_SHARE = 0.1
MIN_MINORITY = 300
INNER_FOLDS = 3
RF_MAX_ROWS = 200_000
SELECTION_RF_TREES = 30
SELECTION_LOGISTIC_CV = 3  # the logistic candidate's own search for C: 3 folds in the choice (5 otherwise)
CANDIDATES = ("lgbm", "lasso", "rf")
RULES = ("stack", "guard", "min")
RULE = "guard"
GUARD_Z = 2.0  # 'guard': another candidate replaces fixed LightGBM only when better by more than 2 SE
# A propensity (a probability that weights the score) keeps fixed LightGBM unless its inner out-of-fold
# predictions put more than OVERLAP_MAX of either class outside OVERLAP_BOUNDS (the default trimming bounds
# and DoubleML's clip): the failure that would change the estimand, the one a smoother learner is for.
OVERLAP_BOUNDS = (0.01, 0.99)
OVERLAP_MAX = 0.10
MAX_STACK = 8  # stack_weights enumerates the 2**k - 1 supports


# the learner_choice table: the first six columns as before the stack, then what the rule used
CHOICE_SCHEMA = {"nuisance": pl.String, "candidate": pl.String, "metric": pl.String, "loss": pl.Float64,
                 "chosen": pl.Boolean, "n_rows": pl.Int64, "weight": pl.Float64, "z_vs_lgbm": pl.Float64,
                 "rule": pl.String}  # fmt: skip


@dataclass(frozen=True)
class Choice:
    """The learner chosen for one nuisance.

    Attributes
    ----------
    kind : {'lgbm', 'lasso', 'rf'}
    params : tuple of (str, value)
        Tuned LightGBM settings (empty for the other learners).
    metric : {'logloss', 'rmse'}
    loss : float
        Inner out-of-fold loss of the chosen candidate (NaN when no choice could be made).
    n_rows : int
        Rows the choice was made on (after subsampling).
    candidates : tuple of (str, float)
        Every candidate's label and inner out-of-fold loss (``inf`` when it could not be fitted).
    weights : tuple of float
        Each candidate's weight in the nuisance's learner (a stack's weights; 1 for a single learner).
    z_vs_lgbm : tuple of float
        Each candidate's paired advantage over the reference, LightGBM with its fixed settings: the mean
        per-unit loss difference (the reference's minus the candidate's, squared error or log loss) over
        its person-clustered standard error (NaN for the reference itself or when either could not be
        fitted). Positive: the candidate is better.
    rule : str
        The rule that made the choice.
    """

    kind: str
    params: tuple[tuple[str, Any], ...]
    metric: str
    loss: float
    n_rows: int
    candidates: tuple[tuple[str, float], ...] = ()
    weights: tuple[float, ...] = ()
    z_vs_lgbm: tuple[float, ...] = ()
    rule: str = RULE

    def label(self, n_estimators: int, poly2: bool) -> str:
        return describe(self.kind, n_estimators, poly2, dict(self.params))

    def table_rows(self, nuisance: str, n_estimators: int, poly2: bool) -> list[dict[str, Any]]:
        """The choice as rows of the ``learner_choice`` table (:data:`CHOICE_SCHEMA`): one per candidate
        (its inner out-of-fold loss, whether it is the learner, its weight in it, its paired advantage
        over LightGBM) and, for a stack, one more: the stack itself, chosen, with its own inner loss."""
        chosen = self.label(n_estimators, poly2)
        cands = self.candidates or ((chosen, self.loss),)
        weights = self.weights or tuple(1.0 if lab == chosen else 0.0 for lab, _ in cands)
        z = self.z_vs_lgbm or (float("nan"),) * len(cands)
        base = {"nuisance": nuisance, "metric": self.metric, "n_rows": self.n_rows}
        # z is null where it does not apply (the reference itself, a candidate that could not be fitted)
        rows = [{**base, "candidate": lab, "loss": loss, "chosen": lab == chosen, "weight": w,
                 "z_vs_lgbm": None if np.isnan(zk) else zk, "rule": self.rule}
                for (lab, loss), w, zk in zip(cands, weights, z, strict=True)]  # fmt: skip
        if self.kind == "stack":
            rows.append({**base, "candidate": chosen, "loss": self.loss, "chosen": True, "weight": None,
                         "z_vs_lgbm": None, "rule": self.rule})  # fmt: skip
        return rows


def _loss(y: np.ndarray, pred: np.ndarray, proba: bool) -> float:
    if proba:
        p = np.clip(pred, 1e-12, 1 - 1e-12)
        return float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))
    return float(np.sqrt(np.mean((y - pred) ** 2)))


def _unit_losses(y: np.ndarray, pred: np.ndarray, proba: bool) -> np.ndarray:
    """Per-unit loss: log loss for a probability, squared error otherwise (the RMSE's square's terms)."""
    if proba:
        p = np.clip(pred, 1e-12, 1 - 1e-12)
        return -(y * np.log(p) + (1 - y) * np.log(1 - p))
    return (y - pred) ** 2


def _check_vector(name: str, value: Any, n: int | None = None) -> np.ndarray:
    a = np.asarray(value, dtype=np.float64)
    if a.ndim != 1 or a.size == 0:
        raise ValueError(f"{name} must be a non-empty 1-D array; got shape {a.shape}")
    if n is not None and a.size != n:
        raise ValueError(f"{name} must have {n} elements (one per unit); got {a.size}")
    if not np.all(np.isfinite(a)):
        raise ValueError(f"{name} must be finite; got {int(np.sum(~np.isfinite(a)))} non-finite values")
    return a


def stack_weights(P: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Short-stacking weights: non-negative, summing to one, minimising ``||y - P w||^2``.

    Constrained least squares over the candidates' out-of-fold predictions (Ahrens, Hansen, Schaffer &
    Wiemann 2024). Exact: the solution has some support S, on which it is the least-squares solution with
    ``sum(w) = 1``; every support of the k <= :data:`MAX_STACK` candidates is tried (``y - P_last =
    (P_S - P_last) v``), the feasible ones (all weights >= 0) compared, and among equal fits the smaller
    support, then the earlier candidates, kept (so two identical candidates never share the weight).

    Parameters
    ----------
    P : numpy.ndarray, shape (n, k)
        Predictions, one column per candidate (finite).
    y : numpy.ndarray, shape (n,)
        The target (finite).

    Returns
    -------
    numpy.ndarray, shape (k,)
        The weights (zero outside the support).
    """
    P = np.asarray(P, dtype=np.float64)
    if P.ndim != 2 or P.shape[0] == 0 or P.shape[1] == 0:
        raise ValueError(
            f"P must be a 2-D array (units x candidates) with rows and columns; got shape {P.shape}"
        )
    if P.shape[1] > MAX_STACK:
        raise ValueError(f"P: at most {MAX_STACK} candidates can be stacked; got {P.shape[1]}")
    if not np.all(np.isfinite(P)):
        raise ValueError(f"P must be finite; got {int(np.sum(~np.isfinite(P)))} non-finite values")
    y = _check_vector("y", y, P.shape[0])
    k = P.shape[1]
    best_w, best_sse = None, np.inf
    scale = float(np.sum(y**2)) + 1.0
    for size in range(1, k + 1):
        for support in itertools.combinations(range(k), size):
            S = list(support)
            last = P[:, S[-1]]
            if size == 1:
                ws = np.ones(1)
            else:
                v = np.linalg.lstsq(P[:, S[:-1]] - last[:, None], y - last, rcond=None)[0]
                ws = np.append(v, 1.0 - v.sum())
            if np.any(ws < -1e-10):
                continue
            ws = np.clip(ws, 0.0, None)
            ws /= ws.sum()
            sse = float(np.sum((y - P[:, S] @ ws) ** 2))
            if sse < best_sse - 1e-10 * scale:  # strictly better: ties keep the smaller, earlier support
                best_sse = sse
                best_w = np.zeros(k)
                best_w[S] = ws
    assert best_w is not None  # every single candidate is feasible
    return best_w


def paired_z(loss_a: np.ndarray, loss_b: np.ndarray, groups: np.ndarray) -> float:
    """How much better candidate b predicts than candidate a, in standard errors: the mean of the per-unit
    loss differences ``loss_a - loss_b`` over its standard error clustered by ``groups`` (a person's rows
    are not independent). ``inf`` (or ``-inf``) when the differences are all equal and non-zero, 0 when
    they are all zero."""
    a = _check_vector("loss_a", loss_a)
    b = _check_vector("loss_b", loss_b, a.size)
    g = np.asarray(groups)
    if g.ndim != 1 or g.size != a.size:
        raise ValueError(
            f"groups must be a 1-D array with {a.size} elements (one per unit); got shape {g.shape}"
        )
    d = a - b
    mean = float(d.mean())
    codes = group_codes(g)
    n_g = int(codes.max()) + 1
    if n_g < 2:
        raise ValueError(f"groups: at least 2 groups are needed for a standard error; got {n_g}")
    # cluster sums of the centred differences; the usual G/(G-1) small-sample factor
    e = np.bincount(codes, weights=d - mean, minlength=n_g)
    se = float(np.sqrt(n_g / (n_g - 1) * np.sum(e**2)) / d.size)
    if se == 0.0:
        return 0.0 if mean == 0.0 else float(np.sign(mean) * np.inf)
    return mean / se


def guard_pick(
    scored: list[tuple[str, tuple[tuple[str, Any], ...], float]],
    units: dict[int, np.ndarray],
    groups: np.ndarray,
    reference: int | None,
    z_min: float = GUARD_Z,
) -> int:
    """The 'guard' rule: the index in ``scored`` (candidates as (kind, params, loss)) of the learner.

    The ``reference`` candidate (LightGBM with its fixed, flexible settings: the least regularised, whose
    bias is smallest) is kept unless the candidate with the smallest loss is better by more than ``z_min``
    paired standard errors (:func:`paired_z` on the per-unit losses ``units``, by index); without a
    reference, the smallest loss. Candidates with an infinite loss never win."""
    finite = [i for i, c in enumerate(scored) if np.isfinite(c[2])]
    if not finite:
        raise ValueError("scored: no candidate has a finite loss")
    best = min(finite, key=lambda i: scored[i][2])
    if reference is None or reference == best or reference not in units or best not in units:
        return best
    return best if paired_z(units[reference], units[best], groups) > z_min else reference


def overlap_loss(y: np.ndarray, pred: np.ndarray, bounds: tuple[float, float] = OVERLAP_BOUNDS) -> float:
    """The larger, over the two classes of ``y`` (0/1), of the share of a class whose predicted probability
    ``pred`` lies outside ``bounds``: the share of that arm a trimming at those bounds would remove (NaN when
    a class is absent)."""
    y = _check_vector("y", y)
    pred = _check_vector("pred", pred, y.size)
    if not (0.0 <= bounds[0] < bounds[1] <= 1.0):
        raise ValueError(f"bounds must satisfy 0 <= low < high <= 1; got {bounds!r}")
    out = (pred < bounds[0]) | (pred > bounds[1])
    shares = [float(out[y == k].mean()) for k in (0.0, 1.0) if np.any(y == k)]
    return max(shares) if len(shares) == 2 else float("nan")


def propensity_pick(
    scored: list[tuple[str, tuple[tuple[str, Any], ...], float]],
    overlap: dict[int, float],
    reference: int | None,
    max_share: float = OVERLAP_MAX,
) -> int:
    """The rule for a propensity (rule ``'guard'`` with ``propensity=True``): the index in ``scored`` of the
    learner.

    The ``reference`` (LightGBM with its fixed settings) is kept whenever its inner out-of-fold
    predictions leave at most ``max_share`` of each class outside the overlap bounds (``overlap``: the
    :func:`overlap_loss` of each candidate with predictions, by index), whatever the other candidates' log
    loss; otherwise the candidate with the smallest loss among those within ``max_share``, or, when none
    is, the one with the smallest overlap loss. Why: in the IRM score the propensity weights the controls;
    a smoother propensity that wins the log loss by a little under-adjusts for what it smooths away, which
    biases the estimate and shrinks its standard error at once (issue 17, docs/estimation.md "The
    propensity keeps the flexible learner"), while an over-fitted one, cross-fitted, only costs variance,
    unless it pushes units to 0 or 1 (a rare treatment), which this rule detects."""
    finite = [i for i, c in enumerate(scored) if np.isfinite(c[2]) and i in overlap]
    if not finite:
        raise ValueError("scored: no candidate has a finite loss")
    within = [i for i in finite if overlap[i] <= max_share]
    if reference in within:
        return reference
    if within:
        return min(within, key=lambda i: scored[i][2])
    return min(finite, key=lambda i: (overlap[i], scored[i][2]))


def tuning_rows(n: int, max_rows: int, minority_share: float | None = None) -> int:
    """Rows the choice is made on, out of ``n`` training rows: ``TUNE_SHARE * n``, at least
    ``TUNE_MIN_ROWS`` and (for a probability whose rarer class has share ``minority_share``) enough rows
    for ``MIN_MINORITY`` of that class, never more than ``max_rows`` or ``n``.

    A tenth keeps the choice well under the cell's own cost (5 folds of every nuisance on four fifths of
    the rows); the floor on the rarer class keeps a rare treatment's propensity choosable (1.4% treated
    among 15,000: all rows).
    """
    want = max(TUNE_MIN_ROWS, int(TUNE_SHARE * n))
    if minority_share is not None and minority_share > 0:
        want = max(want, int(np.ceil(MIN_MINORITY / minority_share)))
    return int(min(n, max_rows, want))


def subsample_rows(rows: np.ndarray, persons: np.ndarray, max_rows: int, seed: int) -> np.ndarray:
    """At most ``max_rows`` of ``rows`` (indices, ascending), taking whole persons in a seeded random order.

    Vectorized: persons are ranked by a random permutation, their row counts accumulated in that order and
    the persons whose running total stays within ``max_rows`` kept (at least the first).
    """
    if rows.size <= max_rows:
        return rows
    codes = group_codes(persons[rows])
    n_groups = int(codes.max()) + 1
    order = np.random.default_rng([int(seed), 11]).permutation(n_groups)
    counts = np.bincount(codes, minlength=n_groups)
    total = np.cumsum(counts[order])
    keep_group = np.zeros(n_groups, dtype=bool)
    keep_group[order[total <= max_rows]] = True
    keep_group[order[0]] = True
    return rows[keep_group[codes]]


def _lgbm_oof(
    X: np.ndarray,
    y: np.ndarray,
    groups: np.ndarray,
    folds,
    proba: bool,
    setting: dict,
    seed: int,
    n_threads: int,
) -> tuple[np.ndarray, int]:
    """Out-of-fold predictions of one LightGBM setting with early stopping on a fifth of each inner
    training fold's persons; also the median best number of rounds."""
    import lightgbm as lgb

    task = "classification" if proba else "regression"
    pred = np.empty(y.shape[0])
    rounds = []
    for k, (train, test) in enumerate(folds):
        rng = np.random.default_rng([seed, 13, k])
        g = group_codes(groups[train])
        stop_group = rng.random(int(g.max()) + 1) < 0.2
        fit, stop = train[~stop_group[g]], train[stop_group[g]]
        if stop.size == 0 or (proba and (np.unique(y[fit]).size < 2)):
            fit, stop = train, train
        est = make_learner(
            "lgbm", task, seed=seed, n_threads=n_threads, params={**setting, "n_estimators": MAX_ROUNDS}
        )
        est.fit(
            X[fit],
            y[fit],
            eval_set=[(X[stop], y[stop])],
            callbacks=[lgb.early_stopping(PATIENCE, verbose=False)],
        )
        best = int(est.best_iteration_ or MAX_ROUNDS)
        rounds.append(best)
        pred[test] = (
            est.predict_proba(X[test], num_iteration=best)[:, 1]
            if proba
            else est.predict(X[test], num_iteration=best)
        )
    return pred, max(10, int(np.median(rounds)))


def _oof(X: np.ndarray, y: np.ndarray, folds, make, proba: bool) -> tuple[np.ndarray, list]:
    pred = np.empty(y.shape[0])
    fitted = []
    for train, test in folds:
        est = make()
        est.fit(X[train], y[train])
        pred[test] = est.predict_proba(X[test])[:, 1] if proba else est.predict(X[test])
        fitted.append(est)
    return pred, fitted


def choose_learner(
    X: np.ndarray,
    target: np.ndarray,
    persons: np.ndarray,
    task: str,
    *,
    rows: np.ndarray | None = None,
    seed: int = 0,
    n_threads: int = 1,
    n_estimators: int = 200,
    poly2: bool = False,
    max_rows: int = TUNE_MAX_ROWS,
    inner_folds: int = INNER_FOLDS,
    candidates: tuple[str, ...] = CANDIDATES,
    rule: str = RULE,
    propensity: bool = False,
) -> Choice:
    """Tune LightGBM and choose the learner of one nuisance by inner out-of-fold loss (see the module).

    Parameters
    ----------
    X : numpy.ndarray
        Covariates of all rows.
    target : numpy.ndarray
        The nuisance's target (0/1 for ``task='classification'``).
    persons : numpy.ndarray
        Person codes: inner folds and the subsample keep a person's rows together.
    task : {'regression', 'classification'}
    rows : numpy.ndarray of bool, optional
        The nuisance's training rows (e.g. the controls); default every row.
    seed, n_threads, n_estimators, poly2
        As for :func:`models.learners.make_learner` (``n_estimators``: the forest's trees).
    max_rows : int
        Subsample cap (whole persons); the subsample's size is :func:`tuning_rows`.
    inner_folds : int
        Inner person-grouped folds.
    candidates : tuple of str
        Among 'lgbm', 'lasso', 'rf'.
    rule : {'stack', 'guard', 'min'}
        How the candidates become the nuisance's learner (see the module): ``'guard'`` (the default of
        ``auto``) LightGBM with its fixed settings unless another candidate beats it beyond noise
        (:func:`guard_pick`); ``'stack'`` the convex combination of :func:`stack_weights`; ``'min'`` the
        smallest loss.
    propensity : bool
        The nuisance is a propensity that weights the score (IRM's and IIVM's ``ml_m``): under ``'guard'``
        it is chosen by :func:`propensity_pick` (fixed LightGBM unless it breaks overlap), not by the loss.

    Returns
    -------
    Choice
        When the rows cannot be split (fewer persons than folds, one class in a fold), LightGBM with its
        fixed settings and a NaN loss.
    """
    _check_in("task", task, ("regression", "classification"))
    _check_in("rule", rule, RULES)
    if not isinstance(propensity, bool | np.bool_):
        raise TypeError(f"propensity must be a bool; got {propensity!r}")
    _check_int("max_rows", max_rows, 100)
    _check_int("inner_folds", inner_folds, 2, 10)
    for c in candidates:
        _check_in("candidates", c, CANDIDATES)
    proba = task == "classification"
    metric = "logloss" if proba else "rmse"
    idx = np.flatnonzero(rows) if rows is not None else np.arange(target.shape[0])
    minority = None
    if proba and idx.size:
        share = float(np.mean(target[idx]))
        minority = min(share, 1.0 - share)
    idx = subsample_rows(idx, persons, tuning_rows(int(idx.size), max_rows, minority), seed)
    Xs, ys, gs = X[idx], np.asarray(target[idx], dtype=np.float64), persons[idx]
    fallback = Choice("lgbm", (), metric, float("nan"), int(idx.size))
    if np.unique(gs).size < inner_folds:
        return fallback
    folds = person_folds(gs, inner_folds, 1, seed)[0]
    if proba and any(np.unique(ys[tr]).size < 2 or np.unique(ys[te]).size < 1 for tr, te in folds):
        return fallback
    scored: list[tuple[str, tuple[tuple[str, Any], ...], float]] = []
    preds: dict[int, np.ndarray] = {}  # inner out-of-fold predictions, by index in scored
    reference: int | None = None  # the guard's reference: LightGBM with its fixed settings
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if "lgbm" in candidates:
            best: tuple[float, tuple[tuple[str, Any], ...], np.ndarray] | None = None
            for setting in LGBM_GRID:
                try:
                    pred, rounds = _lgbm_oof(Xs, ys, gs, folds, proba, setting, seed, n_threads)
                    loss = _loss(ys, pred, proba)
                except ValueError:
                    continue
                if best is None or loss < best[0]:
                    best = (loss, tuple(sorted({**setting, "n_estimators": rounds}.items())), pred)
            if best is not None:
                preds[len(scored)] = best[2]
                scored.append(("lgbm", best[1], best[0]))
            try:
                # the fixed settings too (n_estimators rounds, no early stopping): the flexible learner
                # whose small bias the guard keeps unless another candidate is better beyond noise
                pred, _ = _oof(
                    Xs, ys, folds,
                    lambda: make_learner("lgbm", task, seed=seed, n_estimators=n_estimators, n_threads=n_threads),
                    proba,
                )  # fmt: skip
                reference = len(scored)
                preds[reference] = pred
                scored.append(("lgbm", (), _loss(ys, pred, proba)))
            except ValueError:
                scored.append(("lgbm", (), float("inf")))
        n_rows_all = int(rows.sum()) if rows is not None else int(target.shape[0])
        trees = min(n_estimators, SELECTION_RF_TREES)
        for kind in ("lasso", "rf"):
            if kind not in candidates or (kind == "rf" and n_rows_all > RF_MAX_ROWS):
                continue
            try:

                def make(k: str = kind) -> Any:
                    est = make_learner(
                        k, task, seed=seed, n_estimators=trees, n_threads=n_threads, poly2=poly2
                    )
                    if k == "lasso" and proba:
                        est.set_params(logisticregressioncv__cv=SELECTION_LOGISTIC_CV)
                    return est

                pred, fitted = _oof(Xs, ys, folds, make, proba)
                params: tuple[tuple[str, Any], ...] = ()
                if kind == "lasso" and proba:
                    # the logistic baseline's C, chosen once (median over the inner folds' own CV) and then
                    # fixed: its cross-validation at full size costs several LightGBM fits per fold
                    params = (("C", float(np.median([np.ravel(f[-1].C_)[0] for f in fitted]))),)
                loss = _loss(ys, pred, proba)
                if np.isfinite(loss):
                    preds[len(scored)] = pred
                scored.append((kind, params, loss))
            except ValueError:
                scored.append((kind, (), float("inf")))
    preds = {i: v for i, v in preds.items() if np.isfinite(scored[i][2])}
    if not preds:
        return fallback
    labels = tuple((describe(k, n_estimators, poly2, dict(p)), float(v)) for k, p, v in scored)
    units = {i: _unit_losses(ys, v, proba) for i, v in preds.items()}
    z = tuple(
        paired_z(units[reference], units[i], gs) if reference in units and i in units and i != reference
        else float("nan")
        for i in range(len(scored))
    )  # fmt: skip
    if rule in ("min", "guard"):
        if rule == "min":
            pick = min(units, key=lambda i: scored[i][2])
        elif propensity and proba:
            pick = propensity_pick(scored, {i: overlap_loss(ys, v) for i, v in preds.items()}, reference)
        else:
            pick = guard_pick(scored, units, gs, reference)
        kind, params, loss = scored[pick]
        weights = tuple(1.0 if i == pick else 0.0 for i in range(len(scored)))
    else:
        order = sorted(preds)
        w = stack_weights(np.column_stack([preds[i] for i in order]), ys)
        weight_of = {i: float(v) for i, v in zip(order, w, strict=True)}
        members = [i for i in order if weight_of[i] > 0]
        if len(members) == 1:
            kind, params, loss = scored[members[0]]
        else:
            kind = "stack"
            mw = tuple(weight_of[i] for i in members)
            params = (("members", tuple(scored[i][:2] for i in members)), ("weights", mw))
            combined = np.sum([v * preds[i] for i, v in zip(members, mw, strict=True)], axis=0)
            loss = _loss(ys, combined, proba)
        weights = tuple(weight_of.get(i, 0.0) for i in range(len(scored)))
    used = "overlap" if (rule == "guard" and propensity and proba) else rule
    return Choice(kind, params, metric, float(loss), int(idx.size), labels, weights, z, used)
