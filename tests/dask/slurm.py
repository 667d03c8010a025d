"""A real single-node Slurm cluster on localhost for the tests: Debian's ``munge`` and ``slurm-wlm``.

Installed with apt-get when missing (as the PostgreSQL test installs its server; CI's ``.ci/run``
installs them up front), so the Slurm test runs everywhere ``make test`` runs and never passes by being
skipped: when the packages cannot be installed, the test fails and says which command failed and why.

Everything lives in one temporary folder: the munge key and socket, ``slurm.conf``, the controller's
state and the node's spool, the logs. The daemons run in the foreground as children of the test
(``munged -F``, ``slurmctld -D``, ``slurmd -D``), as root in a container (no systemd, no cgroups:
``proctrack/linuxproc``, ``task/none``), on free loopback ports, and are stopped by their process ids
when the test is done, after every job of the cluster has been cancelled. The Slurm commands find the
cluster through ``SLURM_CONF``.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from tests.dask.cluster import _stop as _stop_process

PACKAGES = ("slurm-wlm", "munge")
DAEMONS = ("munged", "slurmctld", "slurmd")
COMMANDS = ("sbatch", "sinfo", "squeue", "scancel")
# The daemons are in sbin, which a non-login PATH may lack.
_SEARCH_PATH = os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/sbin", "/usr/bin"])


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _which_all() -> dict[str, str | None]:
    return {name: shutil.which(name, path=_SEARCH_PATH) for name in (*DAEMONS, *COMMANDS)}


def _apt_install(*packages: str) -> None:
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    # Wait for another apt-get or dpkg (say, another test installing its packages) instead of failing.
    lock = ["-o", "DPkg::Lock::Timeout=300"]
    for cmd in (
        ["apt-get", *lock, "update", "-qq"],
        ["apt-get", *lock, "install", "-y", "-qq", "--no-install-recommends", *packages],
    ):
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=900, check=False)
        except (OSError, subprocess.TimeoutExpired) as e:
            raise RuntimeError(
                f"the Slurm test could not install Debian's {' '.join(packages)}: "
                f"`{' '.join(cmd)}` failed ({type(e).__name__}: {e})"
            ) from e
        if proc.returncode != 0:
            raise RuntimeError(
                f"the Slurm test could not install Debian's {' '.join(packages)}: `{' '.join(cmd)}` exited "
                f"with {proc.returncode} (no network to the Debian mirror, or not root?):\n"
                f"{(proc.stderr or proc.stdout)[-3000:]}"
            )


def ensure_slurm() -> dict[str, str]:
    """Paths of the munge and Slurm daemons and commands, installing Debian's packages if needed."""
    found = _which_all()
    if not all(found.values()):
        _apt_install(*PACKAGES)
        found = _which_all()
    missing = [name for name, path in found.items() if not path]
    if missing:
        raise RuntimeError(f"{', '.join(missing)} not found after apt-get install {' '.join(PACKAGES)}")
    return {name: str(path) for name, path in found.items()}


def node_hardware(slurmd: str) -> dict[str, str]:
    """The node's CPUs, sockets, cores, threads and memory as slurmd itself sees them (``slurmd -C``).

    Configuring exactly these keeps slurmd from draining the node for a mismatch.
    """
    proc = subprocess.run([slurmd, "-C"], capture_output=True, text=True, timeout=60, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"`slurmd -C` exited with {proc.returncode}: {proc.stderr[-2000:]}")
    fields = dict(item.split("=", 1) for item in proc.stdout.split("\n", 1)[0].split() if "=" in item)
    keys = ("CPUs", "Boards", "SocketsPerBoard", "CoresPerSocket", "ThreadsPerCore", "RealMemory")
    absent = [k for k in keys if k not in fields]
    if absent:
        raise RuntimeError(f"`slurmd -C` did not report {absent}: {proc.stdout!r}")
    return {k: fields[k] for k in keys}


def slurm_conf(base: Path, munge_socket: Path, hardware: dict[str, str], ctld_port: int, d_port: int) -> str:
    node = " ".join(f"{k}={v}" for k, v in hardware.items())
    return "\n".join(
        [
            "ClusterName=regdmltest",
            "SlurmctldHost=localhost",
            f"SlurmctldPort={ctld_port}",
            f"SlurmdPort={d_port}",
            "SlurmUser=root",
            "SlurmdUser=root",
            "AuthType=auth/munge",
            "CredType=cred/munge",
            f"AuthInfo=socket={munge_socket}",
            f"StateSaveLocation={base / 'state'}",
            f"SlurmdSpoolDir={base / 'spool'}",
            f"SlurmctldPidFile={base / 'slurmctld.pid'}",
            f"SlurmdPidFile={base / 'slurmd.pid'}",
            f"SlurmctldLogFile={base / 'log' / 'slurmctld.log'}",
            f"SlurmdLogFile={base / 'log' / 'slurmd.log'}",
            # a container: no systemd, no cgroups
            "ProctrackType=proctrack/linuxproc",
            "TaskPlugin=task/none",
            "JobAcctGatherType=jobacct_gather/none",
            "AccountingStorageType=accounting_storage/none",
            "JobCompType=jobcomp/none",
            "MpiDefault=none",
            "SwitchType=switch/none",
            "SchedulerType=sched/backfill",
            "SelectType=select/cons_tres",
            "SelectTypeParameters=CR_Core",
            "ReturnToService=2",
            # jobs end promptly when cancelled, so teardown does not wait for Slurm's default 30 s
            "KillWait=5",
            f"NodeName=localhost NodeAddr=127.0.0.1 {node} State=UNKNOWN",
            "PartitionName=debug Nodes=localhost Default=YES MaxTime=INFINITE State=UP",
            "",
        ]
    )


