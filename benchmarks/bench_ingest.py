"""Benchmark for issue 4: read and stage a 1,000,000 x 20 ``.sas7bdat`` file in 100,000-row chunks.

Usage (from the repo root)::

    .venv/bin/python benchmarks/bench_ingest.py generate --out /tmp/regdml_bench   # once; slow (ctypes writer)
    .venv/bin/python benchmarks/bench_ingest.py generate-dream --out /tmp/regdml_bench  # optional, wide
    .venv/bin/python benchmarks/bench_ingest.py measure --out /tmp/regdml_bench    # reading + staging

``generate`` writes ``<out>/delivery/bef202012.sas7bdat``: a BEF-like file with the 7 BEF columns (PNR a
character column, FOED_DAG a SAS date with DATE9 format) plus 13 extra numeric columns (one a SAS datetime),
1,000,000 rows. ``measure`` runs each step in a fresh subprocess and reports wall time and peak RSS
(``ru_maxrss`` of that subprocess, so it includes the interpreter and imported libraries).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import platform
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO.parent / "shared" / "tools"))

from _portable import peak_rss_mb, scratch_dir  # noqa: E402

N_ROWS = 1_000_000
CHUNK = 100_000


def generate(out: Path, n_rows: int = N_ROWS) -> Path:
    import numpy as np
    import pandas as pd
    from sas7bdat_writer import write_sas7bdat

    rng = np.random.default_rng(1)
    kom = np.array([101, 147, 151, 461, 751, 851])
    civst = np.array(list("UGFEP"))
    births = pd.to_datetime("1950-01-01") + pd.to_timedelta(rng.integers(0, 20000, n_rows), unit="D")
    df = pd.DataFrame(
        {
            "PNR": [f"{i:010d}" for i in range(n_rows)],
            "KOEN": rng.integers(1, 3, n_rows).astype("float64"),
            "FOED_DAG": [d.date() for d in births],
            "IE_TYPE": rng.integers(1, 4, n_rows).astype("float64"),
            "OPR_LAND": rng.integers(0, 9999, n_rows).astype("float64"),
            "KOM": kom[rng.integers(0, len(kom), n_rows)].astype("float64"),
            "CIVST": civst[rng.integers(0, len(civst), n_rows)],
        }
    )
    for j in range(12):
        df[f"EXTRA_{j:02d}"] = rng.normal(size=n_rows)
    df["EXTRA_TS"] = pd.to_datetime("2020-01-01") + pd.to_timedelta(rng.integers(0, 10**7, n_rows), unit="s")
    assert df.shape[1] == 20
    target = out / "delivery" / "bef202012.sas7bdat"
    target.parent.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    write_sas7bdat(df, target)
    print(
        json.dumps(
            {
                "step": "generate",
                "rows": n_rows,
                "seconds": round(time.perf_counter() - t0, 1),
                "bytes": target.stat().st_size,
            }
        )
    )
    return target


def generate_dream(out: Path, n_rows: int = 50_000) -> Path:
    """A DREAM-like wide file: PNR, y_1501..y_2053 (314 ISO weeks, 3-digit codes, mostly empty) and
    grad_2015_01..grad_2020_12 (72 months), i.e. 387 columns."""
    import datetime as dt_

    import numpy as np
    import pandas as pd
    from sas7bdat_writer import write_sas7bdat

    rng = np.random.default_rng(2)
    weeks = []
    for year in range(2015, 2021):
        n_weeks = dt_.date(year, 12, 28).isocalendar()[1]
        weeks += [f"y_{year % 100:02d}{w:02d}" for w in range(1, n_weeks + 1)]
    months = [f"grad_{y}_{m:02d}" for y in range(2015, 2021) for m in range(1, 13)]
    codes = np.array(["111", "130", "890", "651", "999", "211"], dtype=object)
    data: dict[str, object] = {"PNR": [f"{i:010d}" for i in range(n_rows)]}
    for w in weeks:
        col = codes[rng.integers(0, len(codes), n_rows)]
        col[rng.random(n_rows) < 0.8] = None
        data[w] = col
    for m in months:
        g = rng.integers(0, 101, n_rows).astype("float64")
        g[rng.random(n_rows) < 0.5] = np.nan
        data[m] = g
    df = pd.DataFrame(data)
    target = out / "dream_delivery" / "dream.sas7bdat"
    target.parent.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    write_sas7bdat(df, target)
    print(
        json.dumps(
            {
                "step": "generate_dream",
                "rows": n_rows,
                "columns": df.shape[1],
                "seconds": round(time.perf_counter() - t0, 1),
                "bytes": target.stat().st_size,
            }
        )
    )
    return target


def step_stage_dream(out: Path, chunk: int) -> dict:
    from assets.staging.stage import rows_per_chunk, stage_delivery_register
    from data_contracts.codebook import load_codebook
    from data_contracts.config import load_config

    delivery = out / "dream_delivery"
    t0 = time.perf_counter()
    res = stage_delivery_register(
        "dream",
        delivery,
        out / "work_dream",
        file_patterns=load_config().file_patterns,
        codebook=load_codebook(),
        chunk_size=chunk,
        allow_missing_registers=True,
    )
    return {
        "step": "stage_dream",
        "rows": res.rows,
        "columns": len(res.schema),
        "rows_per_chunk": rows_per_chunk(chunk, len(res.schema) - 1),
        "seconds": round(time.perf_counter() - t0, 2),
        "staged_bytes": Path(res.path).stat().st_size,
    }


def _peak_mb() -> float:
    return peak_rss_mb()


def step_read(path: Path, chunk: int) -> dict:
    """Only read: every chunk of all 20 columns through regdml's reader (pyreadstat, chunked)."""
    from assets.staging.read import iter_chunks

    t0 = time.perf_counter()
    rows = 0
    for frame in iter_chunks(path, chunk_size=chunk):
        rows += frame.height
    return {"step": "read_all_columns", "rows": rows, "seconds": round(time.perf_counter() - t0, 2)}


