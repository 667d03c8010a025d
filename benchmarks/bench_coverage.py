"""Coverage of the primary design's 95% interval over many small synthetic deliveries (not a test).

For each seed: generate a delivery, run the whole pipeline through Dagster up to the estimation cells
(IRM-ATT and the naive difference, default estimation settings), and check whether the interval covers
the generator's true ATT. Writes ``benchmarks/coverage.md``.

    .venv/bin/python benchmarks/bench_coverage.py --reps 40 --persons 3000
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import shutil
import tempfile
import time
from pathlib import Path

import polars as pl
import yaml

OUTCOMES = ["y_exit_13w", "y_exit_26w"]


def one_replication(seed: int, persons: int, base: Path) -> list[dict]:
    from pipelines.run import run_delivery
    from synth import generate_delivery

    root = base / f"rep{seed}"
    delivery = root / "deliveries" / "synthetic"
    generate_delivery(delivery, persons=persons, seed=seed, fmt="parquet", write_meetings=False)
    cfg = root / "cfg.yaml"
    cfg.write_text(
        yaml.safe_dump(
            {
                "estimation": {
                    "primary_outcomes": OUTCOMES,
                    "placebo_outcomes": [],
                    "designs": ["irm_att", "naive"],
                }
            }
        ),
        encoding="utf-8",
    )
    os.environ.pop("DAGSTER_HOME", None)
    code, paths = run_delivery(delivery, workdir=root / "work", config=cfg, until="estimation")
    truth = json.loads((delivery.parent / "synthetic.truth.json").read_text(encoding="utf-8"))
    rows = []
    if code == 0:
        cells = paths.work_dir / "estimation" / "cells"
        est = pl.concat(
            [pl.read_parquet(p) for p in cells.glob("*.estimate.parquet")], how="diagonal_relaxed"
        )
        for r in est.iter_rows(named=True):
            t = truth["effects"][r["outcome"]]["overall"]["att"]
            rows.append(
                {
                    "seed": seed,
                    "outcome": r["outcome"],
                    "design": r["design"],
                    "estimate": r["estimate"],
                    "se": r["se"],
                    "truth": t,
                    "covers": r["ci_low"] <= t <= r["ci_high"],
                }
            )
    shutil.rmtree(root, ignore_errors=True)
    return rows


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--reps", type=int, default=40)
    ap.add_argument("--persons", type=int, default=3000)
    ap.add_argument("--first-seed", type=int, default=1000)
    ap.add_argument("--out", type=Path, default=Path(__file__).with_name("coverage.md"))
    args = ap.parse_args()
    os.environ.setdefault("REGDML_LOG_LEVEL", "CRITICAL")
    base = Path(tempfile.mkdtemp(prefix="regdml-coverage-"))
    t0 = time.monotonic()
    rows: list[dict] = []
    for i in range(args.reps):
        rows += one_replication(args.first_seed + i, args.persons, base)
        print(f"replication {i + 1}/{args.reps} done ({time.monotonic() - t0:.0f} s)", flush=True)
    df = pl.DataFrame(rows)
    summary = (
        df.group_by("outcome", "design")
        .agg(
            pl.len().alias("replications"),
            pl.col("covers").mean().alias("coverage"),
            (pl.col("estimate") - pl.col("truth")).mean().alias("mean_bias"),
            pl.col("se").mean().alias("mean_se"),
            (pl.col("estimate") - pl.col("truth")).std().alias("sd_of_error"),
        )
        .sort("outcome", "design")
    )
    import doubleml
    import duckdb
    import lightgbm

    lines = [
        "# Coverage of the 95% interval on synthetic deliveries",
        "",
        f"- date (UTC): {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M}",
        f"- machine: {platform.platform()}, {os.cpu_count()} CPUs",
        f"- versions: python {platform.python_version()}, doubleml {doubleml.__version__}, lightgbm {lightgbm.__version__}, "
        f"polars {pl.__version__}, duckdb {duckdb.__version__}",
        f"- command: `python benchmarks/bench_coverage.py --reps {args.reps} --persons {args.persons} --first-seed {args.first_seed}`",
        f"- {args.reps} deliveries of {args.persons} persons (seeds {args.first_seed}..{args.first_seed + args.reps - 1}), "
        f"whole pipeline through Dagster, default estimation settings; wall time {time.monotonic() - t0:.0f} s",
        "",
        "| outcome | design | replications | coverage | mean bias | mean SE | SD of error |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in summary.iter_rows(named=True):
        lines.append(
            f"| {r['outcome']} | {r['design']} | {r['replications']} | {r['coverage']:.3f} | {r['mean_bias']:.4f} | "
            f"{r['mean_se']:.4f} | {r['sd_of_error']:.4f} |"
        )
    lines += [
        "",
        "With R replications the coverage's own standard error is about sqrt(0.95*0.05/R) "
        f"({(0.95 * 0.05 / max(args.reps, 1)) ** 0.5:.3f} here).",
    ]
    args.out.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print("\n".join(lines))
    shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
