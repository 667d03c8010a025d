"""Build offline wheelhouses of regdml for the DST research server (Windows) and Linux machines.

Run on a machine that reaches PyPI::

    python scripts/build_wheelhouse.py                      # all four targets into ./wheelhouse
    python scripts/build_wheelhouse.py --target linux-x86_64-py3.11 --out /some/dir

For each target (Windows or Linux x86-64, Python 3.11 or 3.12) it writes a self-contained folder::

    <out>/<target>/wheels/*.whl        every wheel regdml needs there, regdml's own wheel included
    <out>/<target>/requirements.txt    name==version --hash=sha256:... for each wheel
    <out>/<target>/lock.txt            the resolved pins of the third-party packages
    <out>/<target>/manifest.json       target, python, files with sha256 and bytes, inputs' sha256
    <out>/<target>/install.ps1         (Windows) or install.sh (Linux): installs with no network

Everything is derived at build time from ``pyproject.toml`` (regdml's runtime dependencies, no dev
extras) and ``requirements.lock`` (the pins): for each target ``uv pip compile`` resolves pyproject.toml
with requirements.lock as constraints for that platform and Python, so every package pinned there gets
the same version on every target; packages the lock cannot pin because they exist only on another
platform (pywin32, colorama on Windows) get the newest version and are listed in the manifest. The
third-party wheels of a target are cached under ``--cache`` keyed by the sha256 of pyproject.toml,
requirements.lock and the target, so a rebuild with unchanged inputs needs no network; regdml's own
wheel is built from the working tree on every call.

Needs pip in the running interpreter, and uv: ``REGDML_UV``, else uv 0.13.9, which is installed into the
cache with pip when absent.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as _dt
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Iterable, Sequence
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
UV_VERSION = "0.13.9"
# Bump when the layout of a cached target changes, so old caches are not reused.
CACHE_FORMAT = "1"
# Debian 11/12, Ubuntu 20.04+ and RHEL 8+ have glibc >= 2.28.
LINUX_GLIBC = (2, 28)


class WheelhouseError(RuntimeError):
    """A wheelhouse cannot be built; the message names the target, package or file."""


@dataclasses.dataclass(frozen=True)
class Target:
    """One platform and Python version a wheelhouse is built for."""

    os: str
    python: str

    @property
    def name(self) -> str:
        return f"{self.os}-x86_64-py{self.python}"

    @property
    def abi(self) -> str:
        return "cp" + self.python.replace(".", "")

    @property
    def uv_platform(self) -> str:
        if self.os == "windows":
            return "x86_64-pc-windows-msvc"
        return f"x86_64-manylinux_{LINUX_GLIBC[0]}_{LINUX_GLIBC[1]}"

    @property
    def pip_platforms(self) -> list[str]:
        """Platform tags pip may download for this target, most specific first.

        pip does not expand ``manylinux_2_28`` to the older manylinux tags it implies, so they are all
        listed (``manylinux2014`` = 2.17, ``manylinux2010`` = 2.12, ``manylinux1`` = 2.5).
        """
        if self.os == "windows":
            return ["win_amd64"]
        tags = [f"manylinux_2_{minor}_x86_64" for minor in range(LINUX_GLIBC[1], 4, -1)]
        return tags + ["manylinux2014_x86_64", "manylinux2010_x86_64", "manylinux1_x86_64"]

    @property
    def script_name(self) -> str:
        return "install.ps1" if self.os == "windows" else "install.sh"


ALL_TARGETS: tuple[Target, ...] = tuple(
    Target(os_name, py) for os_name in ("windows", "linux") for py in ("3.11", "3.12")
)


def target_by_name(name: str) -> Target:
    """The target called ``name`` (e.g. ``windows-x86_64-py3.11``)."""
    for t in ALL_TARGETS:
        if t.name == name:
            return t
    known = ", ".join(t.name for t in ALL_TARGETS)
    raise WheelhouseError(f"--target {name!r} is not a known target; choose from {known}")


def host_target() -> Target:
    """The Linux target for the running interpreter (used by the offline-install test)."""
    return target_by_name(f"linux-x86_64-py{sys.version_info.major}.{sys.version_info.minor}")


# ---------------------------------------------------------------------------------------------------
# names, pins and files


def normalize(name: str) -> str:
    """PEP 503 normalized project name."""
    return re.sub(r"[-_.]+", "-", name).lower()


def read_pins(path: Path) -> dict[str, str]:
    """``{normalized name: version}`` from a pip-compile style file (``name==version`` lines)."""
    pins: dict[str, str] = {}
    for lineno, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        line = raw.split("#", 1)[0].strip()
        if not line or line.startswith("-"):
            continue
        m = re.fullmatch(r"([A-Za-z0-9][A-Za-z0-9._-]*)(\[[^\]]*\])?==([^\s;]+)(\s*;.*)?", line)
        if not m:
            raise WheelhouseError(f"{path}:{lineno}: expected 'name==version', got {raw.strip()!r}")
        pins[normalize(m.group(1))] = m.group(3)
    return pins


def wheel_name_version(filename: str) -> tuple[str, str]:
    """(normalized project name, version) from a wheel's file name."""
    parts = filename[: -len(".whl")].split("-")
    if not filename.endswith(".whl") or len(parts) not in (5, 6):
        raise WheelhouseError(f"{filename!r} is not a wheel file name")
    return normalize(parts[0]), parts[1]


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def input_key(target: Target, pyproject: Path, lock: Path) -> str:
    """Cache key of a target's third-party wheels: the inputs they are derived from."""
    h = hashlib.sha256()
    for part in (CACHE_FORMAT.encode(), target.name.encode(), pyproject.read_bytes(), lock.read_bytes()):
        h.update(hashlib.sha256(part).digest())
    return h.hexdigest()[:20]


