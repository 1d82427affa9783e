"""``scripts/screenshots``, which ``make docs`` runs: without a browser it skips with a
message (``--skip-without-browser``) or fails; taking the pictures is CI's ``make docs``."""

from __future__ import annotations

import os
import subprocess
import sys

from tests.live_server import REPO_ROOT

SCRIPT = REPO_ROOT / "scripts" / "screenshots"


def run(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "CHROMIUM": "/nonexistent/chromium"}
    return subprocess.run(
        [sys.executable, str(SCRIPT), *args], env=env, capture_output=True, text=True, timeout=60
    )


def test_screenshots__without_a_browser_make_docs_goes_on() -> None:
    done = run("--skip-without-browser")
    assert done.returncode == 0, done.stderr
    assert "skipped, no Chromium at /nonexistent/chromium" in done.stdout


def test_screenshots__without_a_browser_asked_for_by_hand_fails() -> None:
    done = run()
    assert done.returncode == 1
    assert "no Chromium at /nonexistent/chromium" in done.stderr


def test_screenshots__make_docs_takes_them_first() -> None:
    makefile = (REPO_ROOT / "Makefile").read_text()
    docs = makefile.split("\ndocs:", 1)[1].split("\n\n", 1)[0]
    assert "scripts/screenshots --skip-without-browser" in docs
    assert docs.index("scripts/screenshots") < docs.index("sphinx-build")
