"""Benchmark (issue 5): DREAM-to-spells in DuckDB (the pipeline's own functions) versus plain pandas.

Builds a staged DREAM (``pnr``, ``y_YYWW`` strings, ``grad_YYYY_MM`` Int16, ``source_file``) of N persons x W weeks
with numpy/pyarrow (Markov spells of realistic codes), then runs, each in its own subprocess:

* ``duckdb``: ``assets.cohort.logic.build_benefit_spells`` exactly as the ``benefit_spells`` asset runs it (spells
  straight from the wide staged DREAM, timed), then ``build_benefit_weeks`` (the ``benefit_weeks`` asset: long DREAM
  and employment months, timed separately; the peak RSS covers both);
* ``pandas``: read (week columns as one shared categorical) -> ``melt`` -> ``dropna`` -> code groups -> gaps and
  islands with ``groupby``; the same in 100,000-person chunks; and the naive read of the codes as Python strings
  (``--pandas-strings``), which needs far more memory.

Each child reports wall time and its own peak RSS (``resource.getrusage``; Windows: peak working set). A run's
report goes to ``<workdir>/register_logic_run.md`` (``--report`` to change it); the note
``benchmarks/register_logic.md`` keeps every run, so a new run is added there by hand, not written over it. Usage::

    .venv/bin/python benchmarks/bench_register_logic.py --persons 1000000 --weeks 260 --workdir /tmp/rlbench
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from _portable import load_average, peak_rss_mb, run_measured, scratch_dir  # noqa: E402

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


def run_pandas(dream: Path, out: Path, chunk: int = 0, strings: bool = False) -> dict:
    """Plain pandas; ``chunk`` > 0 processes that many persons at a time (a person is one row, so exact).

    Unchunked, the week columns are read as one shared categorical (``strings=False``, the fair baseline) or as
    Python strings (``strings=True``: the naive read, which does not fit in 16 GiB at 1,000,000 x 260).
    """
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
    if strings:
        df = pd.read_parquet(dream, columns=["pnr", *ycols])
    else:
        # The week columns as one shared categorical dtype (int8 codes): the usual pandas remedy for a wide
        # string table, and what keeps the melt in memory; read_dictionary avoids Python strings per cell.
        codes = pd.CategoricalDtype(sorted(groups))
        df = pq.read_table(dream, columns=["pnr", *ycols], read_dictionary=ycols).to_pandas()
        for c in ycols:
            df[c] = df[c].astype(codes)
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
    try:
        if args.child == "duckdb":
            res = run_duckdb(Path(args.dream), out, args.memory_limit, args.threads)
        else:
            res = run_pandas(Path(args.dream), out, args.pandas_chunk, args.pandas_strings)
        res["ok"] = True
    except MemoryError as e:  # pragma: no cover - reported, not hidden
        res = {"ok": False, "error": f"MemoryError {e}"[:200]}
    res["peak_rss_mb"] = peak_rss_mb()
    res["loadavg_at_end"] = load_average()
    print("RESULT " + json.dumps(res))


def spawn(kind: str, dream: Path, out: Path, extra: list[str], rss_cap_gb: float | None = None) -> dict:
    """Run one implementation in a child process; with ``rss_cap_gb`` the child is killed above that resident size."""
    out.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, __file__, "--child", kind, "--dream", str(dream), "--out", str(out), *extra]
    cap = int(rss_cap_gb * 2**30) if rss_cap_gb else None
    wall, sampler, rc = run_measured(cmd, None, out / "child.log", kill_above=cap)
    text = (out / "child.log").read_text(encoding="utf-8", errors="replace")
    for line in text.splitlines():
        if line.startswith("RESULT "):
            r = json.loads(line[7:])
            r["wall_seconds_incl_startup"] = wall
            return r
    if sampler.killed_at is not None:
        error = f"killed at {sampler.killed_at / 2**30:.1f} GiB resident (cap {rss_cap_gb:g} GiB) before it finished"
    else:
        error = text[-500:]
    return {
        "ok": False,
        "error": error,
        "returncode": rc,
        "peak_rss_mb": sampler.peak() / 2**20,
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
        "--pandas-cap-gb",
        type=float,
        default=18.0,
        help="resident-memory cap for the pandas children: killed above it (protects a shared machine)",
    )
    ap.add_argument("--report", default=None, help="default: <workdir>/register_logic_run.md")
    ap.add_argument("--child", choices=("duckdb", "pandas"))
    ap.add_argument("--dream")
    ap.add_argument("--out")
    ap.add_argument("--pandas-chunk", type=int, default=0, help="persons per pandas chunk (child)")
    ap.add_argument("--pandas-strings", action="store_true", help="read codes as Python strings (child)")
    ap.add_argument("--skip-unchunked-pandas", action="store_true")
    ap.add_argument("--skip-string-pandas", action="store_true", help="skip the naive string-read pandas run")
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
        ["--pandas-chunk", str(args.chunk)],
        args.pandas_cap_gb,
    )
    print("pandas chunked", pchunk, flush=True)
    if args.skip_unchunked_pandas:
        pand = {"ok": False, "error": "not run (--skip-unchunked-pandas)"}
    else:
        pand = spawn("pandas", dream, work / "pandas", [], args.pandas_cap_gb)
    print("pandas", pand, flush=True)
    if args.skip_unchunked_pandas or args.skip_string_pandas:
        pstr = {"ok": False, "error": "not run"}
    else:
        pstr = spawn(
            "pandas",
            dream,
            work / "pandas_strings",
            ["--pandas-strings"],
            args.pandas_cap_gb,
        )
    print("pandas strings", pstr, flush=True)
    write_report(Path(args.report or work / "register_logic_run.md"), args, gen, duck, pand, pchunk, pstr)


def write_report(path: Path, args, gen: dict, duck: dict, pand: dict, pchunk: dict, pstr: dict) -> None:
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
        "- each run in its own subprocess; peak memory = the child's own peak RSS (getrusage ru_maxrss), or the"
        " sampled resident size where the cap stopped it",
        f"- 1-minute load average at the end of each run (the machine is shared): DuckDB {duck.get('loadavg_at_end')}, "
        f"pandas {pand.get('loadavg_at_end')}, chunked pandas {pchunk.get('loadavg_at_end')}, "
        f"string-read pandas {pstr.get('loadavg_at_end')}",
        "",
        "| implementation | ok | seconds | peak RSS (MB) | spells | notes |",
        "|---|---|---|---|---|---|",
        f"| DuckDB (pipeline: build_benefit_spells, memory_limit {args.memory_limit}, "
        f"{args.threads} threads) | {duck.get('ok')} | {fmt(duck, 'seconds')} | {fmt(duck, 'peak_rss_mb', 0)} | "
        f"{duck.get('n_spells', 'n/a')} | peak RSS includes the benefit_weeks asset run afterwards in the same process "
        f"({fmt(duck, 'seconds_benefit_weeks_asset')} s, {duck.get('n_benefit_weeks', 'n/a')} rows) {duck.get('error', '')} |",
        f"| pandas (codes as one categorical, melt, groupby; killed above {args.pandas_cap_gb} GiB resident) | {pand.get('ok')} | "
        f"{fmt(pand, 'seconds')} | {fmt(pand, 'peak_rss_mb', 0)} | {pand.get('n_spells', 'n/a')} | "
        f"{str(pand.get('error', '')).replace(chr(10), ' ')[:300]} |",
        f"| pandas chunked ({args.chunk:,} persons per chunk: read row batches, melt, groupby, concat) | {pchunk.get('ok')} | "
        f"{fmt(pchunk, 'seconds')} | {fmt(pchunk, 'peak_rss_mb', 0)} | {pchunk.get('n_spells', 'n/a')} | "
        f"{str(pchunk.get('error', '')).replace(chr(10), ' ')[:300]} |",
        f"| pandas, codes as Python strings (read_parquet, melt, groupby; cap {args.pandas_cap_gb} GiB) | {pstr.get('ok')} | "
        f"{fmt(pstr, 'seconds')} | {fmt(pstr, 'peak_rss_mb', 0)} | {pstr.get('n_spells', 'n/a')} | "
        f"{str(pstr.get('error', '')).replace(chr(10), ' ')[:300]} |",
        "",
        f"Speed-up vs plain pandas: {speed:.1f}x"
        if speed
        else "Speed-up vs plain pandas: not computed (it did not finish).",
        f"Speed-up vs chunked pandas: {speed_c:.1f}x"
        if speed_c
        else "Speed-up vs chunked pandas: not computed.",
        "",
        f"Goals: >= 5x faster than pandas: {'met' if (speed if speed is not None else (speed_c or 0)) >= 5 else 'NOT met / not measured'} "
        f"(against plain pandas if it finished, else chunked pandas); "
        f"DuckDB peak RSS < 1.5 GB: {'met' if duck.get('ok') and duck['peak_rss_mb'] < 1536 else 'NOT met / not measured'}.",
        "",
    ]
    path.write_text("\n".join(lines), encoding="utf-8")
    print(path.read_text())


if __name__ == "__main__":
    main()
