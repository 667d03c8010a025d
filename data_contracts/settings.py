"""The environment's settings: every environment variable regdml reads, declared once, read in one place.

Each variable is one field of :class:`Settings`: its name (``env``), type, default and meaning. Nothing else
in the packages reads ``os.environ``; entry points build the object once with :meth:`Settings.from_env` and
pass it (or the values they need) on. A bad value is refused there with a message naming the variable and
the value. The README's table of variables is generated from this declaration
(:func:`settings_table`; ``tests/data_contracts/test_dc_settings.py`` checks it is current).

Settings are not part of the run configuration (:mod:`data_contracts.config`): they say where data are and
how much memory and how many threads a run may use, never what is estimated, so they change no result and
no data version.
"""

from __future__ import annotations

import os
import typing
from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

DEFAULT_MEMORY = "4GB"
DEFAULT_DELIVERY_MARKER = "_DELIVERY_COMPLETE"
ISOLATE_SETTINGS = ("auto", "always", "never")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
_TRUE = ("1", "true", "yes", "on")
_FALSE = ("", "0", "false", "no", "off")


class SettingsError(ValueError):
    """An environment variable with a bad value; the message names the variable and the value."""


def parse_memory(value: str, name: str = "REGDML_MEMORY") -> int:
    """Bytes of a memory size such as ``4GB``, ``2500MB`` or ``3.5GiB`` (read by Dask's ``parse_bytes``).

    Parameters
    ----------
    value
        The size as written.
    name
        The setting it comes from, for the message.

    Raises
    ------
    ValueError
        Naming the setting and the value, when it is not a size of at least 256MB.
    """
    from dask.utils import parse_bytes

    try:
        # parse_bytes takes "" as 1 byte and "-1GB" as negative: neither is a size here
        n = parse_bytes(str(value)) if str(value).strip() else -1
    except (ValueError, TypeError):
        n = -1
    if n <= 0:
        raise ValueError(f"{name}: {value!r} is not a memory size (examples: 4GB, 2500MB, 3.5GiB)")
    if n < 256 * 10**6:
        raise ValueError(f"{name}: {value!r} is below the smallest usable budget, 256MB")
    return int(n)


def _var(env: str, default: Any, meaning: str, shown: str | None = None, **limits: Any) -> Any:
    """One variable's declaration: ``env`` its name, ``shown`` its default as the docs print it (when the
    default is derived, e.g. from the work folder)."""
    extra = {
        "env": env,
        "shown": shown if shown is not None else f"`{default}`" if default != "" else "(none)",
    }
    return Field(default, description=meaning, json_schema_extra=extra, **limits)


