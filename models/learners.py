"""Nuisance learners: LightGBM (default), Lasso/logistic with standardisation (baseline), random forest."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

from models._checks import _check_in

LEARNERS = ("lgbm", "lasso", "rf")


def make_learner(
    kind: str,
    task: str,
    *,
    seed: int = 0,
    n_estimators: int = 200,
    n_threads: int = 1,
    poly2: bool = False,
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
    """
    _check_in("kind", kind, LEARNERS)
    _check_in("task", task, ("regression", "classification"))
    if kind == "lgbm":
        import lightgbm as lgb

        params = dict(
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
        return lgb.LGBMRegressor(**params) if task == "regression" else lgb.LGBMClassifier(**params)
    if kind == "rf":
        from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor

        params = dict(
            n_estimators=n_estimators,
            min_samples_leaf=5,
            max_features="sqrt" if task == "classification" else 1.0 / 3.0,
            random_state=seed,
            n_jobs=n_threads,
        )
        return RandomForestRegressor(**params) if task == "regression" else RandomForestClassifier(**params)
    from sklearn.linear_model import LassoCV, LogisticRegressionCV
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import PolynomialFeatures, StandardScaler

    steps: list[Any] = []
    if poly2:
        steps.append(PolynomialFeatures(degree=2, include_bias=False))
    steps.append(StandardScaler())
    if task == "regression":
        steps.append(LassoCV(cv=5, alphas=50, max_iter=5000, random_state=seed))
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


def describe(kind: str, n_estimators: int, poly2: bool) -> str:
    """A short label for result tables."""
    if kind == "lasso":
        return "lasso(poly2)" if poly2 else "lasso"
    return f"{kind}({n_estimators})"
