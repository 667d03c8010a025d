"""The report put together: gate, figures, and the HTML from the Jinja2 templates (autoescaped), then
written with its tables, figures, suppression log and contents.

No Dagster. Entry points: :func:`build_report` (in memory), :func:`write_report` (a report folder) and
:func:`render_run` (read a run folder, build, write).
"""

from __future__ import annotations

import datetime as dt
import platform
import re
import shutil
import subprocess
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from importlib import metadata
from pathlib import Path
from typing import Any

import jinja2
import polars as pl

from assets.io import replace_path, swap_dir
from assets.report.render.cells import html_cells, to_csv, to_latex
from assets.report.render.diagnostic_figures import fig_feasibility, fig_modality, fig_sensitivity, fig_value
from assets.report.render.figures import (
    FigureLabelError,
    FigureRecord,
    fig_balance,
    fig_forest,
    fig_group_effects,
    fig_overlap,
    fig_power,
    fig_share_by_municipality,
    fig_share_month,
    fig_share_municipality,
    plt,
)
from assets.report.render.gating import gate_all, gate_value_into
from assets.report.render.inputs import ReportInputs, load_inputs
from assets.report.render.sections import SECTIONS, incomplete_sections
from assets.report.render.text import (
    DESIGN_LABELS,
    feasibility_verdict,
    headlines,
    run_status,
    trimming_warnings,
    value_text,
)
from assets.report.render.truth import normalize_truth
from data_contracts.config import FINAL_MIN_REPS
from models.disclosure import GateResult

PACKAGES = ("polars", "duckdb", "pandas", "numpy", "scipy", "doubleml", "lightgbm", "scikit-learn", "dagster",
            "matplotlib", "pyarrow", "pydantic")  # fmt: skip
TITLE = "Digital versus in-person jobsamtaler and exit to employment"


def _link_parts(text: str) -> list[tuple[str, bool]]:
    """``text`` cut into (part, is a web address) pieces, so the template links the addresses (the
    sources of the value section's inputs)."""
    parts = re.split(r"(https?://[^\s;<>\"']+)", text)
    return [(p, i % 2 == 1) for i, p in enumerate(parts) if p]


@cache
def environment() -> jinja2.Environment:
    """The templates shipped in this package, HTML autoescaped."""
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("assets.report.render", "templates"),
        autoescape=jinja2.select_autoescape(["html"]),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
    )
    env.filters["link_parts"] = _link_parts
    return env


def section_intro(section_id: str, cfg: Any = None) -> str:
    """A section's fixed prose as the report shows it (HTML)."""
    return environment().get_template(f"sections/{section_id}.html").render(value=None, cfg=cfg)


def code_version() -> str:
    """``git describe`` of the code, else the installed package's version."""
    here = Path(__file__).resolve().parent
    try:
        out = subprocess.run(["git", "-C", str(here), "describe", "--always", "--dirty", "--abbrev=12"],
                             capture_output=True, text=True, timeout=10)  # fmt: skip
        if out.returncode == 0 and out.stdout.strip():
            return out.stdout.strip()
    except Exception:  # noqa: BLE001 - no git: the package version below
        pass
    try:
        return "regdml " + metadata.version("regdml")
    except metadata.PackageNotFoundError:
        return "unknown"


def package_versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for p in PACKAGES:
        try:
            out[p] = metadata.version(p)
        except metadata.PackageNotFoundError:
            out[p] = "not installed"
    return out


@dataclass
class Report:
    html: str
    results: dict[str, GateResult]
    figures: list[FigureRecord]
    log: pl.DataFrame
    headlines: list[str]
    missing: list[str]
    # configured sections without an approved table -> why (the report asset's blocking check)
    incomplete: dict[str, str]

    @property
    def n_suppressed(self) -> int:
        return int(self.log["action"].is_in(["suppressed", "merged"]).sum()) if self.log.height else 0

    @property
    def rejected(self) -> dict[str, str]:
        return {k: r.reason for k, r in self.results.items() if not r.approved}


