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


def load_average() -> float | None:
    """The 1-minute load average, or None where the system has none (Windows)."""
    return round(os.getloadavg()[0], 1) if hasattr(os, "getloadavg") else None


def scratch_dir(name: str) -> Path:
    """A default work folder under the system's temporary folder (not a hard-coded /tmp)."""
    return Path(tempfile.gettempdir()) / name


class TreeSampler:
    """Resident memory of a process and its children, sampled on a thread: [(time, bytes)].

    With ``kill_above`` (bytes), the tree is killed as soon as a sample exceeds it and ``killed_at`` holds
    that sample: a baseline that does not fit is stopped before it fills a shared machine. A resident cap,
    not an address-space one: ``RLIMIT_AS`` counts reserved but untouched memory (allocator arenas, thread
    stacks) and stopped pandas at 11 GiB resident under a 22 GiB cap.
    """

    def __init__(self, pid: int, every: float = 0.25, kill_above: int | None = None):
        self.proc = psutil.Process(pid)
        self.every = every
        self.kill_above = kill_above
        self.killed_at: int | None = None
        self.samples: list[tuple[float, int]] = []
        self.loads: list[float] = []  # 1-minute load average at each sample (POSIX)
        self.cpu_seconds: float | None = None  # user + system CPU of the whole tree (set by run_measured)
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
                if hasattr(os, "getloadavg"):
                    self.loads.append(os.getloadavg()[0])
                if self.kill_above is not None and rss > self.kill_above:
                    self.killed_at = rss
                    for p in reversed(procs):
                        try:
                            p.kill()
                        except psutil.Error:
                            pass
                    return
            except psutil.Error:
                pass
            self._stop.wait(self.every)

    def __enter__(self) -> TreeSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()

    def mean_load(self) -> float | None:
        """Mean 1-minute load average while the command ran (None on Windows)."""
        return round(sum(self.loads) / len(self.loads), 1) if self.loads else None

    def peak(self, start: float | None = None, end: float | None = None) -> int:
        vals = [r for t, r in self.samples if (start is None or t >= start) and (end is None or t <= end)]
        return max(vals, default=0)


def run_measured(
    cmd: list[str], env: dict | None, log: Path, kill_above: int | None = None
) -> tuple[float, TreeSampler, int]:
    """Run ``cmd`` with its output in ``log``: wall seconds, the memory sampler, the exit code.

    The sampler's ``cpu_seconds`` is the user + system CPU time of the command's whole process tree (POSIX:
    ``getrusage(RUSAGE_CHILDREN)`` before and after; children that outlive the command are not counted). On a
    shared machine wall time grows with the load while CPU time much less, so both are reported.
    """
    t0 = time.monotonic()
    before = resource.getrusage(resource.RUSAGE_CHILDREN) if resource is not None else None
    with log.open("w") as fh:
        proc = subprocess.Popen(cmd, env=env, stdout=fh, stderr=subprocess.STDOUT, text=True)
        with TreeSampler(proc.pid, kill_above=kill_above) as sampler:
            proc.wait()
    if before is not None:
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        sampler.cpu_seconds = round(
            (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime), 1
        )
    return time.monotonic() - t0, sampler, proc.returncode
