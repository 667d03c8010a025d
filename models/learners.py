"""Nuisance learners: LightGBM, Lasso/logistic with standardisation (baseline), random forest.

``auto`` (the default of ``regdml estimate`` and of the pipeline) is not a learner of its own: it tunes
LightGBM and chooses among the three for each nuisance separately (:mod:`models.tuning`), and the choice
reaches :func:`make_learner` as a kind and a few LightGBM settings (``params``), or as a ``'stack'``: a
convex combination of candidates with weights fixed by the choice (:class:`StackRegressor`,
:class:`StackClassifier`; short-stacking, Ahrens, Hansen, Schaffer & Wiemann 2024).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin

from models._checks import _check_in

LEARNERS = ("lgbm", "lasso", "rf")
# what make_learner builds: the learners and the stack of them that learner='auto' may choose (a stack is
# never asked for by name: its members and weights come from models.tuning)
KINDS = LEARNERS + ("stack",)
STACK_PARAMS = ("members", "weights")
WEIGHT_TOL = 1e-6
# LightGBM settings that a tuned choice may override (models.tuning); anything else is refused
LGBM_TUNABLE = ("num_leaves", "min_child_samples", "learning_rate", "n_estimators")


def as_float64(X: Any) -> Any:
    """A float64 copy of ``X`` for the lasso: scikit-learn's ``LassoCV`` computes its Gram matrix in the
    input's precision and checks one element against a recomputation; in float32 a nearly collinear design
    fails that check ("Gram matrix passed in via 'precompute' parameter did not pass validation"). Always a
    copy, so the scaler after it may work in place (one float64 copy of a fold, not two). Module level, so
    the learner pickles."""
    return np.array(X, dtype=np.float64)


def make_learner(
    kind: str,
    task: str,
    *,
    seed: int = 0,
    n_estimators: int = 200,
    n_threads: int = 1,
    poly2: bool = False,
    params: dict[str, Any] | None = None,
) -> Any:
    """A fresh, unfitted scikit-learn compatible learner.

    Parameters
    ----------
    kind : {'lgbm', 'lasso', 'rf', 'stack'}
        LightGBM (``verbose=-1``, seeded, ``n_jobs=n_threads``), LassoCV / LogisticRegressionCV after
        standardisation (the transparent baseline), a random forest, or a stack of them (``params``
        ``members`` and ``weights``, see :func:`check_stack`).
    task : {'regression', 'classification'}
        Regression predicts a mean; classification is used through ``predict_proba``.
    seed : int
        Random state.
    n_estimators : int
        Trees (LightGBM and random forest).
    n_threads : int
        Threads (LightGBM ``num_threads``, forest ``n_jobs``).
    poly2 : bool
        Lasso only: all second-order terms (squares and pairwise interactions) before standardising.
    params : dict, optional
        Settings chosen by tuning (:mod:`models.tuning`): for LightGBM keys among ``LGBM_TUNABLE``,
        overriding the defaults and ``n_estimators``; for the logistic baseline ``C``, which then replaces
        the cross-validated choice of C in every fold by the one made once (``LogisticRegression``); for
        a stack ``members`` and ``weights``.
    """
    _check_in("kind", kind, KINDS)
    _check_in("task", task, ("regression", "classification"))
    tuned = dict(params or {})
    allowed = {"lgbm": LGBM_TUNABLE, "lasso": ("C",) if task == "classification" else (), "rf": (),
               "stack": STACK_PARAMS}[kind]  # fmt: skip
    unknown = sorted(set(tuned) - set(allowed))
    if unknown:
        raise ValueError(f"params: {unknown} cannot be set for learner {kind!r}; got {tuned!r}")
    if kind == "stack":
        if set(tuned) != set(STACK_PARAMS):
            raise ValueError(f"params: a stack needs 'members' and 'weights'; got {sorted(tuned)}")
        members, weights = check_stack(tuned["members"], tuned["weights"])
        for k, p in members:  # every member valid now, not in the first fold
            make_learner(k, task, params=dict(p))
        cls = StackRegressor if task == "regression" else StackClassifier
        return cls(members=members, weights=weights, seed=seed, n_estimators=n_estimators,
                   n_threads=n_threads, poly2=poly2)  # fmt: skip
    if kind == "lgbm":
        import lightgbm as lgb

        settings = dict(
            n_estimators=n_estimators,
            learning_rate=0.05,
            num_leaves=15,
            min_child_samples=20,
            subsample=1.0,
            colsample_bytree=1.0,
            random_state=seed,
            n_jobs=n_threads,
            verbose=-1,
            deterministic=True,
            force_row_wise=True,
        )
        settings.update(tuned)
        return lgb.LGBMRegressor(**settings) if task == "regression" else lgb.LGBMClassifier(**settings)
    if kind == "rf":
        from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor

        settings = dict(
            n_estimators=n_estimators,
            min_samples_leaf=5,
            max_features="sqrt" if task == "classification" else 1.0 / 3.0,
            random_state=seed,
            n_jobs=n_threads,
        )
        return (
            RandomForestRegressor(**settings) if task == "regression" else RandomForestClassifier(**settings)
        )
    from sklearn.linear_model import LassoCV, LogisticRegression, LogisticRegressionCV
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import FunctionTransformer, PolynomialFeatures, StandardScaler

    # the lasso in float64 (see as_float64); the logistic learner has no Gram matrix and stays in float32
    regression = task == "regression"
    steps: list[Any] = [FunctionTransformer(as_float64)] if regression else []
    if poly2:
        steps.append(PolynomialFeatures(degree=2, include_bias=False))
    steps.append(StandardScaler(copy=not (regression or poly2)))  # in place only on a copy made here
    if task == "regression":
        steps.append(LassoCV(cv=5, alphas=50, max_iter=5000, random_state=seed))
    elif "C" in tuned:
        steps.append(LogisticRegression(C=float(tuned["C"]), l1_ratio=0.0, max_iter=2000, random_state=seed))
    else:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            steps.append(
                LogisticRegressionCV(
                    Cs=10,
                    cv=5,
                    l1_ratios=(0.0,),
                    scoring="neg_log_loss",
                    use_legacy_attributes=False,
                    max_iter=2000,
                    random_state=seed,
                )
            )
    return make_pipeline(*steps)


def check_stack(members: Any, weights: Any) -> tuple[tuple, tuple[float, ...]]:
    """Validate a stack's members and weights; return them as tuples (hashable, picklable).

    Parameters
    ----------
    members : sequence of (kind, params)
        ``kind`` among :data:`LEARNERS` (a stack does not nest) and ``params`` a sequence of (name, value)
        pairs as :func:`make_learner` takes them; at least one member, no member twice.
    weights : sequence of float
        One per member, each at least 0, summing to 1 (within :data:`WEIGHT_TOL`).
    """
    try:
        members = tuple((str(k), tuple(tuple(kv) for kv in p)) for k, p in members)
    except (TypeError, ValueError):
        raise TypeError(f"members must be a sequence of (kind, params) pairs; got {members!r}") from None
    if not members:
        raise ValueError("members: a stack needs at least one member; got ()")
    for k, _ in members:
        _check_in("members kind", k, LEARNERS)
    if len(set(members)) < len(members):
        raise ValueError(f"members: a member appears twice; got {members!r}")
    try:
        w = np.asarray(weights, dtype=np.float64)
    except (TypeError, ValueError):
        raise TypeError(f"weights must be a sequence of floats; got {weights!r}") from None
    if w.ndim != 1 or w.size != len(members):
        raise ValueError(f"weights: one per member ({len(members)}); got {weights!r}")
    if not np.all(np.isfinite(w)) or np.any(w < 0) or abs(float(w.sum()) - 1.0) > WEIGHT_TOL:
        raise ValueError(f"weights must be non-negative and sum to 1; got {weights!r}")
    return members, tuple(float(v) for v in w)


class _Stack(BaseEstimator):
    """A convex combination of fitted learners with fixed weights: every member is fitted on the same rows
    (seeded as the stack) and the prediction is the weighted sum of theirs (of the probabilities for a
    classifier). The weights are chosen once, before cross-fitting (:func:`models.tuning.stack_weights`),
    so a fold fits the members and combines them, nothing more. Module level and plain parameters: it
    pickles to a Dask worker and ``sklearn.base.clone`` works (DoubleML's own fits, IIVM)."""

    def __init__(self, members=(), weights=(), seed=0, n_estimators=200, n_threads=1, poly2=False):
        self.members = members
        self.weights = weights
        self.seed = seed
        self.n_estimators = n_estimators
        self.n_threads = n_threads
        self.poly2 = poly2

    _task = "regression"

    def _members(self) -> list[Any]:
        members, _ = check_stack(self.members, self.weights)
        return [make_learner(k, self._task, seed=self.seed, n_estimators=self.n_estimators,
                             n_threads=self.n_threads, poly2=self.poly2, params=dict(p))
                for k, p in members]  # fmt: skip

    def fit(self, X: Any, y: Any) -> _Stack:
        fitted = []
        for k, est in enumerate(self._members()):
            if self.weights[k] > 0:  # a zero-weight member is never fitted
                est.fit(X, y)
            fitted.append(est)
        self.estimators_ = fitted
        if self._task == "classification":
            self.classes_ = np.unique(np.asarray(y))
        return self

    def _combine(self, X: Any, one: Callable[[Any], np.ndarray]) -> np.ndarray:
        out = np.zeros(np.shape(X)[0], dtype=np.float64)
        for w, est in zip(self.weights, self.estimators_, strict=True):
            if w > 0:
                out += w * np.asarray(one(est), dtype=np.float64)
        return out


class StackRegressor(RegressorMixin, _Stack):
    """Stack of regressors (see :class:`_Stack`)."""

    _task = "regression"

    def predict(self, X: Any) -> np.ndarray:
        return self._combine(X, lambda e: e.predict(X))


class StackClassifier(ClassifierMixin, _Stack):
    """Stack of binary classifiers: ``predict_proba`` is the weighted sum of the members' probabilities,
    itself a probability (the weights are convex)."""

    _task = "classification"

    def predict_proba(self, X: Any) -> np.ndarray:
        p = np.clip(self._combine(X, lambda e: e.predict_proba(X)[:, 1]), 0.0, 1.0)
        return np.column_stack([1.0 - p, p])

    def predict(self, X: Any) -> np.ndarray:
        return self.classes_[(self.predict_proba(X)[:, 1] >= 0.5).astype(int)]


def learner_factory(kind: str, task: str, **kwargs: Any) -> Callable[[], Any]:
    """A zero-argument function returning fresh learners (one per fold)."""
    make_learner(kind, task, **kwargs)  # validate now
    return lambda: make_learner(kind, task, **kwargs)


def describe(kind: str, n_estimators: int, poly2: bool, params: dict[str, Any] | None = None) -> str:
    """A short label for result tables (a tuned LightGBM shows its settings; a stack its members' weights,
    ``stack(0.62 lgbm(...)+0.38 lasso(C=0.05))``)."""
    if kind == "stack" and params:
        parts = [f"{w:.2f} {describe(k, n_estimators, poly2, dict(p))}"
                 for (k, p), w in zip(params["members"], params["weights"], strict=True) if w > 0]  # fmt: skip
        return "stack(" + "+".join(parts) + ")"
    if kind == "lasso":
        opts = (["poly2"] if poly2 else []) + ([f"C={params['C']:.3g}"] if params and "C" in params else [])
        return f"lasso({','.join(opts)})" if opts else "lasso"
    if kind == "lgbm" and params:
        p = {"n_estimators": n_estimators, **params}
        return (
            f"lgbm(leaves={p.get('num_leaves', 15)},min_child={p.get('min_child_samples', 20)},"
            f"lr={p.get('learning_rate', 0.05):g},rounds={p['n_estimators']})"
        )
    return f"{kind}({n_estimators})"
