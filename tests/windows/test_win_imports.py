"""Importing a module of the pipeline does no work: no files, no threads, no child processes.

On Windows, Dagster's multiprocess executor (and the webserver's code server) starts each step in a new
interpreter with the ``spawn`` start method, which imports the code location and everything it imports
again, once per step. A module that writes files, starts threads or processes, or changes the
environment when imported would do so once per step and, with several steps at once, race with itself.

Every module is imported in one fresh interpreter, one after the other, with an empty home, temporary
and working folder; after each import the test looks for new files there, new Python threads, child
processes and changed environment variables, and names the module that caused them. The libraries
underneath (Polars, DuckDB, NumPy, pandas, PyArrow, Dagster) are imported before the baseline is taken:
their own doings (Polars sets ``_RJEM_MALLOC_CONF``) are not the pipeline's.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PACKAGES = ("pipelines", "assets", "models", "data_contracts", "synth")

PROBE = r"""
import importlib, json, os, sys, threading
import psutil

roots = [os.path.abspath(p) for p in sys.argv[2:]]  # windows-ok: a test probe
for library in ("numpy", "pandas", "pyarrow", "polars", "duckdb", "dagster"):
    importlib.import_module(library)


def files():
    out = set()
    for root in roots:
        for folder, dirs, names in os.walk(root):
            out.update(os.path.join(folder, n) for n in dirs + names)
    return out


baseline_threads = {t.ident for t in threading.enumerate()}
baseline_files = files()
baseline_env = dict(os.environ)
me = psutil.Process()
report = []
for module in json.loads(sys.argv[1]):
    importlib.import_module(module)
    threads = [t.name for t in threading.enumerate() if t.ident not in baseline_threads]
    new_files = sorted(files() - baseline_files)
    children = [c.pid for c in me.children(recursive=True)]
    env = sorted(k for k in set(os.environ) | set(baseline_env) if os.environ.get(k) != baseline_env.get(k))
    if threads or new_files or children or env:
        report.append({"module": module, "threads": threads, "files": new_files[:5], "children": children,
                       "environment": env})
        baseline_threads |= {t.ident for t in threading.enumerate()}
        baseline_files = files()
        baseline_env = dict(os.environ)
print(json.dumps(report))
"""


def pipeline_modules() -> list[str]:
    modules = []
    for package in PACKAGES:
        for path in sorted((REPO / package).rglob("*.py")):
            parts = list(path.relative_to(REPO).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            modules.append(".".join(parts))
    return modules


def test_importing_pipeline_modules_has_no_side_effects(tmp_path):
    home, temp, cwd = tmp_path / "home", tmp_path / "temp", tmp_path / "cwd"
    for d in (home, temp, cwd):
        d.mkdir()
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("DAGSTER_", "REGDML_", "XDG_", "MPL")) and k != "POLARS_MAX_THREADS"
    }
    env.update(
        HOME=str(home),
        USERPROFILE=str(home),
        TMPDIR=str(temp),
        TEMP=str(temp),
        TMP=str(temp),
        PYTHONPATH=str(REPO),
        PYTHONDONTWRITEBYTECODE="1",
    )
    modules = pipeline_modules()
    assert len(modules) > 60
    proc = subprocess.run(
        [sys.executable, "-c", PROBE, json.dumps(modules), str(home), str(temp), str(cwd)],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    assert report == [], "modules with side effects at import:\n" + "\n".join(map(str, report))
