"""Benchmark of the estimation grid in process and on a Dask cluster of 2 worker processes; writes
benchmarks/dask.md.

Not a test. The grid is ``assets.estimation.logic.run_grid`` over outcomes x designs of the run
configuration below (repetitions and folds inside each cell), on a synthetic register-shaped table of
``--persons`` persons (about two meetings each). Three measurements, each in this process:

- ``in process``: one cell after the other, every learner fitted here (the default of ``regdml run``).
- ``dask, 2 workers``: a ``dask scheduler`` and two ``dask worker --nthreads 1`` processes on loopback (the
  commands a researcher runs on a cluster), cells 2 at a time, fold tasks on the workers.
- the same grid's answers are compared: they must be equal.

Usage: ``.venv/bin/python benchmarks/bench_dask.py [--persons 20000] [--reps 2] [--trees 100]``
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib.util
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
OUTCOMES = ["weeks_selfsupport_26w", "y_exit_13w"]
DESIGNS = ["irm_att", "irm_ate", "plr", "pliv", "naive"]


def _load(name: str, path: Path):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def _same(a: Path, b: Path) -> bool:
    import polars as pl

    names = sorted(p.name for p in a.glob("*.parquet"))
    if names != sorted(p.name for p in b.glob("*.parquet")):
        return False
    for name in names:
        fa, fb = pl.read_parquet(a / name), pl.read_parquet(b / name)
        if "seconds" in fa.columns:
            fa, fb = fa.drop("seconds"), fb.drop("seconds")
        if not fa.equals(fb):
            return False
    return True


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--persons", type=int, default=20000)
    ap.add_argument("--reps", type=int, default=2)
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--trees", type=int, default=100)
    ap.add_argument("--out", default=str(REPO / "benchmarks" / "dask.md"))
    args = ap.parse_args()

    import warnings

    warnings.simplefilter("ignore")
    import dask
    import distributed
    import doubleml
    import lightgbm

    from assets.estimation.logic import run_grid
    from data_contracts.config import RunConfig
    from models.engine import DaskEngine

    fixtures = _load("bench_models_conftest", REPO / "tests" / "models" / "conftest.py")
    cluster_mod = _load("bench_dask_cluster", REPO / "tests" / "dask" / "cluster.py")
    table = fixtures.make_register_table(n_persons=args.persons, seed=7)
    dictionary = fixtures.make_dictionary(table)
    cfg = RunConfig.model_validate(
        {"estimation": {"primary_outcomes": OUTCOMES, "placebo_outcomes": [], "designs": DESIGNS,
                        "n_folds": args.folds, "n_reps": args.reps, "lgbm_n_estimators": args.trees}}
    )  # fmt: skip
    cells = [(o, d) for o in OUTCOMES for d in DESIGNS]
    work = Path(tempfile.mkdtemp(prefix="bench_dask_"))
    load_before = os.getloadavg()

    t0 = time.perf_counter()
    status = run_grid(table, dictionary, cfg, cells, work / "in_process")
    t_process = time.perf_counter() - t0
    assert all(v is None for v in status.values()), status

    with cluster_mod.loopback_cluster(2, work / "cluster") as cluster:
        client = cluster.client()
        try:
            engine = DaskEngine(client, work / "scratch")
            t0 = time.perf_counter()
            status = run_grid(table, dictionary, cfg, cells, work / "dask", engine=engine, concurrent=2)
            t_dask = time.perf_counter() - t0
        finally:
            client.close()
    assert all(v is None for v in status.values()), status
    same = _same(work / "in_process", work / "dask")
    load_after = os.getloadavg()
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True
    ).stdout.strip()
    cpu = platform.processor() or platform.machine()
    now = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        "# The estimation grid in process and on 2 Dask workers",
        "",
        f"Measured with `benchmarks/bench_dask.py` on {now} at commit {commit}; every number below was printed",
        "by that script (rerun it to refresh this file).",
        "",
        f"**Command:** `.venv/bin/python benchmarks/bench_dask.py --persons {args.persons} --reps {args.reps} "
        f"--folds {args.folds} --trees {args.trees}`",
        "",
        f"**Machine:** {os.cpu_count()} cores ({cpu}), Linux {platform.release()}, Python {platform.python_version()}; "
        f"dask {dask.__version__}, distributed {distributed.__version__}, doubleml {doubleml.__version__}, "
        f"lightgbm {lightgbm.__version__}. Load average {load_before[0]:.2f} before and {load_after[0]:.2f} after "
        "(the machine is shared with other engineers' work).",
        "",
        f"**Grid:** {len(OUTCOMES)} outcomes x {len(DESIGNS)} designs ({', '.join(DESIGNS)}) = {len(cells)} cells, "
        f"each {args.reps} repetitions x {args.folds} person-grouped folds; LightGBM {args.trees} trees, 1 thread; "
        f"synthetic register-shaped table of {args.persons:,} persons, {table.height:,} meetings, "
        f"{len(fixtures.COVARIATES)} covariates; the sensitivity benchmark and group effects on, as in the pipeline.",
        "",
        "| where | cells at a time | seconds |",
        "|---|---|---|",
        f"| in process (default) | 1 | {t_process:.1f} |",
        f"| Dask: scheduler + 2 `dask worker --nthreads 1` processes on loopback | 2 | {t_dask:.1f} |",
        "",
        f"Speed-up {t_process / t_dask:.2f}x. Same answers: {'yes' if same else 'NO'} (every cell file equal, "
        "timings aside).",
        "",
        "On 2 cores two single-threaded workers can at best halve the time; the driver (data preparation,",
        "DoubleML's scores, writing Parquet for the workers) also needs the same cores. The point of Dask is a",
        "cluster with many more cores: there the fold tasks of all cells run side by side.",
    ]
    Path(args.out).write_text("\n".join(lines) + "\n", encoding="utf-8")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
