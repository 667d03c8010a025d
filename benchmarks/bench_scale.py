"""The whole pipeline at register scale: 100,000, 1,000,000 and 5,000,000 persons (issue 8; not a test).

For each size: generate the synthetic delivery (kept for reuse), run ``regdml run`` on it end to end
(delivery -> analysis table -> estimation cells -> estimates, placebos, power, report, export bundle)
while a sampler records the resident memory of the whole process tree every 0.25 s, then attribute wall
time and peak memory to every Dagster step (steps run one after another in one process: the in-process
executor), and run the two baselines in fresh processes:

* plain pandas DREAM-to-spells (read, melt, map, sort, gaps and islands, as
  ``bench_register_logic.run_pandas``) on the staged DREAM, killed above a resident-memory cap;
* the bare LightGBM cross-fit of the primary cell (IRM-ATT, y_exit_13w): the 10 fits an ATT needs on the
  cell's own covariate matrix and person-grouped folds, nothing else.

The estimation grid is ``benchmarks/scale_config.yaml`` (the plan's defaults except the grid: the primary
design and the naive contrast for one outcome, and the permuted-treatment placebo), because the default
grid at 1,000,000 rows is 35 cells of 1-8 minutes each; a cell's time is in the table, so a bigger grid's
time is the sum of its cells. Results are appended to ``benchmarks/scale.md`` after every size.

    .venv/bin/python benchmarks/bench_scale.py --sizes 100000,1000000,5000000 --base /tmp/scale
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

import psutil
from _portable import load_average, run_measured

ROOT = Path(__file__).resolve().parents[1]
GiB = 2**30
KEEP_SECTION = "## Result against the goals"
KEEP_BEFORE = "- date (UTC) and code (commit):"


def step_stats(dagster_home: Path) -> list[dict]:
    """Every step of every run in the instance: job, step key, start and end (epoch seconds)."""
    import dagster as dg

    os.environ["DAGSTER_HOME"] = str(dagster_home)
    instance = dg.DagsterInstance.get()
    out = []
    for run in instance.get_runs():
        for s in instance.get_run_step_stats(run.run_id):
            if s.start_time and s.end_time:
                tags = run.tags or {}
                out.append(
                    {
                        "job": run.job_name,
                        "step": s.step_key,
                        "partition": tags.get("dagster/partition", ""),
                        "start": s.start_time,
                        "end": s.end_time,
                        "status": str(s.status.value if s.status else ""),
                    }
                )
    return sorted(out, key=lambda r: r["start"])


def pandas_baseline(dream: Path, out: Path, cap_gb: float) -> dict:
    """Plain pandas DREAM-to-spells in a child process, killed above ``cap_gb`` GiB resident."""
    from bench_register_logic import spawn

    return spawn("pandas", dream, out, [], cap_gb)


def bare_crossfit_child(analysis_dir: Path, outcome: str) -> None:
    """The 10 LightGBM fits of the primary cell, by hand, on the cell's own matrix and folds."""
    import resource
    import warnings

    import numpy as np
    import polars as pl

    warnings.simplefilter("ignore")
    from assets.estimation.logic import derive_group_columns, design_spec, usable_covariates
    from data_contracts.config import load_config
    from models.estimate import _prepare, crossfit
    from models.folds import person_folds
    from models.learners import make_learner

    cfg = load_config(ROOT / "benchmarks" / "scale_config.yaml")
    table = derive_group_columns(pl.read_parquet(analysis_dir / "analysis_table.parquet"))
    dictionary = pl.read_parquet(analysis_dir / "column_dictionary.parquet")
    covariates, _ = usable_covariates(table, dictionary, pl.col(outcome).is_not_null())
    spec = design_spec(cfg, "irm_att", covariates, table.columns)
    p = _prepare(table, outcome, "digital", covariates, spec)
    del table
    t0 = time.perf_counter()
    folds = person_folds(p.persons, cfg.estimation.n_folds, 1, cfg.estimation.seed)[0]
    e = cfg.estimation

    def clf():
        return make_learner(
            "lgbm",
            "classification",
            seed=e.seed,
            n_estimators=e.lgbm_n_estimators,
            n_threads=e.lgbm_num_threads,
        )

    m = np.clip(crossfit(clf, p.X, p.d, folds, proba=True), *e.trim)
    g0 = crossfit(clf, p.X, p.y, folds, fit_mask=p.d == 0, proba=True)
    att = float(np.sum(p.d * (p.y - g0) - m / (1 - m) * (1 - p.d) * (p.y - g0)) / np.sum(p.d))
    res = {
        "seconds": time.perf_counter() - t0,
        "rows": int(p.X.shape[0]),
        "covariates": int(p.X.shape[1]),
        "att": att,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }
    print("RESULT " + json.dumps(res))


