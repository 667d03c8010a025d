"""A small synthetic delivery and one run of the whole pipeline on it, shared by the pipeline tests."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml

SMALL_PERSONS = 1500
SMALL_SEED = 11

# Few outcomes, two folds and few trees: the run exercises every stage in about a minute. LightGBM with
# fixed settings rather than the default learner choice ('auto', exercised by tests/models/test_est_assets.py
# and tests/models/test_est_learners.py), which would add its choice to each of the pipeline tests' cells.
FAST_CONFIG = {
    "estimation": {
        "learner": "lgbm",
        "primary_outcomes": ["y_exit_13w", "y_exit_26w"],
        "placebo_outcomes": ["weeks_selfsupport_pre52w"],
        "designs": ["irm_att", "irm_ate", "plr", "pliv", "naive"],
        "n_folds": 2,
        "n_reps": 1,
        "lgbm_n_estimators": 30,
        "trial_sizes": [2000, 20000],
    }
}


@pytest.fixture(scope="session")
def small_delivery(tmp_path_factory) -> Path:
    """A 1,500-person synthetic delivery (Parquet) under ``<tmp>/deliveries/small``; truth beside it."""
    from synth import generate_delivery

    root = tmp_path_factory.mktemp("deliveries")
    out = root / "small"
    generate_delivery(out, persons=SMALL_PERSONS, seed=SMALL_SEED, fmt="parquet")
    return out


@pytest.fixture(scope="session")
def fast_config(tmp_path_factory) -> Path:
    p = tmp_path_factory.mktemp("config") / "fast.yaml"
    p.write_text(yaml.safe_dump(FAST_CONFIG), encoding="utf-8")
    return p


@pytest.fixture(scope="session")
def small_run(small_delivery, fast_config, tmp_path_factory):
    """The whole pipeline run once on the small delivery: (exit code, RunPaths, workdir)."""
    from pipelines.run import run_delivery

    workdir = tmp_path_factory.mktemp("work")
    old_home = os.environ.pop("DAGSTER_HOME", None)
    try:
        code, paths = run_delivery(
            small_delivery,
            workdir=workdir,
            config=fast_config,
            truth=small_delivery.parent / "small.truth.json",
        )
    finally:
        home = os.environ.pop("DAGSTER_HOME", None)
        if old_home is not None:
            os.environ["DAGSTER_HOME"] = old_home
    return {"code": code, "paths": paths, "workdir": workdir, "dagster_home": Path(home) if home else None}
