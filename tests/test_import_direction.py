"""Imports point one way and never in a circle, computed from the source of every module of the
project (every import statement: at the top, in functions, under TYPE_CHECKING):

    vit_hybrid <- explain (library <- drawing, measuring <- runner, benchmark) <- explorer <- app.py <- scripts

The library imports nothing of a UI, of drawing, Parquet or training; the page takes from `explain`
only names that a package exports; tests and scripts stay apart."""

from __future__ import annotations

import ast
import importlib
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import ROOT

SOURCES = ["vit_hybrid", "explain", "explorer", "app.py", "scripts"]
# Tier of each part of the project: a module may import only modules of its own tier or below.
TIERS = [
    ("vit_hybrid", 0),
    ("explain.draw", 2),
    ("explain.measure", 2),
    ("explain.dataset", 3),
    ("explain.report", 3),  # `python -m explain.report`: the runner's report under its old name
    ("explain.benchmark", 3),
    ("explain", 1),
    ("explorer", 4),
    ("app", 5),
    ("scripts", 6),
]
# What the library (tier 1) and the model package may not import from outside the project.
NOT_IN_LIBRARY = {"gradio", "gradio_client", "matplotlib", "cv2", "pyarrow", "ray", "tqdm", "transformers", "spaces"}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def project_modules() -> dict[str, Path]:
    """Every module of the project by its dotted name."""
    paths = []
    for source in SOURCES:
        root = ROOT / source
        paths += [root] if root.suffix == ".py" else sorted(root.rglob("*.py"))
    return {module_name(p): p for p in paths}


MODULES = project_modules()


def tier(module: str) -> int:
    return next(level for prefix, level in TIERS if module == prefix or module.startswith(prefix + "."))


def imports(module: str, path: Path) -> tuple[set[str], set[str]]:
    """(the project modules `module` imports, the top-level names of the other packages it imports).
    `from package import name` counts as importing the submodule when `name` is one."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    ours, others = set(), set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in MODULES else base for a in node.names]
        else:
            continue
        for target in targets:
            if target in MODULES:
                ours.add(target)
            elif target.split(".")[0] in {m.split(".")[0] for m in MODULES}:
                ours.add(max((m for m in MODULES if target.startswith(m + ".")), key=len, default=target))
            else:
                others.add(target.split(".")[0])
    return ours, others


GRAPH = {module: imports(module, path) for module, path in MODULES.items()}


def test_the_graph_sees_every_kind_of_import():
    """The parser finds imports at the top, in functions and relative ones (a check of the checker)."""
    assert "explain.dataset.raydata" in GRAPH["explain.dataset.run"][0]  # inside a function
    assert "explain.dataset.manifest" in GRAPH["explain.dataset.run"][0]  # from . import manifest
    assert "explain.passes" in GRAPH["explain.methods"][0]  # from .passes import ...
    assert "vit_hybrid.hub" in GRAPH["vit_hybrid.modeling"][0]  # inside a method
    assert "transformers" in GRAPH["vit_hybrid.transformers_compat"][1]


def test_no_module_imports_against_the_direction():
    wrong = sorted(f"{module} -> {target}" for module, (ours, _) in GRAPH.items() for target in ours
                   if tier(target) > tier(module))
    assert wrong == []


def test_no_import_circle():
    """Tarjan's strongly connected components of the import graph: each must be one module."""
    index, low, stack, on_stack, circles = {}, {}, [], set(), []

    def visit(module: str) -> None:
        index[module] = low[module] = len(index)
        stack.append(module)
        on_stack.add(module)
        for target in GRAPH[module][0]:
            if target not in index:
                visit(target)
                low[module] = min(low[module], low[target])
            elif target in on_stack:
                low[module] = min(low[module], index[target])
        if low[module] == index[module]:
            component = []
            while not component or component[-1] != module:
                component.append(stack.pop())
                on_stack.discard(component[-1])
            if len(component) > 1 or module in GRAPH[module][0]:
                circles.append(sorted(component))

    for module in sorted(GRAPH):
        if module not in index:
            visit(module)
    assert circles == []


def test_the_model_package_and_the_library_import_no_ui_drawing_or_files():
    wrong = {module: sorted(others & NOT_IN_LIBRARY) for module, (_, others) in GRAPH.items()
             if tier(module) <= 1 and module != "vit_hybrid.transformers_compat" and others & NOT_IN_LIBRARY}
    assert wrong == {}


@pytest.mark.parametrize("module", sorted(m for m in MODULES if tier(m) in (4, 5)))
def test_the_page_takes_only_exported_names_from_explain(module):
    """explorer/ and app.py import `explain` names from its packages, each name in the `__all__`."""
    for node in ast.walk(ast.parse(MODULES[module].read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "explain":
            assert MODULES[node.module].name == "__init__.py", f"{module} imports the module {node.module}"
            exported = importlib.import_module(node.module).__all__
            assert {a.name for a in node.names} <= set(exported), (module, node.module)
        elif isinstance(node, ast.Import):
            assert not any(a.name.startswith("explain") for a in node.names), module


def test_the_library_and_the_runner_load_no_ui():
    code = ("import sys, vit_hybrid, explain, explain.draw, explain.measure, explain.dataset, explain.dataset.raydata, "
            "explain.dataset.report, explain.benchmark.training; print(sorted(m for m in sys.modules if "
            "m.split('.')[0] in ('gradio', 'gradio_client', 'explorer', 'app', 'transformers')))")
    run = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120, check=True)
    assert run.stdout.strip() == "[]"


def test_tests_and_scripts_do_not_import_each_other():
    for path in (ROOT / "tests").rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        names = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
        names |= {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module and not n.level}
        assert not any(name.split(".")[0] == "scripts" for name in names), path
    for module, (ours, others) in GRAPH.items():
        if module.startswith("scripts."):
            assert "tests" not in others, module