def link_or_copy(src: Path, dst: Path) -> None:
    """Hard-link ``src`` to ``dst`` (same disk: no copy), else copy it."""
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


# ---------------------------------------------------------------------------------------------------
# tools


def _run(cmd: Sequence[str | Path], what: str, **kwargs) -> subprocess.CompletedProcess[str]:
    """Run ``cmd``; on failure raise with ``what`` and the tool's own message."""
    proc = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, **kwargs)
    if proc.returncode != 0:
        tail = "\n".join((proc.stderr or proc.stdout).strip().splitlines()[-25:])
        raise WheelhouseError(f"{what} failed (exit {proc.returncode}):\n{tail}")
    return proc


def find_uv(cache: Path) -> list[str]:
    """The uv command: ``REGDML_UV``, else uv UV_VERSION, installed into the cache with pip if absent."""
    # Not any uv on PATH: another version may resolve differently or lack --python-platform.
    env_uv = os.environ.get("REGDML_UV")
    if env_uv:
        return [env_uv]
    tool_dir = cache / "tools" / f"uv-{UV_VERSION}"
    exe = tool_dir / "bin" / ("uv.exe" if os.name == "nt" else "uv")
    if not exe.exists():
        tmp = tool_dir.with_name(f".{tool_dir.name}.{uuid.uuid4().hex}")
        _run(
            [sys.executable, "-m", "pip", "install", "--quiet", f"uv=={UV_VERSION}", "--target", tmp],
            f"installing uv=={UV_VERSION} with pip",
        )
        try:
            tmp.rename(tool_dir)
        except OSError:
            shutil.rmtree(tmp, ignore_errors=True)  # another build installed it meanwhile
    return [str(exe)]


# ---------------------------------------------------------------------------------------------------
# steps


def compile_lock(uv: list[str], target: Target, pyproject: Path, lock: Path, out: Path) -> dict[str, str]:
    """Resolve pyproject.toml's runtime dependencies for ``target`` with requirements.lock as constraints."""
    _run(
        [
            *uv,
            "pip",
            "compile",
            pyproject,
            "--constraint",
            lock,
            "--python-platform",
            target.uv_platform,
            "--python-version",
            target.python,
            "--no-header",
            "--no-annotate",
            "--quiet",
            "--output-file",
            out,
        ],
        f"{target.name}: resolving {pyproject.name} with {lock.name} as constraints (uv pip compile)",
    )
    return read_pins(out)