def bare_crossfit(analysis_dir: Path, outcome: str) -> dict:
    cmd = [sys.executable, __file__, "--bare-crossfit", str(analysis_dir), "--outcome", outcome]
    p = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    for line in p.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[7:])
    return {"ok": False, "error": (p.stderr or p.stdout)[-300:].replace("\n", " ")}


def versions() -> str:
    import dagster
    import doubleml
    import duckdb
    import lightgbm
    import pandas
    import polars

    return (
        f"python {platform.python_version()}, dagster {dagster.__version__}, duckdb {duckdb.__version__}, "
        f"polars {polars.__version__}, pandas {pandas.__version__}, doubleml {doubleml.__version__}, "
        f"lightgbm {lightgbm.__version__}"
    )


def git_commit() -> str:
    try:
        return subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=ROOT
        ).stdout.strip()
    except OSError:
        return "?"


def bench_size(
    n: int, base: Path, memory: str, pandas_cap: float, env: dict, resume: bool = False, bare: bool = True
) -> dict:
    regdml = [sys.executable, "-m", "pipelines.cli"]
    delivery = base / "deliveries" / f"synthetic_{n}"
    rec: dict = {"persons": n, "memory": memory}
    if not delivery.is_dir():
        wall, sampler, rc = run_measured(
            [
                *regdml,
                "synth",
                "--persons",
                str(n),
                "--seed",
                "20200501",
                "--out",
                str(delivery),
                "--no-meetings-file",
            ],
            env,
            base / f"synth_{n}.log",
        )
        if rc != 0:
            raise SystemExit(f"synth {n} failed; see {base / f'synth_{n}.log'}")
        rec["synth"] = {"seconds": wall, "peak_gib": sampler.peak() / GiB}
    work = base / f"work_{n}"
    rec["resumed"] = resume and work.exists()
    if work.exists() and not resume:
        import shutil

        shutil.rmtree(work)
    cmd = [
        *regdml,
        "run",
        "--delivery",
        str(delivery),
        "--workdir",
        str(work),
        "--config",
        str(ROOT / "benchmarks" / "scale_config.yaml"),
        "--memory",
        memory,
    ]
    t_start = time.time()
    wall, sampler, rc = run_measured(cmd, env, base / f"run_{n}.log")
    rec["run"] = {
        "seconds": wall,
        "peak_gib": sampler.peak() / GiB,
        "exit_code": rc,
        "load_end": load_average() or 0.0,
    }
    steps = step_stats(work / "dagster_home")
    if rec["resumed"]:
        # end to end = every run in the instance (the first attempt's and this one's); memory was
        # sampled only in this invocation
        rec["earlier_attempt_seconds"] = sum(s["end"] - s["start"] for s in steps if s["end"] < t_start)
    for s in steps:
        s["seconds"] = s["end"] - s["start"]
        s["peak_gib"] = sampler.peak(s["start"], s["end"]) / GiB
    rec["steps"] = steps
    first_cell = min((s["start"] for s in steps if s["job"] == "regdml_estimation_cells"), default=None)
    rec["table_build_seconds"] = (first_cell - t_start) if first_cell else None
    run_dir = work / "runs" / delivery.name
    rec["pandas_spells"] = pandas_baseline(
        run_dir / "staging" / "dream.parquet", base / f"pandas_{n}", pandas_cap
    )
    rec["bare_crossfit"] = bare_crossfit(run_dir / "analysis", "y_exit_13w") if bare else {"skipped": True}
    import polars as pl

    rec["analysis_rows"] = (
        pl.scan_parquet(run_dir / "analysis" / "analysis_table.parquet").select(pl.len()).collect().item()
    )
    return rec


def step_label(s: dict) -> str:
    cell = s["partition"].split("|")[-1] if s["job"] == "regdml_estimation_cells" else ""
    return f"{s['step']} ({cell})" if cell else s["step"]


