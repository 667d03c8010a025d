"""Which folders count as complete deliveries: never a half-copied one."""

import os
import time

import pytest

from pipelines.delivery_watch import DEFAULT_MARKER, complete_deliveries


def _delivery(root, name, files=("dream.parquet", "bef202012.parquet"), marker=False):
    d = root / name
    d.mkdir(parents=True)
    for f in files:
        (d / f).write_bytes(b"x" * 10)
    if marker:
        (d / DEFAULT_MARKER).write_text("", encoding="utf-8")
    return d


def test_marker_mode_needs_the_marker(tmp_path):
    _delivery(tmp_path, "d2021", marker=True)
    _delivery(tmp_path, "d2022", marker=False)
    ready, seen = complete_deliveries(tmp_path, mode="marker")
    assert [s.name for s in ready] == ["d2021"]
    assert set(seen) == {"d2021", "d2022"}


def test_partial_copy_files_block_even_with_marker(tmp_path):
    _delivery(tmp_path, "d2021", files=("dream.parquet", "bef202012.sas7bdat.part"), marker=True)
    ready, _ = complete_deliveries(tmp_path, mode="marker")
    assert ready == []


def test_empty_folder_is_never_complete(tmp_path):
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / DEFAULT_MARKER).write_text("", encoding="utf-8")
    ready, _ = complete_deliveries(tmp_path, mode="marker")
    assert ready == []


def test_stable_mode_needs_two_equal_listings_and_age(tmp_path):
    d = _delivery(tmp_path, "d2021")
    now = time.time() + 3600
    ready, cursor = complete_deliveries(tmp_path, mode="stable", previous={}, now=now)
    assert ready == []  # first sighting: not yet known to be stable
    ready, cursor2 = complete_deliveries(tmp_path, mode="stable", previous=cursor, now=now)
    assert [s.name for s in ready] == ["d2021"]
    # A file still growing changes the listing: not complete at this tick.
    with open(d / "dream.parquet", "ab") as fh:
        fh.write(b"more")
    ready, _ = complete_deliveries(tmp_path, mode="stable", previous=cursor2, now=now)
    assert ready == []


def test_stable_mode_respects_minimum_age(tmp_path):
    _delivery(tmp_path, "d2021")
    _, cursor = complete_deliveries(tmp_path, mode="stable")
    ready, _ = complete_deliveries(tmp_path, mode="stable", previous=cursor, min_age_seconds=600)
    assert ready == []


def test_unknown_mode_is_refused(tmp_path):
    with pytest.raises(ValueError, match="'sometimes'"):
        complete_deliveries(tmp_path, mode="sometimes")


def test_missing_root_gives_nothing(tmp_path):
    assert complete_deliveries(tmp_path / "nope") == ([], {})


def test_listing_hash_changes_with_mtime(tmp_path):
    d = _delivery(tmp_path, "d1")
    _, a = complete_deliveries(tmp_path, mode="stable")
    st = (d / "dream.parquet").stat()
    os.utime(d / "dream.parquet", ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    _, b = complete_deliveries(tmp_path, mode="stable")
    assert a["d1"] != b["d1"]
