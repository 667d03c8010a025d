"""The guard of ``learner='auto'`` against one misspecified nuisance: short-stacking weights, the paired
guard rule, the stack learner (plain data, the same fit wherever it runs) and their bad inputs."""

from __future__ import annotations

import pickle
import warnings

import numpy as np
import pytest

from models.engine import FitJob, LearnerSpec, fit_fold
from models.learners import check_stack, describe, make_learner
from models.tuning import (
    GUARD_Z,
    OVERLAP_MAX,
    choose_learner,
    guard_pick,
    overlap_loss,
    paired_z,
    propensity_pick,
    stack_weights,
)

Y = np.array([1.0, 2.0, 3.0, 4.0])
E = np.array([1.0, 0.0, 1.0, 0.0])


def test_stack_weights_by_hand():
    # errors +e and -e: the half-half mix is exact (each alone has squared error 2)
    w = stack_weights(np.column_stack([Y + E, Y - E]), Y)
    np.testing.assert_allclose(w, [0.5, 0.5], atol=1e-12)
    # errors e and 2e, same sign: unconstrained least squares wants (2, -1); the constraint w >= 0 leaves
    # the better candidate alone (squared error 2 against 8)
    w = stack_weights(np.column_stack([Y + E, Y + 2 * E]), Y)
    np.testing.assert_array_equal(w, [1.0, 0.0])
    # the same, the better candidate second: the weight follows the candidate, not the position
    w = stack_weights(np.column_stack([Y + 2 * E, Y + E]), Y)
    np.testing.assert_array_equal(w, [0.0, 1.0])
    # errors e and -3e: w e - 3 (1 - w) e = 0 at w = 3/4
    w = stack_weights(np.column_stack([Y + E, Y - 3 * E]), Y)
    np.testing.assert_allclose(w, [0.75, 0.25], atol=1e-12)


def test_stack_weights_exactly_right_candidate_takes_all():
    """One candidate exactly right, one biased (a constant shift), one noisy: all weight on the right one,
    even though the +e/-e pair of the first test would also fit exactly (the smaller support wins ties)."""
    rng = np.random.default_rng(0)
    y = rng.normal(size=200)
    P = np.column_stack([y + 0.3, y, y + rng.normal(0, 1, 200)])
    np.testing.assert_array_equal(stack_weights(P, y), [0.0, 1.0, 0.0])
    P = np.column_stack([y + E.repeat(50), y - E.repeat(50), y])
    np.testing.assert_array_equal(stack_weights(P, y), [0.0, 0.0, 1.0])


def test_stack_weights_are_the_constrained_optimum():
    """Against a brute-force grid over the simplex of three candidates: no grid point fits better."""
    rng = np.random.default_rng(3)
    y = rng.normal(size=300)
    P = np.column_stack([y + rng.normal(0, 1, 300), 0.5 * y + rng.normal(0, 0.5, 300), 0.2 + y])
    w = stack_weights(P, y)
    assert np.all(w >= 0) and w.sum() == pytest.approx(1.0)
    sse = np.sum((y - P @ w) ** 2)
    g = np.linspace(0, 1, 101)
    grid = np.array([(a, b, 1 - a - b) for a in g for b in g if a + b <= 1 + 1e-12])
    assert sse <= np.min(np.sum((y[:, None] - P @ grid.T) ** 2, axis=0)) + 1e-9
    assert np.count_nonzero(w) >= 2  # an interior mix here, not one candidate


def test_paired_z_by_hand():
    a = np.array([1.0, 1.0, 2.0, 2.0])
    b = np.array([0.0, 1.0, 1.0, 2.0])
    # d = (1, 0, 1, 0): mean 0.5; each unit its own person: se = sqrt(4/3 * 4 * 0.25) / 4 = 0.2887
    assert paired_z(a, b, np.arange(4)) == pytest.approx(0.5 / (np.sqrt(4 / 3) / 4))
    # persons (0, 1, 0, 1): centred sums (1, -1); se = sqrt(2/1 * 2) / 4 = 0.5
    assert paired_z(a, b, np.array([0, 1, 0, 1])) == pytest.approx(1.0)
    assert paired_z(b, a, np.array([0, 1, 0, 1])) == pytest.approx(-1.0)
    # persons (0, 0, 1, 1): each person's differences sum to 1, no spread: infinitely sure
    assert paired_z(a, b, np.array([0, 0, 1, 1])) == np.inf
    assert paired_z(a, a, np.arange(4)) == 0.0


