"""The export bundle: the folder that is sent through DST's transfer tool (pure; no Dagster).

It holds only approved file types (HTML, CSV, PNG, TeX, PDF), ``MANIFEST.txt`` and ``manifest.csv``
(each file with its sha256, size and a one-line description, written for the comment the transfer tool
asks for) and the gate's log (``suppression_log.csv``). It is built in a temporary folder beside the
target, scanned with :func:`assets.report.scan.scan_folder`, and only then renamed into place: a failed
build or a failed scan leaves the last good bundle intact.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path

from assets.io import swap_dir
from assets.report.scan import Finding, format_findings, scan_folder

BUNDLE_SUFFIXES = frozenset({".html", ".csv", ".png", ".tex", ".pdf"})
MANIFEST_FILES = ("MANIFEST.txt", "manifest.csv")


class BundleError(RuntimeError):
    """The bundle could not be built or did not pass the scan; the previous bundle is untouched."""

    def __init__(self, message: str, findings: list[Finding] | None = None):
        super().__init__(message)
        self.findings = findings or []


@dataclass
class BundleResult:
    path: Path
    files: list[dict[str, str]]  # file, sha256, bytes, description
    findings: list[Finding]
    n_suppressed: int

    @property
    def manifest_sha256(self) -> str:
        return hashlib.sha256((self.path / "manifest.csv").read_bytes()).hexdigest()


def sha256_file(p: Path) -> str:
    h = hashlib.sha256()
    with p.open("rb") as fh:
        while block := fh.read(1 << 20):
            h.update(block)
    return h.hexdigest()


def read_contents(report_dir: Path) -> dict[str, str]:
    """``contents.csv`` of a report folder: relative file -> one-line description."""
    p = report_dir / "contents.csv"
    if not p.is_file():
        raise BundleError(f"{p} is missing: render the report first")
    with p.open(encoding="utf-8", newline="") as fh:
        return {r["file"]: r["description"] for r in csv.DictReader(fh)}


def _count_suppressed(log_path: Path) -> int:
    if not log_path.is_file():
        return 0
    with log_path.open(encoding="utf-8", newline="") as fh:
        return sum(1 for r in csv.DictReader(fh) if r.get("action") in ("suppressed", "merged"))


def _manifest_text(
    rows: list[dict[str, str]],
    title: str,
    min_cell: int,
    n_suppressed: int,
    n_rejected: int,
    extra: dict[str, str],
) -> str:
    lines = [
        f"Export bundle: {title}",
        f"Created (UTC): {dt.datetime.now(dt.UTC).strftime('%Y-%m-%d %H:%M')}",
        "Content: aggregate tables, model estimates (coefficients, standard errors, confidence intervals, "
        "p-values, counts) and figures drawn from those tables. No microdata, no person keys (PNR), no "
        "per-person scores, predictions or residuals.",
        f"Disclosure control: every published count is at least {min_cell} (DST minimum 3); small cells "
        f"suppressed with secondary suppression; {n_suppressed} cell(s) suppressed or merged, {n_rejected} "
        "table(s) withheld; details in suppression_log.csv. Scanned for PNR-like strings, small counts and "
        "file types before export: no findings.",
    ]
    lines += [f"{k}: {v}" for k, v in extra.items()]
    lines += ["", "Files (sha256, bytes, description):"]
    for r in rows:
        lines.append(f"{r['file']}  sha256={r['sha256']}  bytes={r['bytes']}  {r['description']}")
    return "\n".join(lines) + "\n"


def build_bundle(
    report_dir: str | Path,
    target: str | Path | None = None,
    min_cell: int = 5,
    title: str = "regdml: digital versus in-person jobsamtaler and exit to employment",
    extra: dict[str, str] | None = None,
) -> BundleResult:
    """Copy the report's listed files into a fresh bundle, write the manifests, scan, then swap in.

    Parameters
    ----------
    report_dir : path
        The report folder written by :func:`assets.report.render.write_report`.
    target : path, optional
        The bundle folder (default ``report_dir/export_bundle``).
    min_cell : int
        Minimum count for the scan.
    extra : dict, optional
        More ``key: value`` lines for MANIFEST.txt (e.g. code version, delivery manifest hash).

    Raises
    ------
    BundleError
        A file outside the approved types, a missing file, or any scan finding; the old bundle stays.
    """
    rdir = Path(report_dir)
    tgt = Path(target) if target is not None else rdir / "export_bundle"
    tgt.parent.mkdir(parents=True, exist_ok=True)
    contents = read_contents(rdir)
    tmp = tgt.parent / f".{tgt.name}.tmp-{uuid.uuid4().hex}"
    try:
        tmp.mkdir()
        rows: list[dict[str, str]] = []
        for rel, desc in sorted(contents.items()):
            src = rdir / rel
            if Path(rel).is_absolute() or ".." in Path(rel).parts:
                raise BundleError(f"refusing a path outside the report folder: {rel}")
            if src.suffix.lower() not in BUNDLE_SUFFIXES:
                raise BundleError(f"refusing {rel}: file type '{src.suffix}' is not approved for export")
            if not src.is_file():
                raise BundleError(f"{rel} is listed in contents.csv but missing")
            dst = tmp / rel
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(src, dst)
            rows.append(
                {
                    "file": rel,
                    "sha256": sha256_file(dst),
                    "bytes": str(dst.stat().st_size),
                    "description": " ".join(desc.split()),
                }
            )
        if "suppression_log.csv" not in contents:
            raise BundleError("the gate's log (suppression_log.csv) is missing from the report")
        log_path = tmp / "suppression_log.csv"
        n_supp = _count_suppressed(log_path)
        with log_path.open(encoding="utf-8", newline="") as fh:
            n_rej = sum(1 for r in csv.DictReader(fh) if r.get("action") == "rejected")
        buf = io.StringIO()
        w = csv.DictWriter(buf, fieldnames=["file", "sha256", "bytes", "description"], lineterminator="\n")
        w.writeheader()
        w.writerows(rows)
        (tmp / "manifest.csv").write_text(buf.getvalue(), encoding="utf-8")
        (tmp / "MANIFEST.txt").write_text(
            _manifest_text(rows, title, min_cell, n_supp, n_rej, extra or {}), encoding="utf-8"
        )
        # last step: the scan, as output control would run it
        findings = scan_folder(tmp, min_cell=min_cell)
        if findings:
            raise BundleError(
                "the export bundle did not pass the output-control scan:\n" + format_findings(findings),
                findings,
            )
        # swap in: the old bundle is moved aside only once the new one is complete and clean
        swap_dir(tmp, tgt)
        return BundleResult(path=tgt, files=rows, findings=[], n_suppressed=n_supp)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
