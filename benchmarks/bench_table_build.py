"""The whole table build (delivery -> analysis table) at register scale, through Dagster (not a test).

Generates a synthetic delivery of N persons (kept for reuse with --keep), then times
``regdml run --until analysis`` in a subprocess, polling the peak RSS of its process tree, and reads each
step's duration from the Dagster instance. Writes ``benchmarks/table_build.md``.

    .venv/bin/python benchmarks/bench_table_build.py --persons 1000000
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import sys
import tempfile
from pathlib import Path

import psutil
from _portable import load_average, run_measured

ROOT = Path(__file__).resolve().parents[1]


def step_times(dagster_home: Path) -> list[tuple[str, float]]:
    import dagster as dg

    os.environ["DAGSTER_HOME"] = str(dagster_home)
    instance = dg.DagsterInstance.get()
    runs = instance.get_runs(limit=5)
    out = []
    for run in runs:
        if run.job_name != "regdml_prepare":
            continue
        for s in instance.get_run_step_stats(run.run_id):
            if s.end_time and s.start_time:
                out.append((s.step_key, s.end_time - s.start_time))
    return sorted(out, key=lambda x: -x[1])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--persons", type=int, default=1_000_000)
    ap.add_argument("--seed", type=int, default=20200501)
    ap.add_argument("--base", type=Path, default=None, help="folder for the delivery and work data")
    ap.add_argument("--out", type=Path, default=Path(__file__).with_name("table_build.md"))
    args = ap.parse_args()
    base = args.base or Path(tempfile.mkdtemp(prefix="regdml-tablebuild-"))
    delivery = base / "deliveries" / f"synthetic_{args.persons}"
    regdml = [sys.executable, "-m", "pipelines.cli"]
    env = {**os.environ, "REGDML_LOG_LEVEL": "ERROR"}
    env.pop("DAGSTER_HOME", None)
    synth_time = synth_peak = None
    if not delivery.is_dir():
        synth_time, synth_peak, rc = run_measured(
            [
                *regdml,
                "synth",
                "--persons",
                str(args.persons),
                "--seed",
                str(args.seed),
                "--out",
                str(delivery),
                "--no-meetings-file",
            ],
            env,
            base / "synth.log",
        )
        assert rc == 0, f"synth failed; see {base / 'synth.log'}"
        synth_peak = synth_peak.peak() / 2**30
    work = base / "work"
    wall, sampler, rc = run_measured(
        [*regdml, "run", "--delivery", str(delivery), "--workdir", str(work), "--until", "analysis"],
        env,
        base / "run.log",
    )
    peak = sampler.peak() / 2**30
    print((base / "run.log").read_text(encoding="utf-8", errors="replace")[-3000:])
    steps = step_times(work / "dagster_home") if rc == 0 else []
    import dagster
    import duckdb
    import polars as pl

    lines = [
        f"# Benchmark: the whole table build at {args.persons:,} persons",
        "",
        f"- date (UTC): {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M}; 1-minute load average at the end: {load_average()}",
        f"- machine: {platform.platform()}, {os.cpu_count()} CPUs, {psutil.virtual_memory().total / 2**30:.1f} GiB",
        f"- versions: python {platform.python_version()}, dagster {dagster.__version__}, duckdb {duckdb.__version__}, polars {pl.__version__}",
        f"- command: `regdml run --delivery <{args.persons:,}-person synthetic delivery> --until analysis` "
        f"(REGDML_MEMORY={os.environ.get('REGDML_MEMORY', '4GB')}"
        + (
            f", REGDML_DUCKDB_MEMORY={os.environ['REGDML_DUCKDB_MEMORY']}"
            if os.environ.get("REGDML_DUCKDB_MEMORY")
            else ""
        )
        + ", 2 threads)",
        f"- synthetic delivery generated in {synth_time:.0f} s, peak {synth_peak:.2f} GiB"
        if synth_time
        else "- delivery reused",
        f"- exit code {rc}",
        "",
        "| measure | value | goal |",
        "|---|---|---|",
        f"| wall time, delivery to analysis table | {wall:.0f} s ({wall / 60:.1f} min) | under 3 min |",
        f"| peak memory (RSS of the process tree) | {peak:.2f} GiB | under 4 GB |",
        "",
        "Slowest steps (from the Dagster instance):",
        "",
        "| step | seconds |",
        "|---|---|",
    ]
    lines += [f"| {k} | {v:.1f} |" for k, v in steps[:12]]
    args.out.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
