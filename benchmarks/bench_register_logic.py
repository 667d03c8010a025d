"""Benchmark (issue 5): DREAM-to-spells in DuckDB (the pipeline's own functions) versus plain pandas.

Builds a staged DREAM (``pnr``, ``y_YYWW`` strings, ``grad_YYYY_MM`` Int16, ``source_file``) of N persons x W weeks
with numpy/pyarrow (Markov spells of realistic codes), then runs, each in its own subprocess:

* ``duckdb``: ``assets.cohort.logic.build_benefit_spells`` exactly as the ``benefit_spells`` asset runs it (spells
  straight from the wide staged DREAM, timed), then ``build_benefit_weeks`` (the ``benefit_weeks`` asset: long DREAM
  and employment months, timed separately; the peak RSS covers both);
* ``pandas``: ``read_parquet`` -> ``melt`` -> ``dropna`` -> code groups -> gaps and islands with ``groupby``.

Each child reports wall time and its own peak RSS (``resource.getrusage``; Windows: peak working set); results go to
``benchmarks/register_logic.md``. Usage::

    .venv/bin/python benchmarks/bench_register_logic.py --persons 1000000 --weeks 260 --workdir /tmp/rlbench
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

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from _portable import limit_address_space, load_average, peak_rss_mb, scratch_dir  # noqa: E402

CODES = ["111", "112", "130", "131", "135", "890", "211", "651", "999"]
CODE_P = [0.33, 0.05, 0.15, 0.05, 0.10, 0.20, 0.09, 0.02, 0.01]
ABSORBING = {"651", "999"}


def generate(path: Path, persons: int, weeks: int, seed: int = 1, chunk: int = 100_000) -> dict:
    """Write a wide staged DREAM file with Markov benefit spells (numpy/pyarrow only)."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    from assets import weeks as W

    first = W.iso_to_week_index(2018, 1)
    widx = list(range(first, first + weeks))
    ycols = []
    for i in widx:
        y, w, _ = W.week_monday(i).isocalendar()
        ycols.append(f"y_{y % 100:02d}{w:02d}")
    months = sorted({W.week_month(i) for i in widx})
    gcols = [f"grad_{y}_{m:02d}" for y, m in months]
    schema = pa.schema(
        [("pnr", pa.string())]
        + [(c, pa.string()) for c in ycols]
        + [(c, pa.int16()) for c in gcols]
        + [("source_file", pa.string())]
    )
    rng = np.random.default_rng(seed)
    dictionary = pa.array(CODES, pa.string())
    absorbing = np.array([c in ABSORBING for c in CODES])
    n_coded = 0
    path.parent.mkdir(parents=True, exist_ok=True)
    with pq.ParquetWriter(path, schema, compression="zstd") as wr:
        for start in range(0, persons, chunk):
            n = min(chunk, persons - start)
            state = np.full(n, -1, dtype=np.int16)  # -1 = no benefit, else index into CODES
            init = rng.random(n) < 0.3
            state[init] = rng.choice(len(CODES), size=int(init.sum()), p=CODE_P)
            cols = []
            for _ in range(weeks):
                u = rng.random(n)
                on = state >= 0
                ab = on & absorbing[np.maximum(state, 0)]
                end = on & ~ab & (u < 1 / 16)
                switch = on & ~ab & (u >= 1 / 16) & (u < 1 / 16 + 0.01)
                begin = ~on & (u < 0.02)
                state[end] = -1
                new = switch | begin
                state[new] = rng.choice(len(CODES), size=int(new.sum()), p=CODE_P)
                mask = state < 0
                n_coded += int((~mask).sum())
                idx = pa.array(np.maximum(state, 0).astype(np.int32), mask=mask)
                cols.append(pa.DictionaryArray.from_arrays(idx, dictionary).cast(pa.string()))
            grads = []
            for _ in gcols:
                g = rng.integers(0, 101, size=n).astype(np.int16)
                grads.append(pa.array(g, mask=rng.random(n) < 0.5))
            pnr = pa.array([f"{i:010d}" for i in range(start, start + n)], pa.string())
            src = pa.array(["dream.parquet"] * n, pa.string())
            wr.write_table(
                pa.Table.from_arrays([pnr, *cols, *grads, src], schema=schema), row_group_size=chunk
            )
    return {
        "persons": persons,
        "weeks": weeks,
        "grad_months": len(gcols),
        "coded_person_weeks": n_coded,
        "file_mb": round(path.stat().st_size / 2**20, 1),
    }


