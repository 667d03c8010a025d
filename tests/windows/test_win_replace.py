"""Renaming outputs into place when Windows says the target is locked (``assets.io.replace_path``).

Linux never refuses to replace an open file, so the refusals Windows gives (PermissionError, WinError 5
or 32) are simulated by patching ``os.replace``.
"""

from __future__ import annotations

import os
import sys

import pytest

from assets import io as aio


def _flaky_replace(monkeypatch, failures: int) -> list[tuple[str, str]]:
    """``os.replace`` that refuses ``failures`` times (as Windows does for a locked file), then works."""
    calls: list[tuple[str, str]] = []
    real = os.replace

    def replace(src, dst):
        calls.append((str(src), str(dst)))
        if len(calls) <= failures:
            raise PermissionError(13, "The process cannot access the file because it is being used", str(dst))
        real(src, dst)

    monkeypatch.setattr(aio.os, "replace", replace)
    return calls


def test_a_momentary_lock_is_waited_out(tmp_path, monkeypatch):
    src, dst = tmp_path / "new.parquet", tmp_path / "out.parquet"
    src.write_text("new", encoding="utf-8")
    dst.write_text("old", encoding="utf-8")
    calls = _flaky_replace(monkeypatch, failures=2)
    aio.replace_path(src, dst, attempts=5, delay=0)
    assert len(calls) == 3
    assert dst.read_text(encoding="utf-8") == "new" and not src.exists()


def test_a_lasting_lock_names_the_file_and_keeps_both(tmp_path, monkeypatch):
    src, dst = tmp_path / "new.duckdb", tmp_path / "registers.duckdb"
    src.write_text("new", encoding="utf-8")
    dst.write_text("old", encoding="utf-8")
    calls = _flaky_replace(monkeypatch, failures=99)
    with pytest.raises(
        PermissionError, match=r"cannot put new.duckdb in place of .*registers.duckdb.*close it"
    ):
        aio.replace_path(src, dst, attempts=3, delay=0)
    assert len(calls) == 3
    assert dst.read_text(encoding="utf-8") == "old" and src.read_text(encoding="utf-8") == "new"


def test_retries_only_on_windows(tmp_path, monkeypatch):
    src, dst = tmp_path / "a", tmp_path / "b"
    src.write_text("a", encoding="utf-8")
    calls = _flaky_replace(monkeypatch, failures=99)
    with pytest.raises(PermissionError):
        aio.replace_path(src, dst, delay=0)
    assert len(calls) == 1  # on Linux a PermissionError is a real permission problem
    calls.clear()
    monkeypatch.setattr(sys, "platform", "win32")
    with pytest.raises(PermissionError):
        aio.replace_path(src, dst, delay=0)
    assert len(calls) == aio.REPLACE_ATTEMPTS


def test_atomic_path_keeps_the_old_output_when_the_rename_is_refused(tmp_path, monkeypatch):
    target = tmp_path / "staging" / "bef.parquet"
    target.parent.mkdir()
    target.write_text("old", encoding="utf-8")
    _flaky_replace(monkeypatch, failures=99)
    with pytest.raises(PermissionError, match="bef.parquet"):
        with aio.atomic_path(target) as tmp:
            tmp.write_text("new", encoding="utf-8")
    assert target.read_text(encoding="utf-8") == "old"
    assert [p.name for p in target.parent.iterdir()] == ["bef.parquet"]  # no temporary file left


def test_swap_dir_replaces_a_folder(tmp_path):
    new, target = tmp_path / "new", tmp_path / "tables"
    for folder, text in ((new, "new"), (target, "old")):
        folder.mkdir()
        (folder / "t.csv").write_text(text, encoding="utf-8")
    aio.swap_dir(new, target)
    assert (target / "t.csv").read_text(encoding="utf-8") == "new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tables"]


def test_swap_dir_puts_the_old_folder_back_when_the_new_one_cannot_move_in(tmp_path, monkeypatch):
    new, target = tmp_path / "new", tmp_path / "export_bundle"
    for folder, text in ((new, "new"), (target, "old")):
        folder.mkdir()
        (folder / "t.csv").write_text(text, encoding="utf-8")
    real = aio.replace_path

    def refuse_new(src, dst, attempts=None, delay=0.0):
        if os.fspath(src) == os.fspath(new):
            raise PermissionError(13, f"regdml: cannot put new in place of {dst}")
        real(src, dst, attempts=attempts, delay=delay)

    monkeypatch.setattr(aio, "replace_path", refuse_new)
    with pytest.raises(PermissionError, match="cannot put new"):
        aio.swap_dir(new, target)
    assert (target / "t.csv").read_text(encoding="utf-8") == "old"
    assert (new / "t.csv").read_text(encoding="utf-8") == "new"


def test_connect_accepts_a_spill_folder_with_a_quote(tmp_path):
    spill = tmp_path / "O'Brien" / "tmp"
    spill.mkdir(parents=True)
    con = aio.connect({"temp_directory": str(spill)})
    try:
        assert con.execute("SELECT current_setting('temp_directory')").fetchone()[0] == str(spill)
    finally:
        con.close()