def check_pins(target: Target, resolved: dict[str, str], pinned: dict[str, str]) -> list[str]:
    """Check the target's resolution against requirements.lock; return the platform-only packages.

    Every package requirements.lock pins must resolve to that version. A package it does not pin is
    accepted only on Windows, where it is platform-only (the lock is compiled on Linux); on Linux it means
    requirements.lock is out of date with pyproject.toml.
    """
    for name, version in resolved.items():
        if name in pinned and pinned[name] != version:
            raise WheelhouseError(
                f"{target.name}: {name} resolved to {version} but requirements.lock pins {pinned[name]}"
            )
    extra = sorted(n for n in resolved if n not in pinned and n != "regdml")
    if extra and target.os != "windows":
        raise WheelhouseError(
            f"{target.name}: {', '.join(f'{n}=={resolved[n]}' for n in extra)} needed by pyproject.toml but "
            "not pinned in requirements.lock; regenerate it (uv pip compile pyproject.toml --extra dev "
            "-o requirements.lock)"
        )
    return extra


def _pip_download(target: Target, reqs: dict[str, str], dest: Path, index_args: Sequence[str]) -> str | None:
    """Download the wheels of ``reqs`` for ``target``; return the requirement pip found no wheel for."""
    req_file = dest / ".download-requirements.txt"
    req_file.write_text("".join(f"{n}=={v}\n" for n, v in sorted(reqs.items())), encoding="utf-8")
    cmd = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--disable-pip-version-check",
        "--no-deps",
        "--only-binary=:all:",
        "--implementation",
        "cp",
        "--python-version",
        target.python,
        "--abi",
        target.abi,
        "--abi",
        "abi3",
        "--abi",
        "none",
        *[arg for p in target.pip_platforms for arg in ("--platform", p)],
        *index_args,
        "--dest",
        str(dest),
        "-r",
        str(req_file),
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    req_file.unlink()
    if proc.returncode == 0:
        return None
    m = re.search(r"No matching distribution found for ([^\s;]+)", proc.stderr)
    if not m:
        tail = "\n".join(proc.stderr.strip().splitlines()[-25:])
        raise WheelhouseError(f"{target.name}: pip download failed (exit {proc.returncode}):\n{tail}")
    return m.group(1)


def download_wheels(
    target: Target, reqs: dict[str, str], dest: Path, index_args: Sequence[str] = ()
) -> dict[str, str]:
    """Download a wheel of every pinned package for ``target`` into ``dest``.

    Returns the packages that have no wheel for the target (only an sdist); pip stops at the first
    such package, so it is set aside and the rest retried.
    """
    pending = dict(reqs)
    no_wheel: dict[str, str] = {}
    while pending:
        missing = _pip_download(target, pending, dest, index_args)
        if missing is None:
            break
        name = normalize(re.split(r"[=<>!~\[]", missing, maxsplit=1)[0])
        if name not in pending:
            raise WheelhouseError(f"{target.name}: pip found no distribution for {missing}")
        no_wheel[name] = pending.pop(name)
    return no_wheel


def wheels_from_sdists(
    target: Target,
    reqs: dict[str, str],
    dest: Path,
    index_args: Sequence[str] = (),
    build_isolation: bool = True,
) -> None:
    """Turn the sdists of ``reqs`` into wheels in ``dest``; only pure-Python ones are portable.

    A package whose sdist builds a platform-specific wheel can be built here only for the host's own
    target; for any other target it is an error naming the package.
    """
    if not reqs:
        return
    sdists = dest / ".sdists"
    sdists.mkdir(exist_ok=True)
    built = dest / ".built"
    for name, version in sorted(reqs.items()):
        _run(
            [
                sys.executable,
                "-m",
                "pip",
                "download",
                "--disable-pip-version-check",
                "--no-deps",
                "--no-binary=:all:",
                *index_args,
                "--dest",
                sdists,
                f"{name}=={version}",
            ],
            f"{target.name}: {name}=={version} has no wheel for {target.name}; downloading its sdist",
        )
        shutil.rmtree(built, ignore_errors=True)
        sdist = next(
            (p for p in sdists.iterdir() if normalize(p.name).startswith(normalize(f"{name}-{version}-"))),
            None,
        )
        if sdist is None:
            raise WheelhouseError(f"{target.name}: no sdist of {name}=={version} was downloaded")
        _run(
            [
                sys.executable,
                "-m",
                "pip",
                "wheel",
                "--disable-pip-version-check",
                "--no-deps",
                *([] if build_isolation else ["--no-build-isolation"]),
                *index_args,
                "--wheel-dir",
                built,
                sdist,
            ],
            f"{target.name}: building a wheel of {name}=={version} from its sdist",
        )
        (wheel,) = built.glob("*.whl")
        portable = wheel.name.endswith("-none-any.whl")
        if not portable and target != host_target():
            raise WheelhouseError(
                f"{target.name}: {name}=={version} has no wheel for {target.name} and its sdist builds a "
                f"platform-specific wheel ({wheel.name}), which cannot be built on this machine"
            )
        shutil.move(wheel, dest / wheel.name)
    shutil.rmtree(sdists, ignore_errors=True)
    shutil.rmtree(built, ignore_errors=True)