def run_duckdb(dream: Path, out: Path, memory_limit: str, threads: int, with_weeks: bool = True) -> dict:
    from assets.cohort.logic import build_benefit_spells, build_benefit_weeks
    from data_contracts.codebook import load_codebook
    from data_contracts.config import load_config

    cfg, cb = load_config(), load_codebook()
    settings = {
        "memory_limit": memory_limit,
        "threads": threads,
        "temp_directory": str(out / "spill"),
        "preserve_insertion_order": "false",
    }
    t = time.perf_counter()
    sp = build_benefit_spells(dream, out, cb, cfg.cohort.target_groups, settings)
    t1 = time.perf_counter()
    bw = build_benefit_weeks(dream, out, cb, settings) if with_weeks else {"n_rows": None}
    t2 = time.perf_counter()
    return {
        "seconds": t1 - t,
        "seconds_benefit_weeks_asset": (t2 - t1) if with_weeks else None,
        "n_spells": sp["n_rows"],
        "n_benefit_weeks": bw["n_rows"],
    }


def _pandas_spells(df, ycols, groups, target_groups, W):
    long = df.melt(id_vars="pnr", var_name="col", value_name="code").dropna(subset=["code"])
    long["benefit_group"] = long["code"].map(groups)
    long = long[long["benefit_group"].isin(target_groups)].copy()
    long["week_index"] = long["col"].map({c: W.dream_column_week_index(c) for c in ycols})
    long = long.sort_values(["pnr", "benefit_group", "week_index"])
    long["island"] = long["week_index"] - long.groupby(["pnr", "benefit_group"]).cumcount()
    return long.groupby(["pnr", "benefit_group", "island"], as_index=False).agg(
        spell_start_week=("week_index", "min"), spell_end_week=("week_index", "max")
    )


def run_pandas(dream: Path, out: Path, chunk: int = 0) -> dict:
    """Plain pandas; ``chunk`` > 0 processes that many persons at a time (a person is one row, so exact)."""
    import pandas as pd
    import pyarrow.parquet as pq

    from assets import weeks as W
    from data_contracts.codebook import load_codebook
    from data_contracts.config import load_config

    cfg, cb = load_config(), load_codebook()
    t = time.perf_counter()
    names = pq.read_schema(dream).names
    ycols = [c for c in names if W.is_dream_week_column(c)]
    groups = {r["code"]: r["benefit_group"] for r in cb.dream_code_table()}
    if chunk:
        parts = [
            _pandas_spells(b.to_pandas(), ycols, groups, cfg.cohort.target_groups, W)
            for b in pq.ParquetFile(dream).iter_batches(batch_size=chunk, columns=["pnr", *ycols])
        ]
        spells = pd.concat(parts, ignore_index=True)
        spells.to_parquet(out / "benefit_spells_pandas.parquet")
        return {"seconds": time.perf_counter() - t, "n_spells": len(spells)}
    df = pd.read_parquet(dream, columns=["pnr", *ycols])
    long = df.melt(id_vars="pnr", var_name="col", value_name="code").dropna(subset=["code"])
    del df
    long["benefit_group"] = long["code"].map(groups)
    long = long[long["benefit_group"].isin(cfg.cohort.target_groups)].copy()
    long["week_index"] = long["col"].map({c: W.dream_column_week_index(c) for c in ycols})
    long = long.sort_values(["pnr", "benefit_group", "week_index"])
    long["island"] = long["week_index"] - long.groupby(["pnr", "benefit_group"]).cumcount()
    spells = long.groupby(["pnr", "benefit_group", "island"], as_index=False).agg(
        spell_start_week=("week_index", "min"), spell_end_week=("week_index", "max")
    )
    spells.to_parquet(out / "benefit_spells_pandas.parquet")
    return {"seconds": time.perf_counter() - t, "n_spells": len(spells)}


