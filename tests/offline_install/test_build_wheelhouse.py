"""The wheelhouse builder's parts that need no index: pins, checks, install scripts, sdist-only packages.

The sdist tests use a local ``--find-links`` folder and ``--no-index``; the sdists there build with an
in-tree backend that needs nothing installed, so they run offline.
"""

from __future__ import annotations

import importlib.util
import io
import subprocess
import sys
import tarfile
import textwrap
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def _load_builder():
    spec = importlib.util.spec_from_file_location(
        "build_wheelhouse", REPO / "scripts" / "build_wheelhouse.py"
    )
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


bw = _load_builder()
WIN311 = bw.target_by_name("windows-x86_64-py3.11")
LINUX311 = bw.target_by_name("linux-x86_64-py3.11")


def test_four_targets():
    assert sorted(t.name for t in bw.ALL_TARGETS) == [
        "linux-x86_64-py3.11",
        "linux-x86_64-py3.12",
        "windows-x86_64-py3.11",
        "windows-x86_64-py3.12",
    ]
    assert WIN311.pip_platforms == ["win_amd64"]
    assert LINUX311.pip_platforms[0] == "manylinux_2_28_x86_64"
    assert {"manylinux2014_x86_64", "manylinux_2_17_x86_64", "manylinux1_x86_64"} <= set(
        LINUX311.pip_platforms
    )
    with pytest.raises(bw.WheelhouseError, match="'mac-arm64'.*windows-x86_64-py3.11"):
        bw.target_by_name("mac-arm64")


def test_read_pins_of_the_repository_lock(tmp_path):
    pins = bw.read_pins(REPO / "requirements.lock")
    assert pins["dagster"] == "1.13.27"
    assert pins["python-dateutil"].startswith("2.")
    bad = tmp_path / "bad.txt"
    bad.write_text("numpy==2.0\npolars>=1\n", encoding="utf-8")
    with pytest.raises(bw.WheelhouseError, match=r"bad.txt:2: expected 'name==version', got 'polars>=1'"):
        bw.read_pins(bad)


def test_wheel_name_version():
    assert bw.wheel_name_version("PyYAML-6.0.3-cp311-cp311-win_amd64.whl") == ("pyyaml", "6.0.3")
    assert bw.wheel_name_version("typing_extensions-4.16.0-py3-none-any.whl") == (
        "typing-extensions",
        "4.16.0",
    )
    with pytest.raises(bw.WheelhouseError, match="not a wheel file name"):
        bw.wheel_name_version("numpy-2.0.tar.gz")


def test_check_pins():
    pinned = {"numpy": "2.4.6", "polars": "1.44.2"}
    assert bw.check_pins(LINUX311, {"numpy": "2.4.6"}, pinned) == []
    with pytest.raises(bw.WheelhouseError, match="numpy resolved to 2.5.0 but requirements.lock pins 2.4.6"):
        bw.check_pins(WIN311, {"numpy": "2.5.0"}, pinned)
    # A package the lock does not pin: platform-only on Windows, a stale lock on Linux.
    assert bw.check_pins(WIN311, {"numpy": "2.4.6", "pywin32": "312"}, pinned) == ["pywin32"]
    with pytest.raises(bw.WheelhouseError, match=r"dask==2026.1.0 needed by pyproject.toml but not pinned"):
        bw.check_pins(LINUX311, {"numpy": "2.4.6", "dask": "2026.1.0"}, pinned)


def test_input_key_follows_the_inputs(tmp_path):
    pyproject, lock = tmp_path / "pyproject.toml", tmp_path / "requirements.lock"
    pyproject.write_text("[project]\n", encoding="utf-8")
    lock.write_text("numpy==2.4.6\n", encoding="utf-8")
    key = bw.input_key(LINUX311, pyproject, lock)
    assert bw.input_key(WIN311, pyproject, lock) != key
    lock.write_text("numpy==2.4.6\ndask==2026.1.0\n", encoding="utf-8")
    assert bw.input_key(LINUX311, pyproject, lock) != key


def test_install_sh_is_valid_and_offline():
    script = bw.install_script(LINUX311, "0.1.0")
    assert subprocess.run(["sh", "-n"], input=script, text=True).returncode == 0
    assert "--no-index" in script and "--require-hashes" in script and "PIP_NO_INDEX=1" in script
    assert "python=${PYTHON:-python3.11}" in script


def test_install_ps1_is_offline():
    script = bw.install_script(WIN311, "0.1.0")
    assert script.count("{") == script.count("}"), "unbalanced braces in install.ps1"
    assert '$want = "3.11"' in script
    assert "--no-index" in script and "--require-hashes" in script and '$env:PIP_NO_INDEX = "1"' in script
    assert 'Join-Path $Venv "Scripts\\python.exe"' in script


