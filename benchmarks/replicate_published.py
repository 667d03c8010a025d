"""Fuller replication of the published DML numbers on shared/validation (not a test; minutes to an hour).

Pennsylvania bonus (PLR, IRM-ATE) and 401(k) (PLR, IRM-ATE, IIVM LATE) with LightGBM, Lasso (poly2 for
Penn, as Bonus.R) and random forest, 2 and 5 folds, ``--reps`` repetitions (median). Prints one line per
fit and writes a CSV (``--out``) beside the published ranges of shared/validation/reference_estimates.csv.

Usage: ``.venv/bin/python benchmarks/replicate_published.py --reps 10 --out replication.csv``
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

import polars as pl

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from models import DesignSpec, estimate  # noqa: E402
from models.validation_data import K401_X, PENN_X, load_401k, load_penn, validation_dir  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--reps", type=int, default=10)
    ap.add_argument("--learners", default="lgbm,lasso,rf")
    ap.add_argument("--folds", default="2,5")
    ap.add_argument("--out", default="replication.csv")
    args = ap.parse_args()
    warnings.simplefilter("ignore")
    penn, k401 = load_penn(), load_401k()
    cases = []
    for learner in args.learners.split(","):
        for folds in (int(f) for f in args.folds.split(",")):
            for model in ("plr", "irm"):
                cases.append(
                    (
                        "penn_bonus",
                        penn,
                        "inuidur1",
                        "tg",
                        PENN_X,
                        model,
                        None,
                        learner,
                        folds,
                        learner == "lasso",
                    )
                )
                cases.append(
                    ("sipp1991_401k", k401, "net_tfa", "e401", K401_X, model, None, learner, folds, False)
                )
            cases.append(
                ("sipp1991_401k", k401, "net_tfa", "p401", K401_X, "iivm", "e401", learner, folds, False)
            )
    rows = []
    for ds, table, y, d, x, model, z, learner, folds, poly2 in cases:
        spec = DesignSpec(model=model, score="ATE", learner=learner, n_folds=folds, n_reps=args.reps, person=None,
                          instrument=z, poly2=poly2, sensitivity=False, n_estimators=200, seed=20200501)  # fmt: skip
        t0 = time.perf_counter()
        r = estimate(table, y, d, x, spec)
        row = {
            "dataset": ds,
            "model": model.upper(),
            "learner": r.learner,
            "folds": folds,
            "reps": args.reps,
            "estimate": r.estimate,
            "se": r.se,
            "n_trimmed": r.n_trimmed,
            "seconds": round(time.perf_counter() - t0, 1),
        }
        print(row, flush=True)
        rows.append(row)
        pl.DataFrame(rows).write_csv(args.out)
    ref = pl.read_csv(validation_dir() / "reference_estimates.csv")
    print(ref.group_by("dataset", "model").agg(pl.col("estimate").min().alias("published_min"),
                                              pl.col("estimate").max().alias("published_max"),
                                              pl.col("se").median().alias("published_se")))  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
