"""The environment's settings: declared once, read in one place, bad values refused by name."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from data_contracts.settings import (
    DEFAULT_MEMORY,
    Settings,
    SettingsError,
    declared_variables,
    env_name,
    with_settings_table,
)

REPO = Path(__file__).resolve().parents[2]
PACKAGES = ("pipelines", "assets", "models", "data_contracts", "synth")
SETTINGS_MODULE = REPO / "data_contracts" / "settings.py"


def test_unset_variables_take_the_declared_defaults():
    s = Settings.from_env({})
    assert s == Settings()
    assert (s.memory, s.duckdb_threads, s.polars_threads, s.dask_cells) == (DEFAULT_MEMORY, 2, 2, 4)
    assert (s.isolate, s.delivery_complete, s.debug, s.final, s.chunk_size) == (
        "auto",
        "marker",
        False,
        False,
        None,
    )
    # an empty variable is an unset one
    assert Settings.from_env({"REGDML_DUCKDB_THREADS": "", "REGDML_ISOLATE": " "}) == Settings()


def test_values_are_read_typed_from_their_variable():
    s = Settings.from_env(
        {
            "REGDML_DUCKDB_THREADS": "3",
            "REGDML_DASK_CELLS": "8",
            "REGDML_ISOLATE": " Always ",
            "REGDML_DEBUG": "1",
            "REGDML_FINAL": "0",
            "REGDML_CHUNK_SIZE": "1000",
            "REGDML_WORKDIR": "/data/work",
            "REGDML_LOG_LEVEL": "info",
        }
    )
    assert (s.duckdb_threads, s.dask_cells, s.isolate, s.debug, s.final) == (3, 8, "always", True, False)
    assert (s.chunk_size, s.workdir, s.log_level) == (1000, "/data/work", "INFO")
    assert env_name("dask_cells") == "REGDML_DASK_CELLS"


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"REGDML_DUCKDB_THREADS": "two"}, "REGDML_DUCKDB_THREADS = 'two': Input should be a valid integer"),
        ({"REGDML_DASK_CELLS": "0"}, "REGDML_DASK_CELLS = '0': Input should be greater than or equal to 1"),
        ({"REGDML_ISOLATE": "sometimes"}, "REGDML_ISOLATE must be one of ['auto', 'always', 'never']; got 'sometimes'"),
        ({"REGDML_DELIVERY_COMPLETE": "soon"}, "REGDML_DELIVERY_COMPLETE must be one of ['marker', 'stable']; got 'soon'"),
        ({"REGDML_MEMORY": "lots"}, "REGDML_MEMORY: 'lots' is not a memory size"),
        ({"REGDML_DUCKDB_MEMORY": "10MB"}, "REGDML_DUCKDB_MEMORY: '10MB' is below the smallest usable budget"),
        ({"REGDML_DEBUG": "maybe"}, "REGDML_DEBUG must be 1 or 0; got 'maybe'"),
        ({"REGDML_LOG_LEVEL": "loud"}, "REGDML_LOG_LEVEL must be one of ['DEBUG', 'INFO', 'WARNING', 'ERROR', 'CRITICAL']; got 'loud'"),
    ],
)  # fmt: skip
def test_a_bad_value_is_refused_naming_the_variable_and_value(env, message):
    with pytest.raises(SettingsError) as err:
        Settings.from_env(env)
    assert str(err.value).startswith(message)


def test_every_bad_variable_is_named_at_once():
    with pytest.raises(SettingsError) as err:
        Settings.from_env({"REGDML_DASK_CELLS": "-1", "REGDML_POLARS_THREADS": "x"})
    assert "REGDML_DASK_CELLS = '-1'" in str(err.value) and "REGDML_POLARS_THREADS = 'x'" in str(err.value)


def test_settings_are_frozen():
    with pytest.raises(ValueError, match="frozen"):
        Settings().memory = "8GB"  # type: ignore[misc]


def test_the_resource_takes_its_values_from_the_settings(monkeypatch):
    from assets.resources import RegdmlResource

    monkeypatch.setenv("REGDML_DUCKDB_THREADS", "3")
    monkeypatch.setenv("REGDML_DASK_SCRATCH", "/shared/scratch")
    monkeypatch.setenv("REGDML_FINAL", "1")
    res = RegdmlResource.from_env()
    assert (res.duckdb_threads, res.dask_scratch, res.final) == (3, "/shared/scratch", True)
    monkeypatch.setenv("REGDML_DUCKDB_THREADS", "0")
    with pytest.raises(SettingsError, match="REGDML_DUCKDB_THREADS = '0'"):
        RegdmlResource.from_env()


def test_regdml_refuses_a_bad_variable_before_any_command(monkeypatch, capsys):
    from pipelines.cli import main

    monkeypatch.setenv("REGDML_DASK_CELLS", "many")
    assert main(["run", "--delivery", "nowhere"]) == 2
    assert "regdml: REGDML_DASK_CELLS = 'many'" in capsys.readouterr().err


def _environ_reads(path: Path) -> list[int]:
    """Lines of ``path`` that read the environment (``os.environ.get``, ``os.environ[...]`` read,
    ``os.getenv``, ``... in os.environ``); writes and ``os.environ.copy()`` for a child process are not reads."""
    tree = ast.parse(path.read_text(encoding="utf-8"))

    def is_environ(node: ast.AST) -> bool:
        return isinstance(node, ast.Attribute) and node.attr == "environ"

    lines = []
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Attribute)
            and is_environ(node.value)
            and node.attr in ("get", "pop", "items")
        ):
            lines.append(node.lineno)
        elif isinstance(node, ast.Subscript) and is_environ(node.value) and isinstance(node.ctx, ast.Load):
            lines.append(node.lineno)
        elif isinstance(node, ast.Attribute) and node.attr == "getenv":
            lines.append(node.lineno)
        elif isinstance(node, ast.Compare) and any(is_environ(c) for c in node.comparators):
            lines.append(node.lineno)
    return sorted(lines)


def test_only_the_settings_module_reads_the_environment():
    found = [
        f"{p.relative_to(REPO)}:{line}"
        for pkg in PACKAGES
        for p in sorted((REPO / pkg).rglob("*.py"))
        if p != SETTINGS_MODULE
        for line in _environ_reads(p)
    ]
    assert found == [], f"read the environment through data_contracts.settings.Settings: {found}"


def test_the_environment_scan_sees_a_read(tmp_path):
    p = tmp_path / "m.py"
    p.write_text('import os\na = os.environ.get("X")\nb = os.environ["Y"]\nos.environ["Z"] = "1"\n')
    assert _environ_reads(p) == [2, 3]


def test_every_variable_named_in_the_code_is_declared():
    names = set()
    for folder in (*PACKAGES, "scripts"):
        for p in (REPO / folder).rglob("*.py"):
            names |= set(re.findall(r"\b(REGDML_[A-Z][A-Z_]*[A-Z])\b", p.read_text(encoding="utf-8")))
    undeclared = sorted(names - set(declared_variables()))
    assert undeclared == [], f"declare these in data_contracts/settings.py: {undeclared}"


def test_the_readme_table_is_generated_from_the_declaration():
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    assert with_settings_table(readme) == readme, (
        "README's table of environment variables is stale: run `python -m data_contracts.settings README.md`"
    )
    for name in declared_variables():
        assert f"| `{name}` |" in readme