def step_stage(path: Path, chunk: int, work: Path) -> dict:
    """Discover, read (contract columns), validate and stage BEF to Parquet + the DuckDB view."""
    from assets.staging.stage import stage_delivery_register
    from data_contracts.codebook import load_codebook
    from data_contracts.config import load_config

    cfg = load_config()
    t0 = time.perf_counter()
    res = stage_delivery_register(
        "bef",
        path.parent,
        work,
        file_patterns=cfg.file_patterns,
        codebook=load_codebook(),
        chunk_size=chunk,
        allow_missing_registers=True,
    )
    return {
        "step": "stage_bef",
        "rows": res.rows,
        "seconds": round(time.perf_counter() - t0, 2),
        "staged_bytes": Path(res.path).stat().st_size,
    }


def step_baseline() -> dict:
    """Only the imports of the staging step: the floor under every peak-memory number."""
    import assets.staging.stage  # noqa: F401
    import data_contracts.codebook  # noqa: F401

    return {"step": "imports_only", "seconds": 0.0}


def step_hash(path: Path) -> dict:
    """sha256 of the file, as the manifest and the raw observation compute it (no cache)."""
    from assets.raw.manifest import file_sha256

    t0 = time.perf_counter()
    file_sha256(path)
    return {"step": "sha256", "seconds": round(time.perf_counter() - t0, 2)}


def measure(out: Path, chunk: int) -> None:
    path = out / "delivery" / "bef202012.sas7bdat"
    results = []
    steps = ["baseline", "hash", "read", "stage"]
    if (out / "dream_delivery" / "dream.sas7bdat").is_file():
        steps.append("dream")
    for step in steps:
        cmd = [sys.executable, __file__, "_step", step, "--out", str(out), "--chunk", str(chunk)]
        r = subprocess.run(cmd, capture_output=True, text=True, check=True)
        results.append(json.loads(r.stdout.strip().splitlines()[-1]))
    import duckdb
    import polars as pl
    import pyarrow
    import pyreadstat

    info = {
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": f"{platform.machine()} {platform.processor() or ''} {_cpu_model()}".strip(),
        "cpus": _ncpu(),
        "python": platform.python_version(),
        "polars": pl.__version__,
        "duckdb": duckdb.__version__,
        "pyarrow": pyarrow.__version__,
        "pyreadstat": pyreadstat.__version__,
        "file_bytes": path.stat().st_size,
        "chunk": chunk,
    }
    print(json.dumps({"info": info, "results": results}, indent=2))


def _ncpu() -> int:
    import os

    return len(os.sched_getaffinity(0))


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return ""


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("command", choices=["generate", "generate-dream", "measure", "_step"])
    ap.add_argument("step", nargs="?")
    ap.add_argument("--out", type=Path, default=scratch_dir("regdml_bench"))
    ap.add_argument("--chunk", type=int, default=CHUNK)
    ap.add_argument("--rows", type=int, default=N_ROWS)
    a = ap.parse_args()
    if a.command == "generate":
        generate(a.out, a.rows)
    elif a.command == "generate-dream":
        generate_dream(a.out, a.rows if a.rows != N_ROWS else 50_000)
    elif a.command == "measure":
        measure(a.out, a.chunk)
    else:
        path = a.out / "delivery" / "bef202012.sas7bdat"
        if a.step == "baseline":
            res = step_baseline()
        elif a.step == "hash":
            res = step_hash(path)
        elif a.step == "dream":
            res = step_stage_dream(a.out, a.chunk)
        elif a.step == "read":
            res = step_read(path, a.chunk)
        else:
            res = step_stage(path, a.chunk, a.out / "work")
        res["peak_rss_mb"] = round(_peak_mb(), 0)
        print(json.dumps(res))


if __name__ == "__main__":
    main()
