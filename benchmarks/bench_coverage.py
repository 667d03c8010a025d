"""Coverage and bias of IRM-ATT, PLR and PLIV over many small synthetic deliveries of each world (not a test).

For each world and seed: generate a delivery of that world (``synth --world``), run the whole pipeline
through Dagster up to the estimation cells (the designs below, the estimation settings given here), and
check whether each interval covers the generator's true ATT. For IRM-ATT it also records whether the
sensitivity analysis flags the estimate: its robustness value RV (the strength of an unobserved
confounder, as a share of residual variation of both treatment and outcome, that would bring the estimate
to zero) below the benchmarked strength of the observed benefit history, max(cf_y, cf_d) of the
``benefit_history`` benchmark. Writes ``benchmarks/coverage.md``.

    .venv/bin/python benchmarks/bench_coverage.py --worlds realistic,easy,confounded --reps 30 --persons 2000 \
        --n-folds 3 --trees 100

Small settings (fewer persons, folds and trees than the defaults) keep 3 x 30 deliveries within about an
hour on a shared 2-core machine; the note says which were used. ``--partial`` rewrites the note after every
delivery, so an interrupted run leaves its result so far.
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

OUTCOMES = ["y_exit_13w"]
DESIGNS = ["irm_att", "plr", "pliv", "naive"]


def parse_variant(text: str) -> tuple[str, dict]:
    """``label:key=value,key=value`` (values read as YAML) -> (label, estimation settings)."""
    label, _, rest = text.partition(":")
    settings = {}
    for item in filter(None, (x.strip() for x in rest.split(","))):
        key, sep, value = item.partition("=")
        if not sep:
            raise SystemExit(f"--variant {text!r}: {item!r} is not key=value")
        settings[key.strip()] = yaml.safe_load(value)
    return label.strip() or "default", settings


def one_replication(
    world: str, seed: int, persons: int, base: Path, est: dict, variants: list[tuple[str, dict]]
) -> list[dict]:
    from synth import generate_delivery, world_params

    root = base / f"{world}{seed}"
    delivery = root / "deliveries" / "synthetic"
    generate_delivery(delivery, persons=persons, seed=seed, fmt="parquet", params=world_params(world),
                      write_meetings=False)  # fmt: skip
    truth = json.loads((delivery.parent / "synthetic.truth.json").read_text(encoding="utf-8"))
    rows = []
    # every variant on the same delivery, so their differences are paired (not two samples of deliveries)
    for label, overrides in variants:
        got = _estimate(world, seed, root / label, delivery, {**est, **overrides}, truth)
        rows += [{**r, "variant": label} for r in got]
    shutil.rmtree(root, ignore_errors=True)
    return rows


def _estimate(world: str, seed: int, root: Path, delivery: Path, est: dict, truth: dict) -> list[dict]:
    from pipelines.run import run_delivery

    root.mkdir(parents=True, exist_ok=True)
    cfg = root / "cfg.yaml"
    cfg.write_text(yaml.safe_dump({"estimation": {"placebo_outcomes": [], **est}}), encoding="utf-8")
    os.environ.pop("DAGSTER_HOME", None)
    code, paths = run_delivery(delivery, workdir=root / "work", config=cfg, until="estimation")
    rows = []
    cells = paths.work_dir / "estimation" / "cells"
    files = list(cells.glob("*.estimate.parquet")) if cells.exists() else []
    if files:
        est_t = pl.concat([pl.read_parquet(p) for p in files], how="diagonal_relaxed")
        for r in est_t.iter_rows(named=True):
            t = truth["effects"][r["outcome"]]["overall"]["att"]
            row = {"world": world, "seed": seed, "outcome": r["outcome"], "design": r["design"],
                   "estimate": r["estimate"], "se": r["se"], "truth": t,
                   "covers": r["ci_low"] <= t <= r["ci_high"], "first_stage_f": r.get("first_stage_f"),
                   "rv": None, "rva": None, "bench_strength": None, "flagged": None}  # fmt: skip
            sens_f = cells / f"{r['outcome']}__{r['design']}.sensitivity.parquet"
            if sens_f.exists():
                sens = pl.read_parquet(sens_f)
                base_row = sens.filter(pl.col("benchmark").is_null())
                bench = sens.filter(pl.col("benchmark") == "benefit_history")
                if base_row.height:
                    row["rv"], row["rva"] = base_row["rv"][0], base_row["rva"][0]
                if bench.height and base_row.height:
                    row["bench_strength"] = max(bench["cf_y"][0], bench["cf_d"][0])
                    row["flagged"] = bool(row["rv"] < row["bench_strength"])
            rows.append(row)
    else:
        print(f"  {world} seed {seed}: pipeline exit code {code}, no estimate", flush=True)
    return rows


def write_note(
    rows: list[dict], args: argparse.Namespace, wall: float, done: dict[str, int], out: Path
) -> str:
    import doubleml
    import duckdb
    import lightgbm

    df = pl.DataFrame(rows, infer_schema_length=None)
    summary = (
        df.group_by("world", "variant", "outcome", "design")
        .agg(
            pl.len().alias("replications"),
            pl.col("covers").mean().alias("coverage"),
            (pl.col("estimate") - pl.col("truth")).mean().alias("mean_bias"),
            pl.col("truth").mean().alias("mean_truth"),
            pl.col("se").mean().alias("mean_se"),
            (pl.col("estimate") - pl.col("truth")).std().alias("sd_of_error"),
            pl.col("first_stage_f").median().alias("median_f"),
            pl.col("flagged").cast(pl.Float64).mean().alias("flagged"),
            pl.col("rv").median().alias("median_rv"),
            pl.col("bench_strength").median().alias("median_bench"),
        )
        .with_columns(pl.col("world").replace_strict({w: i for i, w in enumerate(args.worlds)}).alias("_o"))
        .sort("_o", "outcome", "design", "variant")
    )

    def f(v, fmt):
        return "-" if v is None else format(v, fmt)

    lines = [
        "# Coverage and bias of the designs in each synthetic world",
        "",
        f"- date (UTC): {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M}",
        f"- machine: {platform.platform()}, {os.cpu_count()} CPUs (shared with other jobs while it ran)",
        f"- versions: python {platform.python_version()}, doubleml {doubleml.__version__}, lightgbm {lightgbm.__version__}, "
        f"polars {pl.__version__}, duckdb {duckdb.__version__}",
        f"- command: `python benchmarks/bench_coverage.py --worlds {','.join(args.worlds)} --reps {args.reps} "
        f"--persons {args.persons} --first-seed {args.first_seed} --n-folds {args.n_folds} --trees {args.trees} "
        f"--designs {','.join(args.designs)} --outcomes {','.join(args.outcomes)}"
        + "".join(f" --variant {v}" for v in args.variant)
        + "`",
        f"- deliveries finished per world: {', '.join(f'{w} {done.get(w, 0)}/{args.reps}' for w in args.worlds)} "
        f"(seeds {args.first_seed}..{args.first_seed + args.reps - 1}); persons per delivery {args.persons}; "
        f"wall time {wall:.0f} s",
        f"- reduced settings (to fit the machine): outcome {', '.join(args.outcomes)} only, designs {', '.join(args.designs)}, "
        f"LightGBM {args.trees} trees, {args.n_folds} folds, 1 repetition unless a variant sets n_reps (defaults: 200 trees, 5 folds); "
        "whole pipeline through Dagster otherwise as configured by default",
        "",
        "| world | variant | outcome | design | deliveries | coverage | mean bias | mean true ATT | mean SE | SD of error | "
        "median first-stage F | IRM flagged by sensitivity | median RV | median benchmark strength |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in summary.iter_rows(named=True):
        lines.append(
            f"| {r['world']} | {r['variant']} | {r['outcome']} | {r['design']} | {r['replications']} | {f(r['coverage'], '.3f')} | "
            f"{f(r['mean_bias'], '.4f')} | {f(r['mean_truth'], '.4f')} | {f(r['mean_se'], '.4f')} | "
            f"{f(r['sd_of_error'], '.4f')} | {f(r['median_f'], '.1f')} | {f(r['flagged'], '.2f')} | "
            f"{f(r['median_rv'], '.3f')} | {f(r['median_bench'], '.3f')} |"
        )
    reps = max(min(done.values()) if done else 1, 1)
    lines += [
        "",
        "With R deliveries the coverage's own standard error is about sqrt(0.95*0.05/R) "
        f"({(0.95 * 0.05 / reps) ** 0.5:.3f} for R = {reps}); the mean bias's is about SD of error / sqrt(R).",
        "'IRM flagged by sensitivity': share of deliveries whose IRM-ATT robustness value RV is below the "
        "benchmarked strength of the observed benefit history (max of its cf_y and cf_d).",
    ]
    text = "\n".join(lines) + "\n"
    out.write_text(text, encoding="utf-8")
    return text


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--worlds", default="realistic,easy,confounded", help="comma-separated worlds")
    ap.add_argument("--reps", type=int, default=30)
    ap.add_argument("--persons", type=int, default=2000)
    ap.add_argument("--first-seed", type=int, default=1000)
    ap.add_argument("--n-folds", type=int, default=3)
    ap.add_argument("--trees", type=int, default=100)
    ap.add_argument("--out", type=Path, default=Path(__file__).with_name("coverage.md"))
    ap.add_argument("--partial", action="store_true", help="rewrite the note after every delivery")
    ap.add_argument("--designs", default=",".join(DESIGNS), help="comma-separated designs")
    ap.add_argument("--outcomes", default=",".join(OUTCOMES), help="comma-separated outcomes")
    ap.add_argument(
        "--variant",
        action="append",
        default=[],
        metavar="LABEL:KEY=VALUE,...",
        help="estimation settings to run on every delivery (repeatable; default: the defaults only)",
    )
    ap.add_argument("--rows", type=Path, help="also write every delivery's estimates here (JSON lines)")
    args = ap.parse_args()
    args.worlds = [w.strip() for w in args.worlds.split(",") if w.strip()]
    args.designs = [d.strip() for d in args.designs.split(",") if d.strip()]
    args.outcomes = [o.strip() for o in args.outcomes.split(",") if o.strip()]
    variants = [parse_variant(v) for v in args.variant] or [("default", {})]
    os.environ.setdefault("REGDML_LOG_LEVEL", "CRITICAL")
    est = {"primary_outcomes": args.outcomes, "designs": args.designs, "n_folds": args.n_folds, "n_reps": 1,
           "lgbm_n_estimators": args.trees}  # fmt: skip
    base = Path(tempfile.mkdtemp(prefix="regdml-coverage-"))
    t0 = time.monotonic()
    rows: list[dict] = []
    done: dict[str, int] = {}
    # worlds interleaved, so an interrupted run has a similar number of deliveries of each
    for i in range(args.reps):
        for w in args.worlds:
            got = one_replication(w, args.first_seed + i, args.persons, base, est, variants)
            rows += got
            done[w] = done.get(w, 0) + (1 if got else 0)
            print(f"{w} replication {i + 1}/{args.reps} done ({time.monotonic() - t0:.0f} s)", flush=True)
            if args.rows is not None:
                with args.rows.open("a", encoding="utf-8") as fh:
                    fh.writelines(json.dumps(r) + "\n" for r in got)
            if args.partial and rows:
                write_note(rows, args, time.monotonic() - t0, done, args.out)
    print(write_note(rows, args, time.monotonic() - t0, done, args.out))
    shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
