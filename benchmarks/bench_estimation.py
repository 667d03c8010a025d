"""Benchmark of the primary design (IRM-ATTE) at register scale; writes benchmarks/estimation.md.

Not a test. For n in (100,000, 1,000,000) rows x 40 float32 covariates (synthetic, binary D and Y, about
three meetings per person), each measurement runs in a fresh subprocess (so its peak RSS is its own):

- ``primary``: ``models.estimate`` IRM-ATTE as the estimation cell runs it without the sensitivity
  diagnostics (LightGBM 200 trees, 1 thread, 5 person-grouped folds, 1 repetition, trimming 0.01/0.99,
  overlap and balance on): 5 propensity + 5 control-outcome fits, DoubleML scores via external predictions.
- ``hand``: cross-fitting by hand only the nuisances an ATT needs (propensity, outcome among the untreated:
  10 LightGBM fits on the same folds) and the ATT formula.
- ``full``: the whole cell: ``primary`` plus the treated-outcome fits that DoubleML's sensitivity analysis
  needs, ``sensitivity_analysis`` and a benchmark on a 20,000-row subsample.
- ``tuning``: only the learner choice of ``learner='auto'`` for the nuisances of ``primary`` (propensity,
  outcome among the untreated): LightGBM tuned and lasso/logistic (and, up to 200,000 rows, a forest) scored on
  a person subsample of at most 20,000 rows with 3 inner folds (``models.tuning``). Compare with ``primary``.
- ``auto``: ``primary`` with ``learner='auto'`` (the choice, then the chosen learners cross-fitted).

Usage: ``.venv/bin/python benchmarks/bench_estimation.py [--sizes 100000,1000000] [--modes primary,hand,full]``
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

from _portable import peak_rss_mb

REPO = Path(__file__).resolve().parents[1]
P = 40


def make_data(n: int, seed: int = 1):
    import numpy as np
    import polars as pl

    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, P)).astype(np.float32)
    lin = 0.6 * X[:, 0] - 0.4 * X[:, 1] + 0.3 * X[:, 2] * X[:, 3]
    d = (rng.random(n) < 1 / (1 + np.exp(-lin))).astype(np.int8)
    ly = -0.3 + 0.5 * X[:, 0] + 0.3 * X[:, 4] - 0.2 * np.abs(X[:, 5]) + 0.1 * d
    y = (rng.random(n) < 1 / (1 + np.exp(-ly))).astype(np.float64)
    pnr = np.sort(rng.integers(0, max(1, n // 3), n))
    cols = {f"x{j:02d}": X[:, j] for j in range(P)}
    return pl.DataFrame({"pnr": pnr, "digital": d, "y": y, **cols}), [f"x{j:02d}" for j in range(P)]


def run_one(n: int, mode: str) -> dict:
    import warnings

    import numpy as np

    warnings.simplefilter("ignore")
    t_imp = time.perf_counter()
    import doubleml  # noqa: F401  (imported before timing in both modes: a once-per-process cost)
    import lightgbm  # noqa: F401

    import_secs = time.perf_counter() - t_imp
    table, xcols = make_data(n)
    t0 = time.perf_counter()
    if mode == "tuning":
        from models import DesignSpec
        from models.estimate import _choose_learners, _prepare

        spec = DesignSpec(model="irm", score="ATTE", learner="auto", n_folds=5, n_reps=1, seed=20200501,
                          person="pnr", n_estimators=200, n_threads=1, sensitivity=False)  # fmt: skip
        prepared = _prepare(table, "y", "digital", xcols, spec)
        t0 = time.perf_counter()  # the learner choice alone (preparing the data is part of every cell)
        choices, frame = _choose_learners(prepared, spec, need_g1=False)
        out = {"estimate": float("nan"), "chosen": {k: c.label(200, False) for k, c in choices.items()}}
    elif mode in ("primary", "full", "auto"):
        from models import DesignSpec, estimate

        full = mode == "full"
        spec = DesignSpec(model="irm", score="ATTE", learner="auto" if mode == "auto" else "lgbm", n_folds=5, n_reps=1, seed=20200501,
                          trim=(0.01, 0.99), person="pnr", n_estimators=200, n_threads=1, sensitivity=full,
                          benchmark_sets=(("b", ("x00", "x01")),) if full else ())  # fmt: skip
        r = estimate(table, "y", "digital", xcols, spec)
        out = {"estimate": r.estimate, "se": r.se, "n_trimmed": r.n_trimmed, "learner": r.learner}
    else:
        from models.estimate import crossfit
        from models.folds import person_folds
        from models.learners import make_learner

        X = table.select(xcols).to_numpy().astype(np.float32)
        y = table["y"].to_numpy().astype(float)
        d = table["digital"].to_numpy().astype(float)
        folds = person_folds(table["pnr"].to_numpy(), 5, 1, 20200501)[0]
        clf = lambda: make_learner("lgbm", "classification", seed=20200501, n_estimators=200, n_threads=1)  # noqa: E731
        m = np.clip(crossfit(clf, X, d, folds, proba=True), 0.01, 0.99)
        g0 = crossfit(clf, X, y, folds, fit_mask=d == 0, proba=True)
        att = float(np.sum(d * (y - g0) - m / (1 - m) * (1 - d) * (y - g0)) / np.sum(d))
        out = {"estimate": att}
    secs = time.perf_counter() - t0
    peak_mb = peak_rss_mb()
    return {"n": n, "mode": mode, "seconds": round(secs, 1), "peak_rss_mb": round(peak_mb),
            "import_seconds": round(import_secs, 1), **out}  # fmt: skip


def machine() -> dict:
    import doubleml
    import lightgbm
    import numpy
    import polars
    import sklearn

    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = "unknown"
    try:
        kb = int(Path("/proc/meminfo").read_text().split()[1])
        mem = f"{kb / 1024 / 1024:.0f} GB"
    except (OSError, ValueError, IndexError):
        pass
    return {
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu": cpu, "cores": os.cpu_count(), "memory": mem, "python": platform.python_version(),
        "doubleml": doubleml.__version__, "lightgbm": lightgbm.__version__, "scikit-learn": sklearn.__version__,
        "polars": polars.__version__, "numpy": numpy.__version__, "os": platform.platform(),
    }  # fmt: skip


def write_md(results: list[dict], info: dict, path: Path) -> None:
    lines = [
        "# Estimation benchmark (primary design, IRM-ATTE)",
        "",
        "Written by `benchmarks/bench_estimation.py` (numbers from that run only; rerun to refresh).",
        "",
        "Machine: " + ", ".join(f"{k} {v}" for k, v in info.items()),
        "",
        "Data: synthetic, 40 float32 covariates, binary treatment and outcome, about 3 rows per person. "
        "LightGBM 200 trees, `num_threads=1`, 5 person-grouped folds, 1 repetition. Each row is a fresh "
        "process; peak RSS includes the data and the Python runtime.",
        "",
        "| rows | mode | seconds | peak RSS (MB) | estimate | n_trimmed | import doubleml+lightgbm (s, untimed) |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in results:
        lines.append(f"| {r['n']:,} | {r['mode']} | {r['seconds']} | {r['peak_rss_mb']} | {r.get('estimate', float('nan')):.5f} "
                     f"| {r.get('n_trimmed', '')} | {r.get('import_seconds', '')} |")  # fmt: skip
    lines += ["", "Ratio primary / hand (goal under 1.1):", ""]
    by = {(r["n"], r["mode"]): r for r in results}
    for n in sorted({r["n"] for r in results}):
        if (n, "primary") in by and (n, "hand") in by:
            ratio = by[(n, "primary")]["seconds"] / by[(n, "hand")]["seconds"]
            lines.append(f"- {n:,} rows: {ratio:.2f}")
    lines += [
        "",
        "- `primary`: `models.estimate` as the estimation cell runs IRM-ATTE without sensitivity: the first-stage "
        "propensity (5 fits) is reused as the final propensity when trimming drops no unit, the outcome model is "
        "fitted among the untreated only (5 fits), and DoubleML gets both through `external_predictions` "
        "(no treated-outcome fits). With units trimmed, the propensity is refitted on the kept units (5 more fits).",
        "- `hand`: the 10 fits an ATT needs and the AIPW-ATT formula, nothing else.",
        "- `full`: the whole estimation cell: also the 5 treated-outcome fits that DoubleML's sensitivity elements "
        "need, `sensitivity_analysis`, and the benchmarked sensitivity (long and short model on a 20,000-row "
        "subsample).",
        "- `import doubleml` (which pulls in plotly, matplotlib and optuna) costs several seconds once per process; "
        "it is done before the clock starts in every mode and shown in the last column.",
        "- The machine was shared with other work during the run (load average above 2 on 2 cores at times); "
        "timings vary accordingly.",
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="100000,1000000")
    ap.add_argument("--modes", default="primary,hand,full")
    ap.add_argument("--one", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--out", default=str(REPO / "benchmarks" / "estimation.md"))
    args = ap.parse_args()
    if args.one:
        n, mode = args.one.split(":")
        print(json.dumps(run_one(int(n), mode)))
        return 0
    results = []
    for n in [int(s) for s in args.sizes.split(",")]:
        for mode in args.modes.split(","):
            p = subprocess.run([sys.executable, __file__, "--one", f"{n}:{mode}"], cwd=REPO, capture_output=True,
                               text=True, env={**os.environ, "PYTHONPATH": str(REPO)})  # fmt: skip
            if p.returncode != 0:
                print(p.stderr, file=sys.stderr)
                return 1
            r = json.loads(p.stdout.strip().splitlines()[-1])
            print(r, flush=True)
            results.append(r)
            write_md(results, machine(), Path(args.out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
