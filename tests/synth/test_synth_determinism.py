"""Same seed, same bytes; different seed, different data."""

from __future__ import annotations

import hashlib
from pathlib import Path

from synth import SynthParams, generate_delivery

PARAMS = SynthParams(chunk_size=300)


def _digests(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


def test_same_seed_same_bytes(tmp_path):
    s1 = generate_delivery(tmp_path / "a" / "d", persons=700, seed=42, params=PARAMS)
    s2 = generate_delivery(tmp_path / "b" / "d", persons=700, seed=42, params=PARAMS)
    d1, d2 = _digests(tmp_path / "a" / "d"), _digests(tmp_path / "b" / "d")
    assert len(d1) == 71 and d1 == d2
    t1 = Path(s1["truth"]).read_text(encoding="utf-8").replace(str(tmp_path / "a"), "X")
    t2 = Path(s2["truth"]).read_text(encoding="utf-8").replace(str(tmp_path / "b"), "X")
    assert t1 == t2
    m1 = hashlib.sha256(Path(s1["meetings"]).read_bytes()).hexdigest()
    m2 = hashlib.sha256(Path(s2["meetings"]).read_bytes()).hexdigest()
    assert m1 == m2


def test_rerun_replaces_delivery(tmp_path):
    out = tmp_path / "d"
    generate_delivery(out, persons=300, seed=1, params=PARAMS)
    first = _digests(out)
    generate_delivery(out, persons=300, seed=1, params=PARAMS)
    assert _digests(out) == first
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_different_seed_differs(tmp_path):
    generate_delivery(tmp_path / "a", persons=700, seed=1, params=PARAMS)
    generate_delivery(tmp_path / "b", persons=700, seed=2, params=PARAMS)
    da, db = _digests(tmp_path / "a"), _digests(tmp_path / "b")
    assert da["dream.parquet"] != db["dream.parquet"]
    assert da["samtaler2020.parquet"] != db["samtaler2020.parquet"]
