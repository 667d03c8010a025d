"""The modality design: APOS scores by hand, their person-clustered variance, contrasts, small arms."""

from __future__ import annotations

import warnings

import numpy as np
import polars as pl
import pytest

from models.apos import apo_scores, apos_dml_scores, contrasts_of, estimate_apos
from models.estimate import DesignSpec, estimate
from models.folds import person_folds
from models.inference import estimate_from_scores

LEVELS = ["in_person", "telephone", "video"]
# true effects of the forms against in person (additive, constant)
TEL, VID = -1.5, -0.5


def _small_scores_case(seed: int = 3):
    rng = np.random.default_rng(seed)
    n, K = 60, 3
    persons = rng.integers(0, 20, n)
    arm = np.tile(np.arange(K), n // K)
    y = rng.normal(size=n) + arm
    M = rng.dirichlet(np.ones(K) * 4, size=n)[:, :, None]
    G = (rng.normal(size=(n, K)) + np.arange(K))[:, :, None]
    folds = person_folds(persons, 3, 1, seed)
    return y, arm, M, G, folds, persons


def test_apo_scores_by_hand_and_doubleml():
    y, arm, M, G, folds, _ = _small_scores_case()
    # one unit by hand: level of its own arm g + (y - g) / m, the other levels g
    i = 4
    k = arm[i]
    want = G[i, :, 0].copy()
    want[k] = G[i, k, 0] + (y[i] - G[i, k, 0]) / M[i, k, 0]
    ref = apo_scores(y, arm, M[:, :, 0], G[:, :, 0], clip=0.01)
    np.testing.assert_allclose(ref[i], want)
    _, psi_b = apos_dml_scores(y, arm, M, G, folds, clip=0.01)
    np.testing.assert_allclose(psi_b[:, :, 0], ref, rtol=1e-12)


def test_contrast_clustered_variance_by_hand():
    y, arm, M, G, folds, persons = _small_scores_case()
    _, psi_b = apos_dml_scores(y, arm, M, G, folds, clip=0.01)
    diff = psi_b[:, 2, 0] - psi_b[:, 0, 0]  # video vs in person
    n = y.shape[0]
    theta = diff.mean()
    # Liang-Zeger: sum over persons of the summed centred score, squared, over n^2
    sums = [np.sum(diff[persons == g] - theta) for g in np.unique(persons)]
    var = np.sum(np.square(sums)) / n**2
    from models.folds import group_codes

    r = estimate_from_scores(-np.ones((n, 1)), diff[:, None], [group_codes(persons)])
    assert r["estimate"] == pytest.approx(theta, rel=1e-12)
    assert r["se"] == pytest.approx(np.sqrt(var), rel=1e-10)
    # without clustering (each row its own person) it is DoubleML's own contrast standard error
    model, _ = apos_dml_scores(y, arm, M, G, folds, clip=0.01)
    cc = model.causal_contrast(reference_levels=[0.0])
    r1 = estimate_from_scores(-np.ones((n, 1)), diff[:, None], [np.arange(n)])
    assert r1["estimate"] == pytest.approx(float(cc.thetas[1]), rel=1e-10)
    assert r1["se"] == pytest.approx(float(cc.ses[1]), rel=1e-6)


def _modality_table(n_persons: int = 700, seed: int = 5) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    k = rng.integers(1, 4, n_persons)
    pid = np.repeat(np.arange(n_persons), k)
    n = pid.size
    x1 = np.repeat(rng.normal(size=n_persons), k)
    x2 = rng.normal(size=n)
    lin = np.column_stack([np.zeros(n), 0.6 * x1, -0.4 * x1 + 0.3 * x2])
    pr = np.exp(lin)
    pr /= pr.sum(axis=1, keepdims=True)
    arm = (rng.random(n)[:, None] > np.cumsum(pr, axis=1)).sum(axis=1)
    eff = np.array([0.0, TEL, VID])
    y = 2 * x1 + x2 + eff[arm] + np.repeat(rng.normal(size=n_persons), k) + rng.normal(size=n)
    return pl.DataFrame({
        "pnr": pid.astype(str), "x1": x1, "x2": x2, "y": y, "meeting_form": np.array(LEVELS)[arm],
        "grp": np.where(x2 > 2.2, "tail", "body"),
    })  # fmt: skip


@pytest.fixture(scope="module")
def modality_results():
    t = _modality_table()
    spec = DesignSpec(learner="lasso", n_folds=3, group_cols=("grp",), min_cell=30, seed=3)
    return t, estimate_apos(t, "y", "meeting_form", ["x1", "x2"], spec, levels=LEVELS)


def test_contrasts_cover_the_truth(modality_results):
    t, res = modality_results
    truth = {"telephone_vs_in_person": TEL, "video_vs_in_person": VID, "video_vs_telephone": VID - TEL}
    assert [r.contrast for r in res] == list(truth)
    for r in res:
        assert r.model == "apos" and r.cluster == "pnr"
        assert abs(r.estimate - truth[r.contrast]) < 3 * r.se, (r.contrast, r.estimate, r.se)
        assert 0 < r.se < 0.3
    # the video - telephone contrast is the difference of the other two (same scores)
    assert res[2].estimate == pytest.approx(res[1].estimate - res[0].estimate, abs=1e-10)
    po = res[0].potential_outcomes
    assert po["level"].to_list() == LEVELS
    assert po["n"].sum() + po["n_trimmed"].sum() == t.height
    # counts by arm: the contrast's level and reference
    counts = t.group_by("meeting_form").len()
    n_of = dict(counts.iter_rows())
    assert res[0].n_treated + res[0].n_trimmed_treated == n_of["telephone"]
    assert res[0].n + res[0].n_trimmed == n_of["telephone"] + n_of["in_person"]


def test_group_with_a_small_arm_gets_no_estimate(modality_results):
    t, res = modality_results
    tail = t.filter(pl.col("grp") == "tail").group_by("meeting_form").len()
    assert tail["len"].min() < 30  # the tail group has fewer than min_cell meetings in an arm
    for r in res:
        g = {row["group"]: row for row in r.group_effects.iter_rows(named=True)}
        assert g["tail"]["estimate"] is None and "fewer than 30" in g["tail"]["reason"]
        assert g["body"]["estimate"] is not None and g["body"]["n_treated"] >= 30
        assert g["body"]["n"] == g["body"]["n_treated"] + g["body"]["n_control"]  # the two forms only


def test_trimming_by_generalized_propensity_counts_by_arm():
    t = _modality_table(n_persons=400, seed=8)
    spec = DesignSpec(learner="lasso", n_folds=3, trim=(0.2, 0.99), seed=3)
    res = estimate_apos(t, "y", "meeting_form", ["x1", "x2"], spec, levels=LEVELS)
    po = res[0].potential_outcomes
    assert po["n_trimmed"].sum() > 0
    # each contrast counts the trimmed units of its two arms
    by = dict(zip(po["level"], po["n_trimmed"], strict=True))
    assert res[2].n_trimmed_treated == by["video"] and res[2].n_trimmed_control == by["telephone"]
    assert res[0].n_trimmed == by["telephone"] + by["in_person"]


def test_errors_name_the_argument():
    t = _modality_table(n_persons=100)
    with pytest.raises(ValueError, match="levels: \\['letter'\\] have no rows"):
        estimate_apos(
            t, "y", "meeting_form", ["x1"], DesignSpec(learner="lasso"), levels=["in_person", "letter"]
        )
    with pytest.raises(ValueError, match="model='apos'"):
        estimate(t, "y", "meeting_form", ["x1"], DesignSpec(model="apos"))
    assert contrasts_of(LEVELS) == [
        ("telephone", "in_person"),
        ("video", "in_person"),
        ("video", "telephone"),
    ]


def test_rows_without_a_level_are_left_out_and_counted():
    t = _modality_table(n_persons=300).with_columns(
        pl.when(pl.col("x2") > 1.5).then(None).otherwise(pl.col("meeting_form")).alias("meeting_form")
    )
    n_null = t["meeting_form"].null_count()
    res = estimate_apos(
        t, "y", "meeting_form", ["x1", "x2"], DesignSpec(learner="lasso", n_folds=3), levels=LEVELS
    )
    assert any(f"{n_null} rows whose meeting_form" in n for n in res[0].notes)
    po = res[0].potential_outcomes
    assert po["n"].sum() + po["n_trimmed"].sum() == t.height - n_null


def test_run_cell_leaves_meetings_without_a_form_out(table_factory, dictionary_factory):
    from assets.estimation.logic import run_cell
    from data_contracts.config import load_config

    t = table_factory(n_persons=500, seed=4)
    t = t.with_columns(
        pl.when(pl.col("x_noise") > 1.8).then(None).otherwise(pl.col("meeting_form")).alias("meeting_form")
    )
    n_null = t["meeting_form"].null_count()
    assert n_null > 0
    cfg = load_config()
    cfg = cfg.model_copy(
        update={
            "estimation": cfg.estimation.model_copy(
                update={"learner": "lgbm", "n_folds": 3, "lgbm_n_estimators": 30, "group_effects": []}
            )
        }
    )
    res, tables, notes = run_cell(t, dictionary_factory(t), cfg, "weeks_selfsupport_26w", "modality")
    assert f"modality: {n_null} meetings whose KONTAKTFORM code has no form left out" in notes
    po = tables["apos"]
    assert po["n"].sum() + po["n_trimmed"].sum() == t.height - n_null
    # the fixture's forms have the same true effect (-2 weeks for digital): telephone and video agree
    vt = tables["estimate"].filter(pl.col("contrast") == "video_vs_telephone").row(0, named=True)
    assert abs(vt["estimate"]) < 3 * vt["se"]


def test_overlap_by_arm_by_hand():
    from models.apos import overlap_by_arm

    # 6 units: arms in_person, in_person, telephone, telephone, telephone, video
    arm = np.array([0, 0, 1, 1, 1, 2])
    P = np.array(
        [
            [0.6, 0.3, 0.1],
            [0.8, 0.1, 0.1],
            [0.2, 0.5, 0.3],
            [0.4, 0.4, 0.2],
            [0.1, 0.7, 0.2],
            [0.3, 0.2, 0.5],
        ]
    )
    ov = overlap_by_arm(P, arm, LEVELS)
    assert ov.height == 9 and ov.columns == [
        "form",
        "arm",
        "n",
        "min",
        "p05",
        "p25",
        "p50",
        "p75",
        "p95",
        "max",
    ]
    # P(telephone | X) among the telephone meetings: 0.5, 0.4, 0.7 -> min 0.4, median 0.5, max 0.7,
    # p25 = 0.4 + 0.5 * (0.5 - 0.4) = 0.45 (linear interpolation)
    r = ov.filter((pl.col("form") == "telephone") & (pl.col("arm") == "telephone")).row(0, named=True)
    assert (r["n"], r["min"], r["p50"], r["max"]) == (3, 0.4, 0.5, 0.7)
    assert r["p25"] == pytest.approx(0.45)
    # P(video | X) among the in-person meetings: 0.1, 0.1 (where the video APO needs overlap)
    r = ov.filter((pl.col("form") == "video") & (pl.col("arm") == "in_person")).row(0, named=True)
    assert (r["n"], r["min"], r["max"]) == (2, 0.1, 0.1)
    # every arm's n counts its units once per form
    assert ov.group_by("form").agg(pl.col("n").sum())["n"].to_list() == [6, 6, 6]
    with pytest.raises(ValueError, match="propensity: shape"):
        overlap_by_arm(P[:, :2], arm, LEVELS)


def test_modality_cell_writes_overlap_and_trimming_by_arm(tmp_path):
    from assets.estimation.logic import _run_modality, collect_cells, write_cell

    t = _modality_table(n_persons=400, seed=8)
    # a small forest (seconds): the test is about what the cell writes, not the estimate
    spec = DesignSpec(
        learner="lgbm", n_estimators=30, n_threads=1, n_folds=3, trim=(0.2, 0.99), seed=3, person="pnr"
    )
    res, tables, _ = _run_modality(t, None, "y", ["x1", "x2"], spec, [], None)
    ov, po = tables["overlap"], tables["apos"]
    # one copy of the propensities by arm (not one per contrast), keyed by outcome and design
    assert ov.height == 9 and "contrast" not in ov.columns
    assert ov.select("outcome", "design").unique().rows() == [("y", "modality")]
    n_arm = dict(t.group_by("meeting_form").len().iter_rows())
    own = ov.filter(pl.col("form") == pl.col("arm"))
    assert dict(zip(own["arm"], own["n"], strict=True)) == n_arm  # before trimming
    # trimming by arm: a unit is dropped when any form's propensity is under 0.2, counted by its arm
    assert po["n_trimmed"].sum() > 0
    assert dict(zip(po["level"], po["n"] + po["n_trimmed"], strict=True)) == n_arm
    # an arm whose propensity of some form reaches under 0.2 has trimmed units; one that never does has none
    low = ov.group_by("arm").agg(pl.col("min").min())
    trimmed = dict(zip(po["level"], po["n_trimmed"], strict=True))
    for a, m in low.iter_rows():
        assert (trimmed[a] > 0) == (m < 0.2), (a, m, trimmed[a])
    # collected apart from the binary designs' histograms
    cells = tmp_path / "cells"
    write_cell(tables, cells, "y", "modality")
    assert (cells / "y__modality.overlap.parquet").is_file()
    out, missing = collect_cells(cells, ["y"], ["modality"])
    assert not missing and "overlap" not in out and out["overlap_by_arm"].height == 9
    assert out["potential_outcomes"]["n_trimmed"].to_list() == po["n_trimmed"].to_list()


def test_auto_chooses_the_generalized_propensities_by_overlap():
    """Under learner='auto' each arm's propensity (ml_m_k) weights the score: chosen by the propensity rule
    (rule 'overlap', models.tuning.propensity_pick), the outcome models by the guard."""
    t = _modality_table(n_persons=300, seed=4)
    spec = DesignSpec(learner="auto", n_folds=3, n_estimators=30, seed=3, sensitivity=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = estimate_apos(t, "y", "meeting_form", ["x1", "x2"], spec, levels=LEVELS)
    rules = dict(res[0].learner_choice.filter(pl.col("chosen")).select("nuisance", "rule").iter_rows())
    assert {rules[f"ml_m_{k}"] for k in range(3)} == {"overlap"}
    assert {rules[f"ml_g_{k}"] for k in range(3)} == {"guard"}