@dataclass
class LocalSlurm:
    conf: Path
    base: Path
    bins: dict[str, str]
    hardware: dict[str, str]
    procs: dict[str, subprocess.Popen] = field(default_factory=dict)

    @property
    def cpus(self) -> int:
        return int(self.hardware["CPUs"])

    @property
    def env(self) -> dict[str, str]:
        return {**os.environ, "SLURM_CONF": str(self.conf)}

    def run(self, name: str, *args: str) -> str:
        proc = subprocess.run(
            [self.bins[name], *args], capture_output=True, text=True, env=self.env, timeout=60, check=False
        )
        if proc.returncode != 0:
            raise RuntimeError(
                f"`{name} {' '.join(args)}` exited with {proc.returncode}: {proc.stderr[-2000:]}"
            )
        return proc.stdout

    def nodes(self) -> list[tuple[str, str]]:
        """``(node, state)`` of every node, from ``sinfo``."""
        return [tuple(line.split()) for line in self.run("sinfo", "-h", "-N", "-o", "%N %t").splitlines()]

    def jobs(self) -> list[tuple[str, str, str, str]]:
        """``(job id, name, state, node)`` of every job in the queue, from ``squeue``."""
        out = self.run("squeue", "-h", "-o", "%i %j %t %N")
        return [tuple((line.split() + [""])[:4]) for line in out.splitlines()]

    def log_text(self) -> str:
        logs = sorted(self.base.glob("log/*")) + sorted(self.base.glob("munge/*.log"))
        return "\n".join(
            f"--- {p.name}\n{p.read_text(errors='replace')[-3000:]}" for p in logs if p.is_file()
        )


def _stop(proc: subprocess.Popen) -> None:
    _stop_process(
        proc, timeout=15
    )  # slurmctld saves its state on SIGTERM: a little longer than a dask worker


def _wait(predicate, timeout: float, what: str, cluster: LocalSlurm) -> None:
    deadline = time.monotonic() + timeout
    last: object = None
    while True:
        for name, proc in cluster.procs.items():
            if proc.poll() is not None:
                raise RuntimeError(
                    f"{name} exited with {proc.returncode} while {what}:\n{cluster.log_text()}"
                )
        try:
            last = predicate()
            if last is True:
                return
        except RuntimeError as e:  # the controller is not answering yet
            last = e
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what}: not done within {timeout:g} s ({last}):\n{cluster.log_text()}")
        time.sleep(0.5)


def cancel_all_jobs(cluster: LocalSlurm, timeout: float = 60.0) -> None:
    """``scancel`` every job of this (private) cluster and wait until the queue is empty."""
    ids = [job[0] for job in cluster.jobs()]
    if ids:
        cluster.run("scancel", *ids)
    _wait(lambda: cluster.jobs() == [] or cluster.jobs(), timeout, "waiting for the jobs to end", cluster)


@contextlib.contextmanager
def localhost_slurm(start_timeout: float = 90.0) -> Iterator[LocalSlurm]:
    """munged, slurmctld and slurmd on localhost; yields once ``sinfo`` shows the node idle."""
    bins = ensure_slurm()
    # Directly under /tmp: a unix socket's path must stay under ~100 characters.
    base = Path(tempfile.mkdtemp(prefix="regdml-slurm-", dir="/tmp"))
    for sub in ("state", "spool", "log", "munge"):
        (base / sub).mkdir()
    # munged checks that the key is private and that clients can reach its socket's folder
    (base / "munge").chmod(0o711)
    key = base / "munge" / "munge.key"
    key.write_bytes(os.urandom(1024))
    key.chmod(0o600)
    sock = base / "munge" / "munge.sock"
    ctld_port = free_port()
    d_port = free_port()
    while d_port == ctld_port:
        d_port = free_port()
    conf = base / "slurm.conf"
    hardware = node_hardware(bins["slurmd"])
    conf.write_text(slurm_conf(base, sock, hardware, ctld_port, d_port), encoding="utf-8")
    cluster = LocalSlurm(conf, base, bins, hardware)
    files = []
    try:
        commands = {
            # --force: root, and a world-readable /tmp above the socket
            "munged": [bins["munged"], "-F", "--force", f"--key-file={key}", f"--socket={sock}",
                       f"--pid-file={base / 'munge' / 'munged.pid'}", f"--seed-file={base / 'munge' / 'seed'}",
                       f"--log-file={base / 'munge' / 'munged.log'}"],
            "slurmctld": [bins["slurmctld"], "-D", "-f", str(conf)],
            "slurmd": [bins["slurmd"], "-D", "-N", "localhost", "-f", str(conf)],
        }  # fmt: skip
        for name, cmd in commands.items():
            log = open(base / "log" / f"{name}.out", "w")  # noqa: SIM115 (closed below)
            files.append(log)
            cluster.procs[name] = subprocess.Popen(
                cmd, stdout=log, stderr=subprocess.STDOUT, env=cluster.env, cwd=base, start_new_session=True
            )
            if name == "munged":
                _wait(sock.exists, 30, "starting munged", cluster)
        _wait(lambda: cluster.nodes() == [("localhost", "idle")] or cluster.nodes(), start_timeout,
              "waiting for sinfo to show the node idle", cluster)  # fmt: skip
        yield cluster
    finally:
        try:
            if cluster.procs.get("slurmctld") and cluster.procs["slurmctld"].poll() is None:
                cancel_all_jobs(cluster)
        finally:
            for name in ("slurmd", "slurmctld", "munged"):
                if name in cluster.procs:
                    _stop(cluster.procs[name])
            for f in files:
                f.close()
            shutil.rmtree(base, ignore_errors=True)
