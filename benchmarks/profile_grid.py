"""CPU seconds of the estimation grid by design and by kind of work, on a run's analysis table (issue 22).

Usage: ``PYTHONPATH=. python benchmarks/profile_grid.py <work>/runs/<delivery>/analysis [--outcomes K]
[--designs a,b] [--json out.json] [--no-share | --per-cell]``.

Runs the default configuration's cells in process, in the pipeline's order (the cells whose fits others
read first), with a fresh shared-fit cache, and charges the process's CPU time (``time.process_time``:
every thread of this process) to the innermost of these kinds of work, by wrapping the functions:

- ``choice``: the learner choices (``models.tuning.choose_learner``), apart from those read from the cache;
- ``fit``: the cross-fitted nuisances (``models.engine.fit_fold``) of the main estimate;
- ``bench_fit``: the same inside the benchmarked sensitivity's long and short refits;
- ``bench_other``: the rest of the benchmarked sensitivity (DoubleML's scores and gain statistics);
- ``dml``: DoubleML's ``fit`` on the external predictions (scores) of the main estimate;
- ``sens``: the sensitivity table (``models.diagnostics.sensitivity_table``);
- ``diag``: overlap, balance and group-effect tables;
- ``prepare``: ``_prepare`` (covariate matrices, within transformation);
- ``other``: the rest of the cell (covariate judgement, the split-sample instrument, cache reads, ...).
"""

import argparse
import collections
import importlib
import json
import sys
import tempfile
import time
import warnings
from pathlib import Path

import polars as pl

A = importlib.import_module("models.apos")
D = importlib.import_module("models.diagnostics")
E = importlib.import_module("models.engine")
M = importlib.import_module("models.estimate")  # models.estimate is also the package's function
T = importlib.import_module("models.tuning")
from assets.estimation.logic import run_grid  # noqa: E402
from data_contracts.config import load_config  # noqa: E402
from models.engine import Engine  # noqa: E402
from models.nuisance_cache import NuisanceCache  # noqa: E402

READERS = ("irm_ate", "plr", "modality")
acc: dict = collections.defaultdict(float)
stack: list[list] = []  # [kind, start of the current exclusive slice]
state = {"design": None, "bench": 0}


def _charge(now: float) -> None:
    kind = stack[-1][0] if stack else "other"
    if state["bench"] and kind in ("fit", "dml", "other", "prepare", "sens"):
        kind = "bench_fit" if kind == "fit" else "bench_other"
    acc[(state["design"], kind)] += now - (stack[-1][1] if stack else state["t"])
    if stack:
        stack[-1][1] = now
    else:
        state["t"] = now


def wrap(mod, name, kind, bench=False):
    f = getattr(mod, name)

    def w(*a, **k):
        now = time.process_time()
        _charge(now)
        stack.append([kind, now])
        if bench:
            state["bench"] += 1
        try:
            return f(*a, **k)
        finally:
            now = time.process_time()
            _charge(now)
            stack.pop()
            if bench:
                state["bench"] -= 1
            if stack:
                stack[-1][1] = now
            else:
                state["t"] = now

    setattr(mod, name, w)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("analysis", type=Path)
    ap.add_argument("--outcomes", type=int, default=None)
    ap.add_argument("--designs", default=None)
    ap.add_argument("--json", type=Path, default=None)
    ap.add_argument("--no-share", action="store_true")
    ap.add_argument(
        "--per-cell",
        action="store_true",
        help="the path before issue 22: no sharing and the propensity on each outcome's rows",
    )
    ap.add_argument("--cells-dir", type=Path, default=None)
    args = ap.parse_args()
    import doubleml

    wrap(T, "choose_learner", "choice")
    for mod in (M, A):  # the choice without a cache (their own imported name)
        if hasattr(mod, "choose_learner"):
            wrap(mod, "choose_learner", "choice")
    wrap(E, "fit_fold", "fit")
    wrap(M, "_benchmark", "bench_other", bench=True)
    wrap(M, "_prepare", "prepare")
    wrap(A, "_prepare", "prepare")
    for n in ("overlap_table", "balance_table", "group_effects_table"):
        wrap(D, n, "diag")
    wrap(D, "sensitivity_table", "sens")
    wrap(A, "overlap_by_arm", "diag")
    wrap(A, "_contrast_groups", "diag")
    wrap(doubleml.double_ml.DoubleML, "fit", "dml")
    wrap(A, "apos_dml_scores", "dml")
    table = pl.read_parquet(args.analysis / "analysis_table.parquet")
    dictionary = pl.read_parquet(args.analysis / "column_dictionary.parquet")
    if args.per_cell:
        args.no_share = True
    over = {"share_fits": not args.no_share}
    if args.per_cell:
        over["propensity_rows"] = "outcome"
    cfg = load_config(None, overrides={"estimation": over})
    e = cfg.estimation
    outcomes = list(dict.fromkeys(e.primary_outcomes + e.placebo_outcomes))[: args.outcomes]
    designs = args.designs.split(",") if args.designs else list(e.designs)
    cells = [(o, d) for o in outcomes for d in designs]
    cells.sort(key=lambda c: c[1] in READERS)  # the pipeline's fitters_first
    cache = NuisanceCache(tempfile.mkdtemp(prefix="prof-")) if not args.no_share else None
    engine = Engine(cache)
    cells_dir = args.cells_dir or Path(tempfile.mkdtemp(prefix="cells-"))
    per_cell = []
    t_all = time.process_time()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for o, d in cells:
            state["design"], state["t"] = d, time.process_time()
            if cache is not None:
                cache.reset_usage()
            c0, w0 = time.process_time(), time.perf_counter()
            st = run_grid(table, dictionary, cfg, [(o, d)], cells_dir, engine=engine)
            _charge(time.process_time())
            cpu = time.process_time() - c0
            cnt = cache.counts() if cache is not None else {}
            per_cell.append(
                {
                    "outcome": o,
                    "design": d,
                    "cpu": cpu,
                    "wall": time.perf_counter() - w0,
                    **cnt,
                    "error": st[f"{o}__{d}"],
                }
            )
            print(f"{o:28s} {d:14s} cpu {cpu:7.1f} s {cnt} {st[f'{o}__{d}'] or ''}", flush=True)
    total = time.process_time() - t_all
    kinds = sorted({k for _, k in acc})
    by_design = collections.defaultdict(dict)
    for (d, k), v in acc.items():
        by_design[d][k] = v
    print(f"\ntotal CPU {total:.0f} s over {len(cells)} cells; cells dir {cells_dir}")
    print("design".ljust(14) + "".join(k.rjust(12) for k in kinds) + "total".rjust(10))
    for d in designs:
        row = by_design.get(d, {})
        print(d.ljust(14) + "".join(f"{row.get(k, 0):12.1f}" for k in kinds) + f"{sum(row.values()):10.1f}")
    col = {k: sum(by_design[d].get(k, 0) for d in by_design) for k in kinds}
    print("all".ljust(14) + "".join(f"{col[k]:12.1f}" for k in kinds) + f"{sum(col.values()):10.1f}")
    if args.json:
        args.json.write_text(
            json.dumps({"cells": per_cell, "by_design": by_design, "total": total}, indent=1)
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