class Settings(BaseModel):
    """Every environment variable regdml reads. Build it with :meth:`from_env`."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    # where data are
    workdir: str = _var(
        "REGDML_WORKDIR", "", "work folder (writable): outputs and the Dagster instance", "`./work`"
    )
    delivery: str = _var(
        "REGDML_DELIVERY", "", "delivery folder (read-only) of the UI's unpartitioned assets"
    )
    delivery_root: str = _var(
        "REGDML_DELIVERY_ROOT", "", "folder the delivery sensor watches; its sub-folders are deliveries"
    )
    delivery_complete: Literal["marker", "stable"] = _var(
        "REGDML_DELIVERY_COMPLETE",
        "marker",
        "`marker` or `stable`: when a delivery folder counts as complete",
    )
    delivery_marker: str = _var(
        "REGDML_DELIVERY_MARKER",
        DEFAULT_DELIVERY_MARKER,
        "file that marks a delivery folder complete (`marker`)",
    )
    config: str = _var("REGDML_CONFIG", "", "run configuration YAML of the UI's runs", "(the plan's)")
    truth: str = _var("REGDML_TRUTH", "", "ground truth of a synthetic delivery, shown beside the estimates")
    final: bool = _var("REGDML_FINAL", False, "`1`: a final run (as `regdml run --final`)", "`0`")
    validation_dir: str = _var(
        "REGDML_VALIDATION_DIR", "", "folder of the public validation data", "`<repo>/../shared/validation`"
    )
    # memory and threads
    memory: str = _var(
        "REGDML_MEMORY",
        DEFAULT_MEMORY,
        "**the one memory setting**: the run's memory budget (also `regdml run --memory 4GB`). DuckDB gets "
        "60% of it and spills to `<work>/tmp` beyond that; staging reads wide files in chunks sized from it. "
        'See "Memory" below',
    )
    duckdb_memory: str = _var(
        "REGDML_DUCKDB_MEMORY",
        "",
        "for tuning only: DuckDB's limit instead of its share",
        "(60% of the budget)",
    )
    duckdb_threads: int = _var("REGDML_DUCKDB_THREADS", 2, "DuckDB threads", ge=1, le=1024)
    polars_threads: int = _var(
        "REGDML_POLARS_THREADS", 2, "Polars threads (sets `POLARS_MAX_THREADS`)", ge=1, le=1024
    )
    chunk_size: int | None = _var(
        "REGDML_CHUNK_SIZE", None, "rows per chunk when staging a delivered file", "`250000`", ge=1
    )
    # where the estimation runs
    dask: str = _var(
        "REGDML_DASK",
        "",
        "where the estimation's learners are fitted: `local[:N]`, `tcp://host:port`, `slurm[:jobs]` (see "
        "[Beyond one machine](#beyond-one-machine-dask-and-an-hpc-cluster))",
        "(none: in process)",
    )
    dask_scratch: str = _var(
        "REGDML_DASK_SCRATCH",
        "",
        "where fits write the Parquet files the Dask workers read (shared storage)",
        "`<work>/runs/<delivery>/tmp/dask`",
    )
    dask_cells: int = _var(
        "REGDML_DASK_CELLS", 4, "estimation cells in flight at once on a Dask cluster", ge=1
    )
    cells: int | None = _var(
        "REGDML_CELLS",
        None,
        "estimation cells side by side in process mode: as many as the cores (the process's affinity) and the "
        "memory budget hold (each cell about 700 MB plus 8 covariate matrices); `1`: one at a time. Not used "
        "when cells are isolated (`REGDML_ISOLATE`) or on Dask",
        "(as many as the cores and the memory budget hold)",
    )
    isolate: Literal["auto", "always", "never"] = _var(
        "REGDML_ISOLATE",
        "auto",
        "`auto`: each estimation cell and the finishing job run in a fresh process when the covariate matrix "
        "is at least 1/16 of the memory budget (register scale); `always`, `never` (see [Memory](#memory))",
    )
    # what is shown
    log_level: str = _var(
        "REGDML_LOG_LEVEL",
        "",
        "Dagster's console log level during `regdml run`",
        "`CRITICAL` (`WARNING` with --debug)",
    )
    debug: bool = _var("REGDML_DEBUG", False, "`1`: as `regdml run --debug`", "`0`")
    # Dagster's own
    dagster_home: str = _var("DAGSTER_HOME", "", "Dagster instance (SQLite)", "`<workdir>/dagster_home`")
    dagster_pg_host: str = _var(
        "DAGSTER_PG_HOST", "", "set: a shared instance on PostgreSQL (`dagster.postgres.yaml`)"
    )

    @field_validator("final", "debug", mode="before")
    @classmethod
    def _check_flag(cls, v: Any, info) -> Any:
        if isinstance(v, str):
            low = v.strip().lower()
            if low in _TRUE or low in _FALSE:
                return low in _TRUE
            raise ValueError(f"{env_name(info.field_name)} must be 1 or 0; got {v!r}")
        return v

    @field_validator("cells", mode="before")
    @classmethod
    def _check_positive_int(cls, v: Any, info) -> Any:
        if isinstance(v, str) and not (v.strip().isdigit() and int(v) >= 1):
            raise ValueError(f"{env_name(info.field_name)} must be a positive integer; got {v!r}")
        return v

    @field_validator("isolate", "delivery_complete", mode="before")
    @classmethod
    def _check_choice(cls, v: Any, info) -> Any:
        choices = typing.get_args(cls.model_fields[info.field_name].annotation)
        value = str(v).strip().lower() or cls.model_fields[info.field_name].default
        if value not in choices:
            raise ValueError(f"{env_name(info.field_name)} must be one of {list(choices)}; got {v!r}")
        return value

    @field_validator("memory", "duckdb_memory")
    @classmethod
    def _check_memory(cls, v: str, info) -> str:
        if v or info.field_name == "memory":
            parse_memory(v, env_name(info.field_name))
        return v

    @field_validator("log_level", mode="before")
    @classmethod
    def _check_log_level(cls, v: Any) -> Any:
        value = str(v).strip().upper()
        if value and value not in LOG_LEVELS:
            raise ValueError(f"REGDML_LOG_LEVEL must be one of {list(LOG_LEVELS)}; got {v!r}")
        return value

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """The settings of ``environ`` (default ``os.environ``): the one place regdml reads them.

        An unset or empty variable takes its default.

        Raises
        ------
        SettingsError
            Naming each variable with a bad value, and the value.
        """
        env = os.environ if environ is None else environ
        raw = {}
        for field, info in cls.model_fields.items():
            value = env.get(_env_of(info))
            if value is not None and value.strip() != "":
                raw[field] = value
        try:
            return cls.model_validate(raw)
        except ValidationError as err:
            raise SettingsError(_format(err, raw)) from None

    def log_level_or(self, debug: bool) -> int | str:
        """Dagster's console level: ``log_level`` when set, else WARNING with ``debug``, else CRITICAL."""
        return self.log_level or ("WARNING" if debug else "CRITICAL")


