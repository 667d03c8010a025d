"""Which folders under the delivery root are complete deliveries (pure; the sensor wraps it).

A folder counts as complete in one of two modes, chosen by ``REGDML_DELIVERY_COMPLETE``:

``marker`` (default)
    the folder holds the marker file (``REGDML_DELIVERY_MARKER``, default ``_DELIVERY_COMPLETE``),
    which whoever copies the delivery writes last;
``stable``
    the folder's listing (file names, sizes, modification times) is the same as at the previous sensor
    tick, and no file changed in the last ``min_age_seconds``.

A half-copied folder is never complete in either mode: in ``marker`` mode its marker is missing, in
``stable`` mode its listing still changes between ticks. Temporary copy files (``*.part``, ``*.tmp``,
``~*``) make a folder incomplete in both modes.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass
from pathlib import Path

from data_contracts.settings import DEFAULT_DELIVERY_MARKER as DEFAULT_MARKER

PARTIAL_SUFFIXES = (".part", ".tmp", ".crdownload", ".partial")


@dataclass(frozen=True)
class FolderState:
    name: str
    listing_hash: str
    newest_mtime: float
    has_marker: bool
    has_partial_files: bool


def folder_state(folder: Path, marker: str = DEFAULT_MARKER) -> FolderState:
    entries = []
    newest = 0.0
    partial = False
    has_marker = False
    for p in sorted(folder.iterdir()):
        if not p.is_file():
            continue
        if p.name == marker:
            has_marker = True
            continue
        if p.name.lower().endswith(PARTIAL_SUFFIXES) or p.name.startswith("~"):
            partial = True
        st = p.stat()
        newest = max(newest, st.st_mtime)
        entries.append(f"{p.name}\t{st.st_size}\t{st.st_mtime_ns}")
    digest = hashlib.sha256("\n".join(entries).encode("utf-8")).hexdigest()
    return FolderState(folder.name, digest, newest, has_marker, partial)


def complete_deliveries(
    root: Path,
    mode: str = "marker",
    previous: dict[str, str] | None = None,
    marker: str = DEFAULT_MARKER,
    min_age_seconds: float = 60.0,
    now: float | None = None,
) -> tuple[list[FolderState], dict[str, str]]:
    """Return the complete delivery folders under ``root`` and the listing hashes to keep as cursor.

    Parameters
    ----------
    root : Path
        The delivery root; every sub-folder is one delivery.
    mode : {"marker", "stable"}
        How completeness is decided (see the module docstring).
    previous : dict, optional
        Folder name -> listing hash at the previous tick (the sensor's cursor).
    """
    if mode not in ("marker", "stable"):
        raise ValueError(f"delivery completeness mode must be 'marker' or 'stable', got {mode!r}")
    previous = previous or {}
    now = time.time() if now is None else now
    ready: list[FolderState] = []
    seen: dict[str, str] = {}
    if not root.is_dir():
        return ready, seen
    for folder in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        state = folder_state(folder, marker)
        seen[state.name] = state.listing_hash
        if state.has_partial_files or state.listing_hash == hashlib.sha256(b"").hexdigest():
            continue
        if mode == "marker":
            ok = state.has_marker
        else:
            ok = (
                previous.get(state.name) == state.listing_hash and now - state.newest_mtime >= min_age_seconds
            )
        if ok:
            ready.append(state)
    return ready, seen
