"""``regdml build-table``: write a delivery's analysis table for use in Stata, R or elsewhere.

Runs the pipeline through Dagster up to the analysis table (on the same instance as ``regdml run``),
then writes the table as Parquet, CSV or Stata ``.dta``, with the configuration in force beside it
(``<out>.config.yaml``) and the column dictionary (``<out>.columns.csv``).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import polars as pl

from assets.io import atomic_path, write_text_atomic

FORMATS = (".parquet", ".csv", ".dta")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--delivery", required=True, type=Path, help="Delivery folder (read-only)")
    parser.add_argument("--out", required=True, type=Path, help="Output file: .parquet, .csv or .dta")
    parser.add_argument(
        "--workdir", type=Path, default=None, help="Work folder (default: $REGDML_WORKDIR, else ./work)"
    )
    parser.add_argument(
        "--config", type=Path, default=None, help="Run configuration YAML (default: the plan's)"
    )


def write_table(table: pl.DataFrame, out: Path) -> Path:
    """Write ``table`` to ``out`` atomically in the format its suffix names."""
    suffix = out.suffix.lower()
    if suffix not in FORMATS:
        raise ValueError(f"build-table: --out must end in one of {FORMATS}, got {out.name!r}")
    with atomic_path(out) as tmp:
        if suffix == ".parquet":
            table.write_parquet(tmp)
        elif suffix == ".csv":
            table.write_csv(tmp)
        else:
            _write_dta(table, tmp)
    return out


def _write_dta(table: pl.DataFrame, path: Path) -> None:
    import pandas as pd

    pdf = table.to_pandas()
    for col, dtype in zip(table.columns, table.dtypes, strict=True):
        if dtype == pl.Date:
            pdf[col] = pd.to_datetime(pdf[col])
        elif dtype == pl.Boolean:
            pdf[col] = pdf[col].astype("int8")
        elif dtype.is_integer() and pdf[col].isna().any():
            # Stata has no nullable integers: a missing count becomes a missing double.
            pdf[col] = pdf[col].astype("float64")
    # Stata variable names have at most 32 characters: a longer name is shortened and the full name kept
    # as the variable's label.
    names = stata_names(list(pdf.columns))
    labels = {names[c]: c for c in pdf.columns if names[c] != c}
    pdf = pdf.rename(columns=names)
    dates = {c: "td" for c in pdf.columns if str(pdf[c].dtype).startswith("datetime")}
    pdf.to_stata(path, write_index=False, version=118, variable_labels=labels, convert_dates=dates)


def stata_names(columns: list[str], limit: int = 32) -> dict[str, str]:
    """Map column names to unique Stata names of at most ``limit`` characters."""
    out: dict[str, str] = {}
    used: set[str] = {c for c in columns if len(c) <= limit}
    for c in columns:
        if len(c) <= limit:
            out[c] = c
            continue
        name, i = c[:limit], 1
        while name in used:
            suffix = f"_{i}"
            name, i = c[: limit - len(suffix)] + suffix, i + 1
        used.add(name)
        out[c] = name
    return out


def run(args: argparse.Namespace) -> int:
    from assets.resources import load_run_config
    from pipelines.run import run_delivery

    out: Path = args.out
    if out.suffix.lower() not in FORMATS:
        print(f"regdml build-table: --out must end in one of {', '.join(FORMATS)}, got {out.name!r}")
        return 2
    code, paths = run_delivery(args.delivery, args.workdir, args.config, None, until="analysis")
    if code != 0:
        return code
    analysis = paths.work_dir / "analysis"
    table = pl.read_parquet(analysis / "analysis_table.parquet")
    write_table(table, out)
    # The whole configuration of this call, not analysis/run_config.yaml: that holds only the sections the
    # table is built from, and the estimation's may have changed since without rebuilding it.
    cfg = load_run_config(args.config)
    write_text_atomic(cfg.to_yaml(), out.with_name(out.name + ".config.yaml"))
    dictionary = analysis / "column_dictionary.parquet"
    if dictionary.is_file():
        d = pl.read_parquet(dictionary)
        d = d.with_columns([pl.col(c).list.join(", ") for c, t in d.schema.items() if isinstance(t, pl.List)])
        with atomic_path(out.with_name(out.name + ".columns.csv")) as tmp:
            d.write_csv(tmp)
    print(f"[regdml] analysis table: {out} ({table.height} rows, {table.width} columns)")
    return 0