def test_guard_keeps_lightgbm_within_noise_and_yields_beyond():
    units_lgbm = np.array([1.0, 1.0, 2.0, 2.0])
    scored = [("lgbm", (("num_leaves", 4),), 1.4), ("lgbm", (), 1.5), ("lasso", (), 1.0)]
    groups = np.arange(4)
    # the reference (index 1, fixed LightGBM); lasso better by 1.73 SE (< 2): the reference stays
    units = {0: units_lgbm, 1: units_lgbm, 2: units_lgbm - [1, 0, 1, 0]}
    assert guard_pick(scored, units, groups, reference=1) == 1
    # lasso better by 0.5 in every unit (z infinite): lasso
    assert guard_pick(scored, {**units, 2: units_lgbm - 0.5}, groups, reference=1) == 2
    # the reference best: the reference, whatever the others
    best_ref = [("lgbm", (), 0.9), ("lasso", (), 1.0)]
    assert guard_pick(best_ref, {0: units_lgbm, 1: units_lgbm - 0.5}, groups, reference=0) == 0
    # no reference: the smallest finite loss
    assert guard_pick([("rf", (), 2.0), ("lasso", (), 1.0), ("lgbm", (), np.inf)], {}, groups, None) == 1
    with pytest.raises(ValueError, match="no candidate has a finite loss"):
        guard_pick([("rf", (), np.inf)], {}, groups, None)
    assert GUARD_Z == 2.0


def test_overlap_loss_by_hand():
    y = np.array([0.0, 0.0, 0.0, 0.0, 1.0, 1.0])
    # one control of four below 0.01, one treated of two above 0.99: max(1/4, 1/2)
    assert overlap_loss(y, np.array([0.005, 0.2, 0.3, 0.4, 0.995, 0.5])) == pytest.approx(0.5)
    # the bounds themselves are inside
    assert overlap_loss(y, np.array([0.01, 0.2, 0.3, 0.4, 0.99, 0.5])) == 0.0
    assert overlap_loss(y, np.full(6, 0.5), bounds=(0.6, 0.9)) == 1.0
    assert np.isnan(overlap_loss(np.zeros(3), np.full(3, 0.5)))  # one class: no arm to compare
    with pytest.raises(ValueError, match="bounds must satisfy"):
        overlap_loss(y, np.full(6, 0.5), bounds=(0.9, 0.1))
    with pytest.raises(ValueError, match="pred must have 6 elements"):
        overlap_loss(y, np.full(5, 0.5))


def test_propensity_keeps_lightgbm_unless_it_breaks_overlap():
    # tuned LightGBM, fixed LightGBM (the reference), logistic: logistic has the smallest log loss
    scored = [("lgbm", (("num_leaves", 4),), 0.52), ("lgbm", (), 0.55), ("lasso", (("C", 0.1),), 0.50)]
    # the reference within overlap: kept, however much better the others' loss
    assert propensity_pick(scored, {0: 0.0, 1: OVERLAP_MAX, 2: 0.0}, reference=1) == 1
    # the reference breaks overlap (more than 10% of an arm outside the bounds): the smallest loss among
    # those that do not
    assert propensity_pick(scored, {0: 0.0, 1: 0.96, 2: 0.0}, reference=1) == 2
    assert propensity_pick(scored, {0: 0.05, 1: 0.96, 2: 0.2}, reference=1) == 0
    # none within: the smallest overlap loss
    assert propensity_pick(scored, {0: 0.5, 1: 0.96, 2: 0.3}, reference=1) == 2
    # a candidate without predictions (not fitted) never wins; no reference: the smallest loss within
    assert propensity_pick(scored, {0: 0.0, 1: 0.0}, reference=None) == 0
    with pytest.raises(ValueError, match="no candidate has a finite loss"):
        propensity_pick([("rf", (), np.inf)], {0: 0.0}, reference=0)


