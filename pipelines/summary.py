"""The closing summary of ``regdml run``: what was estimated, on how many, and where the outputs are.

Everything printed here is an aggregate that passes the same disclosure rules as the report.
"""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl

from pipelines.resources import RunPaths


def _show(title: str, df: pl.DataFrame) -> None:
    with pl.Config(
        tbl_rows=80, tbl_cols=20, tbl_width_chars=180, tbl_hide_dataframe_shape=True, float_precision=4
    ):
        print(f"\n== {title}")
        print(df)


def print_run_summary(paths: RunPaths, truth: Path | None = None) -> None:
    work = paths.work_dir
    flow = work / "treatment" / "sample_flow.parquet"
    if flow.is_file():
        _show("Sample flow (eligible meetings, rule by rule)", pl.read_parquet(flow))
    est = work / "estimation" / "estimates.parquet"
    if est.is_file():
        df = pl.read_parquet(est)
        keep = [c for c in ("outcome", "design", "estimate", "se", "ci_low", "ci_high", "n", "n_treated", "n_trimmed") if c in df.columns]
        df = df.select(keep)
        if truth is not None and Path(truth).is_file():
            df = attach_truth(df, json.loads(Path(truth).read_text(encoding="utf-8")))
        _show("Estimates (effect of a digital rather than in-person jobsamtale)", df)
    for name, rel in (("report", "report/report.html"), ("export bundle", "report/export_bundle")):
        p = work / rel
        if p.exists():
            print(f"{name}: {p}")
    print(f"outputs: {work}")


def attach_truth(estimates: pl.DataFrame, truth: dict) -> pl.DataFrame:
    """Add the synthetic delivery's true ATT/ATE beside each estimate (IRM-ATT -> ATT, else ATE)."""
    rows = []
    overall = truth.get("overall", truth.get("outcomes", {}))
    for outcome, design in estimates.select("outcome", "design").iter_rows():
        t = overall.get(outcome, {}) if isinstance(overall, dict) else {}
        key = "att" if design in ("irm_att", "naive", "plr", "pliv") and "att" in t else "ate"
        if design == "irm_ate":
            key = "ate"
        rows.append(t.get(key))
    return estimates.with_columns(pl.Series("true_value", rows, dtype=pl.Float64))