def wheels_by_name(folder: Path) -> dict[str, Path]:
    """``{normalized name: wheel}`` for a folder with exactly one wheel per project."""
    out: dict[str, Path] = {}
    for whl in sorted(folder.glob("*.whl")):
        name, _ = wheel_name_version(whl.name)
        if name in out:
            raise WheelhouseError(f"{folder}: two wheels of {name}: {out[name].name} and {whl.name}")
        out[name] = whl
    return out


def third_party_wheels(
    uv: list[str],
    target: Target,
    pyproject: Path,
    lock: Path,
    cache: Path,
    index_args: Sequence[str] = (),
    keep: int = 3,
) -> tuple[Path, dict[str, str], list[str], bool]:
    """The cache folder holding the target's third-party wheels and ``lock.txt``, built if absent.

    Returns (folder, resolved pins, platform-only packages, whether it was already cached). Only the
    ``keep`` most recently used input versions of a target stay in the cache.
    """
    key = input_key(target, pyproject, lock)
    base = cache / "targets" / target.name
    done_file = base / key / "complete.json"
    from_cache = done_file.is_file()
    if from_cache:
        pins = json.loads(done_file.read_text(encoding="utf-8"))["pins"]
        if set(wheels_by_name(base / key)) != set(pins):
            # Someone deleted or added files in the cache: build it again rather than trust it.
            shutil.rmtree(base / key)
            from_cache = False
    if not from_cache:
        base.mkdir(parents=True, exist_ok=True)
        work = base / f".{key}.{uuid.uuid4().hex}.partial"
        work.mkdir()
        try:
            pins = compile_lock(uv, target, pyproject, lock, work / "lock.txt")
            platform_only = check_pins(target, pins, read_pins(lock))
            no_wheel = download_wheels(target, pins, work, index_args)
            wheels_from_sdists(target, no_wheel, work, index_args)
            have = wheels_by_name(work)
            for name, version in pins.items():
                if name not in have or wheel_name_version(have[name].name)[1] != version:
                    raise WheelhouseError(f"{target.name}: no wheel of {name}=={version} after downloading")
            (work / "complete.json").write_text(
                json.dumps({"pins": pins, "platform_only": platform_only}, indent=1), encoding="utf-8"
            )
            try:
                work.rename(base / key)
            except OSError:
                pass  # another build of the same inputs finished first: its result is as good as ours
        finally:
            shutil.rmtree(work, ignore_errors=True)
    done = json.loads(done_file.read_text(encoding="utf-8"))
    done_file.touch()
    entries = sorted(
        (p for p in base.iterdir() if (p / "complete.json").is_file()),
        key=lambda p: (p / "complete.json").stat().st_mtime,
        reverse=True,
    )
    for stale in entries[keep:]:
        shutil.rmtree(stale, ignore_errors=True)
    return base / key, done["pins"], done["platform_only"], from_cache


def build_regdml_wheel(uv: list[str], source: Path, out: Path) -> Path:
    """Build regdml's own wheel from ``source`` (hatchling comes from uv's cache or PyPI)."""
    out.mkdir(parents=True, exist_ok=True)
    _run(
        [*uv, "build", "--wheel", "--quiet", "--python", sys.executable, "--out-dir", out, source],
        f"building regdml's wheel from {source} (uv build)",
    )
    wheels = list(out.glob("regdml-*.whl"))
    if len(wheels) != 1:
        raise WheelhouseError(f"uv build wrote {len(wheels)} regdml wheels into {out}, expected one")
    return wheels[0]


