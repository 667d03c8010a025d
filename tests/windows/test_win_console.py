"""Output redirected on Windows is encoded with the ANSI code page (cp1252), which has no box-drawing
characters: ``regdml run > run.log`` ended a successful run in a UnicodeEncodeError while printing the
summary's tables. ``PYTHONIOENCODING=cp1252`` gives the same streams on Linux."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

SCRIPT = """
import polars as pl
from pipelines.cli import main
main([])  # prints the help and returns; the streams stay as main set them
print(pl.DataFrame({"kommune": ["Køge", "Aarhus"], "meetings": [12, 30]}))
"""


def _run(code: str) -> subprocess.CompletedProcess[bytes]:
    env = {**os.environ, "PYTHONIOENCODING": "cp1252", "PYTHONPATH": str(REPO)}
    return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, timeout=120)


def test_a_cp1252_stream_cannot_print_the_tables():
    proc = _run(SCRIPT.replace("main([])", "pass"))
    assert proc.returncode == 1 and b"UnicodeEncodeError" in proc.stderr


def test_regdml_prints_its_tables_to_a_cp1252_stream_as_utf8():
    proc = _run(SCRIPT)
    assert proc.returncode == 0, proc.stderr.decode("utf-8", "replace")
    out = proc.stdout.decode("utf-8")
    assert "┌" in out and "Køge" in out and "usage: regdml" in out
