"""Imports point one way (vit_hybrid <- explain <- explorer <- app.py), the libraries load no UI,
and tests and scripts stay apart."""

from __future__ import annotations

import ast
import subprocess
import sys

import pytest
from helpers import ROOT

FORBIDDEN = {
    "vit_hybrid": {"explain", "explorer", "app", "gradio", "scripts", "tests"},
    "explain": {"explorer", "app", "gradio", "scripts", "tests"},
    "explorer": {"app", "scripts", "tests"},
}


def imported_packages(path) -> set[str]:
    """The top-level names a module imports (relative imports count as its own package)."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_imports_point_one_way(package):
    wrong = {str(p.relative_to(ROOT)): sorted(imported_packages(p) & FORBIDDEN[package])
             for p in sorted((ROOT / package).glob("*.py"))}
    assert {k: v for k, v in wrong.items() if v} == {}


def test_tests_and_scripts_do_not_import_each_other():
    scripts = {p.stem for p in (ROOT / "scripts").glob("*.py")}
    for path in (ROOT / "tests").glob("*.py"):
        assert not imported_packages(path) & {"scripts", "conftest", *scripts}, path.name
    for path in (ROOT / "scripts").glob("*.py"):
        assert not imported_packages(path) & {"tests", "conftest", "helpers", *scripts}, path.name


def test_the_libraries_load_no_gradio():
    code = ("import sys, vit_hybrid, explain, explain.draw.export, explain.measure.metrics, explain.draw.overlay, explain.draw.render, "
            "explain.benchmark.scenes, explain.measure.statistics, explain.benchmark.training, explain.batch, explain.dataset, explain.dataset.raydata, "
            "explain.dataset.report, explain.draw.summary; print(sorted(m for m in sys.modules if "
            "m.split('.')[0] in ('gradio', 'gradio_client', 'explorer', 'app')))")
    run = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120, check=True)
    assert run.stdout.strip() == "[]"
