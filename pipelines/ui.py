"""``regdml ui``: the Dagster web server and daemon on the same instance ``regdml run`` writes to."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

from assets.resources import default_workdir
from pipelines.instance import prepare_dagster_home


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--workdir", type=Path, default=None, help="Work folder (default: $REGDML_WORKDIR, else ./work)"
    )
    parser.add_argument(
        "--delivery", type=Path, default=None, help="Delivery folder for runs launched from the UI"
    )
    parser.add_argument("--host", default="127.0.0.1", help="Address to listen on (default: loopback only)")
    parser.add_argument("--port", type=int, default=3000)


def ui_command(host: str, port: int) -> list[str]:
    """The ``dagster dev`` command line (web server + daemon) for the regdml code location."""
    return [
        sys.executable,
        "-m",
        "dagster",
        "dev",
        "-m",
        "pipelines.definitions",
        "--host",
        host,
        "--port",
        str(port),
    ]


def run(args: argparse.Namespace) -> int:
    workdir = (args.workdir or default_workdir()).resolve()
    os.environ["REGDML_WORKDIR"] = str(workdir)
    if args.delivery is not None:
        os.environ["REGDML_DELIVERY"] = str(args.delivery.resolve())
    home = prepare_dagster_home(workdir)
    print(f"[regdml] Dagster instance {home}; open http://{args.host}:{args.port}", flush=True)
    try:
        return subprocess.call(ui_command(args.host, args.port), env=os.environ.copy())
    except KeyboardInterrupt:
        return 0
