"""DREAM to benefit spells: regdml beside the R tools register researchers use (issue 22, point 3).

On one synthetic delivery (``regdml synth``, kept under ``--base``; or ``--delivery``), this script

1. stages DREAM with regdml's staging (timed apart) and writes what the R peers read: the delivery's
   ``PNR`` and ``y_YYWW`` columns as CSV (what heaven's ``importSAS(..., set.hook="keep=PNR y_:")`` would
   give; reading it with ``data.table::fread`` is timed apart from the spell construction);
2. runs ``benchmarks/r/dream_spells_heaven.R`` under ``/usr/bin/time -v``: ``heaven::importDREAM`` sourced
   from ``--heaven`` (a work tree of github.com/tagteam/heaven; never vendored here), then the spells in
   data.table (runs of one code joined into maximal runs of one target group);
3. optionally (``--dreamtoolsr``, a work tree of github.com/carstennielsen/DREAMtoolsR) runs its ``runs()``
   (one person per call) on the first ``--dreamtoolsr-persons`` persons and scales the time to all persons;
4. runs regdml's ``benefit_spells`` and ``benefit_weeks`` steps (``assets.cohort.logic``, as the assets run
   them, with the pipeline's DuckDB settings) in a child under ``/usr/bin/time -v``;
5. compares the spells (:func:`compare_spells`) and writes a Markdown report and the numbers as JSON,
   ``<base>/dream_r_<delivery>_<UTC time>.{md,json}`` (copied by hand into ``benchmarks/r_peers.md``).

Peak memory is the maximum resident set size of each child process (``/usr/bin/time -v``). R is never run by
``make test``; the comparison functions are tested in ``tests/benchmarks/test_bench_dream_r.py``. Usage::

    .venv/bin/python benchmarks/bench_dream_r.py --persons 100000 --dream-from 1991 --grad-lag-months 6 \\
        --heaven /work/peers/heaven --dreamtoolsr /work/peers/DREAMtoolsR --base /tmp/rpeers
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import re
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

import polars as pl

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

R_DIR = Path(__file__).resolve().parent / "r"
EPOCH = dt.date(1990, 1, 1)  # assets.weeks.EPOCH: Monday of ISO 1990-W01, week index 0
GOAL_SPEEDUP = 5.0
GOAL_MEMORY_RATIO = 0.5
SPELL_KEY = ["pnr", "benefit_group", "spell_start_week", "spell_end_week"]


# --------------------------------------------------------------------------------------------------------
# The comparison (unit-tested without R)
# --------------------------------------------------------------------------------------------------------
def heaven_spells_to_weeks(spells: pl.DataFrame) -> pl.DataFrame:
    """Map the R script's heaven spells to regdml's spell key.

    Parameters
    ----------
    spells : polars.DataFrame
        ``PNR``, ``benefit_group``, ``start`` (Monday of the first week, as importDREAM's ``start``) and
        ``end`` (the Monday after the last week, as importDREAM's ``end`` = start of the last week + 7 days);
        dates as ``Date`` or ISO strings.

    Returns
    -------
    polars.DataFrame
        ``pnr``, ``benefit_group``, ``spell_start_week``, ``spell_end_week`` (regdml's week indexes: weeks
        since ISO 1990-W01; the end week is the last week of the spell, inclusive).
    """
    _check_columns(spells, ["PNR", "benefit_group", "start", "end"], "spells")
    epoch = pl.lit(EPOCH)

    def as_date(c: str) -> pl.Expr:
        return pl.col(c).str.to_date("%Y-%m-%d") if spells.schema[c] == pl.String else pl.col(c).cast(pl.Date)

    days = {c: (as_date(c) - epoch).dt.total_days() for c in ("start", "end")}
    return spells.select(
        pl.col("PNR").cast(pl.String).alias("pnr"),
        pl.col("benefit_group").cast(pl.String),
        (days["start"] // 7).cast(pl.Int32).alias("spell_start_week"),
        (days["end"] // 7 - 1).cast(pl.Int32).alias("spell_end_week"),
    )


def dreamtoolsr_spells_to_weeks(runs: pl.DataFrame, first_week: int, last_week: int) -> pl.DataFrame:
    """Map DREAMtoolsR's ``runs()`` output, joined into target-group spells by the R script, to regdml's key.

    Parameters
    ----------
    runs : polars.DataFrame
        ``PNR``, ``benefit_group``, ``start``, ``end``: DREAM week column names (``y_YYWW``); a null start
        means "before the first week read" and a null end "after the last week read" (``runs()``'s NA).
    first_week, last_week : int
        regdml week indexes of the first and last DREAM week read, for the null starts and ends.

    Returns
    -------
    polars.DataFrame
        ``pnr``, ``benefit_group``, ``spell_start_week``, ``spell_end_week``.
    """
    from assets.weeks import dream_column_week_index

    _check_columns(runs, ["PNR", "benefit_group", "start", "end"], "runs")
    if first_week > last_week:
        raise ValueError(
            f"first_week must be <= last_week, got first_week={first_week}, last_week={last_week}"
        )

    def idx(col: str, default: int) -> pl.Expr:
        return (
            pl.col(col)
            .map_elements(dream_column_week_index, return_dtype=pl.Int32)
            .fill_null(default)
            .cast(pl.Int32)
        )

    return runs.select(
        pl.col("PNR").cast(pl.String).alias("pnr"),
        pl.col("benefit_group").cast(pl.String),
        idx("start", first_week).alias("spell_start_week"),
        idx("end", last_week).alias("spell_end_week"),
    )


def compare_spells(
    regdml: pl.DataFrame, peer: pl.DataFrame, persons: pl.Series | list[str] | None = None
) -> dict[str, int]:
    """Count agreeing and disagreeing spells of regdml and a peer on the same persons.

    A spell agrees when the same person has a spell of the same benefit group with the same first and last
    week in both. Spells of persons outside ``persons`` are left out on both sides (a peer run on a subset).

    Parameters
    ----------
    regdml : polars.DataFrame
        regdml's ``benefit_spells`` (at least ``pnr``, ``benefit_group``, ``spell_start_week``,
        ``spell_end_week``).
    peer : polars.DataFrame
        The peer's spells mapped by :func:`heaven_spells_to_weeks` or :func:`dreamtoolsr_spells_to_weeks`.
    persons : polars.Series or list of str, optional
        The persons the peer read; default every person of either side.

    Returns
    -------
    dict
        ``spells_regdml``, ``spells_peer``, ``spells_agree``, ``only_regdml``, ``only_peer`` (spells, with
        duplicates counted), ``persons``, ``persons_agree`` (persons whose spells are identical),
        ``only_regdml_same_start`` (regdml-only spells whose person has a peer spell of the same group and
        start, i.e. differing in the end week only).
    """
    _check_columns(regdml, SPELL_KEY, "regdml")
    _check_columns(peer, SPELL_KEY, "peer")
    a = regdml.select(SPELL_KEY).with_columns(pl.col("pnr").cast(pl.String))
    b = peer.select(SPELL_KEY).with_columns(pl.col("pnr").cast(pl.String))
    if persons is not None:
        keep = pl.Series("pnr", list(persons) if isinstance(persons, list) else persons, dtype=pl.String)
        a = a.filter(pl.col("pnr").is_in(keep.implode()))
        b = b.filter(pl.col("pnr").is_in(keep.implode()))
        all_p = keep.unique()
    else:
        all_p = pl.concat([a["pnr"], b["pnr"]]).unique()
    # Spells are counted with multiplicity: number each copy of a key so that duplicates pair one to one.
    a = a.with_columns(pl.int_range(pl.len()).over(SPELL_KEY).alias("_k"))
    b = b.with_columns(pl.int_range(pl.len()).over(SPELL_KEY).alias("_k"))
    key = [*SPELL_KEY, "_k"]
    both = a.join(b, on=key, how="inner")
    only_a = a.join(b, on=key, how="anti")
    only_b = b.join(a, on=key, how="anti")
    bad = pl.concat([only_a["pnr"], only_b["pnr"]]).unique()
    same_start = only_a.join(
        only_b.select("pnr", "benefit_group", "spell_start_week").unique(),
        on=["pnr", "benefit_group", "spell_start_week"],
        how="semi",
    )
    return {
        "spells_regdml": a.height,
        "spells_peer": b.height,
        "spells_agree": both.height,
        "only_regdml": only_a.height,
        "only_peer": only_b.height,
        "only_regdml_same_start": same_start.height,
        "persons": all_p.len(),
        "persons_agree": all_p.len() - bad.len(),
    }


def _check_columns(df: pl.DataFrame, cols: list[str], name: str) -> None:
    missing = [c for c in cols if c not in df.columns]
    if missing:
        raise ValueError(f"{name} lacks columns {missing}; it has {df.columns}")


# --------------------------------------------------------------------------------------------------------
# Children
# --------------------------------------------------------------------------------------------------------
def child_regdml(dream: Path, out: Path) -> None:
    """Run regdml's ``benefit_spells`` and ``benefit_weeks`` on a staged DREAM (in a measured child)."""
    from assets.cohort.logic import build_benefit_spells, build_benefit_weeks
    from assets.resources import RegdmlResource, RunPaths
    from data_contracts.codebook import load_codebook
    from data_contracts.config import load_config

    cfg, cb = load_config(), load_codebook()
    settings = RegdmlResource.from_env().duckdb_settings(RunPaths(delivery_dir=out, work_dir=out))
    t0 = time.perf_counter()
    sp = build_benefit_spells(dream, out, cb, cfg.cohort.target_groups, settings)
    t1 = time.perf_counter()
    bw = build_benefit_weeks(dream, out, cb, settings)
    t2 = time.perf_counter()
    print(
        json.dumps(
            {
                "seconds_benefit_spells": t1 - t0,
                "seconds_benefit_weeks": t2 - t1,
                "n_spells": sp["n_rows"],
                "n_benefit_weeks": bw["n_rows"],
                "duckdb_memory_limit": settings["memory_limit"],
                "duckdb_threads": settings["threads"],
            }
        )
    )


def child_stage(delivery: Path, work: Path) -> None:
    """Stage DREAM only (regdml's staging), in a measured child."""
    from assets.resources import RegdmlResource, RunPaths
    from assets.staging.stage import stage_delivery_register
    from data_contracts.codebook import load_codebook
    from data_contracts.config import load_config

    cfg, cb = load_config(), load_codebook()
    settings = RegdmlResource.from_env().duckdb_settings(RunPaths(delivery_dir=delivery, work_dir=work))
    t0 = time.perf_counter()
    res = stage_delivery_register(
        "dream", delivery, work, file_patterns=cfg.file_patterns, codebook=cb, duckdb_settings=settings
    )
    print(json.dumps({"seconds": time.perf_counter() - t0, "rows": res.rows}))


def measured(cmd: list[str], log: Path, env: dict | None = None, vmem_gib: float | None = None) -> dict:
    """Run ``cmd`` under ``/usr/bin/time -v``; return wall seconds, max RSS (GiB), return code, last JSON line."""
    pre = None
    if vmem_gib is not None:
        cap = int(vmem_gib * 2**30)

        def pre() -> None:  # the child's address space cap (ulimit -v): R stops instead of taking the machine
            resource.setrlimit(resource.RLIMIT_AS, (cap, cap))

    t0 = time.perf_counter()
    with log.open("w") as fh:
        p = subprocess.run(
            ["/usr/bin/time", "-v", *cmd],
            stdout=subprocess.PIPE,
            stderr=fh,
            text=True,
            env=env,
            preexec_fn=pre,
        )
    wall = time.perf_counter() - t0
    log.write_text(log.read_text() + "\n--- stdout ---\n" + p.stdout)
    m = re.search(r"Maximum resident set size \(kbytes\): (\d+)", log.read_text())
    out: dict = {
        "wall_seconds": wall,
        "returncode": p.returncode,
        "peak_gib": int(m.group(1)) / 2**20 if m else None,
    }
    for line in reversed(p.stdout.strip().splitlines()):
        if line.strip().startswith("{"):
            out.update(json.loads(line))
            break
    return out


# --------------------------------------------------------------------------------------------------------
# Orchestration
# --------------------------------------------------------------------------------------------------------
def write_inputs_for_r(delivery: Path, work: Path) -> dict:
    """The delivery's PNR and y_ columns as CSV and the target codes, for the R scripts."""
    import duckdb
    import pyarrow.parquet as pq

    from data_contracts.codebook import load_codebook
    from data_contracts.config import load_config

    src = delivery / "dream.parquet"
    names = pq.read_schema(src).names
    cols = [names[0], *[c for c in names if c.lower().startswith("y_")]]
    csv = work / "dream_pnr_y.csv"
    t0 = time.perf_counter()
    if not csv.exists():
        con = duckdb.connect(config={"threads": 2, "memory_limit": "2GB"})
        sel = ", ".join(f'"{c}"' + (' AS "PNR"' if i == 0 else "") for i, c in enumerate(cols))
        con.execute(f"COPY (SELECT {sel} FROM read_parquet('{src}')) TO '{csv}' (HEADER)")
        con.close()
    cfg, cb = load_config(), load_codebook()
    codes = pl.DataFrame([r for r in cb.dream_code_table() if r["benefit_group"] in cfg.cohort.target_groups])
    codes.select("code", "benefit_group").write_csv(work / "target_codes.csv")
    return {
        "csv": csv,
        "codes": work / "target_codes.csv",
        "seconds": time.perf_counter() - t0,
        "weeks": len(cols) - 1,
    }


def versions(heaven: Path | None, dreamtoolsr: Path | None) -> dict:
    def git(args: list[str], cwd: Path) -> str:
        try:
            return subprocess.run(
                ["git", *args], cwd=cwd, capture_output=True, text=True, check=True
            ).stdout.strip()
        except Exception:
            return "unknown"

    def pkg_version(src: Path | None) -> str | None:
        if src is None or not (src / "DESCRIPTION").exists():
            return None
        m = re.search(r"^Version:\s*(\S+)", (src / "DESCRIPTION").read_text(), re.M)
        return m.group(1) if m else None

    def commit_of(src: Path | None) -> str | None:
        if src is None:
            return None
        f = src / "PEER_COMMIT"  # written by the export step in benchmarks/README.md
        return f.read_text().strip() if f.exists() else "unknown (no PEER_COMMIT file)"

    import duckdb

    r = subprocess.run(
        ["Rscript", "-e", 'cat(R.version.string, as.character(packageVersion("data.table")), sep="|")'],
        capture_output=True,
        text=True,
    ).stdout.split("|")
    return {
        "regdml_commit": git(["rev-parse", "--short", "HEAD"], ROOT),
        "python": platform.python_version(),
        "duckdb": duckdb.__version__,
        "R": r[0] if r else "unknown",
        "data.table": r[1] if len(r) > 1 else "unknown",
        "heaven": pkg_version(heaven),
        "heaven_commit": commit_of(heaven),
        "DREAMtoolsR": pkg_version(dreamtoolsr),
        "DREAMtoolsR_commit": commit_of(dreamtoolsr),
    }


def machine() -> str:
    import psutil

    return (
        f"{platform.node()}, {os.cpu_count()} CPUs, {psutil.virtual_memory().total / 2**30:.1f} GiB RAM, "
        f"{platform.platform()}"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--persons", type=int, default=20_000)
    ap.add_argument("--seed", type=int, default=20200501)
    ap.add_argument("--dream-from", type=int, default=1991)
    ap.add_argument("--grad-lag-months", type=int, default=6)
    ap.add_argument("--base", type=Path, default=None, help="folder for deliveries, work data and the report")
    ap.add_argument("--delivery", type=Path, default=None, help="an existing Parquet delivery (read only)")
    ap.add_argument("--heaven", type=Path, default=None, help="work tree of github.com/tagteam/heaven")
    ap.add_argument("--heaven-variant", choices=("patched", "shipped"), default="patched")
    ap.add_argument("--dreamtoolsr", type=Path, default=None, help="work tree of carstennielsen/DREAMtoolsR")
    ap.add_argument("--dreamtoolsr-persons", type=int, default=200)
    ap.add_argument(
        "--threads", type=int, default=2, help="data.table threads (DuckDB: REGDML_DUCKDB_THREADS)"
    )
    ap.add_argument("--r-vmem-gib", type=float, default=None, help="cap R's address space (ulimit -v)")
    ap.add_argument("--skip-regdml", action="store_true")
    ap.add_argument("--child", choices=("regdml", "stage"), help=argparse.SUPPRESS)
    ap.add_argument("--dream", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child == "regdml":
        return child_regdml(args.dream, args.out)
    if args.child == "stage":
        return child_stage(args.delivery, args.out)
    if args.persons < 1:
        raise SystemExit(f"--persons must be >= 1, got {args.persons}")
    if args.base is None:
        raise SystemExit("--base is required")

    base = args.base.resolve()
    base.mkdir(parents=True, exist_ok=True)
    py = [sys.executable, str(Path(__file__).resolve())]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "REGDML_LOG_LEVEL": "ERROR"}
    record: dict = {
        "date_utc": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M"),
        "load_start": os.getloadavg(),
    }
    if args.delivery is not None:
        delivery = args.delivery.resolve()
        name = delivery.name
    else:
        name = f"synthetic_{args.persons}_dream{args.dream_from}_lag{args.grad_lag_months}"
        delivery = base / "deliveries" / name
        if not delivery.is_dir():
            cmd = [sys.executable, "-m", "pipelines.cli", "synth", "--persons", str(args.persons), "--seed",
                   str(args.seed), "--out", str(delivery), "--no-meetings-file", "--dream-from",
                   str(args.dream_from), "--grad-lag-months", str(args.grad_lag_months)]  # fmt: skip
            subprocess.run(cmd, env=env, check=True, cwd=ROOT)
    record["delivery"] = name
    record["versions"] = versions(args.heaven, args.dreamtoolsr)  # before the run: the commit it ran at
    work = base / f"work_{name}"
    (work / "logs").mkdir(parents=True, exist_ok=True)

    staged = work / "staging" / "dream.parquet"
    if not staged.exists():
        record["staging"] = measured([*py, "--child", "stage", "--delivery", str(delivery), "--out", str(work)],
                                     work / "logs" / "stage.log", env)  # fmt: skip
        if record["staging"]["returncode"] != 0:
            raise SystemExit(f"staging failed; see {work / 'logs' / 'stage.log'}")
    if args.heaven is not None or args.dreamtoolsr is not None:
        inputs = write_inputs_for_r(delivery, work)
        record["weeks"] = inputs["weeks"]
        record["csv_gb"] = inputs["csv"].stat().st_size / 1e9
    else:
        import pyarrow.parquet as pq

        record["weeks"] = sum(
            c.lower().startswith("y_") for c in pq.read_schema(delivery / "dream.parquet").names
        )

    if not args.skip_regdml:
        out = work / "regdml"
        shutil.rmtree(out, ignore_errors=True)
        out.mkdir()
        record["regdml"] = measured([*py, "--child", "regdml", "--dream", str(staged), "--out", str(out)],
                                    work / "logs" / "regdml.log", env)  # fmt: skip
        if record["regdml"]["returncode"] != 0:
            raise SystemExit(f"regdml's steps failed; see {work / 'logs' / 'regdml.log'}")
    regdml_spells = pl.read_parquet(work / "regdml" / "benefit_spells.parquet")

    if args.heaven is not None:
        out = work / f"heaven_{args.heaven_variant}"
        shutil.rmtree(out, ignore_errors=True)
        out.mkdir()
        cmd = ["Rscript", str(R_DIR / "dream_spells_heaven.R"), str(inputs["csv"]), str(inputs["codes"]),
               str(args.heaven.resolve()), str(out), str(args.threads), args.heaven_variant]  # fmt: skip
        res = measured(cmd, work / "logs" / f"heaven_{args.heaven_variant}.log", vmem_gib=args.r_vmem_gib)
        record["heaven"] = res
        if res["returncode"] == 0:
            peer = heaven_spells_to_weeks(
                pl.read_csv(out / "spells_heaven.csv", schema_overrides={"PNR": pl.String})
            )
            record["heaven"]["compare"] = compare_spells(regdml_spells, peer)

    if args.dreamtoolsr is not None:
        out = work / "dreamtoolsr"
        shutil.rmtree(out, ignore_errors=True)
        out.mkdir()
        cmd = ["Rscript", str(R_DIR / "dream_spells_dreamtoolsr.R"), str(inputs["csv"]), str(inputs["codes"]),
               str(args.dreamtoolsr.resolve()), str(out), str(args.dreamtoolsr_persons)]  # fmt: skip
        res = measured(cmd, work / "logs" / "dreamtoolsr.log", vmem_gib=args.r_vmem_gib)
        record["dreamtoolsr"] = res
        if res["returncode"] == 0:
            from assets.weeks import dream_column_week_index

            with inputs["csv"].open() as fh:
                ycols = fh.readline().strip().split(",")[1:]
            wk = [dream_column_week_index(c) for c in ycols]
            runs = pl.read_csv(out / "spells_dreamtoolsr.csv", schema_overrides={"PNR": pl.String})
            peer = dreamtoolsr_spells_to_weeks(runs, min(wk), max(wk))
            persons = pl.read_csv(out / "persons.csv", schema_overrides={"PNR": pl.String})["PNR"]
            record["dreamtoolsr"]["compare"] = compare_spells(regdml_spells, peer, persons)
            record["dreamtoolsr"]["seconds_scaled_to_all"] = (
                res.get("seconds_runs", 0) / max(res.get("persons", 1), 1) * args.persons
            )

    record["load_end"] = os.getloadavg()
    record["machine"] = machine()
    record["persons"] = args.persons
    stem = f"dream_r_{name}_{dt.datetime.now(dt.UTC).strftime('%Y%m%dT%H%M%S')}"  # one report per run
    (base / f"{stem}.json").write_text(json.dumps(record, indent=2, default=str))
    report = render(record)
    (base / f"{stem}.md").write_text(report)
    print(report)


def render(r: dict) -> str:
    """The run as Markdown (copied by hand into ``benchmarks/r_peers.md``)."""

    def f(x: object, nd: int = 1) -> str:
        return "n/a" if x is None else f"{x:.{nd}f}" if isinstance(x, float) else str(x)

    g = r.get("regdml", {})
    h = r.get("heaven", {})
    d = r.get("dreamtoolsr", {})
    reg_s = (g.get("seconds_benefit_spells") or 0) + (g.get("seconds_benefit_weeks") or 0)
    lines = [
        f"### {r['delivery']} ({r['persons']:,} persons, {r['weeks']} DREAM weeks), {r['date_utc']} UTC",
        "",
        f"- machine: {r['machine']}; load average at start {', '.join(f'{x:.1f}' for x in r['load_start'])},"
        f" at end {', '.join(f'{x:.1f}' for x in r['load_end'])}",
        f"- versions: {json.dumps(r['versions'])}",
        f"- R input: PNR + y_ columns as CSV, {r['csv_gb']:.2f} GB" if "csv_gb" in r else "- R not run",
        "",
        "| tool | step | seconds | peak RSS (GiB) | spells |",
        "|---|---|---|---|---|",
    ]
    if g:
        lines += [
            f"| regdml | `benefit_spells` | {f(g.get('seconds_benefit_spells'))} | | {f(g.get('n_spells'))} |",
            f"| regdml | `benefit_weeks` | {f(g.get('seconds_benefit_weeks'))} | | |",
            f"| regdml | both (one process) | {f(reg_s)} | {f(g.get('peak_gib'), 2)} | |",
        ]
    if h:
        if h.get("returncode") == 0:
            r_s = h["seconds_importDREAM"] + h["seconds_spells"]
            lines += [
                f"| R | `fread` of the CSV | {f(h['seconds_read'])} | | |",
                f"| R | `importDREAM` ({h['variant']}) | {f(h['seconds_importDREAM'])} | | |",
                f"| R | spells from importDREAM's runs | {f(h['seconds_spells'])} | | {h['n_spells']} |",
                f"| R | importDREAM + spells (one process with the read) | {f(r_s)} | {f(h.get('peak_gib'), 2)} | |",
            ]
            if g:
                lines += ["", f"regdml's two steps are {r_s / reg_s:.1f}x faster than importDREAM + spells "
                          f"(`benefit_spells` alone {r_s / g['seconds_benefit_spells']:.1f}x; goal {GOAL_SPEEDUP:.0f}x) "
                          f"and use {g['peak_gib'] / h['peak_gib']:.2f} of R's peak memory (goal <= {GOAL_MEMORY_RATIO})."]  # fmt: skip
        else:
            lines += [f"| R | importDREAM | failed (return code {h.get('returncode')}) after {f(h['wall_seconds'])} s | "
                      f"{f(h.get('peak_gib'), 2)} | |"]  # fmt: skip
    if d and d.get("returncode") == 0:
        lines += [
            "",
            f"DREAMtoolsR `runs()` on the first {d['persons']} persons: {f(d['seconds_runs'])} s "
            f"(scaled to {r['persons']:,} persons: {f(d['seconds_scaled_to_all'], 0)} s), peak {f(d.get('peak_gib'), 2)} GiB.",
        ]
    for tool, res in (("heaven", h), ("DREAMtoolsR", d)):
        c = res.get("compare") if res else None
        if c:
            lines += [
                "",
                f"Spells, regdml vs {tool}: {c['spells_agree']:,} agree; regdml {c['spells_regdml']:,}, {tool} "
                f"{c['spells_peer']:,}; only regdml {c['only_regdml']:,} (same start, other end: "
                f"{c['only_regdml_same_start']:,}), only {tool} {c['only_peer']:,}; persons with identical spells "
                f"{c['persons_agree']:,} of {c['persons']:,}.",
            ]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