def verify_offline(uv: list[str], target: Target, folder: Path, expected: dict[str, str]) -> None:
    """Resolve regdml from the folder alone, for the target's platform and Python, and compare.

    This is the offline install's resolution (no index), done with uv because pip evaluates
    environment markers for the machine it runs on, not for the target.
    """
    wanted = folder / ".verify-in.txt"
    got = folder / ".verify-out.txt"
    wanted.write_text(f"regdml=={expected['regdml']}\n", encoding="utf-8")
    try:
        _run(
            [
                *uv,
                "pip",
                "compile",
                wanted,
                "--offline",
                "--no-index",
                "--find-links",
                folder / "wheels",
                "--python-platform",
                target.uv_platform,
                "--python-version",
                target.python,
                "--no-header",
                "--no-annotate",
                "--quiet",
                "--output-file",
                got,
            ],
            f"{target.name}: resolving regdml from {folder / 'wheels'} alone (uv pip compile --no-index)",
        )
        resolved = read_pins(got)
    finally:
        wanted.unlink(missing_ok=True)
        got.unlink(missing_ok=True)
    if resolved != expected:
        diff = sorted(
            f"{n}: wheelhouse {resolved.get(n, '-')} vs lock {expected.get(n, '-')}"
            for n in set(resolved) | set(expected)
            if resolved.get(n) != expected.get(n)
        )
        raise WheelhouseError(
            f"{target.name}: the wheelhouse does not resolve to the pinned set: {'; '.join(diff)}"
        )


# ---------------------------------------------------------------------------------------------------
# install scripts


INSTALL_SH = """\
#!/bin/sh
# Installs regdml {version} and its pinned dependencies for {target} from this folder, with no network.
# Generated by scripts/build_wheelhouse.py.
#   sh install.sh [VENV_DIR]          (default VENV_DIR: ./regdml-venv)
#   PYTHON=/path/to/python{python} sh install.sh VENV_DIR
set -eu
here=$(cd "$(dirname "$0")" && pwd)
venv=${{1:-regdml-venv}}
python=${{PYTHON:-python{python}}}
got=$("$python" -c 'import sys; print("%d.%d" % sys.version_info[:2])') || {{
    echo "install.sh: cannot run '$python'; set PYTHON to a Python {python} interpreter" >&2
    exit 1
}}
if [ "$got" != "{python}" ]; then
    echo "install.sh: '$python' is Python $got, but this wheelhouse is for Python {python}; set PYTHON" >&2
    exit 1
fi
"$python" -m venv "$venv"
# --no-index: pip never contacts an index, even if a pip.conf names one.
PIP_NO_INDEX=1 PIP_DISABLE_PIP_VERSION_CHECK=1 "$venv/bin/python" -m pip install --quiet \\
    --no-index --find-links "$here/wheels" --only-binary=:all: --require-hashes \\
    -r "$here/requirements.txt"
"$venv/bin/regdml" --help >/dev/null
echo "regdml {version} installed in $venv (run $venv/bin/regdml)"
"""

INSTALL_PS1 = """\
<#
.SYNOPSIS
Installs regdml {version} and its pinned dependencies for {target} from this folder, with no network.

.DESCRIPTION
Generated by scripts/build_wheelhouse.py. Creates a virtual environment with Python {python} and
installs every wheel in .\\wheels (checked against the sha256 in requirements.txt); pip never contacts
an index.

.EXAMPLE
powershell -ExecutionPolicy Bypass -File install.ps1 -Venv E:\\workdata\\123456\\regdml-venv

.EXAMPLE
powershell -ExecutionPolicy Bypass -File install.ps1 -Venv .\\regdml-venv -Python C:\\Python{nodot}\\python.exe
#>
param(
    [string]$Venv = "regdml-venv",
    [string]$Python = ""
)
$ErrorActionPreference = "Stop"
$here = $PSScriptRoot
$want = "{python}"
# An absolute path: relative executable paths are not run reliably by the call operator.
$Venv = $ExecutionContext.SessionState.Path.GetUnresolvedProviderPathFromPSPath($Venv)

if ($Python) {{
    $pyExe = $Python; $pyArgs = @()
}} elseif (Get-Command py -ErrorAction SilentlyContinue) {{
    $pyExe = "py"; $pyArgs = @("-$want")
}} else {{
    $pyExe = "python"; $pyArgs = @()
}}
$got = & $pyExe @pyArgs -c "import sys; print('%d.%d' % sys.version_info[:2])"
if ($LASTEXITCODE -ne 0) {{
    throw "install.ps1: cannot run '$pyExe $pyArgs'; pass -Python with the path of a Python $want python.exe"
}}
if ("$got".Trim() -ne $want) {{
    throw "install.ps1: '$pyExe $pyArgs' is Python $got, but this wheelhouse is for Python $want; pass -Python"
}}

& $pyExe @pyArgs -m venv $Venv
if ($LASTEXITCODE -ne 0) {{ throw "install.ps1: creating the virtual environment $Venv failed" }}

# --no-index: pip never contacts an index, even if a pip.ini names one.
$env:PIP_NO_INDEX = "1"
$env:PIP_DISABLE_PIP_VERSION_CHECK = "1"
& (Join-Path $Venv "Scripts\\python.exe") -m pip install --quiet `
    --no-index --find-links (Join-Path $here "wheels") --only-binary=:all: --require-hashes `
    -r (Join-Path $here "requirements.txt")
if ($LASTEXITCODE -ne 0) {{ throw "install.ps1: pip install from $here\\wheels failed (exit $LASTEXITCODE)" }}

& (Join-Path $Venv "Scripts\\regdml.exe") --help | Out-Null
if ($LASTEXITCODE -ne 0) {{ throw "install.ps1: regdml was installed but 'regdml --help' failed" }}
Write-Host "regdml {version} installed in $Venv (run $Venv\\Scripts\\regdml.exe)"
"""


