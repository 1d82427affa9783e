"""The documentation's code runs: every docs/src snippet and the README quick start.

The shell scripts of docs/src (curl examples) need a live server: tests/api runs them.
"""

from __future__ import annotations

import re
import runpy
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SNIPPETS = sorted((ROOT / "docs" / "src").glob("*.py"))
SCRIPTS = sorted((ROOT / "docs" / "src").glob("*.sh"))


@pytest.mark.parametrize(
    "path", [p for p in SNIPPETS if not p.name.startswith("db_")], ids=lambda path: path.name
)
def test_docs_snippet__runs(path: Path) -> None:
    runpy.run_path(str(path), run_name="docs_snippet")


@pytest.mark.django_db
@pytest.mark.parametrize(
    "path", [p for p in SNIPPETS if p.name.startswith("db_")], ids=lambda path: path.name
)
def test_docs_snippet__runs_on_the_database(path: Path) -> None:
    runpy.run_path(str(path), run_name="docs_snippet")


def test_docs_snippet__each_is_included_in_a_page() -> None:
    pages = "\n".join(p.read_text() for p in (ROOT / "docs").rglob("*.rst"))
    included = set(re.findall(r"literalinclude:: (?:\.\./)*src/(\S+\.(?:py|sh))", pages))
    assert {path.name for path in [*SNIPPETS, *SCRIPTS]} <= included


@pytest.mark.django_db
def test_readme__quick_start_runs() -> None:
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```python\n(.*?)```", section, flags=re.DOTALL)
    assert blocks, "the README quick start has no python block"
    namespace: dict[str, object] = {"__name__": "readme_quickstart"}
    exec(compile("\n".join(blocks), "README.md", "exec"), namespace)
