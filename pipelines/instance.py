"""The Dagster instance shared by the command line and the UI.

``DAGSTER_HOME`` defaults to ``<workdir>/dagster_home``; the project's ``dagster.yaml`` is copied there
so that ``regdml run``, ``regdml ui`` and ``dagster dev`` all read and write the same SQLite storage.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import dagster as dg

from assets.resources import default_workdir
from data_contracts.settings import Settings


def project_dagster_yaml() -> Path:
    """The versioned instance file: ``dagster.postgres.yaml`` when ``DAGSTER_PG_HOST`` is set (a shared
    instance on PostgreSQL), else ``dagster.yaml`` (SQLite under DAGSTER_HOME)."""
    name = "dagster.postgres.yaml" if Settings.from_env().dagster_pg_host else "dagster.yaml"
    here = Path(__file__).resolve().parent
    for candidate in (here.parent / name, here / name):
        if candidate.is_file():
            return candidate
    raise FileNotFoundError(f"regdml: {name} not found beside the package")


def prepare_dagster_home(workdir: Path | None = None) -> Path:
    """Set ``DAGSTER_HOME`` (if unset) to ``<workdir>/dagster_home`` and put ``dagster.yaml`` there."""
    os.environ.setdefault("DAGSTER_DISABLE_TELEMETRY", "1")
    home_env = Settings.from_env().dagster_home
    home = Path(home_env) if home_env else (workdir or default_workdir()) / "dagster_home"
    home = home.resolve()
    home.mkdir(parents=True, exist_ok=True)
    target = home / "dagster.yaml"
    source = project_dagster_yaml()
    if not target.exists() or target.read_bytes() != source.read_bytes():
        shutil.copyfile(source, target)
    os.environ["DAGSTER_HOME"] = str(home)
    return home


def get_instance(workdir: Path | None = None) -> dg.DagsterInstance:
    prepare_dagster_home(workdir)
    return dg.DagsterInstance.get()