def _env_of(info: Any) -> str:
    return info.json_schema_extra["env"]


def env_name(field: str) -> str:
    """The environment variable of a :class:`Settings` field."""
    return _env_of(Settings.model_fields[field])


def _format(err: ValidationError, raw: Mapping[str, str]) -> str:
    lines = []
    for e in err.errors():
        field = str(e["loc"][0]) if e["loc"] else ""
        msg = str(e["msg"]).removeprefix("Value error, ")
        name = env_name(field) if field in Settings.model_fields else field
        # a validator of this module names the variable itself; pydantic's own messages do not
        lines.append(msg if msg.startswith(name) else f"{name} = {raw.get(field)!r}: {msg}")
    return "; ".join(lines)


# Variables regdml sets rather than reads, and those only the stand-alone scripts read (they run before
# the package is installed, so they read their own): declared here for the table.
OTHER_VARIABLES: tuple[tuple[str, str, str], ...] = (
    (
        "DAGSTER_DISABLE_TELEMETRY",
        "`1` (set by regdml)",
        "nothing is sent anywhere; nothing is downloaded at run time",
    ),
    (
        "POLARS_MAX_THREADS",
        "`REGDML_POLARS_THREADS` (set by regdml)",
        "Polars' own thread count, read at import",
    ),
    ("REGDML_UV", "uv, installed into the cache", "uv command of `scripts/build_wheelhouse.py`"),
    (
        "REGDML_WHEELHOUSE_CACHE",
        "`~/.cache/regdml/wheelhouse`",
        "cache of third-party wheels of `scripts/build_wheelhouse.py`",
    ),
)


def declared_variables() -> list[str]:
    """Every declared variable's name: the settings' and :data:`OTHER_VARIABLES`."""
    return [_env_of(i) for i in Settings.model_fields.values()] + [v[0] for v in OTHER_VARIABLES]


def settings_table() -> str:
    """The Markdown table of every variable (README, "Resource limits and the research server")."""
    rows = ["| variable | default | meaning |", "|---|---|---|"]
    for info in Settings.model_fields.values():
        extra = info.json_schema_extra
        rows.append(f"| `{extra['env']}` | {extra['shown']} | {info.description} |")
    rows.extend(f"| `{name}` | {shown} | {meaning} |" for name, shown, meaning in OTHER_VARIABLES)
    return "\n".join(rows) + "\n"


TABLE_START = "<!-- settings table: generated by `python -m data_contracts.settings README.md` -->"
TABLE_END = "<!-- end of settings table -->"


def with_settings_table(text: str) -> str:
    """``text`` (the README) with the part between :data:`TABLE_START` and :data:`TABLE_END` replaced by
    :func:`settings_table`."""
    head, sep, rest = text.partition(TABLE_START)
    _, sep2, tail = rest.partition(TABLE_END)
    if not (sep and sep2):
        raise ValueError(f"the text has no {TABLE_START!r} ... {TABLE_END!r} section")
    return f"{head}{TABLE_START}\n{settings_table()}{TABLE_END}{tail}"


if __name__ == "__main__":  # rewrite the README's table from the declaration
    import sys
    from pathlib import Path

    for name in sys.argv[1:]:
        path = Path(name)
        path.write_text(with_settings_table(path.read_text(encoding="utf-8")), encoding="utf-8")
