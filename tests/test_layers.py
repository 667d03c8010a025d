"""The layers of docs/design.md hold: data_contracts <- models <- assets <- pipelines.

Every module's imports are read with ``ast`` (lazy imports inside functions included, relative imports
resolved), so nothing is imported to check them. Rules:

- ``data_contracts`` imports no other project package and no Dagster;
- ``models`` imports only ``data_contracts`` and no Dagster;
- ``synth`` (the synthetic delivery generator) imports only ``data_contracts`` and no Dagster;
- ``assets`` never imports ``pipelines`` (the code location imports the stages, not the reverse), and
  Dagster only in its wrapper modules (``defs.py``, ``*_defs.py``) and in the resource and partitions
  that the wrappers share (``assets/resources.py``, ``assets/partitions.py``);
- ``pipelines`` may import everything.
"""

from __future__ import annotations

import ast
import textwrap
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

# Project packages a layer must not import (besides itself), and whether it may import Dagster at all.
FORBIDDEN = {
    "data_contracts": (
        {"models", "assets", "pipelines", "synth"},
        "data_contracts import no other project package",
    ),
    "models": ({"assets", "pipelines", "synth"}, "models import only data_contracts"),
    "synth": ({"models", "assets", "pipelines"}, "synth imports only data_contracts"),
    "assets": ({"pipelines"}, "assets never import pipelines"),
    "pipelines": (set(), ""),
}
NO_DAGSTER = {"data_contracts", "models", "synth"}
# assets modules that may import Dagster: the wrappers and what every wrapper shares.
ASSET_DAGSTER_MODULES = {"assets/resources.py", "assets/partitions.py"}


def _is_wrapper(rel: str) -> bool:
    name = rel.rsplit("/", 1)[-1]
    return rel in ASSET_DAGSTER_MODULES or name == "defs.py" or name.endswith("_defs.py")


def imports_of(path: Path, module: str) -> list[tuple[int, str]]:
    """(line, absolute module name) of every import in ``path``, relative ones resolved against ``module``."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    out: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.extend((node.lineno, a.name) for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.split(".")
                parent = parent[: len(parent) - (node.level - 1)]
                base = ".".join([*parent, base] if base else parent)
            if base:
                # ``from pipelines import resources`` imports pipelines.resources: name the submodule
                out.extend(
                    (node.lineno, f"{base}.{a.name}" if base in FORBIDDEN else base) for a in node.names
                )
    return sorted(set(out))


def layer_violations(root: Path) -> list[str]:
    """Every import under ``root`` that breaks the layering, as ``<file>:<line> imports <module> (<rule>)``."""
    found = []
    for layer, (forbidden, rule) in FORBIDDEN.items():
        for path in sorted((root / layer).rglob("*.py")):
            rel = path.relative_to(root).as_posix()
            module = rel.removesuffix(".py").replace("/", ".").removesuffix(".__init__")
            for line, name in imports_of(path, module):
                top = name.split(".")[0]
                if top in forbidden:
                    found.append(f"{rel}:{line} imports {name} ({rule})")
                elif top.startswith("dagster") and layer in NO_DAGSTER:
                    found.append(f"{rel}:{line} imports {name} ({layer} import no Dagster)")
                elif top.startswith("dagster") and layer == "assets" and not _is_wrapper(rel):
                    found.append(
                        f"{rel}:{line} imports {name} (only the assets' Dagster wrappers, defs.py, import Dagster)"
                    )
    return found


def test_the_project_keeps_its_layers():
    found = layer_violations(REPO)
    assert not found, "imports that break the layers of docs/design.md:\n" + "\n".join(found)


def test_every_package_of_the_wheel_has_a_layer():
    """A new top-level package cannot escape the rules by not being listed."""
    with open(REPO / "pyproject.toml", "rb") as f:
        packages = tomllib.load(f)["tool"]["hatch"]["build"]["targets"]["wheel"]["packages"]
    assert set(packages) == set(FORBIDDEN)


def _tree(root: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(textwrap.dedent(text))
    for layer in FORBIDDEN:
        (root / layer).mkdir(exist_ok=True)
    return root


def test_each_kind_of_violation_is_named(tmp_path):
    root = _tree(
        tmp_path,
        {
            "data_contracts/__init__.py": "",
            "data_contracts/config.py": "import dagster as dg\n",
            "models/__init__.py": "",
            "models/fit.py": "from data_contracts.config import RunConfig\n\ndef f():\n    from dagster import asset\n",
            "models/gate.py": "from assets.io import write\n",
            "synth/gen.py": "from models import fit\n",
            "assets/__init__.py": "",
            "assets/io.py": "import polars as pl\n",
            "assets/resources.py": "import dagster as dg\n",
            "assets/cohort/__init__.py": "",
            "assets/cohort/defs.py": "import dagster as dg\nfrom assets.resources import R\nfrom pipelines.resources import X\n",
            "assets/cohort/logic.py": "from models import fit\nimport dagster_postgres\n",
            "assets/cohort/more.py": "from ..io import write\nfrom pipelines import partitions\n",
            "pipelines/__init__.py": "",
            "pipelines/definitions.py": "import dagster as dg\nfrom assets.cohort.defs import a\n",
        },
    )
    assert layer_violations(root) == [
        "data_contracts/config.py:1 imports dagster (data_contracts import no Dagster)",
        "models/fit.py:4 imports dagster (models import no Dagster)",
        "models/gate.py:1 imports assets.io (models import only data_contracts)",
        "synth/gen.py:1 imports models.fit (synth imports only data_contracts)",
        "assets/cohort/defs.py:3 imports pipelines.resources (assets never import pipelines)",
        "assets/cohort/logic.py:2 imports dagster_postgres (only the assets' Dagster wrappers, defs.py, import Dagster)",
        "assets/cohort/more.py:2 imports pipelines.partitions (assets never import pipelines)",
    ]


def test_a_clean_tree_passes_and_one_added_import_fails(tmp_path):
    root = _tree(
        tmp_path,
        {
            "models/fit.py": "from data_contracts.config import RunConfig\n",
            "assets/cohort/defs.py": "import dagster as dg\nfrom models.fit import f\n",
            "pipelines/run.py": "from assets.cohort.defs import a\n",
        },
    )
    assert layer_violations(root) == []
    (root / "assets" / "cohort" / "logic.py").write_text("def f():\n    from pipelines.run import main\n")
    assert layer_violations(root) == [
        "assets/cohort/logic.py:2 imports pipelines.run (assets never import pipelines)"
    ]
