"""Session-wide test settings: offline, no telemetry, seeded."""

import os

os.environ.setdefault("DAGSTER_DISABLE_TELEMETRY", "1")
os.environ.setdefault("POLARS_MAX_THREADS", "2")
