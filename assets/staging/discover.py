"""Find a delivery's register files by their configurable name patterns (no Dagster import).

Patterns (``RunConfig.file_patterns``) are regular expressions matched against the lower-cased file name
without its extension, with optional named groups ``year`` and ``month``. Extensions ``.sas7bdat``,
``.parquet`` and ``.csv`` are accepted in any case. A register without any file is an error (but for the
optional ones, ``OPTIONAL_REGISTERS``); a file that
matches no pattern is reported as a warning and ignored.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from data_contracts.config import OPTIONAL_REGISTERS
from data_contracts.validation import DeliveryError, Problem

FORMATS = {".sas7bdat": "sas7bdat", ".parquet": "parquet", ".csv": "csv"}


@dataclass(frozen=True)
class DeliveredFile:
    """One delivered file: a register for one period."""

    path: Path
    register: str
    format: str
    year: int | None = None
    month: int | None = None

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def period(self) -> str:
        if self.year is None:
            return ""
        return f"{self.year:04d}" if self.month is None else f"{self.year:04d}-{self.month:02d}"


@dataclass
class Discovery:
    """The register files of a delivery folder, the files matching no pattern, the registers missing."""

    delivery_dir: Path
    files: list[DeliveredFile] = field(default_factory=list)
    unmatched: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    patterns: dict[str, str] = field(default_factory=dict)

    def of(self, register: str) -> list[DeliveredFile]:
        return [f for f in self.files if f.register == register]

    @property
    def warnings(self) -> list[str]:
        return [f"{name}: matches no register's file-name pattern; ignored" for name in self.unmatched]

    def raise_for_problems(self, registers: Iterable[str] | None = None) -> None:
        """Raise :class:`DeliveryError` for missing registers or bad names (only ``registers`` if given)."""
        wanted = set(registers) if registers is not None else None
        probs = [p for p in self.problems if wanted is None or p.column in wanted or p.column is None]
        probs += [
            Problem(
                f"delivery {self.delivery_dir}",
                None,
                0,
                f"register '{r}' is missing: no .sas7bdat/.parquet/.csv file name matches {self.patterns.get(r, '')!r}",
            )
            for r in self.missing
            if wanted is None or r in wanted
        ]
        if probs:
            raise DeliveryError(probs)


def discover(delivery_dir: str | Path, file_patterns: Mapping[str, str]) -> Discovery:
    """List a delivery folder's register files.

    Parameters
    ----------
    delivery_dir : folder of the delivery (read only; not searched recursively)
    file_patterns : register name -> regular expression on the lower-cased file stem

    Returns
    -------
    Discovery
        ``files`` sorted by register and period; ``unmatched`` file names (warnings); ``missing``
        registers (errors, raised by :meth:`Discovery.raise_for_problems`).
    """
    root = Path(delivery_dir)
    if not root.is_dir():
        raise DeliveryError(Problem(str(root), None, 0, "delivery folder does not exist"))
    compiled = {reg: re.compile(pat) for reg, pat in file_patterns.items()}
    out = Discovery(delivery_dir=root, patterns=dict(file_patterns))
    seen: dict[tuple[str, int | None, int | None], str] = {}
    for path in sorted(root.iterdir(), key=lambda p: p.name.lower()):
        if not path.is_file() or path.name.startswith("."):
            continue
        fmt = FORMATS.get(path.suffix.lower())
        if fmt is None:
            out.unmatched.append(path.name)
            continue
        stem = path.name[: -len(path.suffix)].lower()
        hits = [(reg, m) for reg, rx in compiled.items() if (m := rx.search(stem))]
        if not hits:
            out.unmatched.append(path.name)
            continue
        if len(hits) > 1:
            out.problems.append(
                Problem(
                    path.name,
                    None,
                    0,
                    f"matches the patterns of several registers ({', '.join(r for r, _ in hits)})",
                )
            )
            continue
        reg, m = hits[0]
        groups = m.groupdict()
        year = int(groups["year"]) if groups.get("year") else None
        month = int(groups["month"]) if groups.get("month") else None
        if month is not None and not 1 <= month <= 12:
            out.problems.append(
                Problem(path.name, None, 0, f"month {month:02d} in the file name is not a month")
            )
            continue
        k = (reg, year, month)
        if k in seen:
            out.problems.append(
                Problem(
                    path.name, None, 0, f"same register and period as {seen[k]} (two files for one period)"
                )
            )
            continue
        seen[k] = path.name
        out.files.append(DeliveredFile(path=path, register=reg, format=fmt, year=year, month=month))
    found = {f.register for f in out.files}
    out.missing = [r for r in file_patterns if r not in found and r not in OPTIONAL_REGISTERS]
    order = list(file_patterns)
    out.files.sort(key=lambda f: (order.index(f.register), f.year or 0, f.month or 0, f.name))
    return out
