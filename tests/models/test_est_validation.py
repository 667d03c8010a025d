"""Published double machine learning results on the public validation data (shared/validation).

Tolerance (shared/validation/README.md): the estimate, a median over 5 repetitions, lies within one
published SE of the published range for that data set and model. The default learner ('auto': LightGBM
tuned, the learner chosen per nuisance); LightGBM with fixed settings reproduces the Pennsylvania bonus from
the command line (tests/models/test_est_cli.py). Each test well under a minute.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import polars as pl
import pytest

from models import DesignSpec, estimate
from models.validation_data import K401_X, PENN_X, load_401k, load_penn, validation_dir

pytestmark = pytest.mark.skipif(
    not (validation_dir() / "penn_jae.dat").exists(), reason="no shared/validation"
)


def published(dataset: str, model: str, estimand_prefix: str = "ATE") -> tuple[float, float]:
    """(low, high) = published range widened by the median published SE."""
    ref = pl.read_csv(Path(validation_dir()) / "reference_estimates.csv")
    sub = ref.filter((pl.col("dataset") == dataset) & (pl.col("model") == model)
                     & pl.col("estimand").str.starts_with(estimand_prefix))  # fmt: skip
    assert sub.height > 0
    se = float(sub["se"].median())
    return float(sub["estimate"].min()) - se, float(sub["estimate"].max()) + se


def fit(table, y, d, x, **kw):
    spec = DesignSpec(person=None, n_folds=5, n_reps=5, n_estimators=200, seed=20200501, learner="auto", **kw)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return estimate(table, y, d, x, spec)


@pytest.fixture(scope="module")
def penn():
    return load_penn()


@pytest.fixture(scope="module")
def k401():
    return load_401k()


def test_loaders_shapes(penn, k401):
    assert penn.height == 5099 and int(penn["tg"].sum()) == 1745
    assert k401.height == 9915 and int(k401["e401"].sum()) == 3682 and int(k401["p401"].sum()) == 2594


def test_loader_env_override(tmp_path, monkeypatch):
    monkeypatch.setenv("REGDML_VALIDATION_DIR", str(tmp_path))
    with pytest.raises(FileNotFoundError, match="REGDML_VALIDATION_DIR"):
        load_penn()


@pytest.mark.parametrize("model", ["plr", "irm"])
def test_penn_bonus(penn, model):
    lo, hi = published("penn_bonus", model.upper())
    r = fit(penn, "inuidur1", "tg", PENN_X, model=model, score="ATE", sensitivity=False)
    assert lo <= r.estimate <= hi, (r.estimate, lo, hi)
    assert 0.03 < r.se < 0.045
    assert r.n == 5099


@pytest.mark.parametrize("model", ["plr", "irm"])
def test_401k(k401, model):
    lo, hi = published("sipp1991_401k", model.upper())
    r = fit(k401, "net_tfa", "e401", K401_X, model=model, score="ATE", sensitivity=False)
    assert lo <= r.estimate <= hi, (r.estimate, lo, hi)
    assert 900 < r.se < 1800


def test_401k_iivm_late(k401):
    lo, hi = published("sipp1991_401k", "IIVM", "LATE")
    r = fit(k401, "net_tfa", "p401", K401_X, model="iivm", instrument="e401", sensitivity=False)
    assert lo <= r.estimate <= hi, (r.estimate, lo, hi)


def test_401k_naive_difference(k401):
    r = estimate(k401, "net_tfa", "e401", [], DesignSpec(model="naive", person=None))
    assert r.estimate == pytest.approx(19559, abs=1)
    assert r.se == pytest.approx(1413, abs=2)


def test_validation_dir_default_is_relative_to_repo(monkeypatch):
    monkeypatch.delenv("REGDML_VALIDATION_DIR", raising=False)
    import models.validation_data as vd

    assert vd.validation_dir() == Path(vd.__file__).resolve().parents[1].parent / "shared" / "validation"
    assert os.path.isabs(vd.validation_dir())
