"""The learner of ``learner='auto'``: LightGBM tuned, then one learner chosen for each nuisance separately.

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
4. computes the out-of-fold loss, on the same inner folds, of the lasso/logistic baseline and of a random
   forest (the forest only when the nuisance has at most :data:`RF_MAX_ROWS` training rows: its fit time
   grows fastest with the rows);
5. keeps the candidate with the smallest loss (log loss for a probability, RMSE otherwise).

This happens once per nuisance and cell, never per fold or repetition; the chosen learner is then
cross-fitted on the full data as any fixed learner is. The out-of-fold loss of the test part of an inner
fold is honest: early stopping never sees it.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np

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
    """

    kind: str
    params: tuple[tuple[str, Any], ...]
    metric: str
    loss: float
    n_rows: int
    candidates: tuple[tuple[str, float], ...] = ()

    def label(self, n_estimators: int, poly2: bool) -> str:
        return describe(self.kind, n_estimators, poly2, dict(self.params))


def _loss(y: np.ndarray, pred: np.ndarray, proba: bool) -> float:
    if proba:
        p = np.clip(pred, 1e-12, 1 - 1e-12)
        return float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))
    return float(np.sqrt(np.mean((y - pred) ** 2)))


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

    Returns
    -------
    Choice
        When the rows cannot be split (fewer persons than folds, one class in a fold), LightGBM with its
        fixed settings and a NaN loss.
    """
    _check_in("task", task, ("regression", "classification"))
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
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if "lgbm" in candidates:
            best: tuple[float, tuple[tuple[str, Any], ...]] | None = None
            for setting in LGBM_GRID:
                try:
                    pred, rounds = _lgbm_oof(Xs, ys, gs, folds, proba, setting, seed, n_threads)
                    loss = _loss(ys, pred, proba)
                except ValueError:
                    continue
                if best is None or loss < best[0]:
                    best = (loss, tuple(sorted({**setting, "n_estimators": rounds}.items())))
            if best is not None:
                scored.append(("lgbm", best[1], best[0]))
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
                scored.append((kind, params, _loss(ys, pred, proba)))
            except ValueError:
                scored.append((kind, (), float("inf")))
    finite = [s for s in scored if np.isfinite(s[2])]
    if not finite:
        return fallback
    kind, params, loss = min(finite, key=lambda s: s[2])
    labels = tuple((describe(k, n_estimators, poly2, dict(p)), float(v)) for k, p, v in scored)
    return Choice(kind, params, metric, float(loss), int(idx.size), labels)