def markdown(results: list[dict], info: dict) -> str:
    L = [
        "# Benchmark: the whole pipeline at 100,000, 1,000,000 and 5,000,000 persons",
        "",
        "Written by `benchmarks/bench_scale.py` (see its docstring for what is measured and how). Goals (issue 8),",
        "on 2 cores: 1,000,000 persons end to end under 15 minutes with peak memory under 6 GB; 5,000,000",
        "persons complete with peak memory under 12 GB; time grows no faster than linearly in persons.",
        "",
        "- date (UTC) and code (commit): "
        + "; ".join(
            f"{r['persons']:,} persons {r.get('date', info['date'])}, {r.get('commit', info['commit'])}"
            for r in results
        ),
        f"- machine: {info['machine']}",
        f"- versions: {info['versions']}",
        "- estimation grid: `benchmarks/scale_config.yaml`: irm_att (with sensitivity analysis and group effects)",
        "  and naive for y_exit_13w (2 cells) and the permuted-treatment placebo (one more IRM-ATT fit);",
        "  LightGBM 200 trees, 1 thread, 5 person-grouped folds, 1 repetition (the plan's defaults)",
        "- memory: peak resident memory of the whole process tree (`regdml run` and its children), sampled",
        "  every 0.25 s; per step: the peak while that step ran (Python may keep memory a step freed, so a",
        "  step can show the peak of an earlier one)",
        "",
        "## End to end",
        "",
        "| persons | analysis rows | synth (s / GiB) | table build (s / peak GiB) | end to end (s) | peak (GiB) "
        "| s per 1,000 persons | memory setting | exit | load at end |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    notes = []
    for r in results:
        syn = r.get("synth")
        syn_s = f"{syn['seconds']:.0f} / {syn['peak_gib']:.2f}" if syn else "reused"
        tb = r.get("table_build_seconds")
        if r.get("resumed"):
            # the first attempt's steps ran before this invocation: add them to the table build and total
            earlier = r.get("earlier_attempt_seconds", 0.0)
            cells = [s["start"] for s in r["steps"] if s["job"] == "regdml_estimation_cells"]
            first_cell = min(cells) if cells else float("inf")
            # steps of this invocation are those with memory samples; the earlier part's have none
            t_resume = min((s["start"] for s in r["steps"] if s["peak_gib"] > 0), default=first_cell)
            this_prep = sum(
                s["seconds"]
                for s in r["steps"]
                if s["job"] == "regdml_prepare" and t_resume <= s["start"] < first_cell
            )
            tb = this_prep + earlier
            r = {**r, "run": {**r["run"], "seconds": r["run"]["seconds"] + earlier}}
            notes.append(
                f"{r['persons']:,} persons: run in two parts (a first attempt stopped in `meeting_covariates`, "
                f"which was fixed, then `--resume`): times add both parts ({earlier:.0f} s of steps before the "
                "resume); memory was sampled only in the second part (the first part's steps say so)."
            )
        tb_peak = max((s["peak_gib"] for s in r["steps"] if s["job"] == "regdml_prepare"), default=0.0)
        tb_s = f"{tb:.0f} / {tb_peak:.2f}" if tb is not None else ""
        L.append(
            f"| {r['persons']:,} | {r.get('analysis_rows', 0):,} | {syn_s} | {tb_s} | {r['run']['seconds']:.0f} "
            f"({r['run']['seconds'] / 60:.1f} min) | {r['run']['peak_gib']:.2f} | "
            f"{1000 * r['run']['seconds'] / r['persons']:.2f} | {r['memory']} | {r['run']['exit_code']} "
            f"| {r['run']['load_end']:.1f} |"
        )
    L += [""] + [f"Note: {n}" for n in notes]
    L += [
        "",
        "## Baselines",
        "",
        "| persons | step | pipeline (s / GiB) | baseline | baseline (s / GiB) | ratio |",
        "|---|---|---|---|---|---|",
    ]
    for r in results:
        steps = {s["step"]: s for s in r["steps"]}
        sp = steps.get("benefit_spells")
        pb = r["pandas_spells"]
        if sp:
            base_txt = (
                f"{pb['seconds']:.1f} / {pb['peak_rss_mb'] / 1024:.2f}"
                if pb.get("ok")
                else f"failed: {pb.get('error', '')[:120]}"
            )
            ratio = f"{pb['seconds'] / sp['seconds']:.1f}x" if pb.get("ok") else "n/a"
            sp_peak = f"{sp['peak_gib']:.2f}" if sp["peak_gib"] > 0 else "not sampled"
            L.append(
                f"| {r['persons']:,} | DREAM to spells (`benefit_spells`) | {sp['seconds']:.1f} / {sp_peak} "
                f"| plain pandas melt/groupby (cap {info['pandas_cap']:.0f} GiB) | {base_txt} | {ratio} |"
            )
        cells = [
            s
            for s in r["steps"]
            if s["job"] == "regdml_estimation_cells" and "y_exit_13w__irm_att" in s["partition"]
        ]
        bc = r["bare_crossfit"]
        if cells and "seconds" in bc:
            c = cells[0]
            L.append(
                f"| {r['persons']:,} | estimation cell y_exit_13w x irm_att | {c['seconds']:.1f} / {c['peak_gib']:.2f} "
                f"| bare LightGBM cross-fit (10 fits, {bc['rows']:,} x {bc['covariates']}) | {bc['seconds']:.1f} / "
                f"{bc['peak_rss_mb'] / 1024:.2f} | {c['seconds'] / bc['seconds']:.2f}x |"
            )
    L += ["", "## Every step", ""]
    for r in results:
        L += [
            f"### {r['persons']:,} persons",
            "",
            "| job | step | seconds | peak GiB while it ran |",
            "|---|---|---|---|",
        ]
        for s in r["steps"]:
            peak = f"{s['peak_gib']:.2f}" if s["peak_gib"] > 0 else "not sampled"
            L.append(f"| {s['job'].replace('regdml_', '')} | {step_label(s)} | {s['seconds']:.1f} | {peak} |")
        L.append("")
    return "\n".join(L) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="100000,1000000,5000000")
    ap.add_argument("--base", type=Path, default=Path("scale-bench"))
    ap.add_argument("--memory", default="4GB", help="REGDML_MEMORY for the runs")
    ap.add_argument(
        "--pandas-cap", type=float, default=18.0, help="resident-memory cap (GiB) of the pandas run"
    )
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "scale.md")
    ap.add_argument("--json", type=Path, default=None, help="also write the raw results here")
    ap.add_argument("--render", action="store_true", help="only rewrite --out from the base folder's results")
    ap.add_argument(
        "--resume", action="store_true", help="keep an existing work folder (finish a failed run)"
    )
    ap.add_argument("--skip-bare-crossfit", action="store_true", help="do not run the LightGBM baseline")
    ap.add_argument("--bare-crossfit", type=Path, default=None, help=argparse.SUPPRESS)
    ap.add_argument("--outcome", default="y_exit_13w", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.bare_crossfit:
        bare_crossfit_child(args.bare_crossfit, args.outcome)
        return
    args.base.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "REGDML_LOG_LEVEL": "ERROR", "DAGSTER_DISABLE_TELEMETRY": "1"}
    env.pop("DAGSTER_HOME", None)
    info = {
        "date": f"{dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M}",
        "commit": git_commit(),
        "machine": f"{platform.platform()}, {os.cpu_count()} CPUs, {psutil.virtual_memory().total / GiB:.1f} GiB",
        "versions": versions(),
        "pandas_cap": args.pandas_cap,
    }
    # Sizes measured by an earlier invocation on the same base folder are kept (a size measured again
    # replaces its row), so the sizes can be run one at a time.
    raw = args.json or args.base / "scale_results.json"
    results = json.loads(raw.read_text(encoding="utf-8")) if raw.exists() else []
    if args.render:
        text = markdown(results, info)
        # keep a hand-written "## Result against the goals" section of the existing note
        old = args.out.read_text(encoding="utf-8") if args.out.exists() else ""
        if KEEP_SECTION in old and KEEP_BEFORE in old and KEEP_BEFORE in text:
            kept = old[old.index(KEEP_SECTION) : old.index(KEEP_BEFORE)]
            text = text.replace(KEEP_BEFORE, kept + KEEP_BEFORE, 1)
        args.out.write_text(text, encoding="utf-8")
        return
    for n in [int(x) for x in args.sizes.split(",")]:
        rec = bench_size(
            n,
            args.base,
            args.memory,
            args.pandas_cap,
            env,
            resume=args.resume,
            bare=not args.skip_bare_crossfit,
        )
        rec["date"], rec["commit"] = info["date"], info["commit"]
        results = sorted([r for r in results if r["persons"] != n] + [rec], key=lambda r: r["persons"])
        raw.write_text(json.dumps(results, indent=1, default=str), encoding="utf-8")
        args.out.write_text(markdown(results, info), encoding="utf-8")
        print(
            f"{n:,} persons: {rec['run']['seconds']:.0f} s, peak {rec['run']['peak_gib']:.2f} GiB", flush=True
        )


if __name__ == "__main__":
    main()