def child(args) -> None:
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if args.as_limit_gb:
        limit_address_space(args.as_limit_gb)
    try:
        if args.child == "duckdb":
            res = run_duckdb(Path(args.dream), out, args.memory_limit, args.threads)
        else:
            res = run_pandas(Path(args.dream), out, args.pandas_chunk)
        res["ok"] = True
    except MemoryError as e:  # pragma: no cover - reported, not hidden
        res = {"ok": False, "error": f"MemoryError {e}"[:200]}
    res["peak_rss_mb"] = peak_rss_mb()
    res["loadavg_at_end"] = load_average()
    print("RESULT " + json.dumps(res))


def spawn(kind: str, dream: Path, out: Path, extra: list[str]) -> dict:
    cmd = [sys.executable, __file__, "--child", kind, "--dream", str(dream), "--out", str(out), *extra]
    t = time.perf_counter()
    p = subprocess.run(cmd, capture_output=True, text=True)
    wall = time.perf_counter() - t
    for line in p.stdout.splitlines():
        if line.startswith("RESULT "):
            r = json.loads(line[7:])
            r["wall_seconds_incl_startup"] = wall
            return r
    return {
        "ok": False,
        "error": (p.stderr or p.stdout)[-500:],
        "returncode": p.returncode,
        "wall_seconds_incl_startup": wall,
    }


def versions() -> dict:
    import duckdb
    import numpy
    import pandas
    import polars
    import pyarrow

    return {
        "python": platform.python_version(),
        "duckdb": duckdb.__version__,
        "polars": polars.__version__,
        "pandas": pandas.__version__,
        "pyarrow": pyarrow.__version__,
        "numpy": numpy.__version__,
    }


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return f"{platform.system()} {platform.release()}, {cpu}, {os.cpu_count()} CPUs, {mem:.1f} GB RAM"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--persons", type=int, default=1_000_000)
    ap.add_argument("--weeks", type=int, default=260)
    ap.add_argument("--workdir", default=str(scratch_dir("regdml_bench_rl")))
    ap.add_argument("--memory-limit", default="1GB", help="DuckDB memory_limit")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument(
        "--pandas-as-limit-gb",
        type=float,
        default=14.0,
        help="address-space cap for the pandas child (protects a shared machine)",
    )
    ap.add_argument("--report", default=str(ROOT / "benchmarks" / "register_logic.md"))
    ap.add_argument("--child", choices=("duckdb", "pandas"))
    ap.add_argument("--dream")
    ap.add_argument("--out")
    ap.add_argument("--as-limit-gb", type=float, default=0.0)
    ap.add_argument("--pandas-chunk", type=int, default=0, help="persons per pandas chunk (child)")
    ap.add_argument("--skip-unchunked-pandas", action="store_true")
    ap.add_argument("--chunk", type=int, default=100_000, help="persons per chunk for the chunked pandas run")
    args = ap.parse_args()
    if args.child:
        child(args)
        return
    work = Path(args.workdir)
    dream = work / "staging" / "dream.parquet"
    t = time.perf_counter()
    gen = generate(dream, args.persons, args.weeks)
    gen["seconds"] = round(time.perf_counter() - t, 1)
    print("generated", gen, flush=True)
    duck = spawn(
        "duckdb",
        dream,
        work / "duckdb",
        ["--memory-limit", args.memory_limit, "--threads", str(args.threads)],
    )
    print("duckdb", duck, flush=True)
    pchunk = spawn(
        "pandas",
        dream,
        work / "pandas_chunked",
        ["--as-limit-gb", str(args.pandas_as_limit_gb), "--pandas-chunk", str(args.chunk)],
    )
    print("pandas chunked", pchunk, flush=True)
    if args.skip_unchunked_pandas:
        pand = {"ok": False, "error": "not run (--skip-unchunked-pandas)"}
    else:
        pand = spawn("pandas", dream, work / "pandas", ["--as-limit-gb", str(args.pandas_as_limit_gb)])
    print("pandas", pand, flush=True)
    write_report(Path(args.report), args, gen, duck, pand, pchunk)