def _draw(results: dict[str, GateResult], cfg: Any, value_numeric: GateResult | None):
    """The figures of the approved tables, by table, and the figures that could not be drawn."""
    outcomes = list(cfg.estimation.primary_outcomes)
    fig_fns = {
        "digital_share_by_month": fig_share_month,
        "digital_share_by_municipality": fig_share_by_municipality,
        "digital_share_by_municipality_month": fig_share_municipality,
        "estimates": fig_forest,
        "modality_contrasts": lambda r: fig_modality(r, results.get("forms_by_month")),
        "overlap": lambda r: fig_overlap(r, outcomes),
        "balance": lambda r: fig_balance(r, outcomes),
        "sensitivity": lambda r: fig_sensitivity(r, outcomes),
        "group_effects": lambda r: fig_group_effects(r, outcomes),
        "power": fig_power,
        "value": lambda r: fig_value(value_numeric) if value_numeric is not None else None,
        "feasibility": lambda r: fig_feasibility(r, cfg.estimation.feasibility_effect),
    }
    by_table: dict[str, list[FigureRecord]] = {}
    errors: dict[str, list[str]] = {}
    for tname, fn in fig_fns.items():
        r = results.get(tname)
        if r is None or not r.approved:
            continue
        try:
            f = fn(r)
        except FigureLabelError:
            raise
        except Exception as e:  # noqa: BLE001 - a figure that cannot be drawn is named in its section
            plt.close("all")
            errors.setdefault(tname, []).append(f"{type(e).__name__}: {e}")
            continue
        if f is not None:
            assert all(results[s].approved for s in f.source_tables), "figure from an unapproved table"
            by_table.setdefault(tname, []).append(f)
    return by_table, errors


