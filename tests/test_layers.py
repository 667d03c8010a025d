"""The layers of docs/design.md hold: data_contracts <- models <- assets <- pipelines.

Every module's imports are read with ``ast`` (lazy imports inside functions included, relative imports
resolved), so nothing is imported to check them. Rules:

- ``data_contracts`` imports no other project package and no Dagster;
- ``models`` imports only ``data_contracts`` and no Dagster;
- ``synth`` (the synthetic delivery generator) imports only ``data_contracts`` and no Dagster;
- ``assets`` never imports ``pipelines`` (the code location imports the stages, not the reverse), and
  Dagster only in its wrapper modules (``defs.py``, ``*_defs.py``) and in the resource and partitions
  that the wrappers share (``assets/resources.py``, ``assets/partitions.py``);
- ``pipelines`` may import everything;
- a stage's wrapper does not import another stage's wrapper: the ones that still do are listed in
  :data:`KNOWN_CROSS_STAGE`, which may only shrink.
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


def _is_module(root: Path | None, name: str) -> bool:
    if root is None:
        return False
    p = root.joinpath(*name.split("."))
    return p.with_suffix(".py").is_file() or (p / "__init__.py").is_file()


def imports_of(path: Path, module: str, root: Path | None = None) -> list[tuple[int, str]]:
    """(line, absolute module name) of every import in ``path``, relative ones resolved against ``module``;
    ``from a.b import c`` names ``a.b.c`` when that is a module under ``root`` (or ``a`` a top-level package)."""
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
            for a in node.names if base else ():
                # ``from pipelines import resources`` imports pipelines.resources: name the submodule
                sub = f"{base}.{a.name}"
                out.append((node.lineno, sub if base in FORBIDDEN or _is_module(root, sub) else base))
    return sorted(set(out))


def layer_violations(root: Path) -> list[str]:
    """Every import under ``root`` that breaks the layering, as ``<file>:<line> imports <module> (<rule>)``."""
    found = []
    for layer, (forbidden, rule) in FORBIDDEN.items():
        for path in sorted((root / layer).rglob("*.py")):
            rel = path.relative_to(root).as_posix()
            module = rel.removesuffix(".py").replace("/", ".").removesuffix(".__init__")
            for line, name in imports_of(path, module, root):
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


# Stage wrappers that still import another stage's wrapper (for its asset objects as deps, or shared helpers
# such as OWNERS, now in assets/contract_defs.py). Issue 19 point 6 wants none; this list may only shrink.
KNOWN_CROSS_STAGE = {
    ("assets/staging/defs.py", "assets.raw.defs"),
}


def cross_stage_wrapper_imports(root: Path) -> set[tuple[str, str]]:
    """(wrapper file, other stage's wrapper module) for every stage wrapper importing another's."""
    found = set()
    for path in sorted((root / "assets").rglob("*.py")):
        rel = path.relative_to(root).as_posix()
        parts = rel.split("/")
        if len(parts) != 3 or not _is_wrapper(rel):
            continue
        for _, name in imports_of(path, rel.removesuffix(".py").replace("/", "."), root):
            mod = name.split(".")
            if len(mod) >= 3 and mod[0] == "assets" and mod[1] != parts[1] and _is_wrapper(f"{mod[2]}.py"):
                found.add((rel, ".".join(mod[:3])))
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


def test_no_new_stage_imports_another_stages_wrappers():
    found = cross_stage_wrapper_imports(REPO)
    new = sorted(found - KNOWN_CROSS_STAGE)
    assert not new, "stage wrappers importing another stage's wrappers (use dg.AssetKey deps):\n" + "\n".join(
        f"{f} imports {m}" for f, m in new
    )
    gone = sorted(KNOWN_CROSS_STAGE - found)
    assert not gone, f"no longer imported, remove from KNOWN_CROSS_STAGE: {gone}"


def test_a_cross_stage_wrapper_import_is_found(tmp_path):
    root = _tree(
        tmp_path,
        {
            "assets/cohort/defs.py": "import dagster as dg\nfrom assets.cohort.logic import build\n",
            "assets/cohort/logic.py": "",
            "assets/treatment/defs.py": "from assets.cohort.defs import OWNERS\nfrom assets.cohort.logic import x\n",
            "assets/treatment/logic.py": "from assets.cohort.logic import build\n",
            "assets/analysis/value_defs.py": "def f():\n    from assets.treatment.defs import a\n",
            "assets/report/defs.py": "from assets.staging import defs\nfrom assets.report import logic\n",
            "assets/report/logic.py": "",
            "assets/staging/defs.py": "",
        },
    )
    assert cross_stage_wrapper_imports(root) == {
        ("assets/treatment/defs.py", "assets.cohort.defs"),
        ("assets/analysis/value_defs.py", "assets.treatment.defs"),
        ("assets/report/defs.py", "assets.staging.defs"),
    }
