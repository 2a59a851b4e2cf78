"""The lint and type gate: ``ruff check`` and ``mypy`` as configured in pyproject.toml find nothing.

Both run from the project root exactly as a developer runs them (``ruff check .``, ``mypy``), so a
violation fails ``./dev test`` with the tool's own report. Most of what ruff finds it fixes itself:
``.venv/bin/ruff check --fix .``.
"""
from __future__ import annotations

import subprocess
import sys

from bot.core.settings import PROJECT_ROOT


def run(*command: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", *command], cwd=PROJECT_ROOT, capture_output=True, text=True,
                          timeout=600)


def test_ruff_finds_nothing():
    result = run("ruff", "check", "--no-cache", "--output-format", "concise", ".")
    assert result.returncode == 0, f"ruff check (fix most with `ruff check --fix .`):\n{result.stdout}{result.stderr}"


def test_mypy_finds_nothing_in_the_typed_packages():
    result = run("mypy", "--no-incremental")
    assert result.returncode == 0, f"mypy:\n{result.stdout}{result.stderr}"
    assert "Success" in result.stdout
