"""Group effects: each group's own difference in means (naive, randomized), per-arm counts, and no estimate
for a group that lacks an arm or has fewer than the disclosure minimum in one."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from models import DesignSpec, estimate


def _small_table() -> pl.DataFrame:
    """Group a: 6 treated, 7 controls; b: 5 and 8; c: controls only; d: 3 treated (below 5), 10 controls.
    The groups' treated shares differ, so the full sample's share and means give other numbers."""
    rng = np.random.default_rng(2)
    rows = []
    for g, n1, n0, shift in (("a", 6, 7, 1.0), ("b", 5, 8, -2.0), ("c", 0, 6, 0.5), ("d", 3, 10, 3.0)):
        for d, n in ((1, n1), (0, n0)):
            for _ in range(n):
                rows.append({"grp": g, "treat": d, "y": shift + 2.0 * d * (1 + (g == "b")) + rng.normal()})
    t = pl.DataFrame(rows)
    return t.with_columns(pl.int_range(pl.len()).alias("pid"))


def _hand(t: pl.DataFrame, g: str) -> tuple[float, float]:
    """Difference in means and its standard error sqrt(s1^2/n1 + s0^2/n0) (variances with ddof 0: the
    score variance with every row its own cluster)."""
    s = t.filter(pl.col("grp") == g)
    y1 = s.filter(pl.col("treat") == 1)["y"].to_numpy()
    y0 = s.filter(pl.col("treat") == 0)["y"].to_numpy()
    return float(y1.mean() - y0.mean()), float(np.sqrt(y1.var() / y1.size + y0.var() / y0.size))


@pytest.mark.parametrize("model", ["naive", "randomized"])
def test_group_effects_are_each_groups_own_difference_in_means(model):
    t = _small_table()
    kw = {"assignment_prob": 0.4} if model == "randomized" else {}
    r = estimate(
        t, "y", "treat", [], DesignSpec(model=model, person="pid", group_cols=("grp",), min_cell=5, **kw)
    )
    g = {row["group"]: row for row in r.group_effects.iter_rows(named=True)}
    for name in ("a", "b"):
        diff, se = _hand(t, name)
        assert g[name]["estimate"] == pytest.approx(diff, rel=1e-12)
        assert g[name]["se"] == pytest.approx(se, rel=1e-9)
        assert g[name]["reason"] is None
    assert (g["a"]["n_treated"], g["a"]["n_control"], g["a"]["n"]) == (6, 7, 13)
    assert (g["b"]["n_treated"], g["b"]["n_control"]) == (5, 8)
    # no treated arm; an arm below the disclosure minimum: row kept, no estimate, a reason
    assert g["c"]["estimate"] is None and g["c"]["se"] is None and g["c"]["reason"] == "no treated units"
    assert (g["c"]["n_treated"], g["c"]["n_control"]) == (0, 6)
    assert g["d"]["estimate"] is None and "fewer than 5 treated or control" in g["d"]["reason"]
    assert (g["d"]["n_treated"], g["d"]["n_control"]) == (3, 10)


def test_randomized_groups_weight_by_the_known_probability():
    """With unit-level probabilities a group's estimate is its own Hajek difference, by hand."""
    t = _small_table().with_columns((0.3 + 0.4 * (pl.col("pid") % 2)).alias("p"))
    r = estimate(t, "y", "treat", [], DesignSpec(model="randomized", assignment_prob="p", person="pid",
                                                 group_cols=("grp",), min_cell=5))  # fmt: skip
    s = t.filter(pl.col("grp") == "a")
    y, d, p = s["y"].to_numpy(), s["treat"].to_numpy(), s["p"].to_numpy()
    w1, w0 = d / p, (1 - d) / (1 - p)
    hand = np.sum(w1 * y) / np.sum(w1) - np.sum(w0 * y) / np.sum(w0)
    row = r.group_effects.filter(pl.col("group") == "a").row(0, named=True)
    assert row["estimate"] == pytest.approx(hand, rel=1e-12)


def test_min_cell_lowered_gives_the_small_group_an_estimate():
    t = _small_table()
    r = estimate(
        t, "y", "treat", [], DesignSpec(model="naive", person="pid", group_cols=("grp",), min_cell=3)
    )
    row = r.group_effects.filter(pl.col("group") == "d").row(0, named=True)
    assert row["estimate"] == pytest.approx(_hand(t, "d")[0], rel=1e-12) and row["reason"] is None


def test_irm_group_table_has_arm_counts(register_table, covariates):
    r = estimate(register_table, "weeks_selfsupport_26w", "digital", covariates,
                 DesignSpec(model="irm", n_folds=3, n_estimators=40, seed=7, sensitivity=False,
                            group_cols=("benefit_group",)))  # fmt: skip
    g = r.group_effects
    assert {"n_treated", "n_control", "reason"} <= set(g.columns)
    assert (g["n_treated"] + g["n_control"] == g["n"]).all()
    assert int(g["n_treated"].sum()) == r.n_treated
