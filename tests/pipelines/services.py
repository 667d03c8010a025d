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
        cwd="/",  # the postgres user cannot enter the caller's folder
    )
    opts = f"-p {port} -c listen_addresses=127.0.0.1 -k {base}"
    subprocess.run(
        _as_postgres([pg_ctl, "-D", str(data), "-o", opts, "-l", str(base / "pg.log"), "-w", "start"]),
        check=True,
        stdout=subprocess.DEVNULL,
        cwd="/",  # the postgres user cannot enter the caller's folder
    )
    try:
        createdb = _pg_bin("createdb") or "createdb"
        subprocess.run(
            _as_postgres([createdb, "-h", "127.0.0.1", "-p", str(port), "-U", "regdml", "dagster"]),
            check=True,
            cwd="/",
        )
        yield {
            "DAGSTER_PG_HOST": "127.0.0.1",
            "DAGSTER_PG_PORT": str(port),
            "DAGSTER_PG_DB": "dagster",
            "DAGSTER_PG_USER": "regdml",
            "DAGSTER_PG_PASSWORD": "trust-auth-ignores-this",
        }
    finally:
        subprocess.run(
            _as_postgres([pg_ctl, "-D", str(data), "-m", "fast", "stop"]), stdout=subprocess.DEVNULL, cwd="/"
        )
        shutil.rmtree(base, ignore_errors=True)


def ensure_chromium() -> str:
    path = shutil.which("chromium") or "/usr/bin/chromium"
    if not Path(path).exists():
        _apt_install("chromium")
    if not Path(path).exists():
        raise RuntimeError("chromium not found after apt-get install chromium")
    return path


def _chromium_flags(profile: Path) -> list[str]:
    return [
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
    ]


def chromium_dump_dom(url: str, profile: Path, width: int = 1400, height: int = 1000) -> str:
    """Render ``url`` in headless Chromium (same flags as the screenshot) and return the rendered DOM."""
    chromium = ensure_chromium()
    cmd = [chromium, *_chromium_flags(profile), f"--window-size={width},{height}", "--dump-dom", url]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=180)
    if proc.returncode != 0:
        raise RuntimeError(f"chromium --dump-dom failed ({proc.returncode}): {proc.stderr[-2000:]}")
    return proc.stdout


def chromium_screenshot(
    url: str, out: Path, profile: Path, width: int = 1400, height: int = 1000
) -> subprocess.CompletedProcess:
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


# ---------------------------------------------------------------------------------------------------
# The Dagster web server on a run's instance, shared by the GraphQL and browser tests.

_WEBSERVERS: dict[tuple[str, str, str], dict] = {}


def _stop_process_group(proc: subprocess.Popen) -> None:
    import signal

    if proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=20)


def graphql(base_url: str, query: str, variables: dict | None = None, timeout: float = 60.0) -> dict:
    """POST a GraphQL query to the web server; return ``data`` (raise on GraphQL errors)."""
    import json
    import urllib.request

    body = json.dumps({"query": query, "variables": variables or {}}).encode()
    req = urllib.request.Request(
        f"{base_url}/graphql", data=body, headers={"Content-Type": "application/json"}, method="POST"
    )
    with urllib.request.urlopen(req, timeout=timeout) as r:  # noqa: S310 - loopback only
        payload = json.loads(r.read().decode())
    if payload.get("errors"):
        raise RuntimeError(f"GraphQL errors: {payload['errors']}")
    return payload["data"]


def start_webserver(
    dagster_home: Path, workdir: Path, delivery: Path, log_dir: Path, timeout: float = 180.0
) -> dict:
    """Start ``dagster-webserver -m pipelines.definitions`` on a free loopback port against the instance
    in ``dagster_home``, in its own process group; wait until its GraphQL endpoint answers.

    Returns ``{"url", "proc", "log"}``. Started once per (home, workdir, delivery) and process: later
    calls return the running server. Stop it with :func:`stop_webserver` (also registered with atexit).
    """
    import atexit
    import sys

    key = (str(dagster_home), str(workdir), str(delivery))
    running = _WEBSERVERS.get(key)
    if running is not None and running["proc"].poll() is None:
        return running
    port = free_port()
    log_dir.mkdir(parents=True, exist_ok=True)
    log = log_dir / f"webserver-{port}.log"
    env = {
        **os.environ,
        "DAGSTER_HOME": str(dagster_home),
        "REGDML_WORKDIR": str(workdir),
        "REGDML_DELIVERY": str(delivery),
        "DAGSTER_DISABLE_TELEMETRY": "1",
    }
    for k in list(env):
        if k.startswith("DAGSTER_PG_"):
            del env[k]
    repo = Path(__file__).resolve().parents[2]
    cmd = [
        sys.executable,
        "-m",
        "dagster_webserver",
        "-m",
        "pipelines.definitions",
        "-h",
        "127.0.0.1",
        "-p",
        str(port),
    ]
    with open(log, "wb") as fh:
        proc = subprocess.Popen(
            cmd, cwd=repo, env=env, stdout=fh, stderr=subprocess.STDOUT, start_new_session=True
        )
    atexit.register(_stop_process_group, proc)
    url = f"http://127.0.0.1:{port}"
    server = {"url": url, "proc": proc, "log": log}
    deadline = time.monotonic() + timeout
    while True:
        if proc.poll() is not None:
            raise RuntimeError(
                f"dagster-webserver exited with {proc.returncode}:\n{log.read_text(errors='replace')[-4000:]}"
            )
        try:
            data = graphql(url, "{ version }", timeout=10)
            if data.get("version"):
                break
        except Exception:  # noqa: BLE001 - not up yet
            pass
        if time.monotonic() > deadline:
            _stop_process_group(proc)
            raise TimeoutError(
                f"dagster-webserver did not answer within {timeout} s:\n{log.read_text(errors='replace')[-4000:]}"
            )
        time.sleep(1.0)
    _WEBSERVERS[key] = server
    return server


def stop_webserver(server: dict) -> None:
    _stop_process_group(server["proc"])
    for key, value in list(_WEBSERVERS.items()):
        if value is server:
            del _WEBSERVERS[key]


def load_services():
    """This module under one name, so every test module shares its web server cache."""
    import sys

    return sys.modules[__name__]
