"""Benchmark ``regdml synth``: wall time and peak memory for a large synthetic delivery.

Runs ``regdml synth --persons N`` in a child process, polls the resident memory of the process and all
its children (psutil, every 0.2 s) and writes the measured numbers with the machine, versions and date
to ``benchmarks/synth.md``. Nothing is estimated or invented: every number in the note is measured.

Usage::

    .venv/bin/python benchmarks/bench_synth.py [--persons 1000000] [--seed 20200501] [--format parquet]
                                               [--workdir DIR] [--keep] [--note benchmarks/synth.md]
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
import tempfile
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[1]
GOAL_BYTES = 4 * 1024**3


def _tree_rss(proc: psutil.Process) -> int:
    total = 0
    try:
        procs = [proc, *proc.children(recursive=True)]
    except psutil.NoSuchProcess:
        return 0
    for p in procs:
        try:
            total += p.memory_info().rss
        except psutil.NoSuchProcess:
            pass
    return total


def _versions() -> dict[str, str]:
    import numpy
    import polars
    import pyarrow

    sys.path.insert(0, str(ROOT))
    from synth import GENERATOR_VERSION

    try:
        commit = subprocess.run(
            ["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=False,
        ).stdout.strip()
    except OSError:
        commit = "unknown"
    return {
        "python": platform.python_version(),
        "numpy": numpy.__version__,
        "pyarrow": pyarrow.__version__,
        "polars": polars.__version__,
        "generator": GENERATOR_VERSION,
        "commit": commit or "unknown",
    }


def _dir_size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def run(persons: int, seed: int, fmt: str, workdir: Path, keep: bool) -> dict:
    out = workdir / "deliveries" / "synthetic"
    regdml = Path(sys.executable).with_name("regdml")
    cmd = [
        str(regdml) if regdml.exists() else sys.executable,
        *([] if regdml.exists() else ["-m", "pipelines.cli"]),
        "synth",
        "--persons",
        str(persons),
        "--seed",
        str(seed),
        "--out",
        str(out),
        "--format",
        fmt,
    ]
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    ps = psutil.Process(proc.pid)
    peak = 0
    lines: list[str] = []
    os.set_blocking(proc.stdout.fileno(), False)  # type: ignore[union-attr]
    while proc.poll() is None:
        peak = max(peak, _tree_rss(ps))
        try:
            chunk = proc.stdout.read()  # type: ignore[union-attr]
        except (BlockingIOError, TypeError):
            chunk = None
        if chunk:
            for ln in chunk.splitlines():
                print(ln, flush=True)
                lines.append(ln)
        time.sleep(0.2)
    wall = time.perf_counter() - t0
    rest = proc.stdout.read() or ""  # type: ignore[union-attr]
    for ln in rest.splitlines():
        print(ln, flush=True)
        lines.append(ln)
    if proc.returncode != 0:
        raise SystemExit(f"regdml synth failed with exit code {proc.returncode}")
    truth_path = out.parent / "synthetic.truth.json"
    truth = json.loads(truth_path.read_text(encoding="utf-8"))
    res = {
        "persons": persons,
        "seed": seed,
        "format": fmt,
        "wall_seconds": round(wall, 1),
        "peak_rss_bytes": peak,
        "delivery_bytes": _dir_size(out),
        "files": len(list(out.iterdir())),
        "eligible_meetings": truth["sample"]["n_eligible_meetings"],
        "digital_share": truth["sample"]["n_digital"] / max(truth["sample"]["n_eligible_meetings"], 1),
        "last_line": lines[-1] if lines else "",
    }
    if not keep:
        shutil.rmtree(workdir / "deliveries", ignore_errors=True)
    return res


def write_note(path: Path, res: dict, versions: dict[str, str]) -> None:
    mem = psutil.virtual_memory().total
    gib = 1024**3
    status = "met" if res["peak_rss_bytes"] < GOAL_BYTES else "NOT met"
    text = f"""# Benchmark: `regdml synth`

Measured by `benchmarks/bench_synth.py` (wall time of the whole command; peak resident memory of the
process and its children, polled every 0.2 s with psutil). Re-run it to refresh this note.

| | |
|---|---|
| date (UTC) | {dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M")} |
| command | `regdml synth --persons {res["persons"]:,} --seed {res["seed"]} --format {res["format"]}` |
| machine | {platform.machine()}, {os.cpu_count()} CPUs (nproc {len(os.sched_getaffinity(0))}), {mem / gib:.1f} GiB memory, {platform.system()} {platform.release()} |
| versions | Python {versions["python"]}, numpy {versions["numpy"]}, pyarrow {versions["pyarrow"]}, polars {versions["polars"]}, generator {versions["generator"]}, commit {versions["commit"]} |
| **wall time** | **{res["wall_seconds"]:.1f} s** ({res["wall_seconds"] / 60:.1f} min) |
| **peak memory (RSS)** | **{res["peak_rss_bytes"] / gib:.2f} GiB** (goal: under 4 GB, {status}) |
| delivery size | {res["delivery_bytes"] / gib:.2f} GiB in {res["files"]} files |
| eligible meetings | {res["eligible_meetings"]:,} (digital share {res["digital_share"]:.3f}) |

The machine may have been shared with other jobs while this ran; wall time is an upper bound for an idle
machine of the same kind.
"""
    path.write_text(text, encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--persons", type=int, default=1_000_000)
    ap.add_argument("--seed", type=int, default=20200501)
    ap.add_argument("--format", default="parquet", choices=("parquet", "csv"))
    ap.add_argument(
        "--workdir", default=None, help="where to write the delivery (default: a temporary folder)"
    )
    ap.add_argument("--keep", action="store_true", help="keep the delivery")
    ap.add_argument("--note", default=str(ROOT / "benchmarks" / "synth.md"))
    args = ap.parse_args(argv)
    workdir = Path(args.workdir) if args.workdir else Path(tempfile.mkdtemp(prefix="bench_synth_"))
    workdir.mkdir(parents=True, exist_ok=True)
    versions = _versions()  # before the run: the commit the measured code came from
    res = run(args.persons, args.seed, args.format, workdir, args.keep)
    write_note(Path(args.note), res, versions)
    print(json.dumps(res, indent=2))
    if not args.workdir and not args.keep:
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
