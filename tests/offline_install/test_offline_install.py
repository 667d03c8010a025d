"""Offline installation: build the Linux wheelhouse for the running Python, install it into a fresh
virtual environment with pip cut off from every index, and run the demo from that environment.

The third-party wheels are cached between runs on one machine (``~/.cache/regdml/wheelhouse``, or
``$REGDML_WHEELHOUSE_CACHE``), keyed by pyproject.toml and requirements.lock; when absent they are
downloaded, which needs PyPI. regdml's own wheel is built from this checkout on every run, so the test
always installs the code under test.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
BUILDER = REPO / "scripts" / "build_wheelhouse.py"
TARGET = f"linux-x86_64-py{sys.version_info.major}.{sys.version_info.minor}"
# Nothing listens on port 9 (discard): any index access fails at once instead of timing out.
DEAD_INDEX = "http://127.0.0.1:9/simple/"
PERSONS = 3000

# Few cells, two folds, few trees: the run exercises every stage and every installed library (DuckDB,
# Polars, DoubleML, LightGBM, matplotlib, Dagster) without the demo's five minutes of estimation.
DEMO_CONFIG = {
    "estimation": {
        "primary_outcomes": ["y_exit_13w"],
        "placebo_outcomes": ["weeks_selfsupport_pre52w"],
        "designs": ["irm_att", "pliv", "naive"],
        "n_folds": 2,
        "n_reps": 1,
        "lgbm_n_estimators": 30,
        "trial_sizes": [2000, 20000],
    }
}

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(sys.platform != "linux", reason="the test installs the Linux wheelhouse"),
]


def _base_python() -> str:
    """The interpreter behind the running virtual environment (a venv is made from a base Python)."""
    return getattr(sys, "_base_executable", None) or sys.executable


def _offline_env(tmp: Path) -> dict[str, str]:
    """The environment of the install and the demo: no index reachable, no project on the path."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("PIP_", "REGDML_", "DAGSTER_", "UV_")) and k not in ("PYTHONPATH", "VIRTUAL_ENV")
    }
    env.update(
        PIP_INDEX_URL=DEAD_INDEX,
        PIP_EXTRA_INDEX_URL=DEAD_INDEX,
        PIP_CONFIG_FILE=os.devnull,
        PIP_NO_CACHE_DIR="1",  # a cached wheel must not stand in for a missing one
        DAGSTER_DISABLE_TELEMETRY="1",
        PYTHON=_base_python(),
        HOME=str(tmp / "home"),
        PYTHONDONTWRITEBYTECODE="1",
    )
    (tmp / "home").mkdir(exist_ok=True)
    return env


def _no_network_prefix() -> list[str]:
    """``unshare --net`` where the machine allows it (then there is no network at all, not just no
    index); the dead index URL and ``--no-index`` apply either way."""
    probe = ["unshare", "--net", "--map-root-user", "true"]
    if shutil.which("unshare") and subprocess.run(probe, capture_output=True).returncode == 0:
        return probe[:-1]
    return []


@pytest.fixture(scope="module")
def wheelhouse(tmp_path_factory) -> Path:
    """The Linux wheelhouse of the running Python, built by the script users run."""
    out = tmp_path_factory.mktemp("wheelhouse")
    proc = subprocess.run(
        [sys.executable, str(BUILDER), "--target", TARGET, "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=1800,
    )
    assert proc.returncode == 0, f"build_wheelhouse.py failed:\n{proc.stdout}\n{proc.stderr}"
    return out / TARGET


def test_wheelhouse_manifest_matches_files(wheelhouse: Path):
    manifest = json.loads((wheelhouse / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["target"] == TARGET
    assert manifest["python"] == f"{sys.version_info.major}.{sys.version_info.minor}"
    on_disk = sorted(f"wheels/{p.name}" for p in (wheelhouse / "wheels").iterdir())
    assert sorted(f["file"] for f in manifest["files"]) == on_disk
    assert any(f["file"].startswith("wheels/regdml-") for f in manifest["files"])
    assert manifest["total_bytes"] == sum(f["bytes"] for f in manifest["files"])
    assert (wheelhouse / "install.sh").is_file()
    assert TARGET in (wheelhouse.parent / "README.txt").read_text(encoding="utf-8")


def test_offline_install_runs_demo(wheelhouse: Path, tmp_path: Path):
    env = _offline_env(tmp_path)
    prefix = _no_network_prefix()
    venv = tmp_path / "venv"

    def run(cmd: list[str], timeout: int) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            prefix + cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=timeout
        )

    proc = run(["sh", str(wheelhouse / "install.sh"), str(venv)], timeout=900)
    assert proc.returncode == 0, f"install.sh failed:\n{proc.stdout}\n{proc.stderr}"

    # The environment holds exactly the pinned versions, and regdml comes from it, not from this checkout.
    py = str(venv / "bin" / "python")
    frozen = run([py, "-m", "pip", "list", "--format=json", "--disable-pip-version-check"], timeout=120)
    assert frozen.returncode == 0, frozen.stderr
    installed = {re.sub(r"[-_.]+", "-", d["name"]).lower(): d["version"] for d in json.loads(frozen.stdout)}
    pinned = dict(line.split("==") for line in (wheelhouse / "lock.txt").read_text(encoding="utf-8").split())
    missing_or_other = {n: v for n, v in pinned.items() if installed.get(n) != v}
    assert not missing_or_other, f"not installed at the pinned version: {missing_or_other}"
    where = run([py, "-c", "import pipelines; print(pipelines.__file__)"], timeout=120)
    assert where.returncode == 0, where.stderr
    assert Path(where.stdout.strip()).is_relative_to(venv), where.stdout

    config = tmp_path / "demo.yaml"
    config.write_text(yaml.safe_dump(DEMO_CONFIG), encoding="utf-8")
    regdml = str(venv / "bin" / "regdml")
    delivery = tmp_path / "deliveries" / "synthetic"
    synth = run([regdml, "synth", "--persons", str(PERSONS), "--seed", "5", "--out", str(delivery)], 600)
    assert synth.returncode == 0, f"regdml synth failed:\n{synth.stdout}\n{synth.stderr}"
    demo = run(
        [regdml, "run", "--delivery", str(delivery), "--workdir", str(tmp_path / "work"),
         "--config", str(config), "--truth", str(delivery.parent / "synthetic.truth.json")],
        timeout=1800,
    )  # fmt: skip
    assert demo.returncode == 0, f"regdml run failed:\n{demo.stdout[-4000:]}\n{demo.stderr[-4000:]}"
    report = tmp_path / "work" / "runs" / "synthetic" / "report" / "report.html"
    assert report.is_file() and report.stat().st_size > 10_000, demo.stdout[-2000:]
    assert (report.parent / "export_bundle" / "MANIFEST.txt").is_file()
    assert f"report: {report}" in demo.stdout
