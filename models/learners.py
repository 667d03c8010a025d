"""Nuisance learners: LightGBM, Lasso/logistic with standardisation (baseline), random forest.

``auto`` (the default of ``regdml estimate`` and of the pipeline) is not a learner of its own: it tunes
LightGBM and chooses among the three for each nuisance separately (:mod:`models.tuning`), and the choice
reaches :func:`make_learner` as a kind and a few LightGBM settings (``params``).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

from models._checks import _check_in

LEARNERS = ("lgbm", "lasso", "rf")
# LightGBM settings that a tuned choice may override (models.tuning); anything else is refused
LGBM_TUNABLE = ("num_leaves", "min_child_samples", "learning_rate", "n_estimators")


def as_float64(X: Any) -> Any:
    """A float64 copy of ``X`` for the lasso: scikit-learn's ``LassoCV`` computes its Gram matrix in the
    input's precision and checks one element against a recomputation; in float32 a nearly collinear design
    fails that check ("Gram matrix passed in via 'precompute' parameter did not pass validation"). Always a
    copy, so the scaler after it may work in place (one float64 copy of a fold, not two). Module level, so
    the learner pickles."""
    import numpy as np

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
    kind : {'lgbm', 'lasso', 'rf'}
        LightGBM (``verbose=-1``, seeded, ``n_jobs=n_threads``), LassoCV / LogisticRegressionCV after
        standardisation (the transparent baseline), or a random forest.
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
        the cross-validated choice of C in every fold by the one made once (``LogisticRegression``).
    """
    _check_in("kind", kind, LEARNERS)
    _check_in("task", task, ("regression", "classification"))
    tuned = dict(params or {})
    allowed = {"lgbm": LGBM_TUNABLE, "lasso": ("C",) if task == "classification" else (), "rf": ()}[kind]
    unknown = sorted(set(tuned) - set(allowed))
    if unknown:
        raise ValueError(f"params: {unknown} cannot be set for learner {kind!r}; got {tuned!r}")
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


def learner_factory(kind: str, task: str, **kwargs: Any) -> Callable[[], Any]:
    """A zero-argument function returning fresh learners (one per fold)."""
    make_learner(kind, task, **kwargs)  # validate now
    return lambda: make_learner(kind, task, **kwargs)


def describe(kind: str, n_estimators: int, poly2: bool, params: dict[str, Any] | None = None) -> str:
    """A short label for result tables (a tuned LightGBM shows its settings)."""
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
