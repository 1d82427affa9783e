"""The documentation's code runs: every docs/src snippet and the README quick start.

The shell scripts of docs/src (curl examples) need a live server: tests/api runs them.
"""

from __future__ import annotations

import os
import re
import runpy
import subprocess
import sys
from pathlib import Path

import pytest
from django.db import connection

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


def _quick_start_blocks() -> list[str]:
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```python\n(.*?)```", section, flags=re.DOTALL)
    assert blocks, "the README quick start has no python block"
    return blocks


@pytest.mark.django_db
def test_readme__quick_start_runs() -> None:
    namespace: dict[str, object] = {"__name__": "readme_quickstart"}
    exec(compile("\n".join(_quick_start_blocks()), "README.md", "exec"), namespace)


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("way", ["manage.py shell", "script"])
def test_readme__quick_start_runs_where_the_readme_says(way: str, tmp_path: Path) -> None:
    """``python manage.py shell < quickstart.py``, or ``python quickstart.py`` with the
    set-up lines first, in a process of its own (on this run's test database)."""
    setup, code = _quick_start_blocks()
    code += '\nprint("quick start:", instance.status)\n'
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "project.settings",  # the README's "mysite.settings"
        "DATABASE_NAME": str(connection.settings_dict["NAME"]),
        "PYTHONPATH": str(ROOT),
    }
    if way == "script":
        script = tmp_path / "quickstart.py"
        script.write_text(f"{setup}\n{code}")
        command, stdin = [sys.executable, str(script)], None
    else:
        command, stdin = [sys.executable, "manage.py", "shell"], code
    run = subprocess.run(
        command, input=stdin, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert run.returncode == 0, run.stderr
    assert "quick start: completed" in run.stdout, run.stdout + run.stderr
