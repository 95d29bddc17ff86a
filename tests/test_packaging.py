"""The wheel tells the truth: built offline from pyproject.toml, it holds every module of the
packages it ships (vit_hybrid, explain and its sub-packages) and nothing of the page, and each
shipped package's imports are declared, as a dependency or in the extra named for it."""

from __future__ import annotations

import ast
import email
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests.helpers import ROOT

SHIPPED = ("vit_hybrid", "explain")
# The distribution that provides each imported name, and the extra a sub-package's imports are in.
DISTRIBUTIONS = {"PIL": "pillow", "torch": "torch", "numpy": "numpy", "safetensors": "safetensors",
                 "huggingface_hub": "huggingface-hub", "matplotlib": "matplotlib", "pyarrow": "pyarrow",
                 "ray": "ray", "tqdm": "tqdm", "transformers": "transformers"}
EXTRA_OF = {"explain.draw": "draw", "explain.dataset": "dataset", "explain.benchmark": "benchmark",
            "vit_hybrid.transformers_compat": "transformers"}


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> zipfile.ZipFile:
    """The wheel, built offline from a copy of the sources (the build writes beside them)."""
    source, out = tmp_path_factory.mktemp("source"), tmp_path_factory.mktemp("wheel")
    for name in ("pyproject.toml", "README.md", "LICENSE", "NOTICE"):
        shutil.copy(ROOT / name, source / name)
    for package in (*SHIPPED, "explorer"):  # explorer is copied so that leaving it out is a choice
        shutil.copytree(ROOT / package, source / package, ignore=shutil.ignore_patterns("__pycache__"))
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index",
                    "-q", "-w", str(out), str(source)], check=True, timeout=300, capture_output=True)
    (path,) = out.glob("*.whl")
    return zipfile.ZipFile(path)


def test_the_wheel_holds_every_shipped_module_and_not_the_page(wheel):
    modules = sorted(p.relative_to(ROOT).as_posix() for package in SHIPPED for p in (ROOT / package).rglob("*.py"))
    files = set(wheel.namelist())
    assert [m for m in modules if m not in files] == []
    assert not any(name.startswith(("explorer/", "app.py", "tests/", "scripts/")) for name in files)


def test_every_import_of_a_shipped_package_is_declared(wheel):
    (metadata,) = [n for n in wheel.namelist() if n.endswith(".dist-info/METADATA")]
    requires = email.message_from_bytes(wheel.read(metadata)).get_all("Requires-Dist")
    declared: dict[str | None, set[str]] = {}
    for line in requires:
        name = re.sub(r"[-_.]+", "-", re.split(r"[;\[<>=!~ ]", line)[0]).lower()  # PEP 503 form
        extra = line.split("extra ==")[1].strip().strip("'\"") if "extra ==" in line else None
        declared.setdefault(extra, set()).add(name)
    missing = []
    for path in (p for package in SHIPPED for p in (ROOT / package).rglob("*.py")):
        module = ".".join(path.relative_to(ROOT).with_suffix("").parts)
        extra = next((e for prefix, e in EXTRA_OF.items() if module.startswith(prefix)), None)
        allowed = declared[None] | declared.get(extra, set())
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else (
                [node.module] if isinstance(node, ast.ImportFrom) and node.module and not node.level else [])
            for name in names:
                top = name.split(".")[0]
                if top in DISTRIBUTIONS and DISTRIBUTIONS[top] not in allowed:
                    missing.append(f"{module} imports {top} ({DISTRIBUTIONS[top]}, extra {extra})")
                assert top in DISTRIBUTIONS or top in sys.stdlib_module_names or top in SHIPPED, (module, top)
    assert missing == []
