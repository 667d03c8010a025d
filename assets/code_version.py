"""Code versions that follow the code: a stage's Dagster ``code_version`` is a hash of the code it runs.

No Dagster import. A stage's version hashes the syntax tree of its Dagster wrapper module and of its logic
modules with every project module they import, directly or not (``assets``, ``models``, ``data_contracts``,
``synth``), so changing a function that a stage runs makes that stage stale, and with it everything
downstream (``pipelines/run.py: _outdated``), while a stage whose code did not change keeps its version.
Comments, docstrings and formatting are not part of the tree, so editing them recomputes nothing.
The codebook and the run configuration are data, not code: they enter the data versions instead.
"""

from __future__ import annotations

import ast
import hashlib
from collections.abc import Iterable
from functools import cache
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PROJECT_PACKAGES = ("assets", "models", "data_contracts", "synth")


def module_file(name: str, root: Path = ROOT) -> Path | None:
    """The source file of project module ``name`` under ``root`` (None when it is not a project module)."""
    if name.split(".")[0] not in PROJECT_PACKAGES:
        return None
    p = root.joinpath(*name.split("."))
    if (p / "__init__.py").is_file():
        return p / "__init__.py"
    if p.with_suffix(".py").is_file():
        return p.with_suffix(".py")
    return None


def _imported(tree: ast.Module, name: str, is_package: bool, root: Path) -> set[str]:
    """Project modules a module imports (``from x import y`` counts ``x.y`` when that is a module)."""
    out: set[str] = set()
    package = name if is_package else name.rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.split(".")
                parent = parent[: len(parent) - (node.level - 1)]
                base = ".".join([*parent, base] if base else parent)
            out.add(base)
            out.update(f"{base}.{a.name}" for a in node.names)
    return {m for m in out if module_file(m, root) is not None}


def _strip_docstrings(tree: ast.AST) -> ast.AST:
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                if isinstance(body[0].value.value, str):
                    node.body = body[1:] or [ast.Pass()]
    return tree


@cache
def _parsed(path: Path) -> ast.Module:
    return ast.parse(path.read_text(encoding="utf-8"), filename=str(path))


def module_closure(names: Iterable[str], root: Path = ROOT) -> list[str]:
    """The project modules ``names`` run: themselves and every project module they import, transitively."""
    seen: set[str] = set()
    todo = [n for n in names if module_file(n, root) is not None]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        path = module_file(name, root)
        assert path is not None
        todo.extend(_imported(_parsed(path), name, path.name == "__init__.py", root) - seen)
    return sorted(seen)


def _tree_digest(path: Path) -> str:
    tree = _strip_docstrings(ast.parse(path.read_text(encoding="utf-8"), filename=str(path)))
    return hashlib.sha256(ast.dump(tree, include_attributes=False).encode("utf-8")).hexdigest()


def code_version(wrapper: str, logic: Iterable[str], root: Path = ROOT, data: Iterable[str] = ()) -> str:
    """The code version of a stage: its wrapper module ``wrapper`` (not what the wrapper imports: the
    resource and partitions are shared by every stage), the closure of its ``logic`` modules and the bytes
    of every file under the folders ``data`` (relative to ``root``: templates the code renders).

    Returns
    -------
    str
        16 hex digits, the same on every machine for the same code.
    """
    h = hashlib.sha256()
    for name in sorted({wrapper, *module_closure(logic, root)}):
        path = module_file(name, root)
        if path is None:
            raise ValueError(f"code_version: {name!r} is not a module of this project under {root}")
        h.update(name.encode("utf-8"))
        h.update(_tree_digest(path).encode("ascii"))
    for folder in sorted(data):
        base = root / folder
        if not base.is_dir():
            raise ValueError(f"code_version: data folder {folder!r} does not exist under {root}")
        for f in sorted(p for p in base.rglob("*") if p.is_file() and "__pycache__" not in p.parts):
            h.update(f.relative_to(root).as_posix().encode("utf-8"))
            # line endings normalised: a Windows checkout (CRLF) is the same code
            h.update(hashlib.sha256(f.read_bytes().replace(b"\r\n", b"\n")).digest())
    return h.hexdigest()[:16]


# Each stage: its Dagster wrapper module and the logic modules it runs (their imports are followed).
STAGES: dict[str, tuple[str, tuple[str, ...]]] = {
    "raw": ("assets.raw.defs", ("assets.raw.manifest", "assets.staging.discover")),
    "staging": ("assets.staging.defs", ("assets.staging.stage",)),
    "cohort": ("assets.cohort.defs", ("assets.cohort.logic",)),
    "treatment": ("assets.treatment.defs", ("assets.treatment.logic",)),
    "outcomes": ("assets.outcomes.defs", ("assets.outcomes.logic", "assets.outcomes.placebos")),
    "covariates": ("assets.covariates.defs", ("assets.covariates.logic",)),
    "analysis": ("assets.analysis.defs", ("assets.analysis.logic", "assets.analysis.summaries")),
    "estimation": ("assets.estimation.defs", ("assets.estimation.logic",)),
    "value": ("assets.estimation.value_defs", ("models.value",)),
    "report": ("assets.report.defs", ("assets.report.render", "assets.report.bundle")),
}


# Folders of non-Python files a stage's code reads as code (the report's Jinja2 templates and CSS).
STAGE_DATA: dict[str, tuple[str, ...]] = {
    "report": ("assets/report/render/templates",),
}


def stage_version(stage: str, root: Path = ROOT) -> str:
    """The code version of one of :data:`STAGES`."""
    if stage not in STAGES:
        raise ValueError(f"stage_version: unknown stage {stage!r}; known are {sorted(STAGES)}")
    wrapper, logic = STAGES[stage]
    return code_version(wrapper, logic, root, STAGE_DATA.get(stage, ()))
