"""What the benchmark scripts share: measurements that also work on Windows (the research server), and
a command's wall time with the resident memory of its whole process tree sampled on a thread.

``resource`` (``getrusage``, ``setrlimit``) and ``os.getloadavg`` exist only on POSIX.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil

try:
    import resource
except ImportError:  # Windows
    resource = None  # type: ignore[assignment]


def peak_rss_mb() -> float:
    """Peak resident memory of this process in MiB (Windows: psutil's peak working set)."""
    if resource is None:
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


class TreeSampler:
    """Resident memory of a process and its children, sampled on a thread: [(monotonic time, bytes)]."""

    def __init__(self, pid: int, every: float = 0.25):
        self.proc = psutil.Process(pid)
        self.every = every
        self.samples: list[tuple[float, int]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                procs = [self.proc, *self.proc.children(recursive=True)]
                rss = 0
                for p in procs:
                    try:
                        rss += p.memory_info().rss
                    except psutil.Error:
                        pass
                self.samples.append((time.time(), rss))
            except psutil.Error:
                pass
            self._stop.wait(self.every)

    def __enter__(self) -> TreeSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()

    def peak(self, start: float | None = None, end: float | None = None) -> int:
        vals = [r for t, r in self.samples if (start is None or t >= start) and (end is None or t <= end)]
        return max(vals, default=0)


def run_measured(cmd: list[str], env: dict, log: Path) -> tuple[float, TreeSampler, int]:
    t0 = time.monotonic()
    with log.open("w") as fh:
        proc = subprocess.Popen(cmd, env=env, stdout=fh, stderr=subprocess.STDOUT, text=True)
        with TreeSampler(proc.pid) as sampler:
            proc.wait()
    return time.monotonic() - t0, sampler, proc.returncode
