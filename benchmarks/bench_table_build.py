"""The whole table build (delivery -> analysis table) at register scale, through Dagster (not a test).

Generates a synthetic delivery of N persons (kept under ``--base`` for reuse), then times
``regdml run --until analysis`` in a subprocess while a thread samples the resident memory of its whole
process tree every 0.25 s (``_portable.run_measured``), and attributes time and peak memory to every
Dagster step (steps run one after another in one process), summed into staging, DREAM to spells
(``benefit_weeks``, ``benefit_spells``) and the rest of the table build. Writes a Markdown report (default
``<base>/table_build_<delivery name>.md``; the curated note ``benchmarks/table_build.md`` is edited by hand) and
the same numbers as JSON beside it.

DREAM as DST delivers it (issue 16): ``--dream-from 1991`` writes the weeks from 1991-W30 and grad from
2008-01 (1,641 week and 180 grad columns at 1,000,000 persons); ``--format sas7bdat`` writes every
register as ``.sas7bdat`` (the same data for the same seed), so staging reads SAS files in chunks::

    .venv/bin/python benchmarks/bench_table_build.py --persons 1000000 --dream-from 1991 --base /tmp/tb
    .venv/bin/python benchmarks/bench_table_build.py --persons 1000000 --dream-from 1991 --format sas7bdat \\
        --base /tmp/tb
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import subprocess
import sys
import tempfile
from pathlib import Path

import psutil
from _portable import load_average, run_measured

ROOT = Path(__file__).resolve().parents[1]
GiB = 2**30
STAGING_EXTRA = ("registers_duckdb", "befolkning_kommune", "delivery_manifest")
SPELL_STEPS = ("benefit_weeks", "benefit_spells")
GOAL_SECONDS = 360
GOAL_PEAK_GIB = 4.0 * 1e9 / GiB  # 4 GB


def registers() -> tuple[str, ...]:
    sys.path.insert(0, str(ROOT))
    from data_contracts.config import REGISTERS

    return tuple(REGISTERS)


def step_category(key: str, regs: tuple[str, ...]) -> str:
    """``staging`` (reading, checking and staging a register), ``spells`` (DREAM to spells) or ``table``."""
    k = key.replace("__", "_")
    names = (*regs, *STAGING_EXTRA)
    if k.startswith("raw") or any(k == r or k.startswith(f"{r}_") for r in names):
        return "staging"
    if k.startswith(SPELL_STEPS):
        return "spells"
    return "table"


def step_stats(dagster_home: Path) -> list[dict]:
    """Every step of every run in the instance: job, step key, start and end (epoch seconds)."""
    import dagster as dg

    os.environ["DAGSTER_HOME"] = str(dagster_home)
    instance = dg.DagsterInstance.get()
    out = []
    for run in instance.get_runs():
        for s in instance.get_run_step_stats(run.run_id):
            if s.start_time and s.end_time:
                out.append(
                    {"job": run.job_name, "step": s.step_key, "start": s.start_time, "end": s.end_time}
                )
    return sorted(out, key=lambda r: r["start"])


def git_commit() -> str:
    try:
        return subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=ROOT
        ).stdout.strip()
    except OSError:
        return "?"


def delivery_name(persons: int, dream_from: int | None, lag: int, fmt: str) -> str:
    name = f"synthetic_{persons}"
    if dream_from is not None:
        name += f"_dream{dream_from}"
    if lag:
        name += f"_lag{lag}"
    if fmt != "parquet":
        name += f"_{fmt}"
    return name


def dream_width(delivery: Path) -> tuple[int, int]:
    """(week columns, grad columns) of the delivered DREAM file."""
    path = next(delivery.glob("dream.*"))
    if path.suffix == ".sas7bdat":
        import pyreadstat

        names = pyreadstat.read_sas7bdat(str(path), metadataonly=True)[1].column_names
    else:
        import pyarrow.parquet as pq

        names = pq.read_schema(path).names
    return sum(c.startswith("y_") for c in names), sum(c.startswith("grad_") for c in names)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--persons", type=int, default=1_000_000)
    ap.add_argument("--seed", type=int, default=20200501)
    ap.add_argument("--base", type=Path, default=None, help="folder for the deliveries, work data and report")
    ap.add_argument(
        "--out", type=Path, default=None, help="report (default <base>/table_build_<delivery>.md)"
    )
    ap.add_argument("--dream-from", type=int, default=None, help="regdml synth --dream-from (e.g. 1991)")
    ap.add_argument("--grad-lag-months", type=int, default=0, help="regdml synth --grad-lag-months")
    ap.add_argument(
        "--format", dest="fmt", choices=("parquet", "sas7bdat"), default="parquet", help="delivery format"
    )
    args = ap.parse_args()
    base = (args.base or Path(tempfile.mkdtemp(prefix="regdml-tablebuild-"))).resolve()
    base.mkdir(parents=True, exist_ok=True)
    name = delivery_name(args.persons, args.dream_from, args.grad_lag_months, args.fmt)
    out = args.out or base / f"table_build_{name}.md"
    delivery = base / "deliveries" / name
    regdml = [sys.executable, "-m", "pipelines.cli"]
    env = {**os.environ, "REGDML_LOG_LEVEL": "ERROR", "PYTHONPATH": str(ROOT)}
    env.pop("DAGSTER_HOME", None)
    synth_cmd = [
        *regdml,
        "synth",
        "--persons",
        str(args.persons),
        "--seed",
        str(args.seed),
        "--out",
        str(delivery),
        "--no-meetings-file",
        "--format",
        args.fmt,
        "--grad-lag-months",
        str(args.grad_lag_months),
    ]
    if args.dream_from is not None:
        synth_cmd += ["--dream-from", str(args.dream_from)]
    synth_time = synth_peak = None
    if not delivery.is_dir():
        synth_time, sampler, rc = run_measured(synth_cmd, env, base / f"synth_{name}.log")
        assert rc == 0, f"synth failed; see {base / f'synth_{name}.log'}"
        synth_peak = sampler.peak() / GiB
    n_weeks, n_grad = dream_width(delivery)
    delivery_bytes = sum(p.stat().st_size for p in delivery.iterdir())
    work = base / f"work_{name}"
    if work.exists():
        import shutil

        shutil.rmtree(work)
    run_log = base / f"run_{name}.log"
    wall, sampler, rc = run_measured(
        [*regdml, "run", "--delivery", str(delivery), "--workdir", str(work), "--until", "analysis"],
        env,
        run_log,
    )
    peak = sampler.peak() / GiB
    print(run_log.read_text(encoding="utf-8", errors="replace")[-3000:])
    regs = registers()
    steps = step_stats(work / "dagster_home")
    for s in steps:
        s["seconds"] = s["end"] - s["start"]
        s["peak_gib"] = sampler.peak(s["start"], s["end"]) / GiB
        s["category"] = step_category(s["step"], regs)
    totals = {}
    for cat in ("staging", "spells", "table"):
        sel = [s for s in steps if s["category"] == cat]
        totals[cat] = {
            "seconds": sum(s["seconds"] for s in sel),
            "peak_gib": max((s["peak_gib"] for s in sel), default=0.0),
        }
    import dagster
    import duckdb
    import polars as pl
    import pyarrow
    import pyreadstat

    info = {
        "date": f"{dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M}",
        "commit": git_commit(),
        "load_average_end": load_average(),
        "machine": f"{platform.platform()}, {os.cpu_count()} CPUs, {psutil.virtual_memory().total / GiB:.1f} GiB",
        "versions": f"python {platform.python_version()}, dagster {dagster.__version__}, duckdb "
        f"{duckdb.__version__}, polars {pl.__version__}, pyarrow {pyarrow.__version__}, pyreadstat "
        f"{pyreadstat.__version__}",
        "memory_setting": os.environ.get("REGDML_MEMORY", "4GB (default)"),
        "duckdb_memory": os.environ.get("REGDML_DUCKDB_MEMORY", ""),
    }
    record = {
        "persons": args.persons,
        "format": args.fmt,
        "dream_from": args.dream_from,
        "grad_lag_months": args.grad_lag_months,
        "dream_week_columns": n_weeks,
        "dream_grad_columns": n_grad,
        "delivery_bytes": delivery_bytes,
        "synth": {"command": " ".join(synth_cmd[3:]), "seconds": synth_time, "peak_gib": synth_peak},
        "run": {
            "exit_code": rc,
            "seconds": wall,
            "peak_gib": peak,
            "cpu_seconds": sampler.cpu_seconds,
            "mean_load": sampler.mean_load(),
        },
        "totals": totals,
        "steps": steps,
        "info": info,
    }
    out.with_suffix(".json").write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    met_t = ("met" if wall < GOAL_SECONDS else "missed") if rc == 0 else f"run failed (exit code {rc})"
    met_m = ("met" if peak < GOAL_PEAK_GIB else "missed") if rc == 0 else f"run failed (exit code {rc})"
    lines = [
        f"# Benchmark: the whole table build at {args.persons:,} persons ({args.fmt}, DREAM "
        f"{n_weeks:,} weeks x {n_grad} grad months)",
        "",
        f"- date (UTC): {info['date']}; code: commit {info['commit']}; 1-minute load average at the end: "
        f"{info['load_average_end']}",
        f"- machine: {info['machine']}",
        f"- versions: {info['versions']}",
        f"- delivery: `regdml {record['synth']['command']}` ({delivery_bytes / 1e9:.2f} GB on disk)"
        + (
            f", generated in {synth_time:.0f} s, peak {synth_peak:.2f} GiB"
            if synth_time is not None
            else ", reused"
        ),
        f"- command: `regdml run --delivery <that delivery> --until analysis` (REGDML_MEMORY="
        f"{info['memory_setting']}"
        + (f", REGDML_DUCKDB_MEMORY={info['duckdb_memory']}" if info["duckdb_memory"] else "")
        + ", 2 threads); fresh work folder",
        f"- exit code {rc}; CPU time of the run (user + system, whole process tree): {sampler.cpu_seconds} s; "
        f"mean 1-minute load average while it ran: {sampler.mean_load()} (2 cores: above 2, the wall time is "
        "inflated by other work)",
        "- memory: resident memory of the whole process tree, sampled every 0.25 s; per step the peak while it "
        "ran (a step can show memory an earlier step left allocated)",
        "",
        "| measure | value | goal |",
        "|---|---|---|",
        f"| wall time, delivery to analysis table (staging included) | {wall:.0f} s ({wall / 60:.1f} min) | "
        f"under {GOAL_SECONDS // 60} min: {met_t} |",
        f"| peak memory (RSS of the process tree) | {peak:.2f} GiB | under 4 GB ({GOAL_PEAK_GIB:.2f} GiB): "
        f"{met_m} |",
        f"| staging (reading, checking, writing every register) | {totals['staging']['seconds']:.0f} s, "
        f"peak {totals['staging']['peak_gib']:.2f} GiB | flat memory |",
        f"| DREAM to spells (benefit_weeks, benefit_spells) | {totals['spells']['seconds']:.0f} s, peak "
        f"{totals['spells']['peak_gib']:.2f} GiB | |",
        f"| rest of the table build | {totals['table']['seconds']:.0f} s, peak "
        f"{totals['table']['peak_gib']:.2f} GiB | |",
        "",
        "| step | part | seconds | peak GiB while it ran |",
        "|---|---|---|---|",
    ]
    lines += [
        f"| {s['step']} | {s['category']} | {s['seconds']:.1f} | "
        + (f"{s['peak_gib']:.2f} |" if s["peak_gib"] > 0 else "not sampled |")
        for s in sorted(steps, key=lambda r: -r["seconds"])
    ]
    out.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print("\n".join(lines))
    print(f"report: {out} (and {out.with_suffix('.json')})")


if __name__ == "__main__":
    main()