def test_install_sh_refuses_another_python(tmp_path):
    (tmp_path / "install.sh").write_text(bw.install_script(bw.target_by_name("linux-x86_64-py3.12")
                                                           if sys.version_info[:2] == (3, 11) else LINUX311,
                                                           "0.1.0"), encoding="utf-8")  # fmt: skip
    proc = subprocess.run(
        ["sh", str(tmp_path / "install.sh"), str(tmp_path / "venv")],
        env={"PYTHON": sys.executable, "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 1
    assert "but this wheelhouse is for Python" in proc.stderr
    assert not (tmp_path / "venv").exists()


# --- sdist-only packages, offline ------------------------------------------------------------------

BACKEND = '''
"""A PEP 517 backend that needs nothing installed: builds a wheel holding one module."""
import base64, hashlib, os, zipfile

NAME, VERSION, TAG = {name!r}, "1.0", {tag!r}


def get_requires_for_build_wheel(config_settings=None):
    return []


def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    fname = f"{{NAME}}-{{VERSION}}-{{TAG}}.whl"
    info = f"{{NAME}}-{{VERSION}}.dist-info"
    files = {{
        f"{{NAME}}.py": b"VALUE = 1\\n",
        f"{{info}}/METADATA": f"Metadata-Version: 2.1\\nName: {{NAME}}\\nVersion: {{VERSION}}\\n".encode(),
        f"{{info}}/WHEEL": f"Wheel-Version: 1.0\\nGenerator: test\\nRoot-Is-Purelib: true\\nTag: {{TAG}}\\n".encode(),
    }}
    record = []
    with zipfile.ZipFile(os.path.join(wheel_directory, fname), "w") as zf:
        for arc, data in files.items():
            zf.writestr(arc, data)
            digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
            record.append(f"{{arc}},sha256={{digest}},{{len(data)}}")
        record.append(f"{{info}}/RECORD,,")
        zf.writestr(f"{{info}}/RECORD", "\\n".join(record) + "\\n")
    return fname
'''


def _sdist(folder: Path, name: str, tag: str) -> Path:
    """``<name>-1.0.tar.gz`` whose in-tree backend builds a wheel tagged ``tag``."""
    members = {
        "pyproject.toml": '[build-system]\nrequires = []\nbuild-backend = "backend"\nbackend-path = ["."]\n',
        "backend.py": textwrap.dedent(BACKEND.format(name=name, tag=tag)),
        "PKG-INFO": f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n",
    }
    path = folder / f"{name}-1.0.tar.gz"
    with tarfile.open(path, "w:gz") as tf:
        for arc, text in members.items():
            data = text.encode()
            info = tarfile.TarInfo(f"{name}-1.0/{arc}")
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    return path


def _wheel(folder: Path, name: str) -> Path:
    path = folder / f"{name}-1.0-py3-none-any.whl"
    info = f"{name}-1.0.dist-info"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr(f"{name}.py", "VALUE = 1\n")
        zf.writestr(f"{info}/METADATA", f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n")
        zf.writestr(
            f"{info}/WHEEL", "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
        )
        zf.writestr(f"{info}/RECORD", "")
    return path


@pytest.fixture()
def local_index(tmp_path) -> list[str]:
    links = tmp_path / "links"
    links.mkdir()
    _wheel(links, "alpha")
    _sdist(links, "beta", "py3-none-any")
    _sdist(links, "gamma", "cp311-cp311-linux_x86_64")
    return ["--no-index", "--find-links", str(links)]


def test_sdist_only_pure_package_becomes_a_wheel(tmp_path, local_index):
    dest = tmp_path / "wheels"
    dest.mkdir()
    no_wheel = bw.download_wheels(WIN311, {"alpha": "1.0", "beta": "1.0"}, dest, local_index)
    assert no_wheel == {"beta": "1.0"}
    assert [p.name for p in dest.glob("*.whl")] == ["alpha-1.0-py3-none-any.whl"]
    bw.wheels_from_sdists(WIN311, no_wheel, dest, local_index)
    assert sorted(bw.wheels_by_name(dest)) == ["alpha", "beta"]
    assert sorted(p.name for p in dest.iterdir()) == [
        "alpha-1.0-py3-none-any.whl",
        "beta-1.0-py3-none-any.whl",
    ]


def test_sdist_only_compiled_package_is_refused_for_another_platform(tmp_path, local_index):
    dest = tmp_path / "wheels"
    dest.mkdir()
    no_wheel = bw.download_wheels(WIN311, {"gamma": "1.0"}, dest, local_index)
    assert no_wheel == {"gamma": "1.0"}
    with pytest.raises(
        bw.WheelhouseError, match=r"windows-x86_64-py3.11: gamma==1.0 has no wheel .* platform-specific"
    ):
        bw.wheels_from_sdists(WIN311, no_wheel, dest, local_index)
