"""The README and docs/: every relative link reaches a file and every #anchor a heading of its
target (GitHub's slugs), every `python -m` command of this repository they show answers `--help`,
every module and name of this repository they show in code (`explain.draw.overlay`) exists, the
README's Python example runs, its test command is the one `.ci/run` runs, and it stays short."""

from __future__ import annotations

import importlib
import re
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.helpers import ROOT

README = ROOT / "README.md"
PAGES = [README, *sorted((ROOT / "docs").glob("*.md"))]
README_LIMIT = 12_000  # bytes: the README is read in one screen
IMAGE_LIMIT = 200_000  # bytes, for an image the docs show
FENCE = re.compile(r"^(```|~~~).*?^\1[ \t]*$", re.MULTILINE | re.DOTALL)
INLINE_CODE = re.compile(r"`[^`\n]*`")
LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\[\]]*\])*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
HEADING = re.compile(r"^#{1,6}[ \t]+(.+?)[ \t#]*$", re.MULTILINE)
COMMAND = re.compile(r"(?:\bpython3?|\"\$py\")\s+-m\s+([A-Za-z_][\w.]*)")


def prose(text: str) -> str:
    """The text without its code: fenced blocks and inline code."""
    return INLINE_CODE.sub("", FENCE.sub("", text))


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lowercase, punctuation dropped (hyphens, underscores and
    spaces kept), spaces to hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def anchors(page: Path) -> set[str]:
    """The anchors of a page's headings; a repeated one gets -1, -2 … as on GitHub."""
    seen: dict[str, int] = {}
    found = set()
    for match in HEADING.finditer(FENCE.sub("", page.read_text())):
        base = slug(match.group(1))
        count = seen.get(base, 0)
        seen[base] = count + 1
        found.add(base if count == 0 else f"{base}-{count}")
    return found


def broken_links(page: Path) -> list[str]:
    """Each relative link of `page` whose file or anchor is missing, with why."""
    problems = []
    for target in LINK.findall(prose(page.read_text())):
        if re.match(r"[a-z][a-z0-9+.-]*:", target, re.IGNORECASE):  # http:, https:, mailto: …
            continue
        path, _, anchor = target.partition("#")
        file = (page.parent / path).resolve() if path else page
        if not file.exists():
            problems.append(f"{page.name}: {target}: no file {file}")
        elif anchor and (file.suffix != ".md" or anchor not in anchors(file)):
            problems.append(f"{page.name}: {target}: no heading #{anchor} in {file.name}")
    return problems


def test_the_checker_finds_a_broken_file_and_a_broken_anchor(tmp_path):
    (tmp_path / "other.md").write_text("# Other page\n\n## Part: one\n\n## Part: one\n")
    page = tmp_path / "page.md"
    page.write_text(
        "# Page\n\n[ok](other.md) [ok](other.md#part-one) [ok](other.md#part-one-1) [ok](#page)\n"
        "[gone](missing.md) [bad](other.md#part-two) [bad](#nowhere) [web](https://example.org/x#y)\n"
        "`[code](not-checked.md)`\n\n```\n[code](not-checked.md)\n```\n"
    )
    assert broken_links(page) == [
        "page.md: missing.md: no file " + str(tmp_path / "missing.md"),
        "page.md: other.md#part-two: no heading #part-two in other.md",
        "page.md: #nowhere: no heading #nowhere in page.md",
    ]


def test_the_docs_exist_and_the_readme_links_each_page():
    linked = {Path(t.partition("#")[0]) for t in LINK.findall(prose(README.read_text()))}
    assert len(PAGES) > 1
    assert {p.relative_to(ROOT) for p in PAGES[1:]} <= linked


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_resolves(page):
    assert broken_links(page) == []


def test_the_readme_is_short_and_its_images_small():
    assert len(README.read_bytes()) < README_LIMIT
    for page in PAGES:
        for target in re.findall(r"!\[[^\]]*\]\(([^)\s]+)\)", prose(page.read_text())):
            assert (page.parent / target).stat().st_size < IMAGE_LIMIT, target


def test_the_readme_test_command_is_what_ci_runs():
    blocks = re.findall(r"^```bash\n(.*?)^```", README.read_text(), re.MULTILINE | re.DOTALL)
    (command,) = [line for block in blocks for line in block.splitlines() if "pytest" in line]
    assert command in (ROOT / ".ci" / "run").read_text().splitlines()


def resolves(dotted: str) -> bool:
    """Whether `dotted` is a module of this repository, or a name in one."""
    parts = dotted.split(".")
    for i in range(len(parts), 0, -1):
        try:
            found = importlib.import_module(".".join(parts[:i]))
        except ModuleNotFoundError:
            continue
        for name in parts[i:]:
            if not hasattr(found, name):
                return False
            found = getattr(found, name)
        return True
    return False


def test_every_module_and_name_shown_exists():
    dotted = r"`((?:vit_hybrid|explain|explorer|scripts|tests)(?:\.\w+)+)`"
    shown = {name for page in PAGES for name in re.findall(dotted, page.read_text())}
    assert "explain.draw.overlay" in shown
    assert [name for name in sorted(shown) if not resolves(name)] == []


def repository_commands() -> list[str]:
    """The modules of this repository that the README and docs run with `python -m` (a
    placeholder such as `scripts.NAME` aside)."""
    modules = {m.rstrip(".") for page in PAGES for m in COMMAND.findall(page.read_text())}
    top = {p.name for p in ROOT.iterdir() if (p / "__init__.py").is_file()}
    return sorted(m for m in modules if m.split(".")[0] in top and not any(p.isupper() for p in m.split(".")))


def test_every_python_m_command_answers_help():
    modules = repository_commands()
    assert {"explain.dataset", "explain.report", "scripts.screenshot", "scripts.bench_model"} <= set(modules)

    def run(module: str) -> tuple[str, int, str]:
        try:
            done = subprocess.run([sys.executable, "-m", module, "--help"], check=False, cwd=ROOT,
                                  capture_output=True, text=True, timeout=120)
        except subprocess.TimeoutExpired:
            return module, -1, "timed out after 120 s"
        out = done.stdout + done.stderr
        return module, done.returncode if "usage:" in out else -1, out[-500:]

    with ThreadPoolExecutor(max_workers=2) as pool:
        failed = [(m, rc, out) for m, rc, out in pool.map(run, modules) if rc != 0]
    assert failed == []


def test_the_readme_python_example_runs(tmp_path):
    (example,) = re.findall(r"^```python\n(.*?)^```", README.read_text(), re.MULTILINE | re.DOTALL)
    assert len(example.splitlines()) <= 10
    (tmp_path / "assets").symlink_to(ROOT / "assets")
    env = {"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin", "HF_HUB_OFFLINE": "1"}
    subprocess.run([sys.executable, "-c", example], cwd=tmp_path, env=env, check=True, timeout=120)
    assert (tmp_path / "rollout.png").stat().st_size > 0
