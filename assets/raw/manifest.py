"""The delivery manifest: every delivered file with its register, period, size, sha256 and modification
time (no Dagster import).

A register's data version is the sha256 of its files' names and sha256s (:func:`register_versions`), so
a changed, added or removed file changes exactly that register's version. File hashes are cached in the
work folder by (path, size, mtime) so that repeated observations do not re-read unchanged files.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
from collections.abc import Iterable
from pathlib import Path

import polars as pl

from assets.io import write_parquet_atomic, write_text_atomic
from assets.staging.discover import DeliveredFile, Discovery

MANIFEST_SCHEMA: dict[str, pl.DataType] = {
    "file": pl.String(),
    "register": pl.String(),
    "period": pl.String(),
    "year": pl.Int32(),
    "month": pl.Int32(),
    "format": pl.String(),
    "size": pl.Int64(),
    "sha256": pl.String(),
    "modified": pl.Datetime("us", "UTC"),
    "register_version": pl.String(),
}
_BLOCK = 4 * 1024 * 1024


def file_sha256(path: str | Path, cache_dir: str | Path | None = None) -> str:
    """sha256 of a file, read in 4 MB blocks; cached under ``cache_dir`` by (path, size, mtime)."""
    p = Path(path)
    st = p.stat()
    cache_file = None
    if cache_dir is not None:
        key = hashlib.sha256(f"{p.resolve()}|{st.st_size}|{st.st_mtime_ns}".encode()).hexdigest()
        cache_file = Path(cache_dir) / f"{key}.sha256"
        if cache_file.is_file():
            cached = cache_file.read_text(encoding="ascii").strip()
            if len(cached) == 64:
                return cached
    h = hashlib.sha256()
    with p.open("rb") as fh:
        while block := fh.read(_BLOCK):
            h.update(block)
    digest = h.hexdigest()
    if cache_file is not None:
        write_text_atomic(digest, cache_file)
    return digest


def register_version(files: Iterable[tuple[str, str]]) -> str:
    """Data version of a register: sha256 over its (file name, sha256) pairs, sorted by name."""
    h = hashlib.sha256()
    for name, sha in sorted(files):
        h.update(f"{name}\0{sha}\n".encode())
    return h.hexdigest()


def file_rows(files: Iterable[DeliveredFile], cache_dir: str | Path | None = None) -> list[dict[str, object]]:
    rows = []
    for f in files:
        st = f.path.stat()
        rows.append(
            {
                "file": f.name,
                "register": f.register,
                "period": f.period,
                "year": f.year,
                "month": f.month,
                "format": f.format,
                "size": st.st_size,
                "sha256": file_sha256(f.path, cache_dir),
                "modified": dt.datetime.fromtimestamp(st.st_mtime, tz=dt.UTC),
            }
        )
    return rows


def build_manifest(discovery: Discovery, cache_dir: str | Path | None = None) -> pl.DataFrame:
    """One row per delivered file, with its register's version."""
    rows = file_rows(discovery.files, cache_dir)
    versions: dict[str, str] = {}
    for reg in {r["register"] for r in rows}:
        versions[str(reg)] = register_version(
            (str(r["file"]), str(r["sha256"])) for r in rows if r["register"] == reg
        )
    for r in rows:
        r["register_version"] = versions[str(r["register"])]
    return (
        pl.DataFrame(rows, schema=MANIFEST_SCHEMA, orient="row")
        if rows
        else pl.DataFrame(schema=MANIFEST_SCHEMA)
    )


def register_versions(manifest: pl.DataFrame) -> dict[str, str]:
    """register -> data version, from a manifest."""
    return dict(manifest.select("register", "register_version").unique().iter_rows())


def write_manifest(manifest: pl.DataFrame, target: str | Path) -> Path:
    """Write the manifest atomically (``raw/delivery_manifest.parquet``)."""
    return write_parquet_atomic(manifest, target)


def hash_cache_dir(work_dir: str | Path) -> Path:
    p = Path(work_dir) / "raw" / ".sha256_cache"
    os.makedirs(p, exist_ok=True)
    return p
