"""What the benchmark scripts measure in a way that also works on Windows (the research server).

``resource`` (``getrusage``, ``setrlimit``) and ``os.getloadavg`` exist only on POSIX.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

try:
    import resource
except ImportError:  # Windows
    resource = None  # type: ignore[assignment]


def peak_rss_mb() -> float:
    """Peak resident memory of this process in MiB (Windows: psutil's peak working set)."""
    if resource is None:
        import psutil

        return psutil.Process().memory_info().peak_wset / 2**20
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    # ru_maxrss is in KiB on Linux but in bytes on macOS.
    return peak / 2**20 if sys.platform == "darwin" else peak / 1024


def limit_address_space(gib: float) -> None:
    """Cap this process's address space (POSIX only; refused with a message on Windows)."""
    if resource is None:
        raise SystemExit("--as-limit-gb needs resource.setrlimit, which Windows does not have")
    limit = int(gib * 2**30)
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


def load_average() -> float | None:
    """The 1-minute load average, or None where the system has none (Windows)."""
    return round(os.getloadavg()[0], 1) if hasattr(os, "getloadavg") else None


def scratch_dir(name: str) -> Path:
    """A default work folder under the system's temporary folder (not a hard-coded /tmp)."""
    return Path(tempfile.gettempdir()) / name
