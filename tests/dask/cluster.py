"""A real Dask cluster on loopback for the tests: one ``dask scheduler`` and N ``dask worker`` processes.

Started as subprocesses of the test (the same commands a researcher types on a cluster), on free ports
of 127.0.0.1, and stopped (then killed) when the test is done. Workers are single-threaded without a
nanny, so killing one really loses it (a nanny would restart it).
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _dask_cli() -> str:
    cli = Path(sys.executable).parent / "dask"
    if not cli.exists():
        raise RuntimeError(f"the 'dask' command is not installed beside {sys.executable}; run make setup")
    return str(cli)


@dataclass
class LoopbackCluster:
    address: str
    scheduler: subprocess.Popen
    workers: list[subprocess.Popen] = field(default_factory=list)
    logs: Path | None = None

    def client(self):
        from distributed import Client

        client = Client(self.address, timeout="30s")
        client.wait_for_workers(len(self.workers), timeout=60)
        return client

    def log_text(self) -> str:
        return "\n".join(p.read_text(errors="replace")[-3000:] for p in sorted(self.logs.glob("*.log")))


def _stop(proc: subprocess.Popen, timeout: float = 10) -> None:
    """SIGTERM, then SIGKILL if the process has not ended within ``timeout`` seconds."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=timeout)


@contextlib.contextmanager
def loopback_cluster(n_workers: int, folder: Path) -> Iterator[LoopbackCluster]:
    """``dask scheduler`` and ``n_workers`` x ``dask worker --nthreads 1 --no-nanny`` on 127.0.0.1."""
    folder.mkdir(parents=True, exist_ok=True)
    env = {
        **os.environ,
        # one thread per worker for every library: the machine is shared and has 2 cores
        "OMP_NUM_THREADS": "1",
        "POLARS_MAX_THREADS": "1",
        "PYTHONPATH": str(REPO),
    }
    port = free_port()
    address = f"tcp://127.0.0.1:{port}"
    cli = _dask_cli()
    procs: list[subprocess.Popen] = []
    files = []
    try:
        log = open(folder / "scheduler.log", "w")  # noqa: SIM115 (closed below)
        files.append(log)
        scheduler = subprocess.Popen(
            [cli, "scheduler", "--host", "127.0.0.1", "--port", str(port), "--no-dashboard"],
            stdout=log, stderr=subprocess.STDOUT, env=env, cwd=REPO,
        )  # fmt: skip
        procs.append(scheduler)
        deadline = time.monotonic() + 60
        while True:  # the scheduler listens before the workers connect
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
                break
            if scheduler.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"dask scheduler did not start:\n{(folder / 'scheduler.log').read_text()}")
            time.sleep(0.2)
        workers = []
        for i in range(n_workers):
            log = open(folder / f"worker{i}.log", "w")  # noqa: SIM115
            files.append(log)
            w = subprocess.Popen(
                [cli, "worker", address, "--nthreads", "1", "--no-nanny", "--host", "127.0.0.1",
                 "--no-dashboard", "--name", f"w{i}", "--memory-limit", "2GB",
                 "--local-directory", str(folder / f"worker{i}")],
                stdout=log, stderr=subprocess.STDOUT, env=env, cwd=REPO,
            )  # fmt: skip
            procs.append(w)
            workers.append(w)
        yield LoopbackCluster(address, scheduler, workers, folder)
    finally:
        for p in reversed(procs):
            _stop(p)
        for f in files:
            f.close()