def install_script(target: Target, version: str) -> str:
    template = INSTALL_PS1 if target.os == "windows" else INSTALL_SH
    return template.format(
        version=version, target=target.name, python=target.python, nodot=target.python.replace(".", "")
    )


# ---------------------------------------------------------------------------------------------------
# one target


@dataclasses.dataclass
class TargetResult:
    target: Target
    folder: Path
    files: int
    total_bytes: int
    seconds: float
    from_cache: bool
    platform_only: list[str]


def build_target(
    uv: list[str],
    target: Target,
    out: Path,
    regdml_wheel: Path,
    pyproject: Path,
    lock: Path,
    cache: Path,
    index_args: Sequence[str] = (),
) -> TargetResult:
    """Write ``out/<target>/``: wheels, requirements.txt with hashes, manifest and install script."""
    t0 = time.monotonic()
    source, pins, platform_only, from_cache = third_party_wheels(
        uv, target, pyproject, lock, cache, index_args
    )
    final = out / target.name
    stage = out / f".{target.name}.{uuid.uuid4().hex}.partial"
    try:
        (stage / "wheels").mkdir(parents=True)
        for whl in source.glob("*.whl"):
            link_or_copy(whl, stage / "wheels" / whl.name)
        shutil.copyfile(regdml_wheel, stage / "wheels" / regdml_wheel.name)
        shutil.copyfile(source / "lock.txt", stage / "lock.txt")
        regdml_name, regdml_version = wheel_name_version(regdml_wheel.name)
        expected = {**pins, regdml_name: regdml_version}
        files = []
        lines = []
        for name, whl in sorted(wheels_by_name(stage / "wheels").items()):
            digest = sha256_file(whl)
            files.append({"file": f"wheels/{whl.name}", "sha256": digest, "bytes": whl.stat().st_size})
            lines.append(f"{name}=={wheel_name_version(whl.name)[1]} --hash=sha256:{digest}\n")
        if {wheel_name_version(f["file"].split("/")[1])[0] for f in files} != set(expected):
            raise WheelhouseError(f"{target.name}: the wheels do not match the resolved packages")
        (stage / "requirements.txt").write_text("".join(lines), encoding="utf-8")
        script = stage / target.script_name
        script.write_text(install_script(target, regdml_version), encoding="utf-8", newline="\n")
        script.chmod(0o755)
        verify_offline(uv, target, stage, expected)
        manifest = {
            "target": target.name,
            "platform": target.pip_platforms[0],
            "python": target.python,
            "regdml": regdml_version,
            "built": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
            "inputs": {p.name: sha256_file(p) for p in (pyproject, lock)},
            "platform_only": {n: pins[n] for n in platform_only},
            "install_script": target.script_name,
            "files": files,
            "total_bytes": sum(f["bytes"] for f in files),
        }
        (stage / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n", encoding="utf-8")
        if final.exists():
            shutil.rmtree(final)
        stage.rename(final)
    finally:
        shutil.rmtree(stage, ignore_errors=True)
    return TargetResult(
        target=target,
        folder=final,
        files=len(files),
        total_bytes=manifest["total_bytes"],
        seconds=time.monotonic() - t0,
        from_cache=from_cache,
        platform_only=[f"{n}=={pins[n]}" for n in platform_only],
    )


def write_index(out: Path) -> Path:
    """``<out>/README.txt``: which folder is for which machine, and how to install from it."""
    rows = []
    for manifest_path in sorted(out.glob("*/manifest.json")):
        m = json.loads(manifest_path.read_text(encoding="utf-8"))
        rows.append(
            f"  {m['target']:<24} {len(m['files']):>4} wheels {m['total_bytes'] / 2**20:>6.0f} MiB   "
            f"{m['install_script']}"
        )
    text = (
        "Offline installers of regdml (built by scripts/build_wheelhouse.py).\n\n"
        "Copy the one folder that matches the machine (operating system and Python version) and run its\n"
        "install script there; it needs no network.\n\n"
        + "\n".join(rows)
        + "\n\nWindows:  powershell -ExecutionPolicy Bypass -File install.ps1 -Venv <folder for the environment>\n"
        "Linux:    sh install.sh <folder for the environment>\n"
        "Each folder's manifest.json lists every file with its sha256; requirements.txt pins them.\n"
    )
    path = out / "README.txt"
    path.write_text(text, encoding="utf-8")
    return path


def default_cache() -> Path:
    env = os.environ.get("REGDML_WHEELHOUSE_CACHE")
    if env:
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "regdml" / "wheelhouse"


def build(
    targets: Iterable[Target],
    out: Path,
    cache: Path | None,
    source: Path = REPO,
    index_args: Sequence[str] = (),
    log=print,
) -> list[TargetResult]:
    """Build the wheelhouse of each target under ``out``; see the module docstring."""
    pyproject = source / "pyproject.toml"
    lock = source / "requirements.lock"
    for p in (pyproject, lock):
        if not p.is_file():
            raise WheelhouseError(f"{p} not found: --source must be regdml's repository")
    out.mkdir(parents=True, exist_ok=True)
    scratch = out / f".build.{uuid.uuid4().hex}"
    cache = cache if cache is not None else scratch / "cache"
    with_regdml = scratch / "regdml"
    results = []
    try:
        uv = find_uv(cache)
        regdml_wheel = build_regdml_wheel(uv, source, with_regdml)
        log(f"built {regdml_wheel.name}")
        for target in targets:
            log(f"{target.name}: ...")
            r = build_target(uv, target, out, regdml_wheel, pyproject, lock, cache, index_args)
            log(
                f"{target.name}: {r.files} wheels, {r.total_bytes / 2**20:.0f} MiB, {r.seconds:.0f} s"
                + (" (third-party wheels from the cache)" if r.from_cache else "")
                + (f"; platform-only: {', '.join(r.platform_only)}" if r.platform_only else "")
            )
            results.append(r)
        write_index(out)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return results


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument(
        "--out", type=Path, default=REPO / "wheelhouse", help="output folder (default ./wheelhouse)"
    )
    ap.add_argument(
        "--target",
        action="append",
        dest="targets",
        metavar="NAME",
        help=f"target to build (repeatable; default all: {', '.join(t.name for t in ALL_TARGETS)})",
    )
    ap.add_argument(
        "--cache",
        type=Path,
        default=None,
        help="cache of third-party wheels (default $REGDML_WHEELHOUSE_CACHE, else ~/.cache/regdml/wheelhouse)",
    )
    ap.add_argument("--no-cache", action="store_true", help="download everything afresh, keep no cache")
    ap.add_argument("--source", type=Path, default=REPO, help="regdml's repository (default: this one)")
    args = ap.parse_args(argv)
    targets = [target_by_name(n) for n in args.targets] if args.targets else list(ALL_TARGETS)
    cache = None if args.no_cache else (args.cache or default_cache())
    t0 = time.monotonic()
    try:
        results = build(targets, args.out.resolve(), cache, args.source.resolve())
    except WheelhouseError as exc:
        print(f"build_wheelhouse: {exc}", file=sys.stderr)
        return 1
    total = sum(r.total_bytes for r in results)
    print(
        f"wrote {len(results)} wheelhouse(s) to {args.out} ({total / 2**20:.0f} MiB) in {time.monotonic() - t0:.0f} s"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
