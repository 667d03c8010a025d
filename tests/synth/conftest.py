"""Shared small synthetic deliveries for the synth tests (generated once per session)."""

from __future__ import annotations

from pathlib import Path

import pytest

from synth import SynthParams, generate_delivery

SEED = 11
PERSONS = 3000
PARAMS = SynthParams(chunk_size=1000)


@pytest.fixture(scope="session")
def delivery(tmp_path_factory: pytest.TempPathFactory) -> dict:
    base = tmp_path_factory.mktemp("synth_parquet")
    out = base / "deliveries" / "synthetic"
    summary = generate_delivery(out, persons=PERSONS, seed=SEED, params=PARAMS)
    return {
        "out": out,
        "truth": Path(summary["truth"]),
        "meetings": Path(summary["meetings"]),
        "summary": summary,
    }


@pytest.fixture(scope="session")
def delivery_csv(tmp_path_factory: pytest.TempPathFactory) -> dict:
    base = tmp_path_factory.mktemp("synth_csv")
    out = base / "csv_delivery"
    summary = generate_delivery(out, persons=800, seed=SEED, fmt="csv", params=SynthParams(chunk_size=400))
    return {"out": out, "truth": Path(summary["truth"]), "summary": summary}
