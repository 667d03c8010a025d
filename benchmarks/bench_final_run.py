"""A final run's estimation grid with shared nuisance fits against the per-cell path (issue 22, not a test).

Written in session 6 and not run yet at any size: the first run should be a small one (a few thousand
persons) to check the script before the 100,000- and 1,000,000-person runs the issue asks for.

Generates a synthetic delivery of N persons (kept under ``--base`` for reuse), builds its analysis table
once (``regdml run --until analysis``), then runs the estimation grid of the default configuration with
``n_reps`` repetitions (``final: true`` from 5 on) twice, each from a fresh copy of the built work folder:

- **shared**: the defaults: ``estimation.share_fits: true`` (every distinct nuisance fitted once per
  repetition and fold, docs/estimation.md "Shared nuisance fits"), ``propensity_rows: unit`` (one
  propensity for every outcome) and as many cells side by side as the cores and memory hold
  (``REGDML_CELLS`` unset), the whole grid;
- **per cell**: the path before issue 22: ``share_fits: false`` (every cell fits its own nuisances),
  ``propensity_rows: outcome`` and one cell at a time (``REGDML_CELLS=1``), on the whole grid or, with
  ``--per-cell-outcomes K``, on the first K outcomes only (every design), the grid's time then scaled by
  the ratio of cells, and the record says so. Its CPU time shows what sharing saves apart from running
  cells side by side.

Each run is ``regdml run --until estimation`` in a subprocess with the resident memory of its whole process
tree sampled every 0.25 s, its CPU time and the mean load (``_portable.run_measured``). Writes a Markdown
record and JSON under ``--base``; the curated note is ``benchmarks/final_run.md``::

    .venv/bin/python benchmarks/bench_final_run.py --persons 100000 --base /tmp/fr
    .venv/bin/python benchmarks/bench_final_run.py --persons 1000000 --base /tmp/fr --per-cell-outcomes y_exit_13w,weeks_selfsupport_52w
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import shutil
import subprocess
import sys
from pathlib import Path

import psutil
import yaml
from _portable import load_average, run_measured

ROOT = Path(__file__).resolve().parents[1]
GiB = 2**30
GOAL_MINUTES_1M = 60
GOAL_SPEEDUP = 2.5


def git_commit() -> str:
    try:
        return subprocess.run(
            ["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def write_config(path: Path, share: bool, reps: int, outcomes: list[str] | None) -> dict:
    """The default configuration with a final run of ``reps`` repetitions, sharing on or off."""
    cfg = yaml.safe_load((ROOT / "data_contracts" / "default_config.yaml").read_text(encoding="utf-8"))
    est = cfg["estimation"]
    est.update(
        {
            "n_reps": reps,
            # a final run needs at least 5 repetitions; fewer (e.g. one, to time an exploratory grid) is not one
            "final": reps >= 5,
            "share_fits": share,
            "propensity_rows": "unit" if share else "outcome",
        }
    )
    if outcomes is not None:
        est["primary_outcomes"] = [o for o in est["primary_outcomes"] if o in outcomes]
        est["placebo_outcomes"] = [o for o in est["placebo_outcomes"] if o in outcomes]
    path.write_text(yaml.safe_dump(cfg, sort_keys=False), encoding="utf-8")
    return est


def n_cells(est: dict) -> int:
    return (len(est["primary_outcomes"]) + len(est["placebo_outcomes"])) * len(est["designs"])


def per_cell_subset(spec: str, all_outcomes: list[str]) -> list[str]:
    """The outcomes of ``--per-cell-outcomes``: the first K, or the named ones (each must be in the grid)."""
    if spec.isdigit():
        return all_outcomes[: int(spec)]
    names = [s.strip() for s in spec.split(",") if s.strip()]
    unknown = [n for n in names if n not in all_outcomes]
    if unknown:
        raise SystemExit(f"--per-cell-outcomes: {unknown} not among the grid's outcomes {all_outcomes}")
    return names


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--persons", type=int, default=100_000)
    ap.add_argument("--seed", type=int, default=20200501)
    ap.add_argument("--world", default="realistic", choices=["realistic", "easy", "confounded"])
    ap.add_argument("--reps", type=int, default=5, help="repetitions of the sample split (a final run: >= 5)")
    ap.add_argument(
        "--base", type=Path, required=True, help="folder for the delivery, work folders and report"
    )
    ap.add_argument(
        "--per-cell-outcomes",
        default=None,
        help="run the per-cell path on some outcomes only (every design) and scale by cells: the first K "
        "(an integer) or named ones (comma-separated; the first outcome is among the cheapest, so a subset "
        "of cheap and dear outcomes scales more fairly)",
    )
    ap.add_argument("--skip", choices=["shared", "per_cell"], default=None, help="run one path only")
    args = ap.parse_args(argv)
    base = args.base.resolve()
    base.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    regdml = [sys.executable, "-m", "pipelines.cli"]
    name = f"synthetic_{args.persons}_{args.world}"
    delivery = base / "deliveries" / name
    if not delivery.is_dir():
        cmd = [*regdml, "synth", "--persons", str(args.persons), "--seed", str(args.seed), "--world", args.world,
               "--out", str(delivery)]  # fmt: skip
        _, _, rc = run_measured(cmd, env, base / f"synth_{name}.log")
        if rc != 0:
            print(f"synth failed; see {base / f'synth_{name}.log'}", file=sys.stderr)
            return 1
    built = base / f"built_{name}"
    table_seconds = None
    if not (built / ".complete").exists():
        shutil.rmtree(built, ignore_errors=True)
        table_seconds, _, rc = run_measured(
            [*regdml, "run", "--delivery", str(delivery), "--workdir", str(built), "--until", "analysis"],
            env,
            base / f"table_{name}.log",
        )
        if rc != 0:
            print(f"table build failed; see {base / f'table_{name}.log'}", file=sys.stderr)
            return 1
        (built / ".complete").write_text("", encoding="utf-8")

    full = yaml.safe_load((ROOT / "data_contracts" / "default_config.yaml").read_text(encoding="utf-8"))[
        "estimation"
    ]
    all_outcomes = list(full["primary_outcomes"]) + list(full["placebo_outcomes"])
    results: dict[str, dict] = {}
    for path in ("shared", "per_cell"):
        if args.skip == path:
            continue
        subset = None
        if path == "per_cell" and args.per_cell_outcomes:
            subset = per_cell_subset(args.per_cell_outcomes, all_outcomes)
        work = base / f"work_{name}_{path}"
        shutil.rmtree(work, ignore_errors=True)
        shutil.copytree(built, work)
        cfg_path = base / f"config_{path}.yaml"
        est = write_config(cfg_path, share=(path == "shared"), reps=args.reps, outcomes=subset)
        log = base / f"run_{name}_{path}.log"
        cmd = [*regdml, "run", "--delivery", str(delivery), "--workdir", str(work), "--config", str(cfg_path),
               "--until", "estimation", *(["--final"] if args.reps >= 5 else [])]  # fmt: skip
        path_env = {k: v for k, v in env.items() if k != "REGDML_CELLS"}
        if path == "per_cell":
            path_env["REGDML_CELLS"] = "1"
        wall, sampler, rc = run_measured(cmd, path_env, log)
        cells = n_cells(est)
        results[path] = {
            "exit_code": rc,
            "cells": cells,
            "outcomes": subset or all_outcomes,
            "seconds": round(wall, 1),
            "cpu_seconds": sampler.cpu_seconds,
            "peak_gib": round(sampler.peak() / GiB, 2),
            "mean_load": sampler.mean_load(),
            "seconds_per_cell": round(wall / cells, 1),
            "grid_seconds": round(wall * n_cells(full) / cells, 1),
            "scaled": cells != n_cells(full),
        }
        print(f"{path}: exit {rc}, {wall:.0f} s for {cells} cells (log {log})", flush=True)
        if rc != 0:
            print(log.read_text(encoding="utf-8", errors="replace")[-2000:])

    import dagster
    import doubleml
    import lightgbm
    import sklearn

    info = {
        "date": f"{dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M}",
        "commit": git_commit(),
        "load_average_end": load_average(),
        "machine": f"{platform.platform()}, {os.cpu_count()} CPUs, {psutil.virtual_memory().total / GiB:.1f} GiB",
        "versions": f"python {platform.python_version()}, dagster {dagster.__version__}, doubleml "
        f"{doubleml.__version__}, lightgbm {lightgbm.__version__}, scikit-learn {sklearn.__version__}",
    }
    record = {"persons": args.persons, "world": args.world, "reps": args.reps, "grid_cells": n_cells(full),
              "designs": full["designs"], "learner": full["learner"], "table_seconds": table_seconds,
              "results": results, "info": info}  # fmt: skip
    out = base / f"final_run_{name}.md"
    out.with_suffix(".json").write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    lines = [
        f"# Benchmark: a final run's estimation grid at {args.persons:,} persons ({args.world} world)",
        "",
        f"- date (UTC): {info['date']}; code: commit {info['commit']}; load average at the end: "
        f"{info['load_average_end']}",
        f"- machine: {info['machine']}",
        f"- versions: {info['versions']}",
        f"- grid: {n_cells(full)} cells ({len(all_outcomes)} outcomes x {len(full['designs'])} designs), learner "
        f"`{full['learner']}`, {args.reps} repetitions, `final: {str(args.reps >= 5).lower()}`; `regdml run --until estimation` from a "
        "copy of the built analysis table",
        "",
        "| path | cells run | wall s | CPU s | peak GiB | mean load | s per cell | whole grid (s) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for path, r in results.items():
        grid = f"{r['grid_seconds']:.0f}" + (" (scaled from the cells run)" if r["scaled"] else "")
        lines.append(
            f"| {path} | {r['cells']} | {r['seconds']:.0f} | {r['cpu_seconds']} | {r['peak_gib']:.2f} | "
            f"{r['mean_load']} | {r['seconds_per_cell']:.1f} | {grid} |"
        )
    if "shared" in results and "per_cell" in results:
        speed = results["per_cell"]["grid_seconds"] / results["shared"]["grid_seconds"]
        cpu_speed = (
            (results["per_cell"]["cpu_seconds"] or 0)
            * n_cells(full)
            / results["per_cell"]["cells"]
            / max(results["shared"]["cpu_seconds"] or 1, 1)
        )
        lines += [
            "",
            f"Speed-up of sharing: {speed:.2f}x in wall time, {cpu_speed:.2f}x in CPU time "
            f"(goal at least {GOAL_SPEEDUP}x).",
        ]
        record["speedup_wall"] = round(speed, 2)
        record["speedup_cpu"] = round(cpu_speed, 2)
        out.with_suffix(".json").write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    out.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print("\n".join(lines))
    return 0 if all(r["exit_code"] == 0 for r in results.values()) else 1


if __name__ == "__main__":
    raise SystemExit(main())