def write_report(path: Path, args, gen: dict, duck: dict, pand: dict, pchunk: dict) -> None:
    def fmt(r: dict, key: str, nd: int = 1) -> str:
        v = r.get(key)
        return f"{v:.{nd}f}" if isinstance(v, (int, float)) else "n/a"

    speed = (pand["seconds"] / duck["seconds"]) if duck.get("ok") and pand.get("ok") else None
    speed_c = (pchunk["seconds"] / duck["seconds"]) if duck.get("ok") and pchunk.get("ok") else None
    lines = [
        "# Benchmark: DREAM to benefit spells (issue 5)",
        "",
        f"- date (UTC): {dt.datetime.now(dt.UTC).strftime('%Y-%m-%d %H:%M')}",
        f"- machine: {machine()}",
        f"- versions: {json.dumps(versions())}",
        f"- input: staged DREAM, {gen['persons']:,} persons x {gen['weeks']} weeks (+ {gen['grad_months']} grad months), "
        f"{gen['coded_person_weeks']:,} coded person-weeks, {gen['file_mb']} MB Parquet (zstd); generated in {gen['seconds']} s",
        f"- command: `.venv/bin/python benchmarks/bench_register_logic.py --persons {args.persons} --weeks {args.weeks} "
        f"--memory-limit {args.memory_limit} --threads {args.threads}`",
        "- each run in its own subprocess; peak memory = the child's own peak RSS (getrusage ru_maxrss)",
        f"- 1-minute load average at the end of each run (the machine is shared): DuckDB {duck.get('loadavg_at_end')}, "
        f"pandas {pand.get('loadavg_at_end')}, chunked pandas {pchunk.get('loadavg_at_end')}",
        "",
        "| implementation | ok | seconds | peak RSS (MB) | spells | notes |",
        "|---|---|---|---|---|---|",
        f"| DuckDB (pipeline: build_benefit_spells, memory_limit {args.memory_limit}, "
        f"{args.threads} threads) | {duck.get('ok')} | {fmt(duck, 'seconds')} | {fmt(duck, 'peak_rss_mb', 0)} | "
        f"{duck.get('n_spells', 'n/a')} | peak RSS includes the benefit_weeks asset run afterwards in the same process "
        f"({fmt(duck, 'seconds_benefit_weeks_asset')} s, {duck.get('n_benefit_weeks', 'n/a')} rows) {duck.get('error', '')} |",
        f"| pandas (read_parquet, melt, groupby; address space capped at {args.pandas_as_limit_gb} GB) | {pand.get('ok')} | "
        f"{fmt(pand, 'seconds')} | {fmt(pand, 'peak_rss_mb', 0)} | {pand.get('n_spells', 'n/a')} | "
        f"{str(pand.get('error', '')).replace(chr(10), ' ')[:300]} |",
        f"| pandas chunked ({args.chunk:,} persons per chunk: read row batches, melt, groupby, concat) | {pchunk.get('ok')} | "
        f"{fmt(pchunk, 'seconds')} | {fmt(pchunk, 'peak_rss_mb', 0)} | {pchunk.get('n_spells', 'n/a')} | "
        f"{str(pchunk.get('error', '')).replace(chr(10), ' ')[:300]} |",
        "",
        f"Speed-up vs plain pandas: {speed:.1f}x"
        if speed
        else "Speed-up vs plain pandas: not computed (it did not finish).",
        f"Speed-up vs chunked pandas: {speed_c:.1f}x"
        if speed_c
        else "Speed-up vs chunked pandas: not computed.",
        "",
        f"Goals: >= 5x faster than pandas: {'met' if (speed or speed_c or 0) >= 5 else 'NOT met / not measured'} "
        f"(against the pandas run(s) that finished); "
        f"DuckDB peak RSS < 1.5 GB: {'met' if duck.get('ok') and duck['peak_rss_mb'] < 1536 else 'NOT met / not measured'}.",
        "",
    ]
    path.write_text("\n".join(lines), encoding="utf-8")
    print(path.read_text())


if __name__ == "__main__":
    main()