def test_choose_learner_propensity_rule():
    """A smooth logistic propensity that logistic regression predicts better (beyond the guard's 2 SE): as
    an outcome model it would replace fixed LightGBM; as a propensity within overlap, LightGBM stays. With a
    rare treatment that pushes fixed LightGBM's predictions to 0, the propensity rule gives it up."""
    rng = np.random.default_rng(5)
    n = 3000
    X = rng.normal(size=(n, 4)).astype(np.float32)
    d = (rng.random(n) < 1 / (1 + np.exp(-(0.7 * X[:, 0] - 0.5 * X[:, 1])))).astype(float)
    kw = dict(seed=2, candidates=("lgbm", "lasso"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        as_outcome = choose_learner(X, d, np.arange(n), "classification", **kw)
        as_propensity = choose_learner(X, d, np.arange(n), "classification", propensity=True, **kw)
        rare = (rng.random(n) < 1 / (1 + np.exp(-(-4.3 + 0.5 * X[:, 0])))).astype(float)
        rare_prop = choose_learner(X, rare, np.arange(n), "classification", propensity=True, **kw)
    assert as_outcome.kind == "lasso" and as_outcome.z_vs_lgbm[2] > GUARD_Z and as_outcome.rule == "guard"
    assert as_propensity.kind == "lgbm" and as_propensity.params == () and as_propensity.rule == "overlap"
    assert as_propensity.candidates == as_outcome.candidates  # same candidates, another rule
    assert rare_prop.rule == "overlap" and (rare_prop.kind, rare_prop.params) != ("lgbm", ())
    with pytest.raises(TypeError, match="propensity must be a bool; got 'yes'"):
        choose_learner(X, d, np.arange(n), "classification", propensity="yes")


def _right_and_wrong():
    """A noiseless linear outcome: the lasso is (nearly) exactly right, LightGBM's steps are biased."""
    rng = np.random.default_rng(7)
    n = 2400
    X = rng.normal(size=(n, 4)).astype(np.float32)
    y = (2.0 * X[:, 0] - 1.0 * X[:, 1]).astype(np.float64)
    return X, y, np.arange(n) // 2  # two rows per person


def test_choose_learner_weights_the_right_candidate():
    X, y, persons = _right_and_wrong()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        stack = choose_learner(
            X, y, persons, "regression", seed=1, candidates=("lgbm", "lasso"), rule="stack"
        )
        guard = choose_learner(
            X, y, persons, "regression", seed=1, candidates=("lgbm", "lasso"), rule="guard"
        )
    assert stack.rule == "stack" and guard.rule == "guard"
    labels = [lab for lab, _ in stack.candidates]
    # tuned LightGBM, LightGBM with its fixed settings (the guard's reference), the lasso
    assert labels[0].startswith("lgbm(leaves=") and labels[1] == "lgbm(200)" and labels[2] == "lasso"
    # the lasso is exactly right up to its shrinkage: it takes (almost) all the weight
    w = dict(zip(labels, stack.weights, strict=True))
    assert w["lasso"] > 0.95 and sum(stack.weights) == pytest.approx(1.0)
    assert stack.loss <= min(v for _, v in stack.candidates) + 1e-12
    # and beats the reference far beyond noise, so the guard lets it replace LightGBM
    assert stack.z_vs_lgbm[2] > GUARD_Z and np.isnan(stack.z_vs_lgbm[1])
    assert guard.kind == "lasso" and guard.weights == (0.0, 0.0, 1.0)
    rows = stack.table_rows("ml_l", 200, False)
    assert [r["chosen"] for r in rows].count(True) == 1
    assert sum(r["weight"] for r in rows if r["weight"] is not None) == pytest.approx(1.0)


def test_stack_learner_is_the_weighted_sum_of_its_members():
    X, y, persons = _right_and_wrong()
    members = (("lgbm", (("n_estimators", 20), ("num_leaves", 4))), ("lasso", ()))
    params = (("members", members), ("weights", (0.25, 0.75)))
    spec = LearnerSpec("stack", "regression", seed=3, params=params)
    assert pickle.loads(pickle.dumps(spec)) == spec and hash(spec) == hash(pickle.loads(pickle.dumps(spec)))
    stack = spec.make().fit(X[:2000], y[:2000])
    a = make_learner("lgbm", "regression", seed=3, params=dict(members[0][1])).fit(X[:2000], y[:2000])
    b = make_learner("lasso", "regression", seed=3).fit(X[:2000], y[:2000])
    np.testing.assert_allclose(
        stack.predict(X[2000:]), 0.25 * a.predict(X[2000:]) + 0.75 * b.predict(X[2000:])
    )
    assert describe("stack", 200, False, dict(params)).startswith("stack(0.25 lgbm(")
    # a classifier's probabilities are the weighted sum too
    d = (y > 0).astype(float)
    cls = LearnerSpec("stack", "classification", seed=3, params=(("members", (("lgbm", (("n_estimators", 20),)),
                                                                               ("lasso", (("C", 0.5),)))),
                                                                  ("weights", (0.5, 0.5))))  # fmt: skip
    p = cls.make().fit(X[:2000], d[:2000]).predict_proba(X[2000:])
    pa = make_learner("lgbm", "classification", seed=3, params={"n_estimators": 20}).fit(X[:2000], d[:2000])
    pb = make_learner("lasso", "classification", seed=3, params={"C": 0.5}).fit(X[:2000], d[:2000])
    np.testing.assert_allclose(
        p[:, 1], 0.5 * pa.predict_proba(X[2000:])[:, 1] + 0.5 * pb.predict_proba(X[2000:])[:, 1]
    )
    np.testing.assert_allclose(p.sum(axis=1), 1.0)


def test_stack_fold_task_is_the_same_after_pickling():
    """A fold task with a stack gives the same predictions from the spec and from its pickled copy (what a
    Dask worker receives)."""
    X, y, persons = _right_and_wrong()
    members = (("lgbm", (("n_estimators", 15),)), ("rf", ()), ("lasso", ()))
    spec = LearnerSpec("stack", "regression", seed=5, n_estimators=10,
                       params=(("members", members), ("weights", (0.2, 0.3, 0.5))))  # fmt: skip
    fold_ids = (np.arange(y.size) % 3)[None, :]
    job = FitJob(spec, "y")
    a = fit_fold(X, fold_ids, {"y": y}, job, 1)
    b = fit_fold(X, fold_ids, {"y": y}, pickle.loads(pickle.dumps(job)), 1)
    np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize(
    ("members", "weights", "error", "match"),
    [
        ((), (), ValueError, "at least one member"),
        ((("lgbm", ()),), (1.0, 0.0), ValueError, "one per member"),
        ((("lgbm", ()), ("lasso", ())), (0.7, 0.7), ValueError, "sum to 1"),
        ((("lgbm", ()), ("lasso", ())), (1.5, -0.5), ValueError, "non-negative"),
        ((("lgbm", ()), ("lasso", ())), (np.nan, 1.0), ValueError, "non-negative"),
        ((("stack", ()),), (1.0,), ValueError, "members kind must be one of"),
        ((("xgb", ()),), (1.0,), ValueError, "members kind must be one of"),
        ((("lasso", ()), ("lasso", ())), (0.5, 0.5), ValueError, "appears twice"),
        ((3,), (1.0,), TypeError, "members must be a sequence"),
        ((("lasso", ()),), ("a",), TypeError, "weights must be a sequence of floats"),
    ],
)
def test_check_stack_refuses(members, weights, error, match):
    with pytest.raises(error, match=match):
        check_stack(members, weights)


def test_stack_learner_refuses_bad_params():
    with pytest.raises(ValueError, match="needs 'members' and 'weights'"):
        make_learner("stack", "regression", params={"members": (("lasso", ()),)})
    with pytest.raises(ValueError, match=r"params: \['C'\] cannot be set"):
        make_learner(
            "stack", "regression", params={"members": (("lasso", (("C", 1.0),)),), "weights": (1.0,)}
        )
    with pytest.raises(ValueError, match="kind must be one of"):
        LearnerSpec("stacked", "regression", seed=0)


def test_stack_weights_and_paired_z_refuse_bad_inputs():
    with pytest.raises(ValueError, match=r"P must be a 2-D array .* got shape \(4,\)"):
        stack_weights(Y, Y)
    with pytest.raises(ValueError, match=r"P must be a 2-D array .* got shape \(0, 2\)"):
        stack_weights(np.empty((0, 2)), np.empty(0))
    with pytest.raises(ValueError, match="y must have 4 elements"):
        stack_weights(np.column_stack([Y, Y]), Y[:3])
    with pytest.raises(ValueError, match="P must be finite; got 1 non-finite"):
        stack_weights(np.column_stack([Y, [np.nan, 1, 2, 3]]), Y)
    with pytest.raises(ValueError, match="y must be finite"):
        stack_weights(np.column_stack([Y, Y]), [np.inf, 1, 2, 3])
    with pytest.raises(ValueError, match="at most 8 candidates"):
        stack_weights(np.tile(Y[:, None], (1, 9)), Y)
    with pytest.raises(ValueError, match="loss_b must have 4 elements"):
        paired_z(Y, Y[:2], np.arange(4))
    with pytest.raises(ValueError, match="groups must be a 1-D array with 4 elements"):
        paired_z(Y, Y, np.arange(3))
    with pytest.raises(ValueError, match="at least 2 groups"):
        paired_z(Y, E, np.zeros(4))
    with pytest.raises(ValueError, match="rule must be one of"):
        choose_learner(np.zeros((10, 2)), np.zeros(10), np.arange(10), "regression", rule="best")
