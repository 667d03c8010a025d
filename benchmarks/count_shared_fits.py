"""Counts of cross-fitted nuisances the default grid asks for and makes with shared fits, on a run's analysis table.

Usage: ``PYTHONPATH=. python benchmarks/count_shared_fits.py <work>/runs/<delivery>/analysis [n_reps]``.

The learner fits and choices are replaced by instant stand-ins (the training fold's mean; LightGBM with fixed
settings as the 'choice'): the counts depend only on which fits have equal inputs, not on the predictions,
except that no unit is trimmed with the stand-in (see benchmarks/share_fits.md). The cache and cell files go
to temporary folders (left for inspection).
"""

import collections
import importlib
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import polars as pl

import models.engine as E
import models.tuning as T
from assets.estimation.logic import run_grid
from data_contracts.config import load_config
from models.engine import Engine
from models.nuisance_cache import NuisanceCache


def fake_fit(X, fold_ids, columns, job, k):
    E.check_fold(fold_ids, columns, job, k)
    train, test = E.fold_rows(fold_ids, columns, job, k)
    t = np.asarray(columns[job.target], float)
    return np.full(test.size, t[train].mean())  # no unit is trimmed: see benchmarks/share_fits.md


def fake_choose(X, target, persons, task, *, rows=None, **kw):
    return T.Choice(
        "lgbm", (), "logloss" if task == "classification" else "rmse", float("nan"), int(len(target))
    )


E.fit_fold = fake_fit
T.choose_learner = fake_choose
# the modules that call it by their own imported name (PLIV's choices on the unit; no cache)
for _mod in ("models.estimate", "models.apos"):
    importlib.import_module(_mod).choose_learner = fake_choose
ana = Path(sys.argv[1])
table = pl.read_parquet(ana / "analysis_table.parquet")
dictionary = pl.read_parquet(ana / "column_dictionary.parquet")
cfg = load_config(None, overrides={"estimation": {"n_reps": int(sys.argv[2])}} if len(sys.argv) > 2 else None)
e = cfg.estimation
cells = [(o, d) for o in dict.fromkeys(e.primary_outcomes + e.placebo_outcomes) for d in e.designs]
cache = NuisanceCache(tempfile.mkdtemp(prefix="count-"))
engine = Engine(cache)
by = collections.defaultdict(lambda: [0, 0, 0, 0])
t0 = time.time()
with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    for o, d in cells:
        cache.reset_usage()
        st = run_grid(table, dictionary, cfg, [(o, d)], Path(tempfile.mkdtemp()), engine=engine)
        c = cache.counts()
        for i, k in enumerate(("fits_requested", "fits_made", "choices_requested", "choices_made")):
            by[d][i] += c[k]
        if st[f"{o}__{d}"]:
            print("FAILED", o, d, st)
tot = [sum(v[i] for v in by.values()) for i in range(4)]
print(f"cells {len(cells)} reps {e.n_reps} folds {e.n_folds} ({time.time() - t0:.0f} s)")
print("design: fits requested, made; choices requested, made")
for d, v in by.items():
    print(f"  {d}: {v}")
print(
    f"total: fits {tot[1]} of {tot[0]} made ({tot[1] * e.n_folds} of {tot[0] * e.n_folds} learner fits); choices {tot[3]} of {tot[2]}"
)