def build_report(
    inp: ReportInputs,
    cfg: Any,
    truth: Mapping[str, Any] | None = None,
    title: str = TITLE,
    draw_figures: bool = True,
) -> Report:
    """Gate every table, draw the figures from the approved tables and compose the HTML (in memory).

    ``truth`` is the synthetic generator's truth document (or its :func:`normalize_truth` form);
    ``draw_figures=False`` leaves the figures out (quick previews and tests of the tables only).
    """
    synthetic = truth is not None
    truth = normalize_truth(truth) if truth and "effects" in truth else truth
    min_cell = cfg.disclosure.min_cell
    results, log = gate_all(inp, truth, min_cell)
    value_numeric = gate_value_into(inp, cfg, results, min_cell)
    if value_numeric is not None:
        log = pl.concat([log, value_numeric.log_frame()], how="vertical_relaxed")
    figs, fig_errors = _draw(results, cfg, value_numeric) if draw_figures else ({}, {})
    heads = headlines(results, cfg, synthetic)
    missing: list[str] = []
    sections = []
    for s in SECTIONS:
        tables = []
        for t in s.tables:
            r = results.get(t)
            if r is None:
                missing.append(t)
                tables.append({"name": t, "state": "missing"})
            elif not r.approved:
                tables.append({"name": t, "state": "rejected", "reason": r.reason})
            else:
                tables.append({"name": t, "state": "ok", "description": r.description, "cells": html_cells(r),
                               "figures": figs.get(t, []), "figure_errors": fig_errors.get(t, [])})  # fmt: skip
        sections.append({"id": s.id, "title": s.title, "tables": tables})
    lines, why = feasibility_verdict(results.get("feasibility"), cfg)
    rej = log.filter(pl.col("action") == "rejected") if log.height else log
    seeds = (
        sorted({str(s) for s in inp.estimates["seed"].to_list()})
        if inp.estimates is not None and "seed" in inp.estimates.columns
        else []
    )
    repro = [
        ("code version", code_version()),
        ("configuration sha256", cfg.sha256),
        ("delivery", inp.delivery_name or "unknown"),
        ("delivery manifest sha256", inp.delivery_manifest_sha256 or "no delivery manifest found"),
        ("seed (configuration)", str(cfg.estimation.seed)),
        ("seeds (estimates)", ", ".join(seeds) or "n/a"),
        ("generated (UTC)", dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M")),
        ("inputs", "; ".join(f"{k}: {v}" for k, v in sorted(inp.sources.items())) or "none"),
    ] + [(f"package {k}", v) for k, v in package_versions().items()]
    html = (
        environment()
        .get_template("report.html")
        .render(
            title=title,
            synthetic=synthetic,
            verdict={"lines": lines, "why": why},
            exploratory=run_status(cfg) if cfg.estimation.n_reps < FINAL_MIN_REPS else "",
            trimming=trimming_warnings(inp.estimates, min_cell),
            headlines=heads,
            cohort=cfg.cohort,
            min_cell=min_cell,
            data_notes=inp.data_notes,
            sections=sections,
            value=value_text(value_numeric, cfg),
            cfg=cfg,
            design_labels=[DESIGN_LABELS.get(d, d) for d in cfg.estimation.designs],
            n_suppressed=log.height - rej.height,
            rejected=list(rej.select("table", "reason").iter_rows()) if rej.height else [],
            repro=repro,
            config_yaml=cfg.to_yaml(),
        )
    )
    return Report(html=html, results=results, figures=[f for fs in figs.values() for f in fs], log=log,
                  headlines=heads, missing=missing, incomplete=incomplete_sections(results, inp, cfg))  # fmt: skip


@dataclass
class WrittenReport:
    report_dir: Path
    html_path: Path
    files: dict[str, str]  # relative path -> description
    report: Report


def write_report(report: Report, report_dir: str | Path, min_cell: int) -> WrittenReport:
    """Write report.html, tables/*.csv|tex, figures/*.png, suppression_log.csv, contents.csv.

    Built in a temporary folder beside ``report_dir`` and moved into place, so a failure leaves the last
    good report; ``report_dir/export_bundle`` (written by the bundle step) is left alone.
    """
    root = Path(report_dir)
    root.mkdir(parents=True, exist_ok=True)
    tmp = root / f".render-{uuid.uuid4().hex}"
    files: dict[str, str] = {}
    try:
        (tmp / "tables").mkdir(parents=True)
        (tmp / "figures").mkdir()
        (tmp / "report.html").write_text(report.html, encoding="utf-8")
        files["report.html"] = (
            "The report: question, data, estimates, diagnostics, methods (self-contained HTML)"
        )
        for name, r in report.results.items():
            if not r.approved:
                continue
            (tmp / "tables" / f"{name}.csv").write_text(to_csv(r), encoding="utf-8")
            (tmp / "tables" / f"{name}.tex").write_text(to_latex(r, min_cell), encoding="utf-8")
            files[f"tables/{name}.csv"] = f"{r.description} (CSV; s = suppressed)"
            files[f"tables/{name}.tex"] = f"{r.description} (LaTeX)"
        for f in report.figures:
            (tmp / "figures" / f"{f.name}.png").write_bytes(f.png)
            files[f"figures/{f.name}.png"] = f"Figure: {f.title}"
        report.log.write_csv(tmp / "suppression_log.csv")
        files["suppression_log.csv"] = (
            "Disclosure-control log: suppressed/merged cells and tables not exported"
        )
        pl.DataFrame({"file": list(files), "description": list(files.values())}).write_csv(
            tmp / "contents.csv"
        )
        for sub in ("tables", "figures"):
            swap_dir(tmp / sub, root / sub)
        for fname in ("suppression_log.csv", "contents.csv", "report.html"):
            replace_path(tmp / fname, root / fname)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return WrittenReport(report_dir=root, html_path=root / "report.html", files=files, report=report)


def render_run(
    work_dir: str | Path,
    cfg: Any,
    truth: Mapping[str, Any] | None = None,
    report_dir: str | Path | None = None,
) -> WrittenReport:
    """Read a run folder, build and write its report (``<work_dir>/report`` by default)."""
    inp = load_inputs(work_dir)
    rep = build_report(inp, cfg, truth=truth)
    return write_report(rep, report_dir or Path(work_dir) / "report", cfg.disclosure.min_cell)
