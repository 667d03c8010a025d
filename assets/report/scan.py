"""Check a folder as DST's output control would (pure; no Dagster).

Findings:
- ``file_type``: a file whose type is not approved (anything but html, csv, png, tex, pdf, txt, md);
- ``pnr``: a 10-digit string (``DDMMYYSSSS`` or ``DDMMYY-SSSS``) in a text, CSV, HTML, TeX or Markdown
  file, or any value of a column named like a person key (pnr, cpr, person_id, ...) in a CSV file;
- ``small_cell``: a count below the minimum in a CSV column named like a count (n, n_*, count, antal,
  units_*, *_count).

A finding names the file, the line and column, and what was found; a suspected identifier is masked.
Embedded base64 images (``data:image/...;base64,...``) are not scanned as text, and digits after a
decimal point are part of a number, not an identifier (a decimal comma is NOT exempt: in a CSV file the
comma separates cells).
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
from pathlib import Path

from models.disclosure import DEFAULT_MIN_CELL, KEY_NAME_RE, is_small, mask

ALLOWED_SUFFIXES = frozenset({".html", ".csv", ".png", ".tex", ".pdf", ".txt", ".md"})
TEXT_SUFFIXES = frozenset({".html", ".csv", ".tex", ".txt", ".md"})
# a 10-digit run (optionally DDMMYY-SSSS) that is not part of a longer alphanumeric token and not the
# fraction of a decimal number (digits after a '.'); '1234567890.5' is still flagged
PNR_RE = re.compile(r"(?<![0-9A-Za-z.])(\d{6}-?\d{4})(?![0-9A-Za-z])")
DATA_URI_RE = re.compile(r"data:[a-z]+/[a-z0-9.+-]+;base64,[A-Za-z0-9+/=\s]+")
COUNT_HEADER_RE = re.compile(r"^(n|n_.*|count|count_.*|.*_count|antal|antal_.*|units_.*)$", re.IGNORECASE)


@dataclass(frozen=True)
class Finding:
    file: str
    line: int
    column: int | str
    kind: str
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}: [{self.kind}] {self.message}"


def _scan_text(rel: str, text: str) -> list[Finding]:
    out: list[Finding] = []
    for ln, line in enumerate(text.splitlines(), start=1):
        if "base64," in line:
            line = DATA_URI_RE.sub(lambda m: " " * len(m.group(0)), line)
        for m in PNR_RE.finditer(line):
            out.append(
                Finding(
                    rel,
                    ln,
                    m.start(1) + 1,
                    "pnr",
                    f"10-digit string that looks like a CPR/PNR: {mask(m.group(1))}",
                )
            )
    return out


def _to_number(s: str) -> float | None:
    s = s.strip()
    if not s:
        return None
    try:
        return float(s)
    except ValueError:
        return None


def _scan_csv(rel: str, text: str, min_cell: int) -> list[Finding]:
    out: list[Finding] = []
    try:
        rows = list(csv.reader(io.StringIO(text)))
    except csv.Error as e:
        return [Finding(rel, 0, 0, "unreadable", f"CSV could not be parsed ({e}); check by hand")]
    if not rows:
        return out
    header = [h.strip() for h in rows[0]]
    for h in header:
        if KEY_NAME_RE.match(h):
            out.append(Finding(rel, 1, h, "pnr", f"column '{h}' is named like a person or firm key"))
    key_cols = {j for j, h in enumerate(header) if KEY_NAME_RE.match(h)}
    count_cols = {j for j, h in enumerate(header) if COUNT_HEADER_RE.match(h)}
    for ln, row in enumerate(rows[1:], start=2):
        for j, cell in enumerate(row):
            col = header[j] if j < len(header) else str(j + 1)
            if j in key_cols and cell.strip():
                out.append(Finding(rel, ln, col, "pnr", f"value of a key column: {mask(cell.strip())}"))
            elif j in count_cols:
                v = _to_number(cell)
                if is_small(v, min_cell):
                    out.append(Finding(rel, ln, col, "small_cell", f"count below {min_cell}"))
    return out


def scan_folder(folder: str | Path, min_cell: int = DEFAULT_MIN_CELL) -> list[Finding]:
    """Every finding in ``folder`` (recursively), in file order."""
    root = Path(folder)
    if not root.is_dir():
        return [Finding(str(root), 0, 0, "missing", "not a folder")]
    findings: list[Finding] = []
    for p in sorted(root.rglob("*")):
        if p.is_dir():
            continue
        rel = p.relative_to(root).as_posix()
        suffix = p.suffix.lower()
        if p.is_symlink():
            findings.append(Finding(rel, 0, 0, "file_type", "symbolic link (not allowed in an export)"))
            continue
        if suffix not in ALLOWED_SUFFIXES:
            findings.append(
                Finding(
                    rel, 0, 0, "file_type", f"file type '{suffix or '(none)'}' is not approved for export"
                )
            )
            continue
        if suffix == ".png":
            if not p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n":
                findings.append(Finding(rel, 0, 0, "file_type", "named .png but is not a PNG image"))
            continue
        if suffix == ".pdf":
            if not p.read_bytes()[:5] == b"%PDF-":
                findings.append(Finding(rel, 0, 0, "file_type", "named .pdf but is not a PDF"))
            continue
        if suffix in TEXT_SUFFIXES:
            raw = p.read_bytes()
            if b"\x00" in raw:
                findings.append(Finding(rel, 0, 0, "file_type", "binary content in a text file"))
                continue
            text = raw.decode("utf-8", errors="replace")
            findings.extend(_scan_text(rel, text))
            if suffix == ".csv":
                findings.extend(_scan_csv(rel, text, min_cell))
    return findings


def format_findings(findings: list[Finding]) -> str:
    if not findings:
        return "output control scan: no findings"
    lines = [f"output control scan: {len(findings)} finding(s)"]
    lines += [f"  {f}" for f in findings]
    return "\n".join(lines)
