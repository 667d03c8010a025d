"""Real services for tests: a throwaway PostgreSQL server and Debian's headless Chromium.

Both are installed with apt-get when missing (CI's ``.ci/run`` installs them up front), so the tests
that need them run everywhere ``make test`` runs, and never pass by being skipped.
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path


def _apt_install(*packages: str) -> None:
    subprocess.run(["apt-get", "update", "-qq"], check=True, stdout=subprocess.DEVNULL)
    subprocess.run(
        ["apt-get", "install", "-y", "-qq", "--no-install-recommends", *packages],
        check=True,
        stdout=subprocess.DEVNULL,
        env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"},
    )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _pg_bin(name: str) -> str | None:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return found[-1] if found else shutil.which(name)


def ensure_postgres() -> tuple[str, str]:
    """Paths of initdb and pg_ctl, installing Debian's postgresql package if needed."""
    if not (_pg_bin("initdb") and _pg_bin("pg_ctl")):
        _apt_install("postgresql")
    initdb, pg_ctl = _pg_bin("initdb"), _pg_bin("pg_ctl")
    if not (initdb and pg_ctl):
        raise RuntimeError("PostgreSQL server binaries not found after apt-get install postgresql")
    return initdb, pg_ctl


def _as_postgres(cmd: list[str]) -> list[str]:
    # initdb refuses to run as root: run the server as the package's postgres user.
    if os.geteuid() == 0:
        return ["runuser", "-u", "postgres", "--", *cmd]
    return cmd


@contextlib.contextmanager
def postgres_server() -> Iterator[dict[str, str]]:
    """Start a PostgreSQL server on a free loopback port; yield the DAGSTER_PG_* environment."""
    import tempfile

    initdb, pg_ctl = ensure_postgres()
    # Its own folder directly under /tmp: pytest's tmp folders are private to root, and the server runs
    # as the postgres user.
    base = Path(tempfile.mkdtemp(prefix="regdml-pg-", dir="/tmp"))
    data = base / "pgdata"
    if os.geteuid() == 0:
        shutil.chown(base, "postgres", "postgres")
    port = free_port()
    subprocess.run(
        _as_postgres([initdb, "-D", str(data), "-U", "regdml", "--auth=trust", "-E", "UTF8"]),
        check=True,
        stdout=subprocess.DEVNULL,
    )
    opts = f"-p {port} -c listen_addresses=127.0.0.1 -k {base}"
    subprocess.run(
        _as_postgres([pg_ctl, "-D", str(data), "-o", opts, "-l", str(base / "pg.log"), "-w", "start"]),
        check=True,
        stdout=subprocess.DEVNULL,
    )
    try:
        createdb = _pg_bin("createdb") or "createdb"
        subprocess.run(
            _as_postgres([createdb, "-h", "127.0.0.1", "-p", str(port), "-U", "regdml", "dagster"]), check=True
        )
        yield {
            "DAGSTER_PG_HOST": "127.0.0.1",
            "DAGSTER_PG_PORT": str(port),
            "DAGSTER_PG_DB": "dagster",
            "DAGSTER_PG_USER": "regdml",
            "DAGSTER_PG_PASSWORD": "trust-auth-ignores-this",
        }
    finally:
        subprocess.run(_as_postgres([pg_ctl, "-D", str(data), "-m", "fast", "stop"]), stdout=subprocess.DEVNULL)
        shutil.rmtree(base, ignore_errors=True)


def ensure_chromium() -> str:
    path = shutil.which("chromium") or "/usr/bin/chromium"
    if not Path(path).exists():
        _apt_install("chromium")
    if not Path(path).exists():
        raise RuntimeError("chromium not found after apt-get install chromium")
    return path


def chromium_screenshot(url: str, out: Path, profile: Path, width: int = 1400, height: int = 1000) -> subprocess.CompletedProcess:
    """Render ``url`` in headless Chromium (no outside connections) and save a PNG screenshot."""
    chromium = ensure_chromium()
    out.parent.mkdir(parents=True, exist_ok=True)
    cmd = [
        chromium,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--proxy-server=http://127.0.0.1:9",
        f"--user-data-dir={profile}",
        "--virtual-time-budget=20000",
        f"--window-size={width},{height}",
        f"--screenshot={out}",
        url,
    ]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=180)


def wait_for_http(url: str, timeout: float = 120.0) -> None:
    import urllib.request

    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=5) as r:  # noqa: S310 - loopback only
                if r.status < 500:
                    return
        except Exception as e:  # noqa: BLE001
            last = e
        time.sleep(1.0)
    raise TimeoutError(f"{url} did not answer within {timeout} s ({last})")
