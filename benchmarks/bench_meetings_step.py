"""The ``meetings`` step of the table build alone (``assets.treatment.logic.build_meetings``; issue 22).

Runs ``build_meetings`` on a staged work folder (the ``runs/<delivery>`` folder of ``regdml run``: its
``staging/samtaler``, ``staging/kontaktform_validering``, ``staging/bef``, ``cohort/benefit_weeks`` and
``cohort/benefit_spells``) in a fresh child process with the pipeline's DuckDB settings for a memory
budget (``RegdmlResource.duckdb_settings``: 60% of the budget, 2 threads, spill folder, no insertion order),
and records wall time, the CPU time of the child and the peak resident memory of its process tree (sampled
every 0.25 s, ``_portable.run_measured``) and the mean load while it ran. Appends one JSON line per run to
``--record``.

A larger input without generating a delivery: ``replicate`` writes the five inputs of a work folder N
times over, each copy's pnr (and spell_id) with its own one-character suffix, so the copies are distinct
persons with the same meetings and benefit histories (the step's inputs are replicated, not generated)::

    python benchmarks/bench_meetings_step.py run --work W1M/runs/d1m --out /tmp/m1m --label 1M
    python benchmarks/bench_meetings_step.py replicate --work W1M/runs/d1m --times 5 --to /tmp/w5m
    python benchmarks/bench_meetings_step.py run --work /tmp/w5m --out /tmp/m5m --label 5M-replicated
    python benchmarks/bench_meetings_step.py compare /tmp/m5m /tmp/m5m_before

``compare`` checks that two output folders hold the same rows (as multisets, every column) in
``meetings.parquet``, ``eligible_meetings.parquet`` and ``sample_flow.parquet``.
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
import time
from pathlib import Path

from _portable import load_average, run_measured

ROOT = Path(__file__).resolve().parents[1]
GiB = 2**30
OUTPUTS = ("meetings.parquet", "eligible_meetings.parquet", "sample_flow.parquet")
# the step's inputs, relative to a work folder, and the person columns a replica suffixes
INPUTS = {
    "staging/samtaler.parquet": ("pnr",),
    "staging/kontaktform_validering.parquet": (),
    "staging/bef.parquet": ("pnr",),
    "cohort/benefit_weeks.parquet": ("pnr",),
    "cohort/benefit_spells.parquet": ("pnr", "spell_id"),
}


def _settings(memory: str, folder: Path) -> dict[str, str | int]:
    """The pipeline's DuckDB settings for a memory budget, spilling to ``folder/tmp``."""
    sys.path.insert(0, str(ROOT))
    from assets.resources import RegdmlResource, RunPaths

    return RegdmlResource(memory_limit=memory).duckdb_settings(RunPaths(delivery_dir=folder, work_dir=folder))


def child(work: Path, out: Path, memory: str, block: int | None) -> None:
    """Run the step once in this process and print its result as one JSON line."""
    sys.path.insert(0, str(ROOT))
    from assets.treatment.logic import build_meetings
    from data_contracts.config import load_config

    settings = _settings(memory, out)
    cfg = load_config()
    t0 = time.monotonic()
    res = build_meetings(
        work / "staging/samtaler.parquet",
        work / "staging/kontaktform_validering.parquet",
        work / "cohort/benefit_weeks.parquet",
        work / "cohort/benefit_spells.parquet",
        work / "staging/bef.parquet",
        out,
        cfg,
        cfg.codebook_obj(),
        settings,
        **({"max_block_meetings": block} if block else {}),
    )
    wall = time.monotonic() - t0
    shutil.rmtree(out / "tmp", ignore_errors=True)
    print(
        json.dumps(
            {
                "step_seconds": round(wall, 2),
                "n_meetings": res["n_meetings"],
                "n_eligible": res["n_eligible"],
                "n_blocks": res.get("n_blocks"),
                "duckdb_memory_limit": settings["memory_limit"],
                "duckdb_threads": settings["threads"],
            }
        )
    )


def git_commit() -> str:
    r = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=ROOT)
    return r.stdout.strip() or "unknown"


def run(work: Path, out: Path, memory: str, label: str, record: Path | None, block: int | None) -> dict:
    out.mkdir(parents=True, exist_ok=True)
    log = out / "bench.log"
    cmd = [sys.executable, str(Path(__file__).resolve()), "child", "--work", str(work), "--out", str(out)]
    cmd += ["--memory", memory, *(["--max-block-meetings", str(block)] if block else [])]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    load0 = load_average()
    wall, sampler, rc = run_measured(cmd, env, log)
    lines = [ln for ln in log.read_text().splitlines() if ln.startswith("{")]
    if rc != 0 or not lines:
        raise SystemExit(f"bench_meetings_step: the step failed (exit {rc}); see {log}")
    child_res = json.loads(lines[-1])
    rec = {
        "label": label,
        "work": str(work),
        "date_utc": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M"),
        "commit": git_commit(),
        "machine": f"{platform.platform()}, {os.cpu_count()} CPUs",
        "memory_budget": memory,
        "max_block_meetings": block or "default",
        **child_res,
        "process_wall_seconds": round(wall, 1),
        "cpu_seconds": sampler.cpu_seconds,
        "peak_rss_gib": round(sampler.peak() / GiB, 2),
        "load_at_start": load0,
        "mean_load": sampler.mean_load(),
    }
    print(json.dumps(rec))
    if record is not None:
        with record.open("a") as fh:
            fh.write(json.dumps(rec) + "\n")
    return rec


