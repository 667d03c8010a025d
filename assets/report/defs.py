"""Dagster wrappers of the report stage: ``report`` (HTML + tables) and ``export_bundle`` (what leaves the
server), with a blocking check that the bundle passes the output-control scan.

The logic lives in the package ``assets/report/render/``, ``bundle.py`` and ``scan.py`` (no Dagster there).
The report carries a blocking check, :data:`SECTIONS_CHECK`: a section the run configuration asks for with
no approved table fails it (naming the section and the missing files or the gate's reasons), so that
``export_bundle`` does not ship a report with an empty section. The truth file of a synthetic delivery
comes from the resource's ``truth_path`` when it has one, else from the environment variable
``REGDML_TRUTH``; it is optional.
"""

import dagster as dg

from assets.code_version import stage_version
from assets.partitions import deliveries as DELIVERIES
from assets.report.bundle import BundleError, build_bundle
from assets.report.render import ReportInputError, code_version, load_truth, render_run, run_status
from assets.report.scan import format_findings, scan_folder
from assets.resources import RegdmlResource
from data_contracts.settings import Settings

# follows the code this stage runs (assets/code_version.py)
REPORT_CODE_VERSION = stage_version("report")
GROUP = "report"
OWNERS = ["team:report"]
EXTRA_DEPS = ("analysis_table", "permutation_placebo", "reversed_trial_power", "meeting_value")
# The run configuration's sections the table build does not read (assets/raw/defs.py): the report shows
# them, so a change in either makes it stale even where no table it reads changed.
CONFIG_DEPS = ("config_estimation", "config_value")
SCAN_CHECK = "output_control_scan"
SECTIONS_CHECK = "report_sections_complete"


def truth_path(regdml: RegdmlResource) -> str:
    """The synthetic delivery's truth file: resource ``truth_path`` if set, else ``REGDML_TRUTH``."""
    return str(getattr(regdml, "truth_path", "") or Settings.from_env().truth)


def _md_list(items: dict[str, str]) -> dg.MetadataValue:
    if not items:
        return dg.MetadataValue.md("none")
    return dg.MetadataValue.md("\n".join(f"- **{k}**: {v}" for k, v in items.items()))


@dg.asset(
    partitions_def=DELIVERIES,
    name="report",
    group_name=GROUP,
    # estimates and sample_flow as agreed; the others write tables the report reads (digital shares,
    # placebos, power), so the report must run after them. A dep on a key that does not exist only
    # becomes an external asset.
    deps=[
        dg.AssetKey("estimates"),
        dg.AssetKey("sample_flow"),
        *[dg.AssetKey(k) for k in (*EXTRA_DEPS, *CONFIG_DEPS)],
    ],
    code_version=REPORT_CODE_VERSION,
    owners=OWNERS,
    kinds={"html", "python"},
    check_specs=[
        dg.AssetCheckSpec(
            SECTIONS_CHECK,
            asset="report",
            blocking=True,
            description="Every section the run configuration asks for has an approved table",
        )
    ],
    description="The report: one self-contained HTML file, every table as CSV and LaTeX, all gated.\n\n"
    "Every table passes the disclosure gate (models/disclosure.py) before it is shown, written or plotted. "
    "Writes report/report.html, report/tables/, report/figures/, report/suppression_log.csv, "
    "report/contents.csv.",
)
def report(context: dg.AssetExecutionContext, regdml: RegdmlResource) -> dg.MaterializeResult:
    paths = regdml.paths(context)
    cfg = regdml.run_config()
    tp = truth_path(regdml)
    truth = load_truth(tp) if tp else None
    if tp and truth is None:
        context.log.warning(f"truth file {tp} not found or not understood: the report shows no true values")
    try:
        written = render_run(paths.work_dir, cfg, truth=truth, report_dir=paths.stage("report"))
    except ReportInputError as e:
        # a producer and the report disagree on a file's columns: say which, without a stack trace
        raise dg.Failure(description=str(e)) from e
    rep = written.report
    for name, why in rep.rejected.items():
        context.log.warning(f"table '{name}' is not exported: {why}")
    incomplete = rep.incomplete
    return dg.MaterializeResult(
        metadata={
            "report_html": dg.MetadataValue.path(str(written.html_path)),
            "report_dir": dg.MetadataValue.path(str(written.report_dir)),
            "tables": len([f for f in written.files if f.endswith(".csv") and f.startswith("tables/")]),
            "figures": len(rep.figures),
            "suppressed_cells": rep.n_suppressed,
            "tables_not_exported": _md_list(rep.rejected),
            "sections_without_data": ", ".join(rep.missing) or "none",
            "synthetic": truth is not None,
            "headline": dg.MetadataValue.md("\n".join(f"- {h}" for h in rep.headlines)),
        },
        check_results=[
            dg.AssetCheckResult(
                check_name=SECTIONS_CHECK,
                passed=not incomplete,
                severity=dg.AssetCheckSeverity.ERROR,
                description="; ".join(incomplete.values())
                or "every configured section has an approved table",
                metadata={"incomplete_sections": _md_list(incomplete)},
            )
        ],
    )


