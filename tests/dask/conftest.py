"""Fixtures of the Dask tests: a loopback cluster, a small analysis table and its in-process grid."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

_HERE = Path(__file__).resolve().parent


def load(name: str):
    """A helper module of this folder under one name (the tests import in importlib mode)."""
    full = f"regdml_dask_test_{name}"
    if full not in sys.modules:
        spec = importlib.util.spec_from_file_location(full, _HERE / f"{name}.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules[full] = module
        spec.loader.exec_module(module)
    return sys.modules[full]


def _model_fixtures():
    spec = importlib.util.spec_from_file_location(
        "regdml_dask_test_models_conftest", _HERE.parent / "models" / "conftest.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def assert_same_cells():
    """:func:`compare.assert_same_cells`: two grids' cells equal, part by part."""
    return load("compare").assert_same_cells


@pytest.fixture(scope="session")
def slurm_helpers():
    """tests/dask/slurm.py: a single-node Slurm cluster on localhost and its Debian packages."""
    return load("slurm")


@pytest.fixture(scope="module")
def slurm(slurm_helpers):
    """munged, slurmctld and slurmd on localhost, the node idle; everything stopped afterwards."""
    with slurm_helpers.localhost_slurm() as cluster:
        yield cluster


OUTCOMES = ["weeks_selfsupport_26w", "y_exit_13w"]
DESIGNS = ["irm_att", "irm_ate", "plr", "pliv", "naive"]


@pytest.fixture(scope="session")
def grid_inputs():
    """A 500-person register-shaped table, its column dictionary and a fast configuration with two
    repetitions of the sample split (so the grid is outcome x design x repetition x fold)."""
    from data_contracts.config import RunConfig

    m = _model_fixtures()
    table = m.make_register_table(n_persons=500, seed=21)
    dictionary = m.make_dictionary(table)
    cfg = RunConfig.model_validate(
        {"estimation": {"primary_outcomes": OUTCOMES, "placebo_outcomes": [], "designs": DESIGNS,
                        "n_folds": 3, "n_reps": 2, "lgbm_n_estimators": 25}}
    )  # fmt: skip
    cells = [(o, d) for o in OUTCOMES for d in DESIGNS]
    return table, dictionary, cfg, cells


@pytest.fixture(scope="session")
def in_process_grid(grid_inputs, tmp_path_factory):
    """The grid estimated in this process (the reference): the folder of its cell files."""
    from assets.estimation.logic import run_grid

    table, dictionary, cfg, cells = grid_inputs
    out = tmp_path_factory.mktemp("grid_in_process")
    status = run_grid(table, dictionary, cfg, cells, out)
    assert status == {f"{o}__{d}": None for o, d in cells}, status
    return out


@pytest.fixture(scope="session")
def loopback():
    """The helper module that starts loopback clusters (tests/dask/cluster.py)."""
    return load("cluster")


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """A scheduler and two worker processes on loopback, shared by a module's tests."""
    cl = load("cluster")
    with cl.loopback_cluster(2, tmp_path_factory.mktemp("dask_cluster")) as c:
        yield c