def replicate(work: Path, times: int, to: Path, memory: str) -> None:
    """Write the step's inputs ``times`` times over under ``to`` (pnr suffixed 0..times-1 per copy)."""
    sys.path.insert(0, str(ROOT))
    from assets.io import connect, sql_path

    if times < 1 or times > 10:
        raise SystemExit(f"replicate: --times must be 1..10, got {times}")
    con = connect(_settings(memory, to))
    try:
        for rel, person_cols in INPUTS.items():
            src, dst = work / rel, to / rel
            dst.parent.mkdir(parents=True, exist_ok=True)
            if not person_cols:
                shutil.copyfile(src, dst)
                continue
            repl = ", ".join(f"{c} || CAST(k AS VARCHAR) AS {c}" for c in person_cols)
            con.execute(
                f"""COPY (SELECT * REPLACE ({repl}) FROM read_parquet({sql_path(src)}), range({times}) t(k))
                    TO {sql_path(dst)} (FORMAT PARQUET, COMPRESSION ZSTD)"""
            )
    finally:
        con.close()
        shutil.rmtree(to / "tmp", ignore_errors=True)


def compare(a: Path, b: Path) -> bool:
    """True when every output of ``a`` and ``b`` holds the same rows (multisets, every column)."""
    sys.path.insert(0, str(ROOT))
    from assets.io import connect, sql_path

    con = connect({"memory_limit": "2400MB", "threads": 2})
    con.execute("SET enable_progress_bar = false")
    same = True
    for name in OUTPUTS:
        if not (a / name).is_file() or not (b / name).is_file():
            print(f"{name}: missing in {a if not (a / name).is_file() else b}")
            same = False
            continue
        pa, pb = sql_path(a / name), sql_path(b / name)
        cols_a = [r[0] for r in con.execute(f"DESCRIBE SELECT * FROM read_parquet({pa})").fetchall()]
        cols_b = [r[0] for r in con.execute(f"DESCRIBE SELECT * FROM read_parquet({pb})").fetchall()]
        if cols_a != cols_b:
            print(f"{name}: columns differ: {cols_a} vs {cols_b}")
            same = False
            continue
        n = con.execute(
            f"""SELECT (SELECT count(*) FROM read_parquet({pa})), (SELECT count(*) FROM read_parquet({pb})),
                       (SELECT count(*) FROM (SELECT * FROM read_parquet({pa}) EXCEPT ALL
                                              SELECT * FROM read_parquet({pb}))),
                       (SELECT count(*) FROM (SELECT * FROM read_parquet({pb}) EXCEPT ALL
                                              SELECT * FROM read_parquet({pa})))"""
        ).fetchone()
        ok = n[0] == n[1] and n[2] == 0 and n[3] == 0
        print(
            f"{name}: rows {n[0]} vs {n[1]}, only in first {n[2]}, only in second {n[3]}: {'same' if ok else 'DIFFERENT'}"
        )
        same &= ok
    con.close()
    return same


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run", help="time the step in a child process")
    r.add_argument("--work", type=Path, required=True, help="work folder with staging/ and cohort/")
    r.add_argument("--out", type=Path, required=True, help="folder for the step's outputs (and its spill)")
    r.add_argument("--memory", default="4GB", help="memory budget; DuckDB gets 60%% of it (default 4GB)")
    r.add_argument("--label", default="", help="a name for the record")
    r.add_argument("--record", type=Path, help="append the result as a JSON line here")
    r.add_argument("--max-block-meetings", type=int, help="meetings per block (default: the step's own)")
    c = sub.add_parser("child", help=argparse.SUPPRESS)
    c.add_argument("--work", type=Path, required=True)
    c.add_argument("--out", type=Path, required=True)
    c.add_argument("--memory", default="4GB")
    c.add_argument("--max-block-meetings", type=int)
    p = sub.add_parser("replicate", help="write the step's inputs N times over, pnr suffixed per copy")
    p.add_argument("--work", type=Path, required=True)
    p.add_argument("--times", type=int, default=5)
    p.add_argument("--to", type=Path, required=True)
    p.add_argument("--memory", default="4GB")
    q = sub.add_parser("compare", help="check two output folders hold the same rows")
    q.add_argument("a", type=Path)
    q.add_argument("b", type=Path)
    a = ap.parse_args()
    if a.cmd == "child":
        child(a.work, a.out, a.memory, a.max_block_meetings)
    elif a.cmd == "run":
        run(a.work, a.out, a.memory, a.label, a.record, a.max_block_meetings)
    elif a.cmd == "replicate":
        replicate(a.work, a.times, a.to, a.memory)
    else:
        raise SystemExit(0 if compare(a.a, a.b) else 1)


if __name__ == "__main__":
    main()