@dg.asset(
    partitions_def=DELIVERIES,
    name="export_bundle",
    group_name=GROUP,
    deps=[report],
    code_version=REPORT_CODE_VERSION,
    owners=OWNERS,
    kinds={"python"},
    check_specs=[
        dg.AssetCheckSpec(
            SCAN_CHECK,
            asset="export_bundle",
            blocking=True,
            description="The bundle passes the output-control scan (PNR-like strings, "
            "small counts, file types)",
        )
    ],
    description="The export bundle that leaves the server: approved files, manifest, suppression log.\n\n"
    "report/export_bundle/: HTML, CSV, PNG and TeX only, MANIFEST.txt and manifest.csv with sha256 and a "
    "one-line description per file, the gate's log. Built atomically and scanned before it replaces the "
    "last good bundle.",
)
def export_bundle(context: dg.AssetExecutionContext, regdml: RegdmlResource):
    paths = regdml.paths(context)
    cfg = regdml.run_config()
    report_dir = paths.stage("report")
    extra = {
        "Code version": code_version(),
        "Configuration sha256": cfg.sha256,
        "Delivery": paths.delivery_dir.name,
        "Run": run_status(cfg),
    }
    try:
        res = build_bundle(
            report_dir, report_dir / "export_bundle", min_cell=cfg.disclosure.min_cell, extra=extra
        )
    except BundleError as e:
        raise dg.Failure(description=str(e), metadata={"findings": len(e.findings)}) from e
    findings = scan_folder(res.path, min_cell=cfg.disclosure.min_cell)
    yield dg.MaterializeResult(
        metadata={
            "bundle_dir": dg.MetadataValue.path(str(res.path)),
            "manifest": dg.MetadataValue.path(str(res.path / "MANIFEST.txt")),
            "files": len(res.files),
            "suppressed_cells": res.n_suppressed,
            "manifest_sha256": res.manifest_sha256,
        },
        check_results=[
            dg.AssetCheckResult(
                check_name=SCAN_CHECK,
                passed=not findings,
                severity=dg.AssetCheckSeverity.ERROR,
                metadata={
                    "findings": len(findings),
                    "report": dg.MetadataValue.md("```\n" + format_findings(findings) + "\n```"),
                },
            )
        ],
    )


@dg.asset_check(
    asset="export_bundle",
    name="bundle_manifest_matches",
    blocking=True,
    description="Every file in the bundle is in manifest.csv with the right sha256, and nothing else",
)
def bundle_manifest_matches(
    context: dg.AssetCheckExecutionContext, regdml: RegdmlResource
) -> dg.AssetCheckResult:
    import csv

    from assets.report.bundle import MANIFEST_FILES, sha256_file

    bdir = regdml.paths(None).work_dir / "report" / "export_bundle"
    problems: list[str] = []
    listed: dict[str, str] = {}
    mpath = bdir / "manifest.csv"
    if not mpath.is_file():
        problems.append("manifest.csv missing")
    else:
        with mpath.open(encoding="utf-8", newline="") as fh:
            listed = {r["file"]: r["sha256"] for r in csv.DictReader(fh)}
    present = (
        {p.relative_to(bdir).as_posix() for p in bdir.rglob("*") if p.is_file()} if bdir.is_dir() else set()
    )
    for f in sorted(present - set(listed) - set(MANIFEST_FILES)):
        problems.append(f"{f}: not in the manifest")
    for f, h in sorted(listed.items()):
        if f not in present:
            problems.append(f"{f}: in the manifest but missing")
        elif sha256_file(bdir / f) != h:
            problems.append(f"{f}: sha256 differs from the manifest")
    return dg.AssetCheckResult(
        passed=not problems,
        metadata={"problems": dg.MetadataValue.md("\n".join(f"- {p}" for p in problems) or "none")},
    )


ASSETS = [report, export_bundle]
CHECKS = [bundle_manifest_matches]
